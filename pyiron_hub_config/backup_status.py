"""The last backup's result: `backup-status.json` in the hub's data volume.

Written by `pyiron-hub backup` after every run; read by the hub, which shows it on
/hub/metrics, and by the backup service's healthcheck (probes/backup_status.py, exit status =
the last backup's), which imports this module: standard library only at the top, like the
probes (prometheus_client only inside the functions that the hub calls).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DATA_DIR = Path("/srv/jupyterhub/data")
STATUS_FILE = "backup-status.json"


def read_status(directory: Path = DATA_DIR) -> dict | None:
    try:
        status = json.loads((directory / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) else None


class BackupStatusCollector:
    """Prometheus collector: read at each scrape, so the hub never caches a stale result."""

    def __init__(self, directory: Path):
        self.directory = directory

    def describe(self):
        # Without it the registry would collect() once on registering, i.e. at config load.
        return []

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        status = read_status(self.directory)
        if status is None:
            return
        yield GaugeMetricFamily(
            "pyiron_hub_backup_last_exit_status",
            "Exit status of the last backup (0: it succeeded)",
            value=status.get("exit_status", 1),
        )
        yield GaugeMetricFamily(
            "pyiron_hub_backup_last_run_timestamp_seconds",
            "When the last backup finished (Unix time)",
            value=status.get("finished", 0),
        )
        if status.get("last_success"):
            yield GaugeMetricFamily(
                "pyiron_hub_backup_last_success_timestamp_seconds",
                "When the last successful backup finished (Unix time)",
                value=status["last_success"],
            )
        yield GaugeMetricFamily(
            "pyiron_hub_backup_last_duration_seconds",
            "How long the last backup took",
            value=max(0.0, status.get("finished", 0) - status.get("started", 0)),
        )
        skipped = status.get("skipped_databases")
        yield GaugeMetricFamily(
            "pyiron_hub_backup_last_skipped_databases",
            "SQLite databases the last backup could not copy consistently (named in its status)",
            value=len(skipped) if isinstance(skipped, dict) else 0,
        )
        skipped = status.get("skipped_quota_dirs")
        yield GaugeMetricFamily(
            "pyiron_hub_backup_last_skipped_quota_dirs",
            "Homes and group folders under STORAGE_QUOTA_ROOT the last backup could not read (named in its status)",
            value=len(skipped) if isinstance(skipped, dict) else 0,
        )


_registered: set[Path] = set()


def register_metrics(directory: Path) -> None:
    """Add the backup's gauges to the hub's /hub/metrics (once per process)."""
    if directory in _registered:
        return
    from prometheus_client import REGISTRY

    REGISTRY.register(BackupStatusCollector(directory))
    _registered.add(directory)


if __name__ == "__main__":
    # Deprecated path, kept for one release for compose files and scripts that still name it.
    import runpy

    print(
        "pyiron_hub_config.backup_status is deprecated as a command: "
        "use python3 -m pyiron_hub_config.probes.backup_status",
        file=sys.stderr,
    )
    runpy.run_module("pyiron_hub_config.probes.backup_status", run_name="__main__", alter_sys=True)
