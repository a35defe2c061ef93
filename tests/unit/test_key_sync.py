"""The cluster's key sync (key_sync.py): what it accepts from the hub, and that it follows no link.

Writing as the account (fork, setuid) and the whole round with the hub run on the test
cluster (tests/e2e/test_hpc.py); here the parts that need neither.
"""

from __future__ import annotations

import os

import pytest

from pyiron_hub_config.on_cluster.key_sync import ADDED, PRESENT, add_key, parse

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB3vLd1q6ZqHk9qY2vDn8w0V4g1wq7yU0nZb8s3t5r6Q"


def test_parse_keeps_what_the_hub_sends():
    text = f"alice {KEY} pyiron-hub:alice\nbob {KEY}\n"
    assert parse(text) == [("alice", f"{KEY} pyiron-hub:alice"), ("bob", KEY)]


@pytest.mark.parametrize(
    "line",
    [
        f"root/../x {KEY}",
        f"Alice {KEY}",
        f"alice {KEY} other-comment",
        f"alice {KEY} pyiron-hub:a\tb",
        "alice ssh-dss AAAA",
        f"alice {KEY}; rm -rf /",
        "",
        f"-alice {KEY}",
    ],
)
def test_parse_drops_anything_else(line):
    assert parse(line) == []


def test_add_key_once(tmp_path):
    assert add_key(str(tmp_path), KEY) == ADDED
    assert add_key(str(tmp_path), KEY) == PRESENT
    keys = tmp_path / ".ssh" / "authorized_keys"
    assert keys.read_text() == KEY + "\n"
    assert (oct(keys.stat().st_mode & 0o777), oct((tmp_path / ".ssh").stat().st_mode & 0o777)) == ("0o600", "0o700")


def test_add_key_keeps_what_is_there(tmp_path):
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "authorized_keys").write_text("ssh-rsa AAAAold")  # no newline at the end
    add_key(str(tmp_path), KEY)
    assert (tmp_path / ".ssh" / "authorized_keys").read_text() == f"ssh-rsa AAAAold\n{KEY}\n"


def test_add_key_does_not_write_through_a_linked_file(tmp_path):
    target = tmp_path / "roots_authorized_keys"
    target.write_text("root's key\n")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "authorized_keys").symlink_to(target)
    with pytest.raises(OSError):
        add_key(str(home), KEY)
    assert target.read_text() == "root's key\n"


def test_add_key_does_not_write_through_a_linked_directory(tmp_path):
    elsewhere = tmp_path / "roots_ssh"
    elsewhere.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    os.symlink(elsewhere, home / ".ssh")
    with pytest.raises(OSError):
        add_key(str(home), KEY)
    assert list(elsewhere.iterdir()) == []


# --- keys this sync wrote leave again; keys it did not write stay (issue 29) --------------------
OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHandAddedHandAddedHandAddedHandAddedHand"


def test_remove_key_takes_out_that_line_alone(tmp_path):
    from pyiron_hub_config.on_cluster.key_sync import ABSENT, REMOVED, remove_key

    (tmp_path / ".ssh").mkdir(mode=0o700)
    keys = tmp_path / ".ssh" / "authorized_keys"
    keys.write_text(f"{OTHER} by-hand\n{KEY} pyiron-hub:bob\n# a comment\n")
    keys.chmod(0o600)
    assert remove_key(str(tmp_path), f"{KEY} pyiron-hub:bob") == REMOVED
    assert keys.read_text() == f"{OTHER} by-hand\n# a comment\n"
    assert oct(keys.stat().st_mode & 0o777) == "0o600"
    assert remove_key(str(tmp_path), f"{KEY} pyiron-hub:bob") == ABSENT
    assert remove_key(str(tmp_path / "nobody"), KEY) == ABSENT


def test_remove_key_does_not_follow_a_linked_file(tmp_path):
    from pyiron_hub_config.on_cluster.key_sync import remove_key

    target = tmp_path / "roots_authorized_keys"
    target.write_text(f"{KEY}\n")
    (tmp_path / "home" / ".ssh").mkdir(parents=True)
    (tmp_path / "home" / ".ssh" / "authorized_keys").symlink_to(target)
    with pytest.raises(OSError):
        remove_key(str(tmp_path / "home"), KEY)
    assert target.read_text() == f"{KEY}\n"


def _fake_cluster():
    """Accounts' authorized_keys as sets; install/withdraw as key_sync's, without fork and setuid."""
    files = {"alice": set(), "bob": {OTHER}}

    def install(account, line, min_uid):
        if line in files[account]:
            return "already there"
        files[account].add(line)
        return "added"

    def withdraw(account, line, min_uid):
        if line not in files[account]:
            return "already gone"
        files[account].discard(line)
        return "removed"

    return files, {"install": install, "withdraw": withdraw}


def test_a_key_no_longer_listed_is_removed_a_listed_one_stays():
    from pyiron_hub_config.on_cluster.key_sync import sync

    files, calls = _fake_cluster()
    alice, bob = f"{KEY} pyiron-hub:alice", f"{KEY} pyiron-hub:bob"
    _, state, failed = sync([("alice", alice), ("bob", bob)], {}, 1000, **calls)
    assert failed == 0 and state == {"alice": [alice], "bob": [bob]}
    # bob's access withdrawn: the hub lists alice alone.
    report, state, failed = sync([("alice", alice)], state, 1000, **calls)
    assert files == {"alice": {alice}, "bob": {OTHER}} and state == {"alice": [alice]}, files
    assert "bob: removed (no longer listed: pyiron-hub:bob)" in report and "alice: already there" in report
    report, state, _ = sync([("alice", alice)], state, 1000, **calls)  # control: alice's key stays, run after run
    assert files["alice"] == {alice} and report == ["alice: already there"]


def test_a_key_the_sync_did_not_write_is_never_removed():
    from pyiron_hub_config.on_cluster.key_sync import sync

    files, calls = _fake_cluster()
    # bob (or an admin) added the very line the hub lists, before the sync ran: not the sync's.
    files["bob"].add(f"{KEY} pyiron-hub:bob")
    _, state, _ = sync([("bob", f"{KEY} pyiron-hub:bob")], {}, 1000, **calls)
    assert state == {}
    _, state, _ = sync([], state, 1000, **calls)
    assert files["bob"] == {OTHER, f"{KEY} pyiron-hub:bob"}


def test_the_state_is_root_s_alone(tmp_path):
    from pyiron_hub_config.on_cluster.key_sync import load_state, save_state

    path = tmp_path / "state" / "hpc.json"
    assert load_state(str(path)) == {}
    save_state(str(path), {"alice": [KEY], "gone": []})
    assert load_state(str(path)) == {"alice": [KEY]}
    assert oct(path.stat().st_mode & 0o777) == "0o600" and oct(path.parent.stat().st_mode & 0o777) == "0o700"
    path.write_text("[1, 2]")
    with pytest.raises(SystemExit):
        load_state(str(path))
