"""The backup service's healthcheck: exit status = the last backup's (compose.backup.yml).

    python3 -m pyiron_hub_config.probes.backup_status

Standard library only, like every probe: it reads backup-status.json with the hub's own
reader (backup_status.py, standard library at its top).
"""

from __future__ import annotations

import sys
import time

from ..backup_status import read_status


def main() -> int:
    status = read_status()
    if status is None:
        print("no backup has run yet")
        return 0
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(status.get("finished", 0)))
    print(f"last backup {when}: exit status {status.get('exit_status')}: {status.get('message')}")
    return 1 if status.get("exit_status") else 0


if __name__ == "__main__":
    sys.exit(main())
