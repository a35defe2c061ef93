"""Deprecated: the hub's health probe is now ``python3 -m pyiron_hub_config.probes.health``.

``python3 -m pyiron_hub_config.health`` still runs it (this package's __main__), for one
release, for compose files and scripts that name it (README "Upgrading"). A package rather
than a module, so that the probe's own file moved to probes/health.py as a rename.
"""
