"""Runs on an HPC cluster's login node, as root (from cron); never in the hub.

- key_sync.py: installs the hub users' SSH public keys into their cluster accounts.

The admin copies the file to the cluster as it is (README "Registering the key"), where only
the system's Python may be at hand. So: Python's standard library only, nothing newer than
Python 3.8, and no import from this package. Nothing from the network is trusted: it repeats
the hub's own checks. tests/unit/test_layout.py checks the rules, and runs the file under a
real Python 3.8 where one is installed.
"""
