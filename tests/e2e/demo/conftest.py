"""One demo for the tests in this folder: scripts/demo itself, beside any demo a person runs.

Started once for the package (the Keycloak login tests and the browser tests of the pages
share it) and taken down when they are done.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from ..conftest import PREFIX, REPO, Stack, compose_container, docker, inspect, remove_user_networks

# The tests run a demo of their own beside any demo a person may be running: its own
# compose project, state directory, ports and users' container and volume names.
PROJECT = "pyiron-hub-demo-test"
HUB_PORT, KEYCLOAK_PORT = 18000, 18080
HUB = f"http://localhost:{HUB_PORT}"
KEYCLOAK = f"http://localhost:{KEYCLOAK_PORT}"
STATE = Path(tempfile.gettempdir()) / PROJECT
# What scripts/demo builds where nothing can be pulled, under this test's own prefix.
LOCAL = "pyiron-hub-demotest"
DEMO_HUB = f"{LOCAL}/hub:latest"
# Today's pyiron images, as the demo offers them (the hub lends them paramiko for the cluster).
DEMO_IMAGES = {
    "pyiron_base": f"{LOCAL}/base:latest",
    "pyiron_md": f"{LOCAL}/md:latest",
    "pyiron_atomistics": f"{LOCAL}/pyiron:latest",
}
BUILT = [
    DEMO_HUB,
    f"{LOCAL}/postgres:17",
    f"{LOCAL}/keycloak:latest",
    f"{LOCAL}/keycloak:26.7.3",
    *DEMO_IMAGES.values(),
    f"{LOCAL}/slurm:latest",
]
PASSWORDS = {u: f"demo-only-{u}-password" for u in ("alice", "bob", "carol", "mallory")}


def _demo(*args, timeout=600, input=None) -> subprocess.CompletedProcess:
    # As a new user runs it: no image variables, no DOCKER, the machine's own PATH.
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "DOCKER",
            "HUB_IMAGE",
            "POSTGRES_IMAGE",
            "KEYCLOAK_IMAGE",
            "PYIRON_BASE",
            "PYIRON_MD",
            "PYIRON_ATOMISTIC",
            "PYIRON_WORKFLOW",
            "PYIRON_CONTINUUM",
            "PYIRON_EXPERIMENTAL",
        )
    }
    env.update(
        {
            "HUB_IMAGE": DEMO_HUB,
            "DEMO_IMAGE_PREFIX": LOCAL,
            "DEMO_PROJECT": PROJECT,
            "DEMO_DIR": str(STATE),
            "DEMO_HUB_PORT": str(HUB_PORT),
            "DEMO_KEYCLOAK_PORT": str(KEYCLOAK_PORT),
        }
    )
    return subprocess.run(
        [str(REPO / "scripts/demo"), *args], env=env, capture_output=True, text=True, timeout=timeout, input=input
    )


def _clean_users():
    for user in PASSWORDS:
        docker("rm", "-f", container(user), f"{container(user)}--second", check=False)  # and a named server
        for volume in (f"{PROJECT}-jupyterhub-user-{user}", f"{PROJECT}-jupyterhub-home-{user}"):
            docker("volume", "rm", "-f", volume, check=False)
    docker("volume", "rm", "-f", f"{PROJECT}-jupyterhub-group-pyiron-research", check=False)  # GROUP_FOLDERS


def container(user: str) -> str:
    return f"{PROJECT}-jupyter-{user}"


@pytest.fixture(scope="package")
def demo(images):
    _demo("down", "-v")
    _clean_users()
    remove_user_networks(f"{PROJECT}-users")
    # A state without the demo's images: none under its prefix but the Debian bases.
    docker("rmi", "-f", *BUILT, check=False)
    for suite in ("trixie", "bookworm"):
        docker("tag", f"{PREFIX}/debian:{suite}", f"{LOCAL}/debian:{suite}")
    began = time.monotonic()
    up = _demo(timeout=1500)
    print(
        f"\nscripts/demo took {time.monotonic() - began:.0f}s, building its images, until hub and Keycloak were healthy"
    )
    if up.returncode:
        _demo("down", timeout=120)
        pytest.fail(f"scripts/demo failed ({up.returncode}):\n{up.stdout[-4000:]}\n{up.stderr[-4000:]}")
    yield up
    _clean_users()
    _demo("down", "-v")
    remove_user_networks(f"{PROJECT}-users")  # those of servers removed with `docker rm -f` (ISOLATE_USERS)
    docker("rmi", "-f", *BUILT, f"{LOCAL}/debian:trixie", f"{LOCAL}/debian:bookworm", check=False)


# One hub with the real Keycloak login for the suites that need no environment built
# (test_access_withdrawn, test_user_origins): starting Keycloak is most of a stack's
# minute and a half, so they share one. Its settings are those both suites ask for: each
# user's server on an origin of its own, a short refresh age (the default is 300 s) and a short
# grace before a server whose owner lost access stops.
REFRESH_AGE = 5
# Seconds a server runs on once Keycloak took its owner's access away (default 300 s).
WITHDRAWN_GRACE = 3


@pytest.fixture(scope="package")
def keycloak_hub(images, tmp_path_factory):
    from ..conftest import TEST_DOMAIN as DOMAIN
    from ..conftest import resolving_test_domain
    from .keycloak_stack import keycloak_stack

    with resolving_test_domain():
        yield from keycloak_stack(
            tmp_path_factory.mktemp("keycloak-project"),
            images,
            "pyiron-hub-keycloak-test",
            hub_host=DOMAIN,
            SUBDOMAIN_HOST=f"http://{DOMAIN}:{{port}}",
            AUTH_REFRESH_AGE=str(REFRESH_AGE),
            ACCESS_WITHDRAWN_GRACE=str(WITHDRAWN_GRACE),
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    funcargs = getattr(item, "funcargs", {})
    if report.when == "call" and report.failed and "demo" in funcargs:
        # The hub's first: a failure's output is often cut short, and the cluster's sshd
        # chatter would otherwise fill it.
        report.sections.append(
            ("demo hub log", _demo_compose("logs", "--no-color", "--tail", "200", "hub", check=False).stdout)
        )
        report.sections.append(
            ("demo compose logs, all services", _demo_compose("logs", "--no-color", "--tail", "60", check=False).stdout)
        )
    if report.when == "call" and report.failed and isinstance(funcargs.get("hub"), Stack):
        report.sections.append(("compose logs", funcargs["hub"].dump()))  # keycloak_stack's suites


def _demo_compose(*args, check=True) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "HUB_IMAGE": DEMO_HUB,
        "POSTGRES_IMAGE": f"{LOCAL}/postgres:17",
        "CLUSTER_IMAGE": f"{LOCAL}/slurm:latest",
        "KEYCLOAK_IMAGE": f"{LOCAL}/keycloak:latest",
        "HUB_PORT": str(HUB_PORT),
        "HUB_BIND": "127.0.0.1",
        "KEYCLOAK_PORT": str(KEYCLOAK_PORT),
        "DOCKER_NETWORK_NAME": f"{PROJECT}-users",
    }
    admin_password = STATE / "keycloak-admin-password"  # as scripts/demo exports it: compose never recreates Keycloak
    if admin_password.is_file():
        env["KEYCLOAK_ADMIN_PASSWORD"] = admin_password.read_text().strip()
    # The same compose files as scripts/demo.
    return subprocess.run(
        [
            "docker-compose",
            "-f",
            str(REPO / "docker-compose.yml"),
            "-f",
            str(REPO / "compose.clusters.yml"),
            "--project-directory",
            str(STATE),
            "-p",
            PROJECT,
            "--profile",
            "demo",
            *args,
        ],
        capture_output=True,
        text=True,
        check=check,
        env=env,
    )


def _wait_hub_healthy(timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cid = compose_container(PROJECT, "hub")
        if cid and (inspect(cid) or {}).get("State", {}).get("Health", {}).get("Status") == "healthy":
            return
        time.sleep(1)
    raise AssertionError("demo hub not healthy")
