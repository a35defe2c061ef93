"""Deprecated: the hub's health probe is now ``python3 -m pyiron_hub_config.probes.health``.

This path still runs it, for one release, for compose files and scripts that name it (README
"Upgrading"). Standard library only, like the probe: Docker runs it every few seconds.
"""

import runpy
import sys

if __name__ == "__main__":
    print("pyiron_hub_config.health is deprecated: use python3 -m pyiron_hub_config.probes.health",
          file=sys.stderr)
    runpy.run_module("pyiron_hub_config.probes.health", run_name="__main__", alter_sys=True)
