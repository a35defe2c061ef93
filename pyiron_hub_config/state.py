"""Secrets the hub keeps across restarts: taken from the environment, else made once.

A generated secret is written to the hub's data volume with mode 0600, so restarts keep
sessions, encrypted auth state and the proxy's routes; nothing secret is in the image.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr

# The boot step's own helper, in the hub's copy (boot_shared.py: boot.py runs alone in users' containers).
from .boot_shared import temp_file_beside


def load_or_create_secret(given: SecretStr | None, path: Path) -> str:
    """The given secret, else the one stored at path, else a new one stored there."""
    if given is not None:
        return given.get_secret_value()
    stored = _read(path)
    if stored:
        return stored
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Written whole to a private temporary file, then linked into place: a crash never
    # leaves an empty secret behind, and os.link fails if another hub on the same volume
    # got there first, in which case its secret wins.
    tmp = Path(temp_file_beside(str(path), secrets.token_hex(32) + "\n"))
    try:
        os.link(tmp, path)
    except FileExistsError:
        if not _read(path):  # an empty leftover from an older, interrupted write
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""
