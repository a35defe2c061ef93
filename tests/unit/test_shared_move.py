"""`pyiron-hub move-to-shared`: node-local volumes into the shared path (shared_move.py), on real files."""

from __future__ import annotations

import os
import stat

import pytest

from pyiron_hub_config.cli import main
from pyiron_hub_config.shared_move import move_to_shared, user_volumes_in

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="giving files to uid 1000 needs root, as the command has")


@pytest.fixture
def volumes(tmp_path):
    """A node's /var/lib/docker/volumes with alice's two volumes and others that are not users'."""
    root = tmp_path / "volumes"
    home = root / "jupyterhub-home-alice" / "_data"
    (home / "work").mkdir(parents=True)
    (home / ".pyiron_hub").mkdir()
    (home / ".pyiron_hub" / "jobs.db").write_bytes(b"SQLite format 3\0")
    (home / "notes.ipynb").write_text("{}")
    os.symlink("notes.ipynb", home / "latest.ipynb")
    work = root / "jupyterhub-user-alice" / "_data"
    work.mkdir(parents=True)
    (work / "data.txt").write_text("x")
    for path in (home, work, *home.rglob("*"), *work.rglob("*")):
        os.chown(path, 1000, 1000, follow_symlinks=False)
    (root / "pyiron-hub-image-0123456789ab" / "_data").mkdir(parents=True)
    (root / "pyhswarm_hub-db-data" / "_data").mkdir(parents=True)
    shared = tmp_path / "shared"
    shared.mkdir()
    return root, shared


def test_only_users_volumes_and_work_before_home(volumes):
    root, _ = volumes
    assert list(user_volumes_in(root)) == ["jupyterhub-user-alice", "jupyterhub-home-alice"]


def test_files_arrive_whole_and_the_users_alone(volumes):
    root, shared = volumes
    said = move_to_shared(root, str(shared))
    assert [line.split(":")[0] for line in said] == ["jupyterhub-user-alice", "jupyterhub-home-alice"]
    assert all("moved" in line for line in said)
    home = shared / "jupyterhub-home-alice"
    assert (home / ".pyiron_hub" / "jobs.db").read_bytes() == b"SQLite format 3\0"
    assert os.readlink(home / "latest.ipynb") == "notes.ipynb"
    assert (home / "work").is_dir() and (shared / "jupyterhub-user-alice" / "data.txt").read_text() == "x"
    for top in (home, shared / "jupyterhub-user-alice"):
        st = top.stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o700)
    assert (home / "notes.ipynb").stat().st_uid == 1000
    assert sorted(p.name for p in shared.iterdir()) == ["jupyterhub-home-alice", "jupyterhub-user-alice"]


def test_a_second_run_changes_nothing(volumes):
    root, shared = volumes
    move_to_shared(root, str(shared))
    (shared / "jupyterhub-home-alice" / "notes.ipynb").write_text('{"edited": "on the shared path"}')
    said = move_to_shared(root, str(shared))
    assert all("already on the shared path" in line for line in said), said
    assert "edited" in (shared / "jupyterhub-home-alice" / "notes.ipynb").read_text()


def test_a_copy_stopped_half_way_is_made_again(volumes):
    root, shared = volumes
    (shared / ".moving-jupyterhub-home-alice").mkdir()
    (shared / ".moving-jupyterhub-home-alice" / "half").write_text("")
    move_to_shared(root, str(shared))
    assert not (shared / "jupyterhub-home-alice" / "half").exists()
    assert (shared / "jupyterhub-home-alice" / "notes.ipynb").exists()
    assert not (shared / ".moving-jupyterhub-home-alice").exists()


def test_the_command_says_what_it_did_and_refuses_a_missing_path(volumes, capsys):
    root, shared = volumes
    assert main(["move-to-shared", "--from", str(root), "--to", str(shared)]) == 0
    assert "jupyterhub-home-alice: moved" in capsys.readouterr().out
    assert main(["move-to-shared", "--from", str(root), "--to", str(shared / "missing")]) == 1
    assert f"--to: no such directory: {shared / 'missing'}" in capsys.readouterr().err
