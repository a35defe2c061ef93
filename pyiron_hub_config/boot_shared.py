"""What the hub shares with the boot step in users' containers (in_user_container/boot.py).

boot.py travels alone, as one file, into whatever image a user picked, so it cannot import
this module: it keeps its own copy of every name here. This is the hub's copy, which hub
modules import instead of boot.py (they never import from the subpackages that run outside
the hub). tests/unit/test_layout.py checks that each name here is the same in boot.py: the
constants equal, the functions the same source. Change both, or that test fails.

Standard library only, nothing newer than Python 3.8: the same rules as boot.py, so that a
function can be copied either way unchanged.
"""

from __future__ import annotations

import os
import tempfile

PACKAGES_DIR = "/opt/pyiron-hub/packages"  # the hub's read-only packages (storage.py)
# {"pythons": ["3.11", ...], "modules": ["paramiko", ...], "speedups": ["rfc3987"]}
PACKAGES_MANIFEST = "pyiron-hub-packages.json"
IMAGE_ID_VARIABLE = "PYIRON_HUB_IMAGE_ID"  # the hub names the server's image (its id)
# The persistent folders that must be writable, joined by os.pathsep (set by the swarm spawner).
MUST_WRITE_VARIABLE = "PYIRON_HUB_MUST_WRITE"
NOT_WRITABLE = 73  # the exit status for it (sysexits' EX_CANTCREAT): the hub reads it off the task
NOT_WRITABLE_LINE = "not writable: "  # the log line's start, which the hub quotes from the task's log
ACTIVITY_EVERY_VARIABLE = "PYIRON_HUB_ACTIVITY_EVERY"  # seconds between the watcher's checks; unset: none
STOPS_AT_VARIABLE = "PYIRON_HUB_STOPS_AT"  # epoch seconds at which the culler stops it (MAX_SERVER_AGE)
STOP_WARNING_VARIABLE = "PYIRON_HUB_STOP_WARNING"  # seconds before that from which notebooks say so
LAST_STOP_VARIABLE = "PYIRON_HUB_LAST_STOP"  # why the server before this one stopped: {"at", "text", "kind", "jobs"}
# Host names of the user's other servers running at this start (named servers), comma-separated:
# their pyiron jobs are not those of a stopped server.
LIVE_HOSTS_VARIABLE = "PYIRON_HUB_LIVE_HOSTS"
QUOTA_VARIABLE = "PYIRON_HUB_DISK_QUOTA"  # the user's quota, like "20M" (set by the spawner)
GROUP_QUOTAS_VARIABLE = "PYIRON_HUB_GROUP_QUOTAS"  # {"<folder under ~/groups>": "8M"}


def temp_file_beside(target, data, mode=0o600):
    """A new file beside target holding data (str or bytes), synced to disk, with this mode.

    The caller moves it into place (os.replace, or os.link to keep a file already there), so
    target is never half-written, whatever crashes when. Until then only its owner can read it.
    """
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target) or ".", prefix=".%s." % os.path.basename(target))
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def write_atomically(target, data, mode=0o644):
    """Put data (str or bytes) at target in one step: a crash leaves the old file or the new."""
    tmp = temp_file_beside(target, data, mode)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def work_status_name(server_name):
    """The watcher's file below STATE_DIR: one per server, as a user's named servers share the home."""
    return "work-%s.json" % server_name if server_name else "work.json"
