"""The hub's packages for users' servers: their volume's name and archive (no Docker here)."""

from __future__ import annotations

import io
import json
import tarfile

from pyiron_hub_config import hub_packages
from pyiron_hub_config.boot_shared import PACKAGES_MANIFEST


def make_tree(root, pythons=("3.11", "3.13")):
    (root / "paramiko").mkdir(parents=True)
    (root / "paramiko" / "__init__.py").write_text("")
    (root / "_cffi_backend.cpython-313-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    (root / "_cffi_backend.cpython-313-x86_64-linux-gnu.so").chmod(0o755)
    (root / PACKAGES_MANIFEST).write_text(json.dumps({"pythons": list(pythons), "modules": ["paramiko"]}))
    return root


def test_the_volume_is_named_for_the_manifest(tmp_path):
    a = hub_packages.volume_name(make_tree(tmp_path / "a"))
    assert a.startswith("pyiron-hub-packages-") and len(a) == len("pyiron-hub-packages-") + 12
    assert hub_packages.volume_name(make_tree(tmp_path / "b")) == a
    assert hub_packages.volume_name(make_tree(tmp_path / "c", pythons=("3.13",))) != a


def test_no_tree_no_volume(tmp_path):
    assert hub_packages.volume_name(tmp_path) is None
    assert hub_packages.packages_volume_mount(client=None, image="x", source=tmp_path) is None


def test_the_archive_is_roots_read_only_and_ends_with_the_manifest(tmp_path):
    tree = make_tree(tmp_path / "t")
    with tarfile.open(fileobj=io.BytesIO(hub_packages.tree_archive(tree))) as tar:
        members = tar.getmembers()
    assert members[-1].name == PACKAGES_MANIFEST
    assert {(m.uid, m.gid) for m in members} == {(0, 0)}
    modes = {m.name: m.mode for m in members}
    assert modes["paramiko"] == 0o755 and modes["paramiko/__init__.py"] == 0o644
    assert modes["_cffi_backend.cpython-313-x86_64-linux-gnu.so"] == 0o755


def test_links_to_the_hubs_own_packages_become_files(tmp_path):
    hub = tmp_path / "hub" / "cryptography"
    hub.mkdir(parents=True)
    (hub / "__init__.py").write_text("shared")
    tree = make_tree(tmp_path / "t")
    (tree / "cryptography").symlink_to(hub)
    with tarfile.open(fileobj=io.BytesIO(hub_packages.tree_archive(tree))) as tar:
        member = tar.getmember("cryptography/__init__.py")
        assert member.isfile() and tar.extractfile(member).read() == b"shared"
        assert tar.getmember("cryptography").isdir()
