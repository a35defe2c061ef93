"""The Docker API guard: runs as a service of its own (compose.guard.yml's `docker-guard`),
never in the hub. It holds the Docker socket instead of the hub and lets through only what
the hub does.

- guard.py: the policy, the proxy (aiohttp) and the command line,
  ``python -m pyiron_hub_config.docker_guard`` (this package's __main__).

It runs in the hub image, with the hub's Python and packages (aiohttp, docker-py). From this
package it imports only small pure modules (problems, subnets at the top; values, envfiles
inside functions), never JupyterHub or pydantic at the top: its healthcheck, ``--ping``,
starts a new Python every few seconds. The hub never imports it (tests/unit/test_layout.py).
"""
