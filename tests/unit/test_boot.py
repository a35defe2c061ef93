"""The boot step that prepares a user's home inside their container (pure file logic)."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import tarfile

import pytest

from pyiron_hub_config import boot_file
from pyiron_hub_config.in_user_container import boot
from pyiron_hub_config.storage import image_volume, server_mounts


@pytest.fixture
def image(tmp_path):
    """An image's home: two example folders, a dotfile and work/ that are not examples."""
    root = tmp_path / "image"
    (root / "notebooks_base" / "data").mkdir(parents=True)
    (root / "notebooks_base" / "intro.ipynb").write_text("v1 intro")
    (root / "notebooks_base" / "data" / "x.csv").write_text("1,2")
    (root / "notebooks_base" / ".ipynb_checkpoints").mkdir()
    (root / "notebooks_base" / ".ipynb_checkpoints" / "intro-checkpoint.ipynb").write_text("junk")
    (root / "notebooks_pyiron").mkdir()
    (root / "notebooks_pyiron" / "lammps.ipynb").write_text("v1 lammps")
    (root / ".bashrc").write_text("# image")
    (root / "work").mkdir()
    return root


@pytest.fixture
def home(tmp_path):
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def test_examples_are_copied_in_on_first_use(image, home):
    actions = boot.sync_examples(str(image), str(home))
    assert (home / "notebooks_base" / "intro.ipynb").read_text() == "v1 intro"
    assert (home / "notebooks_base" / "data" / "x.csv").read_text() == "1,2"
    assert (home / "notebooks_pyiron" / "lammps.ipynb").read_text() == "v1 lammps"
    assert set(actions.values()) == {"added"}
    # only the example folders: no dotfiles, no work/, no checkpoints
    assert not (home / ".bashrc").exists() and not (home / "work").exists()
    assert not (home / "notebooks_base" / ".ipynb_checkpoints").exists()


def test_a_second_start_changes_nothing(image, home):
    boot.sync_examples(str(image), str(home))
    assert set(boot.sync_examples(str(image), str(home)).values()) == {"unchanged"}


def test_a_start_of_the_image_last_brought_in_hashes_nothing(image, home, monkeypatch):
    boot.sync_examples(str(image), str(home), image_id="sha256:one")
    monkeypatch.setattr(boot, "_sha256", lambda path: pytest.fail(f"hashed {path}"))
    assert boot.sync_examples(str(image), str(home), image_id="sha256:one") is None


def test_another_image_brings_its_examples_in(image, home):
    boot.sync_examples(str(image), str(home), image_id="sha256:one")
    (image / "notebooks_base" / "intro.ipynb").write_text("v2 intro")
    actions = boot.sync_examples(str(image), str(home), image_id="sha256:two")
    assert actions["notebooks_base/intro.ipynb"] == "updated"
    assert (home / "notebooks_base" / "intro.ipynb").read_text() == "v2 intro"
    assert boot.sync_examples(str(image), str(home), image_id="sha256:two") is None


def test_update_file_leaves_a_file_holding_the_same_alone(tmp_path):
    target = tmp_path / "f"
    assert boot.update_file(str(target), "a", 0o600)
    inode = target.stat().st_ino
    assert not boot.update_file(str(target), "a", 0o600)
    assert target.stat().st_ino == inode  # not replaced: no write, no fsync
    assert boot.update_file(str(target), "a", 0o644)  # another mode is a change
    assert boot.update_file(str(target), b"b", 0o644) and target.read_text() == "b"


def test_an_untouched_example_follows_the_image(image, home):
    boot.sync_examples(str(image), str(home))
    (image / "notebooks_base" / "intro.ipynb").write_text("v2 intro")
    actions = boot.sync_examples(str(image), str(home))
    assert actions["notebooks_base/intro.ipynb"] == "updated"
    assert (home / "notebooks_base" / "intro.ipynb").read_text() == "v2 intro"


def test_an_edited_example_is_never_overwritten(image, home):
    boot.sync_examples(str(image), str(home))
    (home / "notebooks_base" / "intro.ipynb").write_text("my notes")
    (image / "notebooks_base" / "intro.ipynb").write_text("v2 intro")
    actions = boot.sync_examples(str(image), str(home), stamp="2026-11-26")
    assert actions["notebooks_base/intro.ipynb"] == "edited by user, new version beside it"
    assert (home / "notebooks_base" / "intro.ipynb").read_text() == "my notes"
    assert (home / "notebooks_base" / "intro (image update 2026-11-26).ipynb").read_text() == "v2 intro"
    # and the next start does not pile up copies
    assert boot.sync_examples(str(image), str(home))["notebooks_base/intro.ipynb"] == "unchanged"
    assert len(list((home / "notebooks_base").glob("intro*"))) == 2


def test_an_edited_example_is_kept_even_when_the_image_did_not_change(image, home):
    boot.sync_examples(str(image), str(home))
    (home / "notebooks_base" / "intro.ipynb").write_text("my notes")
    assert boot.sync_examples(str(image), str(home))["notebooks_base/intro.ipynb"] == "unchanged"
    assert (home / "notebooks_base" / "intro.ipynb").read_text() == "my notes"


def test_a_deleted_example_stays_deleted(image, home):
    boot.sync_examples(str(image), str(home))
    (home / "notebooks_pyiron" / "lammps.ipynb").unlink()
    (image / "notebooks_pyiron" / "lammps.ipynb").write_text("v2 lammps")
    assert boot.sync_examples(str(image), str(home))["notebooks_pyiron/lammps.ipynb"] == "deleted by user, kept deleted"
    assert not (home / "notebooks_pyiron" / "lammps.ipynb").exists()


def test_a_file_of_the_users_with_an_examples_name_is_kept(image, home):
    (home / "notebooks_base").mkdir()
    (home / "notebooks_base" / "intro.ipynb").write_text("mine, made before")
    actions = boot.sync_examples(str(image), str(home), stamp="d")
    assert actions["notebooks_base/intro.ipynb"] == "edited by user, new version beside it"
    assert (home / "notebooks_base" / "intro.ipynb").read_text() == "mine, made before"


def test_home_populated_by_docker_counts_as_already_there(image, home):
    # Docker fills an empty home volume from the first image: same bytes, recorded, not copied.
    (home / "notebooks_pyiron").mkdir()
    (home / "notebooks_pyiron" / "lammps.ipynb").write_text("v1 lammps")
    assert boot.sync_examples(str(image), str(home))["notebooks_pyiron/lammps.ipynb"] == "already there"


def test_no_image_home_means_nothing_to_do(tmp_path, home):
    assert boot.sync_examples(str(tmp_path / "absent"), str(home)) == {}


def test_files_are_written_with_their_mode(home):
    spec = json.dumps(
        [
            {"path": ".pyiron_hub/resources/queues/queue.yaml", "content": "a: 1\n", "mode": "0644"},
            {"path": ".ssh/known_hosts", "content": "host key\n", "mode": "0600"},
        ]
    )
    assert boot.write_files(str(home), spec) == [".pyiron_hub/resources/queues/queue.yaml", ".ssh/known_hosts"]
    assert (home / ".pyiron_hub/resources/queues/queue.yaml").read_text() == "a: 1\n"
    assert stat.S_IMODE((home / ".ssh/known_hosts").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / ".ssh").stat().st_mode) == 0o700


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", ".ssh/../../x"])
def test_files_outside_the_home_are_refused(home, path):
    with pytest.raises(ValueError, match="outside the home"):
        boot.write_files(str(home), json.dumps([{"path": path, "content": "x"}]))


def files_status(home) -> dict:
    return json.loads((home / ".pyiron_hub/files.json").read_text())


def test_a_file_needing_a_missing_module_is_left_out_and_the_reason_kept(home, capsys):
    spec = json.dumps(
        [
            {"path": "q/queue.yaml", "content": "x", "requires": ["paramiko_not_here"]},
            {"path": "q/known_hosts", "content": "k", "requires": ["json"]},
        ]
    )
    assert boot.write_files(str(home), spec) == ["q/known_hosts"]
    assert not (home / "q/queue.yaml").exists()
    assert files_status(home) == {
        "written": ["q/known_hosts"],
        "skipped": {"q/queue.yaml": "needs the Python module paramiko_not_here, which this environment lacks"},
        "given": [],
    }
    assert "pip install --user paramiko" in capsys.readouterr().err


def test_files_no_longer_listed_are_removed_and_nothing_else(home):
    boot.write_files(
        str(home), json.dumps([{"path": "q/a.yaml", "content": "a"}, {"path": "q/b.yaml", "content": "b"}])
    )
    (home / "q/mine.yaml").write_text("the user's own")
    boot.write_files(str(home), json.dumps([{"path": "q/b.yaml", "content": "b2"}]))
    assert sorted(p.name for p in (home / "q").iterdir()) == ["b.yaml", "mine.yaml"]
    boot.write_files(str(home), "[]")
    assert sorted(p.name for p in (home / "q").iterdir()) == ["mine.yaml"]


def test_a_file_left_out_now_is_removed_if_the_hub_wrote_it_before(home):
    boot.write_files(str(home), json.dumps([{"path": "q/queue.yaml", "content": "x"}]))
    boot.write_files(
        str(home), json.dumps([{"path": "q/queue.yaml", "content": "x", "requires": ["paramiko_not_here"]}])
    )
    assert not (home / "q/queue.yaml").exists()


def test_a_tampered_status_file_removes_nothing_outside_the_home(home, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    (home / ".pyiron_hub").mkdir(exist_ok=True)
    (home / ".pyiron_hub/files.json").write_text(json.dumps({"written": ["../outside.txt", str(outside)]}))
    boot.write_files(str(home), "[]")
    assert outside.read_text() == "keep"


def test_ssh_key_is_made_once_and_private(home):
    assert boot.ensure_ssh_key(str(home)) is True
    private, public = home / ".ssh/id_ed25519", home / ".ssh/id_ed25519.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / ".ssh").stat().st_mode) == 0o700
    assert private.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert public.read_text().startswith("ssh-ed25519 ")
    before = private.read_bytes()
    assert boot.ensure_ssh_key(str(home)) is False
    assert private.read_bytes() == before


def test_a_users_own_key_is_kept(home):
    (home / ".ssh").mkdir(mode=0o700)
    (home / ".ssh/id_ed25519").write_text("my own key")
    assert boot.ensure_ssh_key(str(home)) is False
    assert (home / ".ssh/id_ed25519").read_text() == "my own key"


def test_pyiron_gets_a_database_per_series_in_the_home(home):
    settings = boot.pyiron_settings(str(home), {}, "0.15")
    assert settings == {
        "PYIRONSQLTYPE": "SQLite",
        "PYIRONSQLFILE": f"{home}/.pyiron_hub/db/pyiron_base-0.15.db",
        "PYIRONRESOURCEPATHS": f"{home}/.pyiron_hub/resources",
        "PYIRONPROJECTCHECKENABLED": "False",
    }
    assert boot.pyiron_settings(str(home), {}, "0.8")["PYIRONSQLFILE"].endswith("pyiron_base-0.8.db")


def test_site_resources_come_first(home):
    settings = boot.pyiron_settings(str(home), {"PYIRON_HUB_SITE_RESOURCES": "/opt/pyiron-hub/site-resources"}, "0.15")
    assert settings["PYIRONRESOURCEPATHS"] == f"/opt/pyiron-hub/site-resources,{home}/.pyiron_hub/resources"


def test_a_users_own_pyiron_configuration_wins(home):
    (home / ".pyiron").write_text("[DEFAULT]\n")
    assert boot.pyiron_settings(str(home), {}, "0.15") == {}


def test_a_users_own_pyiron_variables_win(home):
    assert boot.pyiron_settings(str(home), {"PYIRONSQLFILE": "/tmp/x.db"}, "0.15") == {}


def test_no_pyiron_base_no_settings(home):
    assert boot.pyiron_settings(str(home), {}, None) == {}


@pytest.mark.parametrize("version, series", [("0.15.20", "0.15"), ("0.8.2", "0.8"), ("1.2.3", "1")])
def test_series_of_a_version(monkeypatch, version, series):
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "version", lambda name: version)
    assert boot.pyiron_base_series() == series


def test_boot_runs_as_python_dash_c_and_execs_the_server(tmp_path, image):
    # The way the container runs it: python -c <source> <server> <args>; here the "server" is echo.
    env = {
        **os.environ,
        "HOME": str(tmp_path / "h"),
        "PYIRON_HUB_SSH_KEY": "1",
        "PYIRON_HUB_FILES": json.dumps([{"path": "hello.txt", "content": "hi"}]),
    }
    (tmp_path / "h").mkdir()
    source = (boot.__file__ and open(boot.__file__).read()).replace(
        'IMAGE_HOME = "/opt/pyiron-hub/image/jovyan"', f'IMAGE_HOME = "{image}"'
    )
    r = subprocess.run(
        [sys.executable, "-c", source, "echo", "server", "started"], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "server started\n"
    assert (tmp_path / "h/notebooks_base/intro.ipynb").exists()
    assert (tmp_path / "h/hello.txt").read_text() == "hi"
    assert (tmp_path / "h/.ssh/id_ed25519").exists()
    assert "pyiron-hub boot: examples: 3 files" in r.stderr
    assert (tmp_path / "h" / boot.LAB_NEWS_SETTINGS).exists()


def test_a_failing_step_does_not_keep_the_server_from_starting(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "PYIRON_HUB_FILES": "not json"}
    r = subprocess.run(
        [sys.executable, "-c", open(boot.__file__).read(), "echo", "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and r.stdout == "up\n"
    assert "files: skipped (JSONDecodeError" in r.stderr


# --- the first hour, quiet ------------------------------------------------------------------
def test_jupyterlab_news_question_is_answered_no_once(home):
    assert boot.answer_lab_news(str(home)) == "answered no"
    settings = home / boot.LAB_NEWS_SETTINGS
    assert json.loads(settings.read_text()) == {"fetchNews": "false"}
    settings.write_text('{"fetchNews": "true"}')  # the user changed their mind in JupyterLab
    assert boot.answer_lab_news(str(home)) == "left as it is"
    assert settings.read_text() == '{"fetchNews": "true"}'


def test_an_empty_work_folder_says_what_it_is(home):
    (home / "work").mkdir()
    assert boot.explain_work(str(home)) == "explained"
    assert "kept across restarts" in (home / "work/README.md").read_text()


@pytest.mark.parametrize("content", [None, "data.csv", ".hidden"])
def test_a_work_folder_with_anything_in_it_or_none_is_left_alone(home, content):
    if content:
        (home / "work").mkdir()
        (home / "work" / content).write_text("mine")
    assert boot.explain_work(str(home)) == "nothing to do"
    assert not (home / "work/README.md").exists()


def test_pyiron_log_goes_to_one_place_not_beside_notebooks(home, tmp_path, monkeypatch):
    import logging

    assert boot.pyiron_log_in_one_place(str(home), True) == "to ~/.pyiron_hub/pyiron.log"
    startup = home / boot.PYIRON_LOG_STARTUP
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    monkeypatch.chdir(notebooks)
    monkeypatch.setenv("HOME", str(home))
    original = logging.FileHandler.__init__
    try:
        exec(compile(startup.read_text(), str(startup), "exec"), {})
        # What pyiron_snippets.logger does when pyiron is imported, and a file of the user's.
        handlers = [logging.FileHandler("pyiron.log"), logging.FileHandler("mine.log")]
    finally:
        logging.FileHandler.__init__ = original
    for handler in handlers:
        handler.close()
    assert (home / ".pyiron_hub/pyiron.log").exists()
    assert sorted(p.name for p in notebooks.iterdir()) == ["mine.log"]


def test_pyiron_log_is_left_to_a_user_who_configures_pyiron(home):
    boot.pyiron_log_in_one_place(str(home), True)
    assert boot.pyiron_log_in_one_place(str(home), False) == "left to the user"
    assert not (home / boot.PYIRON_LOG_STARTUP).exists()


def test_image_volume_is_named_by_the_image_id():
    assert image_volume("sha256:4f2a0c9e1b7d" + "0" * 52) == "pyiron-hub-image-4f2a0c9e1b7d"


def test_server_mounts_the_image_home_twice_read_only():
    mounts = server_mounts("sha256:" + "ab" * 32, None)
    assert [(m["target"], m["read_only"]) for m in mounts] == [("/home", True), ("/opt/pyiron-hub/image", True)]
    assert {m["source"] for m in mounts} == {"pyiron-hub-image-abababababab"}


def test_site_resources_are_a_read_only_bind_mount():
    mounts = server_mounts("sha256:" + "ab" * 32, "/srv/pyiron/resources")
    assert mounts[-1] == {
        "type": "bind",
        "source": "/srv/pyiron/resources",
        "target": "/opt/pyiron-hub/site-resources",
        "read_only": True,
    }


# --- the hub's packages (paramiko) for images that lack them -----------------------------------
@pytest.fixture
def hub_packages(tmp_path):
    """A packages directory like the hub's: a module the test Python lacks, and its manifest."""
    root = tmp_path / "packages"
    (root / "hubonly_mod_18").mkdir(parents=True)
    (root / "hubonly_mod_18" / "__init__.py").write_text("WHERE = 'hub'\n")
    (root / "shadow_mod_18").mkdir()
    (root / "shadow_mod_18" / "__init__.py").write_text("WHERE = 'hub'\n")
    version = "%d.%d" % sys.version_info[:2]
    (root / boot.PACKAGES_MANIFEST).write_text(
        json.dumps({"pythons": ["3.99", version], "modules": ["hubonly_mod_18"]})
    )
    yield root
    while str(root) in sys.path:
        sys.path.remove(str(root))
    for name in ("hubonly_mod_18", "shadow_mod_18"):  # imported by the step's check
        sys.modules.pop(name, None)


def test_hub_packages_go_after_the_images_own(hub_packages, tmp_path):
    site_dir = tmp_path / "site-packages"
    (site_dir / "shadow_mod_18").mkdir(parents=True)
    (site_dir / "shadow_mod_18" / "__init__.py").write_text("WHERE = 'image'\n")
    done, why_not = boot.use_hub_packages(str(hub_packages), str(site_dir))
    assert why_not is None and done.startswith("hubonly_mod_18 from the hub for Python ")
    assert (site_dir / boot.PACKAGES_PTH).read_text() == f"{hub_packages}\n"
    # A fresh Python that reads the site-packages directory as the image's Python does:
    # the hub's module is found, and the image's own copy of a module wins over the hub's.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                f"import site, sys; site.addsitedir({str(site_dir)!r}); "
                "import hubonly_mod_18, shadow_mod_18; "
                f"print(hubonly_mod_18.WHERE, shadow_mod_18.WHERE, sys.path.index({str(site_dir)!r}) < sys.path.index({str(hub_packages)!r}))"
            ),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split() == ["hub", "image", "True"]


def test_hub_packages_are_importable_at_once_for_the_files_step(hub_packages, tmp_path, home):
    boot.use_hub_packages(str(hub_packages), str(tmp_path))
    spec = json.dumps([{"path": "q/queue.yaml", "content": "x", "requires": ["hubonly_mod_18"]}])
    assert boot.write_files(str(home), spec) == ["q/queue.yaml"]


def test_nothing_is_added_where_the_image_has_the_modules(hub_packages, tmp_path):
    (hub_packages / boot.PACKAGES_MANIFEST).write_text(json.dumps({"pythons": ["3.13"], "modules": ["json"]}))
    assert boot.use_hub_packages(str(hub_packages), str(tmp_path)) == ("not needed: the image has json", None)
    assert not (tmp_path / boot.PACKAGES_PTH).exists()


def test_a_speedup_the_image_lacks_is_lent_but_never_named_as_a_need(hub_packages, tmp_path):
    # rfc3987 in the hub's tree: lent for speed; the user is told only about what a feature needs.
    (hub_packages / "speedup_mod_18.py").write_text("WHERE = 'hub'\n")
    (hub_packages / boot.PACKAGES_MANIFEST).write_text(
        json.dumps({"pythons": ["3.13"], "modules": ["hubonly_mod_18"], "speedups": ["speedup_mod_18"]})
    )
    assert boot.use_hub_packages(str(hub_packages), str(tmp_path), version="3.10") == (
        "not used",
        "the hub supplies hubonly_mod_18 for Python 3.13, and this image runs Python 3.10",
    )
    (hub_packages / boot.PACKAGES_MANIFEST).write_text(
        json.dumps({"pythons": ["3.13"], "modules": ["json"], "speedups": ["speedup_mod_18"]})
    )
    done, why_not = boot.use_hub_packages(str(hub_packages), str(tmp_path), version="3.10")
    assert why_not == "the hub supplies speedup_mod_18 for Python 3.13, and this image runs Python 3.10"
    sys.modules.pop("speedup_mod_18", None)


def test_a_python_the_hub_cannot_serve_is_told_why(hub_packages, tmp_path, home):
    done, why_not = boot.use_hub_packages(str(hub_packages), str(tmp_path), version="3.10")
    assert (done, why_not) == (
        "not used",
        f"the hub supplies hubonly_mod_18 for Python 3.99, "
        f"{'%d.%d' % sys.version_info[:2]}, and this image runs Python 3.10",
    )
    assert not (tmp_path / boot.PACKAGES_PTH).exists()
    spec = json.dumps([{"path": "q/queue.yaml", "content": "x", "requires": ["hubonly_mod_18"]}])
    assert boot.write_files(str(home), spec, why_not) == []
    assert files_status(home)["skipped"]["q/queue.yaml"] == (
        f"needs the Python module hubonly_mod_18, which this environment lacks ({why_not})"
    )


def test_a_read_only_site_packages_is_told_why(hub_packages, tmp_path):
    done, why_not = boot.use_hub_packages(str(hub_packages), str(tmp_path / "absent"))
    assert done == "not used" and why_not.startswith("the hub could not add its hubonly_mod_18 to this image's Python")


def test_no_packages_mounted(tmp_path):
    assert boot.use_hub_packages(str(tmp_path / "none")) == ("none mounted", None)


def test_an_example_is_written_once_and_then_the_users(home):
    spec = json.dumps([{"path": "nb/example.ipynb", "content": "v1", "once": True}])
    assert boot.write_files(str(home), spec) == []
    assert (home / "nb/example.ipynb").read_text() == "v1"
    (home / "nb/example.ipynb").write_text("mine")
    boot.write_files(str(home), spec.replace("v1", "v2"))
    assert (home / "nb/example.ipynb").read_text() == "mine"  # edited: kept
    (home / "nb/example.ipynb").unlink()
    boot.write_files(str(home), spec)
    assert not (home / "nb/example.ipynb").exists()  # deleted: stays deleted
    boot.write_files(str(home), "[]")
    assert files_status(home)["given"] == ["nb/example.ipynb"]


# --- how the file reaches the container (boot_file.py) ---------------------------------------
def test_boot_runs_from_its_file_and_execs_the_server(tmp_path):
    """As the container runs it: python <mounted file> <server> <args>."""
    mounted = tmp_path / "boot.py"
    mounted.write_bytes(boot_file.boot_source())
    mounted.chmod(0o444)
    env = {**os.environ, "HOME": str(tmp_path / "h")}
    (tmp_path / "h").mkdir()
    r = subprocess.run(
        [sys.executable, str(mounted), "echo", "up"], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and r.stdout == "up\n", r.stderr


def test_the_command_names_the_file_not_its_source():
    assert boot_file.boot_command() == ["python", "/opt/pyiron-hub/boot/boot.py", "jupyterhub-singleuser"]


def test_the_boot_file_is_named_by_its_content():
    assert boot_file.boot_name(b"a") != boot_file.boot_name(b"b")
    assert boot_file.boot_name(boot_file.boot_source()).startswith("pyiron-hub-boot-")
    assert len(boot_file.boot_name(b"a")) == len("pyiron-hub-boot-") + 12


def test_the_archive_holds_the_file_read_only():
    with tarfile.open(fileobj=io.BytesIO(boot_file._tar(b"print(1)\n"))) as tar:
        (member,) = tar.getmembers()
        assert (member.name, member.mode, tar.extractfile(member).read()) == ("boot.py", 0o444, b"print(1)\n")


def test_write_atomically_replaces_whole_with_the_mode(tmp_path):
    target = tmp_path / "f.json"
    target.write_text("old")
    boot.write_atomically(str(target), "new", 0o600)
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "f.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        boot.write_atomically(str(target), object())
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_packages_that_loaded_in_this_image_before_are_not_imported_again(hub_packages, tmp_path):
    proof = tmp_path / "state" / "packages-loaded"
    first = boot.use_hub_packages(str(hub_packages), str(tmp_path), proof=str(proof), image_id="sha256:one")
    assert first[1] is None and proof.exists()
    sys.modules.pop("hubonly_mod_18")  # the next start is a new Python
    sys.path.remove(str(hub_packages))
    (hub_packages / "hubonly_mod_18" / "__init__.py").write_text("raise ImportError('imported again')\n")
    done, why_not = boot.use_hub_packages(str(hub_packages), str(tmp_path), proof=str(proof), image_id="sha256:one")
    assert why_not is None and done.endswith("(they loaded at an earlier start of this image)")
    assert (tmp_path / boot.PACKAGES_PTH).exists()  # a new container's Python still needs the .pth
    # Another image is checked again.
    sys.path.remove(str(hub_packages))
    done, why_not = boot.use_hub_packages(str(hub_packages), str(tmp_path), proof=str(proof), image_id="sha256:two")
    assert done == "not used" and "imported again" in why_not


def test_packages_that_do_not_load_are_taken_away_again(hub_packages, tmp_path):
    (hub_packages / "hubonly_mod_18" / "__init__.py").write_text("raise ImportError('GLIBC_2.34 not found')\n")
    done, why_not = boot.use_hub_packages(str(hub_packages), str(tmp_path))
    assert done == "not used" and why_not == (
        "the hub's hubonly_mod_18 does not load in this image (ImportError: GLIBC_2.34 not found)"
    )
    assert not (tmp_path / boot.PACKAGES_PTH).exists() and str(hub_packages) not in sys.path


def test_folders_that_take_no_new_file_are_named_with_why(tmp_path):
    writable, a_file = tmp_path / "home", tmp_path / "file"
    writable.mkdir()
    a_file.write_text("")
    assert boot.not_writable([str(writable)]) == []
    assert list(writable.iterdir()) == []  # the probe is gone again
    assert boot.not_writable([str(writable), str(a_file), str(tmp_path / "gone")]) == [
        f"{a_file}: Not a directory",
        f"{tmp_path / 'gone'}: No such file or directory",
    ]


def test_a_folder_whose_mount_hangs_counts_as_not_writable_after_the_wait(tmp_path, monkeypatch):
    import threading

    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    hung, released = threading.Event(), threading.Event()
    mkstemp = boot.tempfile.mkstemp

    def stuck_in_work(dir, prefix):  # a stopped FUSE daemon: the call neither fails nor returns
        if dir == str(work):
            hung.set()
            released.wait()
        return mkstemp(dir=dir, prefix=prefix)

    monkeypatch.setattr(boot.tempfile, "mkstemp", stuck_in_work)
    try:
        assert boot.not_writable([str(home), str(work)], wait=0.3) == [f"{work}: no answer within 0.3 s (hung)"]
        assert hung.is_set()
    finally:
        released.set()


def test_where_the_hub_asks_for_it_a_home_that_takes_no_file_starts_no_server(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(boot.MUST_WRITE_VARIABLE, f"{tmp_path}:{tmp_path / 'gone'}")
    monkeypatch.setattr(boot.os, "execvp", lambda *args: pytest.fail("the server was started"))
    assert boot.main(["boot.py", "jupyterhub-singleuser"]) == boot.NOT_WRITABLE
    assert f"pyiron-hub boot: not writable: {tmp_path / 'gone'}: No such file or directory" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no step ran


# --- quota messages: a full quota named in Jupyter's errors -----------------------------------


def test_without_a_quota_jupyter_gets_no_config_of_ours(tmp_path):
    environ = {"JUPYTER_CONFIG_PATH": "/etc/x"}
    assert boot.quota_messages(environ, str(tmp_path / "cfg")) == "no quota"
    assert environ == {"JUPYTER_CONFIG_PATH": "/etc/x"} and not (tmp_path / "cfg").exists()


def test_a_full_quota_is_named_in_jupyter_servers_errors(tmp_path, monkeypatch):
    """The config file boot.py writes, run as Jupyter Server runs it, around refusals as Jupyter
    Server's FileContentsManager raises them (its HTTPError caused by the OSError)."""
    import asyncio
    import errno

    handlers = pytest.importorskip("jupyter_server.services.contents.handlers")
    from tornado import web

    failure = {}

    async def refused(self, *args, **kwargs):
        try:
            raise failure["error"]
        except OSError as e:
            raise web.HTTPError(500, f"Unexpected error while saving file: {args} {e}") from e

    for name in ("_save", "_upload", "_new_untitled", "_copy"):
        monkeypatch.setattr(handlers.ContentsHandler, name, refused)
    monkeypatch.setattr(handlers.ContentsHandler, "_pyiron_hub_quota_messages", False, raising=False)
    monkeypatch.setenv(boot.QUOTA_VARIABLE, "20M")
    monkeypatch.setenv(boot.GROUP_QUOTAS_VARIABLE, json.dumps({"lab": "8M"}))
    environ = {boot.QUOTA_VARIABLE: "20M", "JUPYTER_CONFIG_PATH": "/etc/x"}
    assert "20M" in boot.quota_messages(environ, str(tmp_path / "cfg"))
    assert environ["JUPYTER_CONFIG_PATH"] == f"{tmp_path / 'cfg'}{os.pathsep}/etc/x"
    config = tmp_path / "cfg" / "jupyter_server_config.py"
    for _ in range(2):  # read by the server and again by an extension: wrapped once
        exec(compile(config.read_text(), str(config), "exec"), {"get_config": lambda: None})
    handler = handlers.ContentsHandler

    def error(call, *args) -> web.HTTPError:
        with pytest.raises(web.HTTPError) as caught:
            asyncio.run(call(None, *args))
        return caught.value

    failure["error"] = OSError(errno.EDQUOT, "Disk quota exceeded")
    got = error(handler._save, {}, "/work/note.ipynb")
    assert got.status_code == 507 and got.log_message == (
        "Your disk quota of 20M is full: delete files (e.g. in ~/pyiron/projects or caches) "
        "or ask your admin to raise it."
    )
    assert "group folder ~/groups/lab (8M) is full" in error(handler._upload, {}, "groups/lab/a.txt").log_message
    assert "group folder ~/groups/lab (8M)" in error(handler._copy, "x.ipynb", "groups/lab").log_message
    assert "Your disk quota of 20M" in error(handler._new_untitled, "groups/other").log_message
    failure["error"] = OSError(errno.ENOSPC, "No space left on device")
    assert "The disk that holds your files is full" in error(handler._save, {}, "a.txt").log_message
    # Any other refusal keeps Jupyter's own words.
    failure["error"] = OSError(errno.EACCES, "Permission denied")
    got = error(handler._save, {}, "a.txt")
    assert got.status_code == 500 and "Permission denied" in got.log_message
