"""Runs in a relay service of its own (the demo's `cluster-ssh`), in the hub image; never in the hub.

- tcp_relay.py: forwards one port to one host's port, so that users' servers reach a login
  node run as a container without the login node joining their networks.

It is joined into every user's network, so it holds nothing but this: the hub's Python,
standard library only, no import from this package, no socket, no secret, no capability.
"""
