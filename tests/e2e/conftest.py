"""The compose stack on a real Docker engine, with local stand-ins chosen by variables.

docker-compose.yml is used unchanged: the test writes pyiron.env / shared.env into a
project directory of its own and picks the images through HUB_IMAGE, POSTGRES_IMAGE and
the PYIRON_* variables, exactly as an admin would.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")
COMPOSE = os.environ.get("DOCKER_COMPOSE", "docker-compose")
PREFIX = os.environ.get("TEST_IMAGE_PREFIX", "pyiron-hub-test")
# The hub image built from this checkout (build.sh honours the same variable).
HUB_IMAGE = os.environ.get("TEST_HUB_IMAGE", f"{PREFIX}/hub:latest")
PROJECT = "pyironhube2e"
NETWORK = "pyiron-hub-e2e-users"
PASSWORD = "e2e-dummy-password"
DB_PASSWORD = "p@ss:w/rd#%"
USERS = ("alice", "bob")

# Environment name -> stand-in image, set through the PYIRON_* variables (the old
# deployment's names and those of today's images), the retired two included.
IMAGES = {
    "pyiron_base": f"{PREFIX}/base:latest",
    "pyiron_md": f"{PREFIX}/md:latest",
    "pyiron_atomistics": f"{PREFIX}/pyiron:latest",
    "pyiron_workflow": f"{PREFIX}/workflow:latest",
    "pyiron_continuum": f"{PREFIX}/continuum:latest",
    "pyiron_experimental": f"{PREFIX}/experimental:latest",
}
MEM_LIMIT = 512 * 1024**2
CPU_LIMIT = 0.5


def run(*cmd, check=True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def docker(*args, check=True) -> subprocess.CompletedProcess:
    return run(DOCKER, *args, check=check)


def compose_container(project: str, service: str) -> str:
    """The id of a compose service's container (as `docker-compose ps -q SERVICE`), by the labels
    compose sets. Asked through the docker CLI: docker-compose 1.x is a Python program that
    costs about 0.6 s of CPU per call, and waiting loops ask this every second."""
    project = re.sub(r"[^-_a-z0-9]", "", project.lower())  # compose's own normalisation of -p
    return docker(
        "ps",
        "-aq",
        "--filter",
        f"label=com.docker.compose.project={project}",
        "--filter",
        f"label=com.docker.compose.service={service}",
        "--filter",
        "label=com.docker.compose.oneoff=False",
    ).stdout.strip()


def inspect(name: str) -> dict | None:
    r = docker("inspect", name, check=False)
    return json.loads(r.stdout)[0] if r.returncode == 0 else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """One compose project, driven the way an admin drives it."""

    files = ("docker-compose.yml",)  # the base file, then any overlays, as `docker compose -f ... -f ...`

    def __init__(
        self,
        directory: Path,
        hub_image: str,
        project: str = PROJECT,
        network: str = NETWORK,
        users: tuple[str, ...] = USERS,
    ):
        # Suites that run their own stack pick their own project, network and user names:
        # users' containers and volumes are named after the user, not the project.
        self.dir = directory
        self.port = _free_port()
        self.hub_image = hub_image
        self.project, self.network, self.users = project, network, users
        self.url = f"http://127.0.0.1:{self.port}"

    def env(self) -> dict:
        return {
            **os.environ,
            "HUB_IMAGE": self.hub_image,
            "POSTGRES_IMAGE": f"{PREFIX}/postgres:17",
            "HUB_PORT": str(self.port),
            "HUB_BIND": "127.0.0.1",
            "DOCKER_NETWORK_NAME": self.network,
        }

    def compose(self, *args, check=True) -> subprocess.CompletedProcess:
        cmd = [
            COMPOSE,
            *(a for f in self.files for a in ("-f", str(REPO / f))),
            "--project-directory",
            str(self.dir),
            "-p",
            self.project,
            *args,
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, env=self.env())
        if args[:1] == ("down",):
            remove_user_networks(self.network)  # those of servers removed with `docker rm -f`
        if check and r.returncode:
            raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def container(self, service: str) -> str:
        return compose_container(self.project, service)

    def health(self, service: str) -> str | None:
        cid = self.container(service)
        info = inspect(cid) if cid else None
        return info and info["State"].get("Health", {}).get("Status")

    def wait_healthy(self, service: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.health(service) == "healthy":
                return
            time.sleep(1)
        # Its log says why; a fixture that fails here takes the stack down before any report.
        logs = self.compose("logs", "--no-color", "--tail", "40", service, check=False)
        raise AssertionError(
            f"{service} not healthy after {timeout}s (health: {self.health(service)}); "
            f"its last log lines:\n{logs.stdout}{logs.stderr}"
        )

    def up(self) -> None:
        self.compose("up", "-d")
        self.wait_healthy("hub-db")
        self.wait_healthy("hub")

    def dump(self) -> str:
        """What an admin would look at when something failed."""
        parts = [self.compose("logs", "--no-color", "--tail", "150", check=False).stdout]
        for name in [self.container("hub"), self.container("hub-db"), *(f"jupyter-{u}" for u in self.users)]:
            info = inspect(name) if name else None
            if info:
                keep = {k: info[k] for k in ("Name", "State", "Config", "HostConfig", "NetworkSettings") if k in info}
                parts.append(f"--- docker inspect {name}\n{json.dumps(keep, indent=1)[:6000]}")
                if name.startswith("jupyter-"):
                    parts.append(f"--- docker logs {name}\n{docker('logs', '--tail', '80', name, check=False).stderr}")
        return "\n".join(parts)


def up_or_dump(stack: Stack, cleanup):
    """For a module fixture, `yield from` it: the stack up and yielded, cleaned up after; if it
    does not come up, what an admin would look at is printed and it is cleaned up at once."""
    try:
        stack.up()
    except BaseException:
        print(stack.dump())
        cleanup(stack)
        raise
    yield stack
    cleanup(stack)


def write_env_files(directory: Path, users: tuple[str, ...] = USERS, **extra: str) -> None:
    pyiron = {
        "AUTHENTICATOR": "dummy",
        "DUMMY_PASSWORD": PASSWORD,
        "ALLOWED_USERS": ",".join(users),
        "ADMIN_USER": "admin",
        "MEM_LIMIT": "512M",
        "CPU_LIMIT": str(CPU_LIMIT),
        "MAX_MEM_LIMIT": "1G",
        "MAX_CPU_LIMIT": "1",
        "PYIRON_BASE": IMAGES["pyiron_base"],
        "PYIRON_MD": IMAGES["pyiron_md"],
        "PYIRON_ATOMISTIC": IMAGES["pyiron_atomistics"],
        "PYIRON_WORKFLOW": IMAGES["pyiron_workflow"],
        "PYIRON_CONTINUUM": IMAGES["pyiron_continuum"],
        "PYIRON_EXPERIMENTAL": IMAGES["pyiron_experimental"],
        "IDLE_TIMEOUT": "3600",
        **extra,
    }
    (directory / "pyiron.env").write_text("".join(f"{k}='{v}'\n" for k, v in pyiron.items()))
    (directory / "shared.env").write_text(
        f"POSTGRES_PASSWORD='{DB_PASSWORD}'\nPOSTGRES_USER='hub'\nPOSTGRES_DB='jupyterhub'\n"
    )


def remove_user_networks(users_network: str) -> None:
    """The users' own networks (ISOLATE_USERS) of a stack whose servers were removed without the hub.

    Only networks the hub made (its label), named after this stack's users' network; the
    hub and clusters that joined them leave them first.
    """
    names = docker("network", "ls", "--filter", "label=org.pyiron-hub.user-network", "--format", "{{.Name}}").stdout
    for name in names.split():
        if not name.startswith(f"{users_network}-"):
            continue
        r = docker("network", "inspect", name, check=False)
        for member in (json.loads(r.stdout)[0].get("Containers") or {}) if not r.returncode else {}:
            docker("network", "disconnect", "-f", name, member, check=False)
        docker("network", "rm", name, check=False)


def remove_user_containers_and_volumes(users: tuple[str, ...] = USERS) -> None:
    for user in users:
        docker("rm", "-f", f"jupyter-{user}", check=False)
        for volume in (f"jupyterhub-user-{user}", f"jupyterhub-home-{user}"):
            docker("volume", "rm", "-f", volume, check=False)


def images_built() -> bool:
    """scripts/test has built the images for this run (each process checking again costs seconds)."""
    if not os.environ.get("PYIRON_HUB_IMAGES_BUILT"):
        return False
    if docker("image", "inspect", HUB_IMAGE, check=False).returncode:
        pytest.fail(f"{HUB_IMAGE} is missing although PYIRON_HUB_IMAGES_BUILT is set: build it with images/build.sh")
    return True


@pytest.fixture(scope="session")
def images():
    """Build (or reuse) the local images; the test command has usually done this already."""
    if images_built():
        return HUB_IMAGE
    r = subprocess.run([str(REPO / "images/build.sh"), "all"], capture_output=True, text=True)
    if r.returncode:
        pytest.fail(f"building the local images failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return HUB_IMAGE


@pytest.fixture(scope="module")
def stack(images, tmp_path_factory):
    directory = tmp_path_factory.mktemp("compose-project")
    write_env_files(directory)
    s = Stack(directory, images)
    remove_user_containers_and_volumes()  # first: servers left running hold its network
    s.compose("down", "-v", "--remove-orphans", check=False)
    s.up()
    yield s
    remove_user_containers_and_volumes()  # first: servers left running hold its network
    s.compose("down", "-v", "--remove-orphans", check=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and "stack" in getattr(item, "funcargs", {}):
        report.sections.append(("docker compose logs / docker inspect", item.funcargs["stack"].dump()))


class HubUser:
    """A user's cookie session (requests, as a browser keeps one) and API token, through the hub's proxy only."""

    def __init__(self, stack: Stack, name: str):
        self.stack, self.name = stack, name
        self.session = requests.Session()
        self.token = None

    def login(self) -> HubUser:
        url = f"{self.stack.url}/hub/login"
        self.session.get(url).raise_for_status()
        xsrf = self.session.cookies.get("_xsrf")
        r = self.session.post(
            url, params={"_xsrf": xsrf}, data={"username": self.name, "password": PASSWORD}, allow_redirects=False
        )
        assert r.status_code == 302, (r.status_code, r.text[:500])
        r = self.session.post(
            f"{self.stack.url}/hub/api/users/{self.name}/tokens",
            headers={"X-XSRFToken": self.xsrf},
            json={"note": "e2e", "expires_in": 3600},
        )
        assert r.status_code == 201, r.text
        self.token = r.json()["token"]
        return self

    @property
    def xsrf(self) -> str:
        # Logging in sets a new _xsrf cookie; take the newest one for the hub's path.
        return [c.value for c in self.session.cookies if c.name == "_xsrf"][-1]

    def api(self, method: str, path: str, **kw) -> requests.Response:
        headers = {"Authorization": f"token {self.token}", **kw.pop("headers", {})}
        return requests.request(method, f"{self.stack.url}/hub/api{path}", headers=headers, timeout=30, **kw)

    def server(self) -> dict | None:
        return self.api("GET", f"/users/{self.name}").json()["servers"].get("")

    def wait_ready(self, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.server()
            if server is None:
                raise AssertionError(f"{self.name}'s server is gone: the spawn failed")
            if server.get("ready"):
                return server
            time.sleep(1)
        raise AssertionError(f"{self.name}'s server not ready after {timeout}s: {self.server()}")

    def start(self, **options) -> dict:
        r = self.api("POST", f"/users/{self.name}/server", json=options)
        assert r.status_code in (201, 202), (r.status_code, r.text)
        return self.wait_ready()

    def stop(self, timeout: float = 60) -> None:
        r = self.api("DELETE", f"/users/{self.name}/server")
        assert r.status_code in (202, 204, 400, 404), r.text
        deadline = time.monotonic() + timeout
        while self.server() is not None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert self.server() is None
        # remove=True: the container is gone, the volume stays.
        while inspect(f"jupyter-{self.name}") and time.monotonic() < deadline:
            time.sleep(0.5)

    @property
    def server_url(self) -> str:
        """Where the user's server is served (an origin of its own with SUBDOMAIN_HOST)."""
        return f"{self.stack.url}/user/{self.name}"

    def user_server(self, method: str, path: str, **kw) -> requests.Response:
        """The user's own Jupyter server, through the proxy, with the user's token."""
        headers = {"Authorization": f"token {self.token}", **kw.pop("headers", {})}
        return requests.request(method, f"{self.server_url}{path}", headers=headers, timeout=30, **kw)


def container_limits(name: str) -> tuple[int, int, int, str]:
    info = inspect(name)
    assert info, f"no container {name}"
    host = info["HostConfig"]
    return host["Memory"], host["CpuQuota"], host["CpuPeriod"], info["Config"]["Image"]


def wait_for(predicate, timeout=60, interval=1.0, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


# The wildcard test domain of the per-user-origins suites (SUBDOMAIN_HOST): hub.test is
# the hub, <user>.hub.test a user's server; Chromium maps it with --host-resolver-rules.
TEST_DOMAIN = "hub.test"


@contextlib.contextmanager
def resolving_test_domain(domain: str = TEST_DOMAIN):
    """`domain` and its subdomains are the loopback for this process's clients (requests and
    websocket-client alike: both ask getaddrinfo)."""
    original = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and (host == domain or host.endswith("." + domain)):
            host = "127.0.0.1"
        return original(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = original


def wait_for_http(url: str, what: str, timeout: float = 30) -> None:
    """Return once url answers at all (any status); AssertionError naming what after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"{what} did not answer at {url}")


def wait_for_registry(port: int, timeout: float = 30) -> None:
    wait_for_http(f"http://127.0.0.1:{port}/v2/", "the registry", timeout)


@contextlib.contextmanager
def local_registry(directory: Path):
    """Debian's docker-registry on a free loopback port, its data in `directory`; yields the port.

    The engine pushes to and pulls from 127.0.0.1 over plain HTTP by itself (no
    insecure-registries needed), so suites get an image the engine does not have yet.
    """
    if not shutil.which("docker-registry"):
        pytest.fail("Debian's docker-registry is not installed: scripts/test installs it")
    port = _free_port()
    (directory / "config.yml").write_text(
        "version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\n"
        "http: {addr: '127.0.0.1:%d'}\n" % (directory / "data", port)
    )
    with open(directory / "registry.log", "w") as log:
        registry = subprocess.Popen(
            ["docker-registry", "serve", str(directory / "config.yml")], stdout=subprocess.DEVNULL, stderr=log
        )
    try:
        wait_for_registry(port)
        yield port
    finally:
        registry.terminate()
        registry.wait(10)


def copy_build_context(dest: Path) -> Path:
    """A copy of what the Dockerfile needs, to build a variant without touching the repo."""
    for name in (
        "Dockerfile",
        ".dockerignore",
        "requirements.lock",
        "build-requirements.lock",
        "server-packages.lock",
        "setup.cfg",
        "pyproject.toml",
        "README.md",
        "jupyterhub_config.py",
    ):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(
        REPO / "pyiron_hub_config", dest / "pyiron_hub_config", ignore=shutil.ignore_patterns("__pycache__")
    )
    return dest
