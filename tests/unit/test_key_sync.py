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


@pytest.mark.parametrize("line", [
    f"root/../x {KEY}", f"Alice {KEY}", f"alice {KEY} other-comment", f"alice {KEY} pyiron-hub:a\tb",
    "alice ssh-dss AAAA", f"alice {KEY}; rm -rf /", "", f"-alice {KEY}",
])
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
