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
supplementary groups), with O_NOFOLLOW, and only for accounts from --min-uid up.

It remembers which lines it wrote into which account (--state-file, root's alone): a line
it wrote whose account and key are no longer in the hub's list (the user's access was
withdrawn in Keycloak, or their key changed) is removed again, as the account, and only
that exact line. A key it did not write (one an admin or the user added) is never touched.

One file, Python's standard library only (3.8+): copy it to the cluster as it is.
"""

from __future__ import annotations

import argparse
import json
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
ADDED, PRESENT, REMOVED, ABSENT = 0, 3, 4, 5  # the child's exit codes; anything else is a failure it reported
DEFAULT_STATE = "/var/lib/pyiron-hub-key-sync/{cluster}.json"


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


def remove_key(home: str, line: str) -> int:
    """Take exactly `line` out of <home>/.ssh/authorized_keys, the rest as it was; run as the account.

    The new content goes into a new file renamed over the old one, in the same directory,
    opened without following links: sshd never reads half a file.
    """
    try:
        directory = os.open(os.path.join(home, ".ssh"), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return ABSENT
    try:
        try:
            fd = os.open("authorized_keys", os.O_RDONLY | os.O_NOFOLLOW, dir_fd=directory)
        except FileNotFoundError:
            return ABSENT
        with os.fdopen(fd, "rb") as keys:
            mode = os.fstat(keys.fileno()).st_mode & 0o777
            present = keys.read().decode("ascii", "replace").splitlines(keepends=True)
        kept = [entry for entry in present if entry.rstrip("\r\n") != line]
        if len(kept) == len(present):
            return ABSENT
        temporary = ".authorized_keys.pyiron-hub-key-sync"
        try:
            os.unlink(temporary, dir_fd=directory)
        except FileNotFoundError:
            pass
        out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=directory)
        with os.fdopen(out, "wb") as new:
            new.write("".join(kept).encode("ascii", "replace"))
            new.flush()
            os.fsync(new.fileno())
        os.rename(temporary, "authorized_keys", src_dir_fd=directory, dst_dir_fd=directory)
        return REMOVED
    finally:
        os.close(directory)


def as_account(account: str, min_uid: int, work, line: str) -> int | str:
    """work(home, line) in a child that has become the account; its exit code, or why it was not run."""
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
            code = work(entry.pw_dir, line)
        except OSError as err:
            print(f"{account}: not written: {err.strerror} ({err.filename or entry.pw_dir})", file=sys.stderr)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8


def install(account: str, line: str, min_uid: int) -> str:
    """Add one key to one account, as that account; what happened, in words."""
    code = as_account(account, min_uid, add_key, line)
    return code if isinstance(code, str) else {ADDED: "added", PRESENT: "already there"}.get(code, "FAILED")


def withdraw(account: str, line: str, min_uid: int) -> str:
    """Remove one key this sync wrote from one account, as that account; what happened, in words."""
    code = as_account(account, min_uid, remove_key, line)
    return code if isinstance(code, str) else {REMOVED: "removed", ABSENT: "already gone"}.get(code, "FAILED")


def load_state(path: str) -> dict[str, list[str]]:
    """{account: [key lines this sync wrote there]}; empty if there is none yet."""
    try:
        with open(path) as f:
            state = json.load(f)
    except FileNotFoundError:
        return {}
    if not isinstance(state, dict) or not all(isinstance(v, list) for v in state.values()):
        raise SystemExit(f"{path} is not this key sync's state; move it away to start over")
    return {str(k): [str(line) for line in v] for k, v in state.items()}


def save_state(path: str, state: dict[str, list[str]]) -> None:
    """Written beside, then renamed over, by root alone (0600 in a 0700 directory)."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    temporary = f"{path}.new"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({k: sorted(v) for k, v in sorted(state.items()) if v}, f, indent=1)
    os.replace(temporary, path)


def sync(
    entries: list[tuple[str, str]], state: dict[str, list[str]], min_uid: int, install=install, withdraw=withdraw
) -> tuple[list[str], dict[str, list[str]], int]:
    """Add the listed keys, remove those this sync wrote that are no longer listed.

    Returns (report lines, the new state, failures). A key found already there that this
    sync did not write stays unrecorded, so it is never removed.
    """
    report, failed, written = [], 0, {k: set(v) for k, v in state.items()}
    for account, line in entries:
        result = install(account, line, min_uid)
        failed += result == "FAILED"
        if result == "added":
            written.setdefault(account, set()).add(line)
        report.append(f"{account}: {result}")
    listed = set(entries)
    for account in sorted(written):
        for line in sorted(written[account]):
            if (account, line) in listed:
                continue
            result = withdraw(account, line, min_uid)
            if result == "FAILED":
                failed += 1  # kept: the next run tries again
            else:
                written[account].discard(line)
            report.append(f"{account}: {result} (no longer listed: {line.split()[-1]})")
    return report, {k: sorted(v) for k, v in written.items() if v}, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hub", required=True, help="the hub's URL, e.g. https://hub.example.org")
    parser.add_argument("--cluster", required=True, help="this cluster's name in the hub's clusters.toml")
    parser.add_argument("--token-file", required=True, help="file holding the hub's KEY_SYNC_API_TOKEN (root only)")
    parser.add_argument("--ca-file", help="CA bundle for the hub's certificate, if not a public one")
    parser.add_argument("--min-uid", type=int, default=1000, help="accounts below this uid are never written (1000)")
    parser.add_argument(
        "--state-file",
        help=f"what this sync wrote where, root's alone (default {DEFAULT_STATE.format(cluster='<cluster>')})",
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("run it as root: it writes into every user's account, as that user")
    with open(args.token_file) as f:
        token = f.read().strip()
    state_file = args.state_file or DEFAULT_STATE.format(cluster=re.sub(r"[^A-Za-z0-9_.-]", "_", args.cluster))
    state = load_state(state_file)
    # Only a list the hub gave (HTTP 200) removes anything: an error raises before this.
    entries = parse(fetch(args.hub, args.cluster, token, args.ca_file))
    report, state, failed = sync(entries, state, max(args.min_uid, 1))  # never uid 0, whatever is asked
    save_state(state_file, state)
    for line in report:
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
