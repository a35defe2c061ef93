"""``python3 -m pyiron_hub_config.health``: deprecated, runs ``pyiron_hub_config.probes.health``.

Standard library only, like the probe: Docker runs it every few seconds.
"""

import runpy
import sys

print("pyiron_hub_config.health is deprecated: use python3 -m pyiron_hub_config.probes.health", file=sys.stderr)
runpy.run_module("pyiron_hub_config.probes.health", run_name="__main__", alter_sys=True)
