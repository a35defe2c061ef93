"""Where things are in a backup worker's container: what `pyiron-hub backup` and `restore`
(backup.py) and the worker they start (backup_worker/worker.py) must agree on.

The worker imports this module too, so it keeps the worker's rules: standard library only.
Every snapshot has the same paths, so that restic finds the parent snapshot and reads only
what changed.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path("/data")
VOLUMES = DATA / "volumes"  # each volume to keep, mounted read-only: /data/volumes/<volume>/...
# With STORAGE_QUOTA, the homes and group folders (host directories under STORAGE_QUOTA_ROOT),
# laid out as there: /data/volumes/_quota/<name>/home/..., /data/volumes/_quota/_groups/<name>/folder/...
# In VOLUMES by a name no volume has (Docker's begin with a letter or digit): the same two
# paths as ever go to restic, and their SQLite databases are copied and put back as a volume's.
QUOTA_DIR = "_quota"
STAGING = DATA / "staging"  # the database dump, SQLite copies, config files and the manifest
SQLITE_DIR = "sqlite"  # in STAGING: a consistent copy of each SQLite database, by volume and path
RESTORE_TARGET = Path("/restore")  # a restore's root: the new volumes are mounted below it
# The line a database the worker could not copy leaves in its output, for the hub's status.
SKIPPED_MARK = "pyiron-hub-backup-skipped: "
# The line a home or group folder (QUOTA_DIR) the worker could not read leaves in its output:
# skipped, as such a database, and named in the status.
UNREADABLE_MARK = "pyiron-hub-backup-unreadable: "
