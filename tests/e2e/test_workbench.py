"""Nothing a user makes is lost: the whole home persists, pyiron is configured by the hub.

Everything the user does goes through their own Jupyter server behind the hub's proxy, as
JupyterLab does it: the contents API for files, the settings API, and a kernel driven over
its websocket to run a pyiron job. Docker is only asked to set up the "earlier layout"
volume of the upgrade case and to restart the hub.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from .conftest import (
    DOCKER,
    HUB_IMAGE,
    IMAGES,
    HubUser,
    Stack,
    docker,
    remove_user_containers_and_volumes,
    write_env_files,
)
from .jupyter import ADD_JOB as JOB
from .jupyter import Kernel

USERS = ("wendy", "uma", "ulf")
PROJECT = "pyironhubwb"
NETWORK = "pyiron-hub-wb-users"
# An environment whose image the test updates, to see its examples follow the image.
UPDATED_IMAGE = "pyiron-hub-e2e-wb/experimental:latest"
# Each environment's example folder, named as in the public pyiron images.
EXAMPLES = {
    "pyiron_base": "notebooks_base",
    "pyiron_md": "notebooks_md",
    "pyiron_atomistics": "notebooks_pyiron",
    "pyiron_workflow": "notebooks_workflow",
    "pyiron_continuum": "notebooks_continuum",
    "pyiron_experimental": "notebooks_experimental",
}
JOB_TABLE = textwrap.dedent("""
    from pyiron_base import Project, state
    table = Project("demo").job_table()
    print("TABLE", table[["job", "status"]].to_json(orient="records"))
    print("DB", state.settings.configuration["sql_file"])
""")
THEME = "/lab/api/settings/@jupyterlab/apputils-extension:themes"


def build_example_image(version: str, directory: Path) -> None:
    """The experimental stand-in plus a folder of examples at a given version."""
    (directory / "Dockerfile").write_text(
        textwrap.dedent(f"""
        FROM {IMAGES["pyiron_experimental"]}
        RUN mkdir -p /home/jovyan/notebooks_workbench \\
         && echo "a {version}" > /home/jovyan/notebooks_workbench/a.txt \\
         && echo "b {version}" > /home/jovyan/notebooks_workbench/b.txt
    """)
    )
    subprocess.run([DOCKER, "build", "-q", "-t", UPDATED_IMAGE, str(directory)], check=True, capture_output=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site-resources")
    (site / "potentials").mkdir()
    (site / "potentials" / "README.txt").write_text("shared potentials")
    site.chmod(0o755)
    return site


@pytest.fixture(scope="module")
def wb(images, tmp_path_factory, site):
    directory = tmp_path_factory.mktemp("workbench")
    build_example_image("v1", tmp_path_factory.mktemp("image-v1"))
    write_env_files(directory, USERS, SITE_RESOURCES_DIR=str(site), PYIRON_EXPERIMENTAL=UPDATED_IMAGE)
    s = Stack(directory, images, project=PROJECT, network=NETWORK, users=USERS)
    s.compose("down", "-v", "--remove-orphans", check=False)
    remove_user_containers_and_volumes(USERS)
    # The upgrade case: uma's files as the earlier layout left them, in the volume it
    # mounted at ~/work (made before the hub with the new layout ever started).
    docker(
        "run",
        "--rm",
        "-v",
        "jupyterhub-user-uma:/home/jovyan/work",
        IMAGES["pyiron_base"],
        "sh",
        "-c",
        "echo 'from before the upgrade' > ~/work/old.txt && mkdir ~/work/old-project",
    )
    s.up()
    yield s
    s.compose("down", "-v", "--remove-orphans", check=False)
    remove_user_containers_and_volumes(USERS)
    docker("rmi", "-f", UPDATED_IMAGE, check=False)


@pytest.fixture(scope="module")
def wendy(wb):
    return HubUser(wb, "wendy").login()


def read(user, path: str):
    r = user.user_server("GET", f"/api/contents/{path}")
    return r.json() if r.status_code == 200 else None


def names(user, path: str = "") -> set[str]:
    listing = read(user, path)
    return {item["name"] for item in listing["content"]} if listing else set()


def job_table(user) -> tuple[list[dict], str]:
    with Kernel(user, "work/check.ipynb") as kernel:
        out = kernel.run(JOB_TABLE)
    table = json.loads(out.split("TABLE ", 1)[1].splitlines()[0])
    return table, out.split("DB ", 1)[1].splitlines()[0]


def test_a_users_work_survives_stop_start_environment_switch_and_restarts(wb, wendy):
    wendy.start(environment="pyiron_base")
    # A pyiron job, run from a notebook in work/.
    with Kernel(wendy, "work/analysis.ipynb") as kernel:
        out = kernel.run(JOB, timeout=300)
        assert "RESULT finished 3" in out, out
        kernel.run(
            "import os, pathlib; p = pathlib.Path.home() / '.ssh'; p.mkdir(mode=0o700, exist_ok=True);"
            "(p / 'config').write_text('Host cluster\\n  User wendy\\n')"
        )
    # A notebook saved at the file browser's root, and a JupyterLab setting.
    r = wendy.user_server(
        "PUT",
        "/api/contents/at-the-root.ipynb",
        json={
            "type": "notebook",
            "format": "json",
            "content": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
        },
    )
    assert r.status_code == 201, r.text
    r = wendy.user_server("PUT", THEME, json={"raw": '{"theme": "JupyterLab Dark"}'})
    assert r.status_code == 204, r.text
    table, db = job_table(wendy)
    assert [row["status"] for row in table] == ["finished"], table
    assert db == "/home/jovyan/.pyiron_hub/db/pyiron_base-0.15.db"

    def everything_is_there(pyiron: bool = True):
        assert read(wendy, "at-the-root.ipynb")["type"] == "notebook"
        assert "demo" in names(wendy, "work")
        theme = wendy.user_server("GET", THEME).json()
        assert theme["raw"] == '{"theme": "JupyterLab Dark"}', theme
        with Kernel(wendy, "check.ipynb") as kernel:
            assert "User wendy" in kernel.run("print(open('/home/jovyan/.ssh/config').read())")
        if pyiron:
            rows, _ = job_table(wendy)
            assert [row["status"] for row in rows] == ["finished"], rows

    wendy.stop()
    wendy.start(environment="pyiron_base")
    everything_is_there()
    wendy.stop()
    # Another environment sees the same home (it has no pyiron_base of this series).
    wendy.start(environment="pyiron_atomistics")
    everything_is_there(pyiron=False)
    wendy.stop()
    # The hub restarted, then the whole deployment taken down and brought up again.
    docker("restart", wb.container("hub"))
    wb.wait_healthy("hub")
    wendy.start(environment="pyiron_base")
    everything_is_there()
    wendy.stop()
    wb.compose("down")
    wb.up()
    wendy.login()
    wendy.start(environment="pyiron_base")
    everything_is_there()
    wendy.stop()


@pytest.mark.parametrize("environment, folder", sorted(EXAMPLES.items()))
def test_each_environment_serves_jupyterlab_with_its_examples(wb, wendy, environment, folder):
    # The stand-ins carry jupyterhub-singleuser 6, 5, 4 and 3 (README: compatibility).
    wendy.start(environment=environment)
    assert names(wendy, folder), f"{folder} is empty or missing in {environment}: {names(wendy)}"
    # As a browser does: the hub's cookie, the single-user OAuth round, JupyterLab's page.
    page = wendy.session.get(f"{wb.url}/user/wendy/lab", timeout=60)
    assert page.status_code == 200 and page.url.endswith("/user/wendy/lab"), (page.status_code, page.url)
    assert "JupyterLab" in page.text
    api = wendy.session.get(f"{wb.url}/user/wendy/api/status", timeout=30)
    assert api.status_code == 200, api.text
    wendy.stop()


def test_an_image_update_brings_new_examples_and_keeps_the_users_edits(wb, wendy, tmp_path):
    wendy.start(environment="pyiron_experimental")
    assert read(wendy, "notebooks_workbench/a.txt")["content"] == "a v1\n"
    r = wendy.user_server(
        "PUT",
        "/api/contents/notebooks_workbench/a.txt",
        json={"type": "file", "format": "text", "content": "my own notes\n"},
    )
    assert r.status_code == 200, r.text
    wendy.stop()
    build_example_image("v2", tmp_path)
    wendy.start(environment="pyiron_experimental")
    assert read(wendy, "notebooks_workbench/b.txt")["content"] == "b v2\n"  # untouched: updated
    assert read(wendy, "notebooks_workbench/a.txt")["content"] == "my own notes\n"  # edited: kept
    beside = [n for n in names(wendy, "notebooks_workbench") if n.startswith("a (image update")]
    assert len(beside) == 1 and read(wendy, f"notebooks_workbench/{beside[0]}")["content"] == "a v2\n"
    wendy.stop()


def test_upgrading_keeps_the_files_of_the_earlier_layout_at_work(wb):
    uma = HubUser(wb, "uma").login()
    uma.start(environment="pyiron_base")
    assert read(uma, "work/old.txt")["content"] == "from before the upgrade\n"
    assert "old-project" in names(uma, "work")
    # ...and the new home works for uma as for anyone.
    r = uma.user_server("PUT", "/api/contents/new.txt", json={"type": "file", "format": "text", "content": "x"})
    assert r.status_code == 201
    uma.stop()
    uma.start(environment="pyiron_base")
    assert read(uma, "new.txt") and read(uma, "work/old.txt")
    uma.stop()


def test_site_resources_are_read_only_and_on_pyirons_resource_paths(wb, site):
    ulf = HubUser(wb, "ulf").login()
    ulf.start(environment="pyiron_base")
    with Kernel(ulf, "site.ipynb") as kernel:
        out = kernel.run(
            textwrap.dedent("""
            from pyiron_base import state
            print("PATHS", state.settings.resource_paths)
            print("READ", open("/opt/pyiron-hub/site-resources/potentials/README.txt").read())
            try:
                open("/opt/pyiron-hub/site-resources/x", "w")
            except OSError as err:
                print("WRITE refused", err.errno)
        """)
        )
    assert "/opt/pyiron-hub/site-resources" in out.split("PATHS ", 1)[1].splitlines()[0]
    assert "READ shared potentials" in out and "WRITE refused 30" in out  # EROFS
    ulf.stop()


def test_a_missing_site_resources_directory_is_a_configuration_problem(images):
    # Reported by the hub's own check, in its container, together with any other problem.
    env = [
        "-e",
        "AUTHENTICATOR=dummy",
        "-e",
        "DUMMY_PASSWORD=long-enough",
        "-e",
        "ALLOWED_USERS=a",
        "-e",
        "POSTGRES_PASSWORD=x",
        "-e",
        "SITE_RESOURCES_DIR=/nonexistent/pyiron-resources",
        "-e",
        "MEM_LIMIT=2X",
    ]
    r = subprocess.run(
        [
            DOCKER,
            "run",
            "--rm",
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            *env,
            HUB_IMAGE,
            "pyiron-hub",
            "check",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "2 configuration problems" in r.stderr, r.stderr
    assert "SITE_RESOURCES_DIR: the Docker host cannot mount /nonexistent/pyiron-resources" in r.stderr
    assert "bind source path does not exist" in r.stderr and "example: /srv/pyiron/resources" in r.stderr
    assert "MEM_LIMIT" in r.stderr and "Traceback" not in r.stderr
