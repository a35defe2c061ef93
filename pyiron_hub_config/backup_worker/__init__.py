"""Runs in the backup's short-lived worker containers, never in the hub.

- worker.py: copies SQLite databases consistently and runs restic, on the volumes mounted
  under /data (``backup``) or onto new ones under /restore (``restore``).

`pyiron-hub backup` and `restore` (backup.py) start each worker from the hub image, with the
volumes to keep mounted into it, and run ``pyiron-hub backup-worker ACTION PLAN`` there, which
runs ``python -m pyiron_hub_config.backup_worker.worker``: the hub image's Python, but only
its standard library, and from this package only backup_layout.py, the paths both sides
share. The hub never imports it (tests/unit/test_layout.py).
"""
