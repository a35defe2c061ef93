"""The README's demo command (scripts/demo), against a real Keycloak server.

Run as a new user would, on a machine where no registry answers: the one command, given no
image at all, finds a docker client that can build (the first on PATH here cannot), tries
to pull each public image, and builds the local equivalent of each (hub, Postgres, Keycloak,
the four environments) under a prefix of its own, then brings up hub + Postgres + Keycloak
with the demo realm. The Debian bases are pre-seeded from the test images (debootstrap
itself runs in ./scripts/test), so the builds come from Docker's layer cache. Then a
browser-like client logs in through Keycloak's own login form, lands in the hub, picks an
environment and gets a notebook, and logs out of Keycloak too.
"""

from __future__ import annotations

import os
import subprocess
import time
from urllib.parse import urljoin, urlparse

import pytest
import requests
from bs4 import BeautifulSoup

from ..conftest import PREFIX, REPO, docker, inspect
from .conftest import (
    BUILT,
    DEMO_HUB,
    DEMO_IMAGES,
    HUB,
    KEYCLOAK,
    KEYCLOAK_PORT,
    LOCAL,
    PASSWORDS,
    STATE,
    _demo,
    _demo_compose,
    _wait_hub_healthy,
    container,
)


def test_demo_built_locally_what_it_could_not_pull(demo):
    said = demo.stderr
    assert "demo: using /usr/bin/docker" in said, said  # the client first on PATH here cannot build
    for image, local in [
        ("postgres:17", "postgres:17"),
        ("quay.io/keycloak/keycloak:26.7.3", "keycloak"),
        ("pyiron/base:latest", "base:latest"),
        ("pyiron/pyiron:latest", "pyiron:latest"),
        ("pyiron/md:latest", "md:latest"),
    ]:
        assert f"{image} cannot be pulled: building the local equivalent {LOCAL}/{local}" in said, said
    assert f"building {DEMO_HUB}" in said
    for image in BUILT:
        assert inspect(image), f"{image} was not built"


class Browser:
    """Follows redirects across the hub and Keycloak and keeps cookies, as a browser does."""

    def __init__(
        self, hosts: dict[str, str] | None = None, hub: str = HUB, keycloak: str = f"localhost:{KEYCLOAK_PORT}"
    ):
        self.session = requests.Session()
        self.hosts = hosts or {}  # like /etc/hosts: names only the hub's containers resolve
        self.hub, self.keycloak = hub, keycloak  # another stack's than the demo's, if given

    def go(self, url: str, method: str = "GET", data: dict | None = None, hops: int = 15) -> requests.Response:
        for _ in range(hops):
            # Keycloak marks its cookies Secure even on http://localhost, which browsers accept
            # there (a trustworthy origin); python's cookie jar would drop them over http.
            for cookie in self.session.cookies:
                cookie.secure = False
            parts = urlparse(url)
            if parts.netloc in self.hosts:
                url = parts._replace(netloc=self.hosts[parts.netloc]).geturl()
            r = self.session.request(method, url, data=data, allow_redirects=False, timeout=30)
            if r.status_code not in (301, 302, 303, 307):
                return r
            url, method, data = urljoin(r.url, r.headers["Location"]), "GET", None
        raise AssertionError(f"more than {hops} redirects, last {url}")

    def login(self, user: str, password: str | None = None) -> requests.Response:
        page = self.go(f"{self.hub}/hub/oauth_login")
        assert urlparse(page.url).netloc == self.keycloak, page.url  # Keycloak's own page
        form = BeautifulSoup(page.text, "html.parser").find("form", id="kc-form-login")
        assert form is not None, page.text[:500]
        return self.go(
            form["action"], "POST", {"username": user, "password": password or PASSWORDS[user], "credentialId": ""}
        )

    @property
    def xsrf(self) -> str:
        # The hub's own: a user's running server sets an _xsrf cookie of its own for
        # /user/<name>/ (a login redirects there when the server runs).
        return [c.value for c in self.session.cookies if c.name == "_xsrf" and c.path.startswith("/hub")][-1]

    def hub_api(self, path: str, method: str = "GET", **kw) -> requests.Response:
        return self.session.request(
            method, f"{self.hub}/hub/api{path}", headers={"X-XSRFToken": self.xsrf}, timeout=30, **kw
        )

    def server(self, user: str) -> dict:
        """The user's server as the hub's API shows it; {} when there is none."""
        return self.hub_api(f"/users/{user}").json()["servers"].get("") or {}

    def wait_server(self, user: str, done, what: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while not done(server := self.server(user)):
            assert time.monotonic() < deadline, f"{user}'s server did not {what}: {server}"
            time.sleep(1)
        return server

    def spawn(self, user: str, environment: str) -> None:
        """Start the user's server through the spawn form, as the page does, and wait until it is ready."""
        self.session.post(
            f"{self.hub}/hub/spawn/{user}",
            params={"_xsrf": self.xsrf},
            data={"environment": environment},
            allow_redirects=False,
        ).raise_for_status()
        self.wait_server(user, lambda s: s.get("ready"), "become ready")


def test_the_demo_command_prints_the_url_and_the_logins(demo):
    assert HUB in demo.stdout
    for user, password in PASSWORDS.items():
        assert f"{user} / {password}" in demo.stdout


@pytest.mark.parametrize("user, admin", [("alice", True), ("bob", False)])
def test_login_through_keycloak_lands_in_the_hub(demo, user, admin):
    browser = Browser()
    landed = browser.login(user)
    assert landed.status_code == 200 and landed.url.startswith(f"{HUB}/hub/"), (landed.status_code, landed.url)
    me = browser.hub_api("/user").json()
    assert me["name"] == user  # preferred_username
    # alice is in /pyiron-admins (full-path groups are handled): she holds the hub-admin role
    # through the hub's group of that name, not JupyterHub's admin flag (ADMIN_ACCESS is off).
    assert ("admin-ui" in me["scopes"]) is admin and me["admin"] is False
    assert "pyiron-users" in me["groups"]


def test_a_user_in_no_allowed_group_is_refused(demo):
    refused = Browser().login("mallory")
    assert refused.status_code == 403
    assert urlparse(refused.url).path == "/hub/oauth_callback"


def test_a_new_user_picks_an_environment_and_gets_a_notebook(demo):
    browser = Browser()
    browser.login("bob")
    assert 'value="pyiron_base"' in browser.go(f"{HUB}/hub/spawn/bob").text
    browser.spawn("bob", "pyiron_base")
    assert inspect(container("bob"))["Config"]["Image"] == DEMO_IMAGES["pyiron_base"]
    lab = browser.go(f"{HUB}/user/bob/lab")  # the single-user server's own OAuth round through the hub
    assert lab.status_code == 200 and urlparse(lab.url).path == "/user/bob/lab", lab.url
    browser.hub_api("/users/bob/server", "DELETE")


def test_logout_ends_the_keycloak_session_too(demo):
    browser = Browser()
    browser.login("alice")
    out = browser.go(f"{HUB}/hub/logout")
    assert out.url.startswith(f"{HUB}/hub/"), out.url  # back from Keycloak's end-session endpoint
    assert browser.hub_api("/user").status_code == 403
    # Keycloak forgot her: the next login asks for the password again.
    again = browser.go(f"{HUB}/hub/oauth_login")
    assert urlparse(again.url).netloc == f"localhost:{KEYCLOAK_PORT}"
    assert BeautifulSoup(again.text, "html.parser").find("form", id="kc-form-login") is not None


def _hub_container() -> str:
    return _demo_compose("ps", "-q", "hub").stdout.strip()


def _keycloak_admin(
    method: str, path: str, keycloak: str = KEYCLOAK, password: str | None = None, **kw
) -> requests.Response:
    """Keycloak's admin REST API on the demo realm, as the demo's Keycloak admin.

    The demo generated that admin's password (its state's keycloak-admin-password), as the
    README tells a person to read it; keycloak_stack's suites pass their own.
    """
    if password is None:
        password = (STATE / "keycloak-admin-password").read_text().strip()
    token = requests.post(
        f"{keycloak}/realms/master/protocol/openid-connect/token",
        timeout=30,
        data={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": "admin",
            "password": password,
        },
    ).json()["access_token"]
    return requests.request(
        method, f"{keycloak}/admin/realms/pyiron{path}", timeout=30, headers={"Authorization": f"Bearer {token}"}, **kw
    )


def test_check_online_names_a_wrong_secret_or_realm(demo):
    hub = _hub_container()
    ok = docker("exec", hub, "pyiron-hub", "check", "--online", check=False)
    assert ok.returncode == 0, ok.stderr
    assert "Keycloak accepted" in ok.stdout
    wrong = docker("exec", "-e", "CLIENT_SECRET=not-the-secret", hub, "pyiron-hub", "check", "--online", check=False)
    assert wrong.returncode == 1 and "CLIENT_SECRET: Keycloak refused the client 'pyiron-hub'" in wrong.stderr
    assert "not-the-secret" not in wrong.stderr + wrong.stdout
    realm = docker(
        "exec",
        "-e",
        "OAUTH2_ISSUER_URL=http://keycloak:8080/realms/no-such-realm",
        hub,
        "pyiron-hub",
        "check",
        "--online",
        check=False,
    )
    assert realm.returncode == 1 and "OAUTH2_ISSUER_URL: no realm there (HTTP 404" in realm.stderr
    assert "Traceback" not in wrong.stderr + realm.stderr


def test_a_spawn_after_the_access_token_expired_refreshes_it(demo):
    # Alice's token lives 5 s (Keycloak stamps the lifespan into each token as it issues it).
    # Issued during the login, it has expired for sure 5 s after the login returned; the
    # lifespan is back to the realm's own before the spawn, so that the refreshed token the
    # server gets outlives the spawn and the check below.
    lifespan = 5
    assert _keycloak_admin("PUT", "", json={"accessTokenLifespan": lifespan}).status_code == 204
    try:
        browser = Browser()
        browser.login("alice")
        expired = time.monotonic() + lifespan + 1
        assert _keycloak_admin("PUT", "", json={"accessTokenLifespan": 300}).status_code == 204
        time.sleep(max(0.0, expired - time.monotonic()))  # waits out the configured lifespan, no more
        r = browser.session.post(
            f"{HUB}/hub/spawn/alice",
            params={"_xsrf": browser.xsrf},
            data={"environment": "pyiron_md"},
            allow_redirects=False,
        )
        assert r.status_code == 302, r.text[:300]
        browser.wait_server("alice", lambda s: s.get("ready"), "become ready")
        env = dict(e.split("=", 1) for e in inspect(container("alice"))["Config"]["Env"])
        # PASS_ACCESS_TOKEN: the server got a token, and it is the refreshed, valid one.
        userinfo = requests.get(
            f"{KEYCLOAK}/realms/pyiron/protocol/openid-connect/userinfo",
            timeout=30,
            headers={"Authorization": f"Bearer {env['OAUTH_ACCESS_TOKEN']}"},
        )
        assert userinfo.status_code == 200 and userinfo.json()["preferred_username"] == "alice"
        browser.hub_api("/users/alice/server", "DELETE")
    finally:
        _keycloak_admin("PUT", "", json={"accessTokenLifespan": 300})


def test_endpoints_derived_from_the_realm_url_alone(demo):
    """Only OAUTH2_ISSUER_URL; the browser is sent to keycloak:8080, which it reaches as localhost."""
    env_file = STATE / "pyiron.env"
    original = env_file.read_text()
    kept = [
        line
        for line in original.splitlines()
        if not line.startswith(("OAUTH2_AUTHORIZE_URL", "OAUTH2_TOKEN_URL", "OAUTH2_USERDATA_URL", "OAUTH2_LOGOUT_URL"))
    ]
    env_file.write_text("\n".join(kept + ["OAUTH2_ISSUER_URL='http://keycloak:8080/realms/pyiron'"]) + "\n")
    try:
        _demo_compose("up", "-d", "hub")
        _wait_hub_healthy()
        browser = Browser(hosts={"keycloak:8080": f"localhost:{KEYCLOAK_PORT}"})
        landed = browser.login("bob")
        assert landed.status_code == 200 and landed.url.startswith(f"{HUB}/hub/")
        assert browser.hub_api("/user").json()["name"] == "bob"
    finally:
        env_file.write_text(original)
        _demo_compose("up", "-d", "hub")
        _wait_hub_healthy()


def test_keycloak_down_login_says_so_hub_and_servers_keep_working(demo):
    browser = Browser()
    browser.login("bob")
    token = browser.hub_api("/users/bob/tokens", "POST", json={"expires_in": 600}).json()["token"]
    auth = {"Authorization": f"token {token}"}
    requests.post(f"{HUB}/hub/api/users/bob/server", json={"environment": "pyiron_base"}, headers=auth, timeout=30)
    deadline = time.monotonic() + 120
    while not (requests.get(f"{HUB}/hub/api/users/bob", headers=auth, timeout=30).json()["servers"].get("") or {}).get(
        "ready"
    ):
        assert time.monotonic() < deadline
        time.sleep(1)
    keycloak = _demo_compose("ps", "-q", "keycloak").stdout.strip()
    docker("stop", keycloak)
    try:
        page = Browser().go(f"{HUB}/hub/oauth_login")
        assert page.status_code == 503
        assert "login service (Keycloak) cannot be reached" in page.text
        assert requests.get(f"{HUB}/hub/health", timeout=10).status_code == 200
        assert requests.get(f"{HUB}/user/bob/api/status", headers=auth, timeout=30).status_code == 200
    finally:
        docker("start", keycloak)
        requests.delete(f"{HUB}/hub/api/users/bob/server", headers=auth, timeout=30)
        deadline = time.monotonic() + 180
        while inspect(keycloak)["State"].get("Health", {}).get("Status") != "healthy" and time.monotonic() < deadline:
            time.sleep(2)


def test_a_demo_user_submits_the_example_notebook_to_the_demo_cluster(demo):
    """What the demo prints: start, copy the key, `scripts/demo cluster-key`, run the example."""
    from types import SimpleNamespace

    from ..jupyter import Kernel

    browser = Browser()
    browser.login("bob")
    # An earlier test's server of bob's may still be stopping (the hub then answers a spawn
    # with its pending page and starts nothing), or still running (then it is reused).
    if not browser.wait_server("bob", lambda s: not s.get("pending"), "finish stopping").get("ready"):
        browser.spawn("bob", "pyiron_base")
    assert inspect(container("bob"))["Config"]["Image"] == DEMO_IMAGES["pyiron_base"]
    page = BeautifulSoup(browser.go(f"{HUB}/hub/ssh-key").text, "html.parser")
    key = page.find("textarea", id="public-key").text.strip()
    section = page.find("section", id="cluster-demo")
    assert section.find("code", class_="account").text == "bob"
    # The demo's cluster says how its keys are added, for bob's account.
    assert "scripts/demo cluster-key bob" in section.find(class_="key-help").text
    # What cluster-key says when it cannot help.
    for args, given, says in [
        (("carol",), key, "the demo cluster has no account 'carol'; it has: alice bob"),
        (("root",), key, "the demo cluster has no account 'root'"),
        (("bob",), "", "nothing was pasted"),
        (("bob",), "hello", "that is not an SSH public key"),
    ]:
        failed = _demo("cluster-key", *args, input=given + "\n", timeout=120)
        assert failed.returncode == 1 and says in failed.stderr, failed.stderr
    # The page's own command, pasted whole, works too; a second time adds nothing.
    command = section.find("pre").text.strip()
    added = _demo("cluster-key", "bob", input=command + "\n", timeout=120)
    assert added.returncode == 0 and "added" in added.stderr, added.stderr
    again = _demo("cluster-key", "bob", input=key + "\n", timeout=120)
    assert again.returncode == 0 and "already there" in again.stderr, again.stderr
    keys = _demo_compose("exec", "-T", "cluster", "cat", "/home/bob/.ssh/authorized_keys").stdout
    assert keys.count(key.split()[1]) == 1, keys
    r = browser.hub_api("/users/bob/tokens", "POST", json={"note": "demo test", "expires_in": 600})
    assert r.status_code == 201, (r.status_code, r.text)
    token = r.json()["token"]

    def user_server(method, path, **kw):
        return requests.request(
            method, f"{HUB}/user/bob{path}", headers={"Authorization": f"token {token}"}, timeout=30, **kw
        )

    # What Kernel needs of a user (tests/e2e/conftest.py's HubUser has the same).
    bob = SimpleNamespace(
        name="bob", token=token, stack=SimpleNamespace(url=HUB), user_server=user_server, server_url=f"{HUB}/user/bob"
    )
    notebook = user_server("GET", "/api/contents/notebooks_hpc/submit_to_a_cluster.ipynb").json()["content"]
    try:
        with Kernel(bob, "notebooks_hpc/submit_to_a_cluster.ipynb") as kernel:
            out, stderr = "", []
            for cell in notebook["cells"]:
                if cell["cell_type"] == "code":
                    out += kernel.run("".join(cell["source"]), timeout=400)
                    stderr += kernel.stderr
            # A real failure on the cluster still shows: a remote command that fails warns with its stderr.
            kernel.run(
                "from pyiron_base import state\n"
                "state.queue_adapter._adapter._execute_remote_command('ls /no-such-directory')"
            )
            failure = "".join(kernel.stderr)
    finally:
        # Stopped, and waited for, even when this test fails: the browser tests after it
        # expect bob without a server (a running one sent them straight to JupyterLab).
        browser.hub_api("/users/bob/server", "DELETE")
        browser.wait_server("bob", lambda s: not s, "stop")
    assert "Hello from slurm, running as bob" in out and "finished" in out, out
    # No pink blocks around a job that finished: no empty pysqa warnings, no progress bars.
    assert stderr == [], stderr
    assert "UserWarning" in failure and "No such file or directory" in failure, failure


def test_demo_down_v_deletes_the_demo_users_servers_and_volumes(tmp_path, images):
    """`scripts/demo down -v` deletes the demo's data: its users' home and work volumes too."""
    project = "pyiron-hub-demo-downtest"
    for name in ("pyiron.env", "shared.env", "clusters.toml"):
        (tmp_path / name).write_text("")
    ours = [f"{project}-jupyterhub-home-bob", f"{project}-jupyterhub-user-bob"]
    others = [f"other-{project}-jupyterhub-home-bob", f"{project}x-jupyterhub-home-bob"]  # not the demo's
    try:
        for volume in ours + others:
            docker("volume", "create", volume)
        docker("create", "--name", f"{project}-jupyter-bob", f"{PREFIX}/debian:trixie", "true")
        env = {**os.environ, "DEMO_PROJECT": project, "DEMO_DIR": str(tmp_path)}
        down = subprocess.run(
            [str(REPO / "scripts/demo"), "down", "-v"], env=env, capture_output=True, text=True, timeout=300
        )
        assert down.returncode == 0, down.stderr
        assert "deleted the demo's volumes and its users' servers and volumes" in down.stderr
        assert all(inspect_volume(v) is None for v in ours)
        assert inspect(f"{project}-jupyter-bob") is None
        assert all(inspect_volume(v) is not None for v in others)
    finally:
        docker("rm", "-f", f"{project}-jupyter-bob", check=False)
        for volume in ours + others:
            docker("volume", "rm", "-f", volume, check=False)


def inspect_volume(name: str) -> dict | None:
    r = docker("volume", "inspect", name, check=False)
    return r.stdout if r.returncode == 0 else None
