"""Health probes: Docker runs them every few seconds in the hub's and the backup service's
containers (each run a new Python process); never in the hub process.

- health.py: the hub image's HEALTHCHECK, ``python3 -m pyiron_hub_config.probes.health``
  (``--hub-api`` on a swarm, compose.swarm.yml).
- backup_status.py: the backup service's healthcheck (compose.backup.yml),
  ``python3 -m pyiron_hub_config.probes.backup_status``.

They run with the hub image's Python, but import only the standard library and, from this
package, backup_status.py (which keeps the same rule at its top): importing JupyterHub would
cost each run two seconds of CPU. The hub never imports them (tests/unit/test_layout.py);
`pyiron-hub health` runs the probe as a process.
"""
