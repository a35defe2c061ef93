"""End to end: per-user origins (SUBDOMAIN_HOST) over HTTPS, with each TLS overlay.

- `tls`: docker-compose.yml + compose.tls.yml, the hub serves HTTPS itself
  (HOST_CERT_PATH/HOST_KEY_PATH, published on HTTPS_BIND:HTTPS_PORT).
- `nginx`: docker-compose.yml + compose.nginx.yml, the hub on an external network
  (NGINX_NETWORK) and nginx in front of it, terminating TLS with the shipped
  nginx/pyiron-hub.conf (only the host name replaced, as the README tells an admin).

One certificate, made here, names hub.test and *.hub.test; the test's client resolves
both to the loopback and trusts only that certificate. Each overlay: the hub answers on
https://hub.test:<port>/hub/, a user's server on https://<user>.hub.test:<port>/user/<user>/
(its API, the browser's OAuth round trip through the hub, a kernel's WebSocket), the hub's
origin never serves the server's pages (it redirects to the user's origin), and the
server's cookie, sent to the hub's API from the user's origin, is not the visitor's login
(the browser side of that is tests/e2e/demo/test_user_origins.py, over plain HTTP).
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
import websocket
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .conftest import (
    PREFIX,
    REPO,
    TEST_DOMAIN,
    HubUser,
    Stack,
    _free_port,
    docker,
    remove_user_containers_and_volumes,
    resolving_test_domain,
    wait_for,
    write_env_files,
)
from .jupyter import Kernel

pytestmark = pytest.mark.reliability("per-user origins over TLS")
DOMAIN = TEST_DOMAIN
USERS = ("tlsann",)
NGINX_IMAGE = f"{PREFIX}/nginx:latest"
NGINX_CONF = REPO / "nginx" / "pyiron-hub.conf"


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for hub.test and *.hub.test (what a wildcard certificate names)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(DOMAIN), x509.DNSName(f"*.{DOMAIN}")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "hub.crt", directory / "hub.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    # A throwaway test key; the containers read both files through bind mounts.
    cert_path.chmod(0o644)
    key_path.chmod(0o644)
    return cert_path, key_path


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """The certificate, trusted alone by this module's HTTP and WebSocket clients."""
    cert, key = make_certificate(tmp_path_factory.mktemp("tls-origins-cert"))
    saved = {name: os.environ.get(name) for name in ("REQUESTS_CA_BUNDLE", "WEBSOCKET_CLIENT_CA_BUNDLE")}
    os.environ.update(dict.fromkeys(saved, str(cert)))
    yield cert, key
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def resolve_wildcard():
    with resolving_test_domain(DOMAIN):
        yield


class OriginStack(Stack):
    """The stack with one TLS overlay, SUBDOMAIN_HOST set, reached only as https://hub.test:<port>."""

    def __init__(self, overlay: str, directory: Path, hub_image: str, cert: Path, key: Path):
        super().__init__(
            directory,
            hub_image,
            project=f"pyironhub{overlay}origins",
            network=f"pyiron-hub-{overlay}-origins-users",
            users=USERS,
        )
        self.overlay, self.cert, self.key = overlay, cert, key
        self.files = ("docker-compose.yml", f"compose.{overlay}.yml")
        self.https_port = _free_port()
        self.url = f"https://{DOMAIN}:{self.https_port}"
        self.nginx_network = f"pyiron-hub-{overlay}-origins-nginx"
        self.nginx = f"pyiron-hub-{overlay}-origins-nginx"

    def env(self) -> dict:
        return {
            **super().env(),
            "HOST_CERT_PATH": str(self.cert),
            "HOST_KEY_PATH": str(self.key),
            "HTTPS_BIND": "127.0.0.1",
            "HTTPS_PORT": str(self.https_port),
            "NGINX_NETWORK": self.nginx_network,
        }

    def origin(self, user: str) -> str:
        return f"https://{user}.{DOMAIN}:{self.https_port}"

    def up(self) -> None:
        if self.overlay == "nginx":
            docker("network", "create", self.nginx_network)
        super().up()
        if self.overlay == "nginx":
            # The shipped server block, for this host name, as an admin adapts it.
            conf = self.dir / "pyiron-hub.conf"
            conf.write_text(NGINX_CONF.read_text().replace("hub.example.org", DOMAIN))
            docker(
                "run",
                "-d",
                "--name",
                self.nginx,
                "--network",
                self.nginx_network,
                "-p",
                f"127.0.0.1:{self.https_port}:443",
                "-v",
                f"{conf}:/etc/nginx/conf.d/pyiron-hub.conf:ro",
                "-v",
                f"{self.cert}:/etc/nginx/certs/hub.crt:ro",
                "-v",
                f"{self.key}:/etc/nginx/certs/hub.key:ro",
                NGINX_IMAGE,
            )
        wait_for(self._answers, timeout=60, interval=0.5, message=f"{self.url}/hub/health")

    def _answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/hub/health", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    def down(self) -> None:
        if self.overlay == "nginx":
            docker("rm", "-f", self.nginx, check=False)
        remove_user_containers_and_volumes(USERS)  # first: servers left running hold its network
        self.compose("down", "-v", "--remove-orphans", check=False)
        if self.overlay == "nginx":
            docker("network", "rm", self.nginx_network, check=False)

    def dump(self) -> str:
        nginx = docker("logs", "--tail", "60", self.nginx, check=False) if self.overlay == "nginx" else None
        return super().dump() + (f"\n--- docker logs {self.nginx}\n{nginx.stdout}{nginx.stderr}" if nginx else "")


@pytest.fixture(scope="module", params=["tls", "nginx"])
def stack(request, images, certificate, resolve_wildcard, tmp_path_factory):
    """One stack per overlay (pytest takes the first down before it starts the second)."""
    overlay = request.param
    s = OriginStack(overlay, tmp_path_factory.mktemp(f"{overlay}-origins-project"), images, *certificate)
    write_env_files(s.dir, users=USERS, SUBDOMAIN_HOST=s.url)
    s.down()  # what an interrupted run left
    try:
        s.up()
        yield s
    finally:
        s.down()


@pytest.fixture(scope="module")
def ann(stack):
    """tlsann, logged in over HTTPS (cookies as a browser keeps them), with her server started."""
    user = HubUser(stack, USERS[0]).login()
    user.start(environment="pyiron_base")
    return user


class OriginUser(HubUser):
    """The user's server on its own origin."""

    @property
    def server_url(self) -> str:
        return f"{self.stack.origin(self.name)}/user/{self.name}"


def test_hub_and_server_answer_on_their_own_https_origins(stack, ann):
    cert = stack.cert
    # (/hub/ itself sends a user with a running server on to it: to the user's origin.)
    home = ann.session.get(f"{stack.url}/hub/home", verify=cert, timeout=30)
    assert home.status_code == 200 and urlsplit(home.url).netloc == f"{DOMAIN}:{stack.https_port}", home.url
    assert ann.name in home.text
    status = requests.get(
        f"{stack.origin(ann.name)}/user/{ann.name}/api/status",
        verify=cert,
        timeout=30,
        headers={"Authorization": f"token {ann.token}"},
    )
    assert status.status_code == 200 and "started" in status.json(), (status.status_code, status.text[:300])
    # A browser's way in: the server logs its visitor in through the hub (OAuth) and back.
    lab = ann.session.get(f"{stack.origin(ann.name)}/user/{ann.name}/lab", verify=cert, timeout=60)
    assert lab.status_code == 200 and urlsplit(lab.url).netloc == f"{ann.name}.{DOMAIN}:{stack.https_port}", lab.url
    assert any(urlsplit(r.url).path == "/hub/api/oauth2/authorize" for r in lab.history), [r.url for r in lab.history]


def test_the_hubs_origin_never_serves_a_users_server(stack, ann):
    url, seen = f"{stack.url}/user/{ann.name}/api/status", []
    while urlsplit(url).netloc == urlsplit(stack.url).netloc:
        r = ann.session.get(url, allow_redirects=False, timeout=30)
        seen.append((r.status_code, url))
        assert r.status_code == 302 and len(seen) < 5, seen  # only ever a redirect there
        url = urljoin(url, r.headers["Location"])
    assert url.startswith(f"{stack.origin(ann.name)}/user/{ann.name}/api/status"), (url, seen)


def test_a_kernels_websocket_runs_through_tls(stack, ann):
    """wss://<user>.hub.test:<port>/user/<user>/api/kernels/<id>/channels, opened as JupyterLab opens it.

    With the server's cookie and the page's Origin, not a token: a token skips Jupyter's
    check of the Origin against the Host the proxies pass on.
    """
    ann.session.get(f"{stack.origin(ann.name)}/user/{ann.name}/lab", timeout=60).raise_for_status()
    cookie = "; ".join(f"{c.name}={c.value}" for c in ann.session.cookies if c.domain == f"{ann.name}.{DOMAIN}")
    with Kernel(_on_origin(ann)) as kernel:
        kernel.ws.close()
        kernel.ws = websocket.create_connection(kernel.url, cookie=cookie, origin=stack.origin(ann.name), timeout=60)
        assert kernel.run("print(6 * 7)").strip() == "42"


def test_the_servers_cookie_is_no_login_on_the_hubs_api(stack, ann):
    server_host = f"{ann.name}.{DOMAIN}"
    # What the user's origin holds after the OAuth round trip above: the server's cookie only.
    ann.session.get(f"{stack.origin(ann.name)}/user/{ann.name}/lab", timeout=60).raise_for_status()
    own = {c.name: c.value for c in ann.session.cookies if c.domain == server_host}
    assert f"__Host-jupyterhub-user-{ann.name}" in own and not any("hub-login" in name for name in own), own
    origin = {"Origin": stack.origin(ann.name), "X-XSRFToken": own.get("_xsrf", "")}
    me = requests.get(f"{stack.url}/hub/api/user", cookies=own, headers=origin, timeout=30)
    assert me.status_code == 403, (me.status_code, me.text[:300])
    made = requests.post(
        f"{stack.url}/hub/api/users/{ann.name}/tokens",
        cookies=own,
        headers=origin,
        json={"note": "made-from-the-users-origin"},
        timeout=30,
    )
    assert made.status_code == 403, (made.status_code, made.text[:300])
    tokens = ann.api("GET", f"/users/{ann.name}/tokens").json()["api_tokens"]
    assert "made-from-the-users-origin" not in {t.get("note") for t in tokens}
    # Control: the hub's own cookie, on the hub's origin, is her login.
    hub_xsrf = next(c.value for c in ann.session.cookies if c.name == "_xsrf" and c.domain == DOMAIN)
    me = ann.session.get(f"{stack.url}/hub/api/user", headers={"X-XSRFToken": hub_xsrf}, timeout=30)
    assert me.status_code == 200 and me.json()["name"] == ann.name, (me.status_code, me.text[:300])


def _on_origin(user: HubUser) -> OriginUser:
    moved = OriginUser(user.stack, user.name)
    moved.session, moved.token = user.session, user.token
    return moved


def test_the_hubs_login_cookie_is_host_prefixed(stack, ann):
    """__Host-: a browser takes it only from the hub's own origin (Secure, Path=/, no Domain), so a
    page on a user's subdomain cannot plant a login for the hub (cookie tossing, issue 29)."""
    hub = [c for c in ann.session.cookies if "hub-login" in c.name]
    assert [(c.name, c.domain, c.path, c.secure) for c in hub] == [("__Host-jupyterhub-hub-login", DOMAIN, "/", True)]
    assert not hub[0].domain_specified, "a __Host- cookie names no Domain"
    value = hub[0].value
    xsrf = next(c.value for c in ann.session.cookies if c.name == "_xsrf" and c.domain == DOMAIN)

    def me(cookie_name: str) -> requests.Response:
        return requests.get(
            f"{stack.url}/hub/api/user",
            cookies={cookie_name: value, "_xsrf": xsrf},
            headers={"X-XSRFToken": xsrf},
            timeout=30,
        )

    # What a subdomain can set: the unprefixed name, with Domain=hub.test. The hub reads it not.
    planted = me("jupyterhub-hub-login")
    assert planted.status_code == 403, (planted.status_code, planted.text[:300])
    # Control: the same value under the hub's own name is her login.
    own = me("__Host-jupyterhub-hub-login")
    assert own.status_code == 200 and own.json()["name"] == ann.name, (own.status_code, own.text[:300])
