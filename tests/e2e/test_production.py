"""An admin's first hour in production, as the README gives it (issue 34).

From an empty directory holding only what a clone has (the compose files), with local
images and a Keycloak of the admin's own (not the demo profile's: a realm with users and
groups but no client for the hub): `pyiron-hub init` with flags, run from the hub image
as the README says; every command init's "Next:" prints, run as printed (check, pull
--missing, up, the first backup; keycloak-client with the README's --apply, once Keycloak
is up); an admin and a user log in through Keycloak's own form and the user's server
starts, while the hub holds no Docker socket (the guard starts it). Then the backup
schedule's and the upgrade's plain `docker compose up -d` keep it so.

Keycloak and the browser: one issuer URL that both reach (the README's first way out). The
browser (this process) reaches Keycloak's published port on the loopback under the name
keycloak.prodtest (resolving_test_domain); the hub reaches the same name and port over the
users' network, where Keycloak joins with that alias. docker-compose 1.29 runs every
compose command, with no -f and no --env-file: .env names the files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
import requests
from bs4 import BeautifulSoup

from .conftest import (
    COMPOSE,
    DOCKER,
    HUB_IMAGE,
    IMAGES,
    PREFIX,
    REPO,
    _free_port,
    compose_container,
    docker,
    inspect,
    remove_user_networks,
    resolving_test_domain,
    wait_for,
)

PROJECT = "pyiron-hub-prodtest"
NETWORK = f"{PROJECT}-users"
DEPLOYMENT = "prodtest"
HUB_TAG = "pyiron-hub-prodtest/hub:latest"  # the admin's own tag: an upgrade builds a new image under it
KEYCLOAK_IMAGE = f"{PREFIX}/keycloak:latest"
KEYCLOAK_NAME = "pyiron-hub-prodtest-keycloak"
KEYCLOAK_HOST = "keycloak.prodtest"
KEYCLOAK_ADMIN_PASSWORD = "prodtest-keycloak-admin-password"
PASSWORDS = {"alice": "demo-only-alice-password", "bob": "demo-only-bob-password"}  # the demo realm's users
# Variables of the test's own environment that would override .env (compose: the shell wins).
SHELL_OVERRIDES = (
    "HUB_IMAGE",
    "POSTGRES_IMAGE",
    "KEYCLOAK_IMAGE",
    "HUB_PORT",
    "HUB_BIND",
    "DOCKER_NETWORK_NAME",
    "COMPOSE_FILE",
    "COMPOSE_PROJECT_NAME",
    "COMPOSE_PROFILES",
)


def admin_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in SHELL_OVERRIDES and not k.startswith("PYIRON_")}
    return env


def shell(command: str, cwd: Path, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """A command as the README prints it, in the project directory. `docker compose` is compose v2's
    spelling; here docker-compose 1.29 is the compose installed."""
    command = command.replace("docker compose ", f"{COMPOSE} ", 1) if command.startswith("docker compose ") else command
    command = command.replace("docker run ", f"{DOCKER} run ", 1) if command.startswith("docker run ") else command
    return subprocess.run(
        command, shell=True, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env or admin_env()
    )


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, f"{r.args} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def container(service: str) -> str:
    return compose_container(PROJECT, service)


def socket_mounts(cid: str) -> list[str]:
    return [m.get("Source", "") for m in inspect(cid)["Mounts"] if m.get("Source", "").endswith("docker.sock")]


def wait_healthy(service: str, timeout: float = 180) -> str:
    def healthy():
        cid = container(service)
        return cid and (inspect(cid) or {}).get("State", {}).get("Health", {}).get("Status") == "healthy" and cid

    return wait_for(healthy, timeout=timeout, message=f"{service} healthy")


class Browser:
    """Follows redirects across the hub and Keycloak and keeps cookies, as a browser does."""

    def __init__(self, hub: str):
        self.hub, self.session = hub, requests.Session()

    def go(self, url: str, method: str = "GET", data: dict | None = None) -> requests.Response:
        for _ in range(15):
            for cookie in self.session.cookies:  # Keycloak's cookies are Secure; a browser keeps them on http too
                cookie.secure = False
            r = self.session.request(method, url, data=data, allow_redirects=False, timeout=30)
            if r.status_code not in (301, 302, 303, 307):
                return r
            url, method, data = urljoin(r.url, r.headers["Location"]), "GET", None
        raise AssertionError(f"too many redirects, last {url}")

    def login(self, user: str) -> requests.Response:
        page = self.go(f"{self.hub}/hub/oauth_login")
        assert urlparse(page.url).hostname == KEYCLOAK_HOST, page.url  # Keycloak's own login page
        form = BeautifulSoup(page.text, "html.parser").find("form", id="kc-form-login")
        assert form is not None, page.text[:500]
        return self.go(form["action"], "POST", {"username": user, "password": PASSWORDS[user], "credentialId": ""})

    @property
    def xsrf(self) -> str:
        return [c.value for c in self.session.cookies if c.name == "_xsrf" and c.path.startswith("/hub")][-1]

    def api(self, path: str, method: str = "GET", **kw) -> requests.Response:
        return self.session.request(
            method, f"{self.hub}/hub/api{path}", headers={"X-XSRFToken": self.xsrf}, timeout=30, **kw
        )


def start_keycloak(realm_dir: Path, port: int) -> None:
    """The admin's Keycloak: the demo realm's users and groups, no client for the hub yet."""
    realm = json.loads((REPO / "demo/keycloak/pyiron-realm.json").read_text())
    realm["clients"] = [c for c in realm.get("clients", []) if c["clientId"] != "pyiron-hub"]
    realm_dir.mkdir()
    realm_dir.chmod(0o755)
    (realm_dir / "pyiron-realm.json").write_text(json.dumps(realm))
    (realm_dir / "pyiron-realm.json").chmod(0o644)
    docker("rm", "-f", KEYCLOAK_NAME, check=False)
    docker(
        "run",
        "-d",
        "--name",
        KEYCLOAK_NAME,
        "-p",
        f"127.0.0.1:{port}:{port}",
        "-e",
        "KC_BOOTSTRAP_ADMIN_USERNAME=admin",
        "-e",
        f"KC_BOOTSTRAP_ADMIN_PASSWORD={KEYCLOAK_ADMIN_PASSWORD}",
        "-v",
        f"{realm_dir}:/opt/keycloak/data/import:ro",
        KEYCLOAK_IMAGE,
        "start-dev",
        "--import-realm",
        f"--http-port={port}",
    )


def keycloak_ready(port: int) -> bool:
    try:
        return (
            requests.get(
                f"http://127.0.0.1:{port}/realms/pyiron/.well-known/openid-configuration", timeout=5
            ).status_code
            == 200
        )
    except requests.RequestException:
        return False


def clean_up(project: Path | None = None) -> None:
    for user in PASSWORDS:  # first: servers hold the users' network
        docker("rm", "-f", f"{DEPLOYMENT}-jupyter-{user}", check=False)
    docker("rm", "-f", KEYCLOAK_NAME, check=False)
    if project and (project / ".env").exists():
        shell("docker compose down -v --remove-orphans", project)
    ids = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}").stdout.split()
    if ids:
        docker("rm", "-f", *ids, check=False)
    remove_user_networks(NETWORK)
    for name in (NETWORK, f"{PROJECT}_db", f"{PROJECT}_docker-api"):
        docker("network", "rm", name, check=False)
    volumes = docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}").stdout.split()
    volumes += [f"{DEPLOYMENT}-jupyterhub-{kind}-{user}" for user in PASSWORDS for kind in ("home", "user")]
    docker("volume", "rm", "-f", *volumes, check=False)


@pytest.fixture(scope="module")
def prod(images, tmp_path_factory):
    """The set-up, done as the README and init's Next: say; yields what the tests look at."""
    if docker("image", "inspect", KEYCLOAK_IMAGE, check=False).returncode:
        pytest.fail(f"{KEYCLOAK_IMAGE} is missing: build it with images/keycloak/build.sh (./scripts/test does)")
    base = tmp_path_factory.mktemp("production")
    project, repo = base / "pyiron-hub", base / "backups"
    clean_up()
    keycloak_port, hub_port = _free_port(), _free_port()
    start_keycloak(base / "realm", keycloak_port)  # its JVM boots while the stack comes up
    # A clone's files, nothing else: what init writes comes into an otherwise empty directory.
    project.mkdir()
    repo.mkdir()  # "a path on the Docker host (a second disk!)", made by the admin
    for path in sorted(REPO.glob("*.yml")):
        shutil.copy2(path, project / path.name)
    docker("tag", HUB_IMAGE, HUB_TAG)
    issuer = f"http://{KEYCLOAK_HOST}:{keycloak_port}/realms/pyiron"
    hub_url = f"http://127.0.0.1:{hub_port}"
    flags = (
        f"--issuer-url {issuer} --hub-url {hub_url} --allowed-group pyiron-users --admin-group pyiron-admins "
        f"--image pyiron_base={IMAGES['pyiron_base']} --image pyiron_atomistics={IMAGES['pyiron_base']} "
        f"--image pyiron_md={IMAGES['pyiron_base']} --hub-image {HUB_TAG} --postgres-image {PREFIX}/postgres:17 "
        f"--hub-port {hub_port} --tls none --backups --backup-repository {repo} --project-name {PROJECT} "
        f"--users-network {NETWORK} --deployment-name {DEPLOYMENT}"
    )
    init_command = f'docker run --rm -u "$(id -u)" -v "$PWD:/cfg" -w /cfg {HUB_TAG} pyiron-hub init --no-input {flags}'
    try:
        init = ok(shell(init_command, project))
        next_lines = init.stdout.split("Next, in this directory (beside docker-compose.yml), run:\n", 1)[1].splitlines()
        commands = [line.strip().split("    #")[0] for line in next_lines if line.startswith("  ")]
        outputs = {"init": init}
        # Next's commands as printed; Keycloak's JVM boots meanwhile (the hub needs the client
        # only at the first login, so keycloak-client comes last here).
        kc = commands[0]
        assert " keycloak-client --env-file pyiron.env" in kc, commands
        for command in commands[1:]:
            r = ok(shell(command, project, timeout=600))
            outputs[command.split(" pyiron-hub ", 1)[-1] if " pyiron-hub " in command else command] = r
            if command == "docker compose up -d":
                wait_healthy("hub")
        wait_for(lambda: keycloak_ready(keycloak_port), timeout=300, interval=2, message="Keycloak ready")
        # The README's --apply form: this machine reaches Keycloak on the loopback.
        outputs["keycloak-client"] = ok(
            shell(
                kc.replace("docker run --rm ", "docker run --rm --network host -e KEYCLOAK_ADMIN_PASSWORD ")
                + f" --keycloak-url http://127.0.0.1:{keycloak_port} --apply",
                project,
                env={**admin_env(), "KEYCLOAK_ADMIN_PASSWORD": KEYCLOAK_ADMIN_PASSWORD},
            )
        )
        # The hub reaches Keycloak by the issuer's name, over the users' network.
        docker("network", "connect", "--alias", KEYCLOAK_HOST, NETWORK, KEYCLOAK_NAME)
        with resolving_test_domain(KEYCLOAK_HOST):
            yield {
                "dir": project,
                "commands": commands,
                "outputs": outputs,
                "hub": hub_url,
                "init": init_command,
                "repo": repo,
            }
    finally:
        logs = shell("docker compose logs --no-color --tail 80 hub docker-guard", project)
        print(f"--- compose logs\n{logs.stdout[-6000:]}{logs.stderr[-2000:]}")
        print(f"--- Keycloak's log\n{docker('logs', '--tail', '30', KEYCLOAK_NAME, check=False).stdout[-3000:]}")
        clean_up(project)
        docker("rmi", HUB_TAG, f"{HUB_TAG}-old", check=False)


def test_init_writes_a_complete_private_set_up_and_a_second_run_changes_nothing(prod):
    project = prod["dir"]
    written = {p.name: (p.read_bytes(), p.stat().st_mode & 0o777) for p in project.iterdir() if p.suffix != ".yml"}
    assert {name: mode for name, (_, mode) in written.items()} == dict.fromkeys(
        (".env", "pyiron.env", "shared.env", "backup.env"), 0o600
    )
    dotenv = (project / ".env").read_text()
    assert f"COMPOSE_PROJECT_NAME='{PROJECT}'" in dotenv
    assert "COMPOSE_FILE='docker-compose.yml:compose.backup.yml" in dotenv
    ok(shell(prod["init"], project))
    assert {
        p.name: (p.read_bytes(), p.stat().st_mode & 0o777) for p in project.iterdir() if p.suffix != ".yml"
    } == written
    # Next: is the commands, and nothing else: each of them was run as printed (the fixture).
    assert [c.split(" pyiron-hub ")[-1].split(" --")[0] for c in prod["commands"]] == [
        "keycloak-client",
        "check",
        "pull",
        "docker compose up -d",
        "backup",
    ]


def test_check_warns_about_the_http_issuer_and_finds_no_socket_in_the_hub(prod):
    out = prod["outputs"]["check --env-file pyiron.env --env-file shared.env"].stdout
    assert out.startswith("Configuration is valid.")
    assert f"WARNING: OAUTH2_ISSUER_URL is http:// on {KEYCLOAK_HOST}" in out
    assert "would hold the Docker socket" not in out  # the stack init chose keeps the socket from the hub
    # Run without the socket, as printed: it says how to give it one (no raw FileNotFoundError).
    assert (
        "No Docker engine answers here (/var/run/docker.sock), so the images on the host were not listed: "
        "give this command the socket, `docker run -v /var/run/docker.sock:/var/run/docker.sock ...`" in out
    )
    assert "FileNotFoundError" not in out
    # pull --missing, offline, with every image here: nothing to pull, and it says so.
    assert prod["outputs"]["pull --missing --env-file pyiron.env"].stdout.startswith(
        "0 image(s) not on this host: none"
    )


def test_keycloak_client_was_created_as_the_recipe_says(prod):
    out = prod["outputs"]["keycloak-client"].stdout
    assert out.startswith("created client pyiron-hub in realm pyiron")
    assert f"Valid redirect URIs:       {prod['hub']}/hub/oauth_callback" in out


def test_an_admin_and_a_user_log_in_through_keycloak_and_a_server_starts_behind_the_guard(prod):
    hub = container("hub")
    assert (
        socket_mounts(hub) == [] and docker("exec", hub, "test", "-S", "/var/run/docker.sock", check=False).returncode
    )
    alice = Browser(prod["hub"])
    landed = alice.login("alice")
    assert landed.status_code == 200 and landed.url.startswith(f"{prod['hub']}/hub/"), (landed.status_code, landed.url)
    assert "admin-ui" in alice.api("/user").json()["scopes"]
    bob = Browser(prod["hub"])
    bob.login("bob")
    me = bob.api("/user").json()
    assert (me["name"], "admin-ui" in me["scopes"]) == ("bob", False)
    bob.session.post(
        f"{prod['hub']}/hub/spawn/bob",
        params={"_xsrf": bob.xsrf},
        data={"environment": "pyiron_base"},
        allow_redirects=False,
    ).raise_for_status()
    wait_for(
        lambda: (bob.api("/users/bob").json()["servers"].get("") or {}).get("ready"),
        timeout=180,
        message="bob's server ready",
    )
    # Named after DEPLOYMENT_NAME, as Troubleshooting's `docker logs <DEPLOYMENT_NAME>-jupyter-<user>` says.
    server = inspect(f"{DEPLOYMENT}-jupyter-bob")
    assert server["Config"]["Image"] == IMAGES["pyiron_base"]
    bob.api("/users/bob/server", "DELETE")


def test_the_backup_schedule_and_an_upgrade_keep_the_guard(prod):
    project = prod["dir"]
    assert "backup --init" in prod["outputs"]  # the first backup, run as Next: printed it
    # Backups, "Schedule": the plain `up -d` starts the backup service beside the hub.
    ok(shell("docker compose up -d", project))
    assert container("backup") and socket_mounts(container("hub")) == []
    # Upgrading: a new hub image under the same name, then `docker compose up -d`.
    before = container("hub")
    docker("tag", HUB_TAG, f"{HUB_TAG}-old")
    build = subprocess.run(
        [DOCKER, "build", "-q", "-t", HUB_TAG, "-"],
        input=f"FROM {HUB_TAG}-old\nLABEL upgraded=1\n",
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    ok(shell("docker compose up -d", project))
    hub = wait_healthy("hub")
    assert hub != before and inspect(hub)["Config"]["Labels"].get("upgraded") == "1"
    assert socket_mounts(hub) == [], "the upgraded hub holds the Docker socket"
    # Troubleshooting's plain logs command names the guard's service without any -f.
    logs = ok(shell("docker compose logs --no-color --tail 5 docker-guard", project))
    assert logs.stdout.strip()
    # And the upgraded hub still starts servers, through the guard.
    alice = Browser(prod["hub"])
    alice.login("alice")
    alice.session.post(
        f"{prod['hub']}/hub/spawn/alice",
        params={"_xsrf": alice.xsrf},
        data={"environment": "pyiron_base"},
        allow_redirects=False,
    ).raise_for_status()
    wait_for(
        lambda: (alice.api("/users/alice").json()["servers"].get("") or {}).get("ready"),
        timeout=180,
        message="alice's server ready",
    )
    alice.api("/users/alice/server", "DELETE")
