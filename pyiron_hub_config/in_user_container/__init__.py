"""Runs inside users' containers, in whatever pyiron image the user picked; never in the hub.

- boot.py: the container's first command, before Jupyter (the hub delivers it as one
  read-only file: boot_file.py).
- notebook_quiet.py: written into IPython's startup folder, run at each kernel's start
  (clusters.py).

Each travels alone, as one file, into images the hub does not control, some frozen years ago.
So: Python's standard library only (an optional module, such as cryptography, imported inside
a function with a fallback when it is missing), nothing newer than Python 3.8, and no import
from this package. The hub reads these files as data and never imports them; what it shares
with boot.py it keeps in its own copy, boot_shared.py. tests/unit/test_layout.py checks all
of this, and runs both files under a real Python 3.8 where one is installed.
"""
