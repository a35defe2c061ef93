#!/usr/bin/env python3
"""Install the hub users' SSH public keys into their cluster accounts (README "Registering the key").

Run as root on a cluster's login node, e.g. from cron:

    python3 pyiron_hub_key_sync.py --hub https://hub.example.org --cluster mycluster \
        --token-file /etc/pyiron-hub/key-sync.token

It fetches /hub/ssh-keys?cluster=<name> with the hub's key-sync token (KEY_SYNC_API_TOKEN,
which may read that list and nothing else) and adds each key to its account's
~/.ssh/authorized_keys unless it is there. The home directory belongs to the account's
owner, who could make ~/.ssh/authorized_keys a link to /root/.ssh/authorized_keys: so the
file is written by a child process that has become the account (setgid, setuid; no
supplementary groups), with O_NOFOLLOW, and only for accounts from --min-uid up. Keys are
only ever added; remove one by hand.

One file, Python's standard library only (3.8+): copy it to the cluster as it is.
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import ssl
import sys
import urllib.parse
import urllib.request

# The hub's own checks, again: nothing from the network is trusted here.
ACCOUNT = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
KEY_LINE = re.compile(
    r"^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) [A-Za-z0-9+/]+={0,3}"
    r"( pyiron-hub:[\x21-\x7e]{1,200})?$"
)
ADDED, PRESENT = 0, 3  # the child's exit codes; anything else is a failure it has reported


def parse(text: str) -> list[tuple[str, str]]:
    """The hub's '<account> <type> <key> <comment>' lines -> [(account, key line)], invalid ones dropped."""
    entries = []
    for line in text.splitlines():
        account, _, key = line.strip().partition(" ")
        if ACCOUNT.match(account) and KEY_LINE.match(key):
            entries.append((account, key))
        elif line.strip():
            print(f"ignored a line that is not '<account> <key>': {line[:80]!r}", file=sys.stderr)
    return entries


def fetch(hub: str, cluster: str, token: str, cafile: str | None = None) -> str:
    url = f"{hub.rstrip('/')}/hub/ssh-keys?cluster={urllib.parse.quote(cluster)}"
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    context = ssl.create_default_context(cafile=cafile) if url.startswith("https:") else None
    with urllib.request.urlopen(request, timeout=60, context=context) as answer:
        return answer.read(4 * 1024 * 1024).decode("ascii")


def add_key(home: str, line: str) -> int:
    """Append `line` to <home>/.ssh/authorized_keys unless there; run as the account itself."""
    ssh = os.path.join(home, ".ssh")
    try:
        os.mkdir(ssh, 0o700)
    except FileExistsError:
        pass
    # No link is followed, neither .ssh nor the file; the account's own rights apply anyway.
    directory = os.open(ssh, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        fd = os.open("authorized_keys", os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600, dir_fd=directory)
    finally:
        os.close(directory)
    with os.fdopen(fd, "r+b") as keys:
        present = keys.read().decode("ascii", "replace")
        if line in present.splitlines():
            return PRESENT
        keys.write(("" if not present or present.endswith("\n") else "\n").encode() + line.encode("ascii") + b"\n")
    return ADDED


def install(account: str, line: str, min_uid: int) -> str:
    """Add one key to one account, as that account; what happened, in words."""
    try:
        entry = pwd.getpwnam(account)
    except KeyError:
        return "skipped: no such account here"
    if entry.pw_uid < min_uid:
        return f"skipped: a system account (uid {entry.pw_uid} < {min_uid})"
    pid = os.fork()
    if pid == 0:  # the child: become the account, then touch its files
        code = 1
        try:
            # The umask only here, in the child: set in add_key it would outlive the call in
            # any process that imports this module (the test run's did, and later
            # suites made directories other users could not read).
            os.umask(0o077)
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            code = add_key(entry.pw_dir, line)
        except OSError as err:
            print(f"{account}: not written: {err.strerror} ({err.filename or entry.pw_dir})", file=sys.stderr)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
    return {ADDED: "added", PRESENT: "already there"}.get(code, "FAILED")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hub", required=True, help="the hub's URL, e.g. https://hub.example.org")
    parser.add_argument("--cluster", required=True, help="this cluster's name in the hub's clusters.toml")
    parser.add_argument("--token-file", required=True, help="file holding the hub's KEY_SYNC_API_TOKEN (root only)")
    parser.add_argument("--ca-file", help="CA bundle for the hub's certificate, if not a public one")
    parser.add_argument("--min-uid", type=int, default=1000, help="accounts below this uid are never written (1000)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("run it as root: it writes into every user's account, as that user")
    with open(args.token_file) as f:
        token = f.read().strip()
    failed = 0
    for account, line in parse(fetch(args.hub, args.cluster, token, args.ca_file)):
        result = install(account, line, max(args.min_uid, 1))  # never uid 0, whatever is asked
        failed += result == "FAILED"
        print(f"{account}: {result}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
