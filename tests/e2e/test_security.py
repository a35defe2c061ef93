"""Security: forged requests through the proxy, and secrets kept where they belong.

Runs its own compose stack (project, network and user names of its own). Every request
goes through the hub's proxy as a logged-in user's browser or script would send it; Docker
is only asked afterwards what happened (no container, no mount, no secret).

The secrets are the deployment's: DUMMY_PASSWORD, POSTGRES_PASSWORD, CLIENT_SECRET (set
although the dummy authenticator ignores it: nothing may pass it on either), and the cookie
secret, crypt key and proxy token the hub generates into its data volume. They are passed
to probes only on stdin, never as arguments or in files.
"""

from __future__ import annotations

import html
import json
import re
import secrets as random_secrets
import subprocess
import tarfile
from ipaddress import ip_network

import pytest
import requests

from pyiron_hub_config.boot_file import boot_name, boot_source

from .conftest import (
    DOCKER,
    PASSWORD,
    PREFIX,
    HubUser,
    Stack,
    docker,
    inspect,
    remove_user_containers_and_volumes,
    wait_for,
    write_env_files,
)

FORGED = pytest.mark.reliability("forged requests")
ISOLATION = pytest.mark.reliability("secrets and isolation")

PROJECT, NETWORK = "pyironhubsec", "pyiron-hub-sec-users"
# carol runs a server, dave forges requests, peggy never starts one, mallory runs a fork bomb
# and tries bob's port, bob serves one (his server started by the admin)
USERS = ("carol", "dave", "peggy", "mallory", "bob")
ADMIN = "secadmin"
NOT_IN_CATALOGUE = f"{PREFIX}/extra:latest"  # a local image: were it started, a container would appear
DATA_FILES = ("cookie_secret", "crypt_key", "metrics_token", "proxy_token")
SECRET_VARIABLES = (
    "DUMMY_PASSWORD",
    "POSTGRES_PASSWORD",
    "CLIENT_SECRET",
    "JUPYTERHUB_COOKIE_SECRET",
    "JUPYTERHUB_CRYPT_KEY",
    "CONFIGPROXY_AUTH_TOKEN",
)
# What jupyterhub-idle-culler needs (its README), and what JupyterHub implies from it.
CULLER_SCOPES = {"list:users", "read:users:activity", "read:servers", "delete:servers"}
CULLER_RESOLVED_SCOPES = CULLER_SCOPES | {"read:users:name"}
TIMEOUT = 30
# The suite's own USER_NETWORKS_POOL (16 networks of /28), not the default one.
POOL = ip_network("10.213.0.0/24")

# Searches a file tree for the secrets read as JSON from stdin; prints only the secrets'
# names and the paths where they were found. argv: mode ("shared": only files readable by
# users other than their owner; "readable": whatever this process can read), roots...
PROBE = r"""
import json, os, stat, sys, time
secrets = {k: v.encode() for k, v in json.load(sys.stdin).items()}
mode, roots = sys.argv[1], sys.argv[2:]
longest = max(map(len, secrets.values()))
skip = {"/proc", "/sys", "/dev"}
hits, scanned, denied, started = [], 0, 0, time.monotonic()
for root in roots:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skip]
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or (mode == "shared" and not st.st_mode & 0o044):
                continue
            try:
                with open(path, "rb") as f:
                    tail = b""
                    while True:
                        chunk = f.read(1 << 20)
                        if not chunk:
                            break
                        buf = tail + chunk
                        hits += [[path, k] for k, v in secrets.items() if v in buf and [path, k] not in hits]
                        tail = buf[-longest:]
                scanned += 1
            except OSError:
                denied += 1
print(json.dumps({"hits": hits, "scanned": scanned, "denied": denied, "seconds": round(time.monotonic() - started, 1)}))
"""


# --- the stack and its users ----------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(images, tmp_path_factory):
    # Named `stack` so that the e2e conftest adds compose logs and docker inspect to failures.
    directory = tmp_path_factory.mktemp("security")
    # A database password and client secret of this run's own: found anywhere, they leaked there.
    db_password, client_secret = f"db-{random_secrets.token_hex(16)}", f"cs-{random_secrets.token_hex(20)}"
    write_env_files(directory, users=USERS, ADMIN_USER=ADMIN, CLIENT_SECRET=client_secret, USER_NETWORKS_POOL=str(POOL))
    (directory / "shared.env").write_text(
        f"POSTGRES_PASSWORD='{db_password}'\nPOSTGRES_USER='hub'\nPOSTGRES_DB='jupyterhub'\n"
    )
    s = Stack(directory, images, project=PROJECT, network=NETWORK, users=(*USERS, ADMIN))
    s.db_password, s.client_secret = db_password, client_secret
    remove_user_containers_and_volumes((*USERS, ADMIN))  # first: servers left running hold its network
    s.compose("down", "-v", "--remove-orphans", check=False)
    try:
        s.up()
        yield s
    finally:
        remove_user_containers_and_volumes((*USERS, ADMIN))  # first: servers left running hold its network
        s.compose("down", "-v", "--remove-orphans", check=False)


@pytest.fixture(scope="module")
def deployment_secrets(stack) -> dict[str, str]:
    found = {"DUMMY_PASSWORD": PASSWORD, "POSTGRES_PASSWORD": stack.db_password, "CLIENT_SECRET": stack.client_secret}
    hub = stack.container("hub")
    # The control: the hub really holds them (compose passes the env files to it, and to it only).
    hub_env = inspect(hub)["Config"]["Env"]
    for var in ("DUMMY_PASSWORD", "POSTGRES_PASSWORD", "CLIENT_SECRET"):
        assert f"{var}={found[var]}" in hub_env, f"{var} is not in the hub's environment"
    for name in DATA_FILES:
        found[name] = docker("exec", hub, "cat", f"/srv/jupyterhub/data/{name}").stdout.strip()
        assert re.fullmatch(r"[0-9a-f]{64}", found[name]), f"{name} is not 64 hex characters"
    return found


@pytest.fixture(scope="module")
def dave(stack):
    return HubUser(stack, "dave").login()


@pytest.fixture(scope="module")
def admin(stack):
    return HubUser(stack, ADMIN).login()


@pytest.fixture(scope="module")
def carol(stack):
    """carol with a running server: the target of other users' requests, and the probe's host."""
    user = HubUser(stack, "carol").login()
    user.start(environment="pyiron_atomistics")
    yield user
    user.stop()


def assert_nothing_started(user: HubUser) -> None:
    assert user.server() is None, user.server()
    assert inspect(f"jupyter-{user.name}") is None, f"a container jupyter-{user.name} exists"


def spawn_error(page: str) -> str:
    """The error JupyterHub shows above the spawn form, as the user reads it."""
    m = re.search(r'<p class="spawn-error-msg[^"]*">(.*?)</p>', page, re.S)
    assert m, "no error message above the form"
    return html.unescape(m.group(1)).strip()


def probe(container: str, mode: str, roots: list[str], found: dict[str, str], timeout: float = 240) -> dict:
    r = subprocess.run(
        [DOCKER, "exec", "-i", container, "python3", "-c", PROBE, mode, *roots],
        input=json.dumps(found),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def occurrences(text: str | bytes, found: dict[str, str]) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [name for name, value in found.items() if value.encode() in data]


# --- forged spawn requests ---------------------------------------------------------------------
# (id, options, what the message must say). The same options go through the REST API (as the
# top-level body and wrapped in JupyterHub 6's {"user_options": ...}), the form post and the
# query string of GET /hub/spawn/<user>.

SCRIPT, JINJA, DOLLAR = "<script>alert(1)</script>", "{{7*7}}", "${7*7}"
LONG = 100_000

CASES = [
    ("unknown-environment", {"environment": "no_such_environment"}, "No such environment"),
    ("environment-from-another-catalogue", {"environment": "pyiron_extra"}, "No such environment"),
    ("image-as-environment", {"environment": NOT_IN_CATALOGUE}, "No such environment"),
    ("image-field", {"image": NOT_IN_CATALOGUE}, "Unknown option 'image'"),
    ("image-beside-environment", {"environment": "pyiron_base", "image": NOT_IN_CATALOGUE}, "Unknown option 'image'"),
    ("memory-above-maximum", {"environment": "pyiron_base", "mem_limit": "2G"}, "above the maximum of 1G"),
    ("memory-just-above-maximum", {"environment": "pyiron_base", "mem_limit": "1025M"}, "above the maximum of 1G"),
    ("memory-in-bytes-above-maximum", {"environment": "pyiron_base", "mem_limit": str(2**40)}, "above the maximum"),
    ("cpus-above-maximum", {"environment": "pyiron_base", "cpu_limit": "1.5"}, "at most 1"),
    ("cpus-exponent-above-maximum", {"environment": "pyiron_base", "cpu_limit": "1e3"}, "at most 1"),
    ("memory-negative", {"environment": "pyiron_base", "mem_limit": "-1G"}, "is not a size"),
    ("memory-zero", {"environment": "pyiron_base", "mem_limit": "0"}, "below the minimum of 64M"),
    ("memory-below-floor", {"environment": "pyiron_base", "mem_limit": "32M"}, "below the minimum of 64M"),
    ("memory-in-bytes-below-floor", {"environment": "pyiron_base", "mem_limit": "1024"}, "below the minimum of 64M"),
    ("memory-non-numeric", {"environment": "pyiron_base", "mem_limit": "lots"}, "is not a size"),
    ("memory-shell", {"environment": "pyiron_base", "mem_limit": "1G; rm -rf /"}, "is not a size"),
    ("cpus-negative", {"environment": "pyiron_base", "cpu_limit": "-1"}, "must be at least 0.01"),
    ("cpus-zero", {"environment": "pyiron_base", "cpu_limit": "0"}, "must be at least 0.01"),
    ("cpus-nan", {"environment": "pyiron_base", "cpu_limit": "nan"}, "must be at least 0.01"),
    ("cpus-inf", {"environment": "pyiron_base", "cpu_limit": "inf"}, "must be at least 0.01"),
    # Docker's quota would be int(0.000001 * 100000) = 0: no limit, every core of the host.
    ("cpus-below-floor", {"environment": "pyiron_base", "cpu_limit": "0.000001"}, "must be at least 0.01"),
    ("cpus-exponent-below-floor", {"environment": "pyiron_base", "cpu_limit": "1e-9"}, "must be at least 0.01"),
    ("cpus-number-below-floor", {"environment": "pyiron_base", "cpu_limit": 0.009}, "must be at least 0.01"),
    ("cpus-non-numeric", {"environment": "pyiron_base", "cpu_limit": "two"}, "is not a number"),
    ("script-environment", {"environment": SCRIPT}, "No such environment: '" + SCRIPT),
    ("jinja-environment", {"environment": JINJA}, "No such environment: '" + JINJA),
    ("dollar-environment", {"environment": DOLLAR}, "No such environment: '" + DOLLAR),
    ("script-memory", {"environment": "pyiron_base", "mem_limit": SCRIPT}, "Memory '" + SCRIPT),
    ("jinja-memory", {"environment": "pyiron_base", "mem_limit": JINJA}, "Memory '" + JINJA),
    ("dollar-cpus", {"environment": "pyiron_base", "cpu_limit": DOLLAR}, "CPUs '" + DOLLAR),
    ("script-field-name", {SCRIPT: "1"}, "Unknown option '" + SCRIPT),
    ("jinja-field-name", {JINJA: "1"}, "Unknown option '" + JINJA),
    ("long-environment", {"environment": "a" * LONG}, "No such environment"),
    ("long-memory", {"environment": "pyiron_base", "mem_limit": "9" * LONG}, "Memory"),
    ("long-cpus", {"environment": "pyiron_base", "cpu_limit": "1" * LONG}, "CPUs"),
    ("long-field-name", {"x" * LONG: "1"}, "Unknown option"),
    ("privileged", {"environment": "pyiron_base", "privileged": True}, "Unknown option 'privileged'"),
    (
        "volumes",
        {"environment": "pyiron_base", "volumes": {"/": {"bind": "/host", "mode": "rw"}}},
        "Unknown option 'volumes'",
    ),
    ("cmd", {"environment": "pyiron_base", "cmd": ["/bin/sh", "-c", "id"]}, "Unknown option 'cmd'"),
    (
        "extra-host-config",
        {"environment": "pyiron_base", "extra_host_config": {"privileged": True}},
        "Unknown option 'extra_host_config'",
    ),
    ("network", {"environment": "pyiron_base", "network_name": "bridge"}, "Unknown option 'network_name'"),
    ("environment-twice", {"environment": ["pyiron_base", "pyiron_continuum"]}, "No such environment"),
    ("environment-object", {"environment": {"name": "pyiron_base"}}, "No such environment"),
    ("environment-number", {"environment": 7}, "No such environment"),
    ("memory-boolean", {"environment": "pyiron_base", "mem_limit": True}, "is not a size"),
    ("cpus-object", {"environment": "pyiron_base", "cpu_limit": {"n": 1}}, "is not a number"),
]


def as_fields(options: dict) -> dict[str, list[str]]:
    """What a form or a query string can carry: strings, a field repeated for a list."""

    def text(value):
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else json.dumps(value)

    return {k: [text(x) for x in v] if isinstance(v, list) else [text(v)] for k, v in options.items()}


def check_refusal(r: requests.Response, message: str, expected: str) -> None:
    assert r.status_code == 400, (r.status_code, r.text[:500])
    assert expected in message, message
    # Readable: one sentence naming what is wrong, never an echo of a 100 kB value.
    assert len(message) < 600, f"{len(message)} characters"
    # The value is echoed as text, never evaluated: {{7*7}} and ${7*7} stay as they are.
    assert "49" not in message.replace(str(2**40), "")


@FORGED
@pytest.mark.parametrize("case, options, expected", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("channel", ["api", "api-user_options", "form", "query"])
def test_forged_spawn_is_refused_with_a_message_and_starts_nothing(stack, dave, channel, case, options, expected):
    assert_nothing_started(dave)
    if channel.startswith("api"):
        body = {"user_options": options} if channel == "api-user_options" else options
        r = dave.api("POST", "/users/dave/server", json=body)
        assert r.headers["Content-Type"].startswith("application/json")
        check_refusal(r, r.json()["message"], expected)
    elif channel == "form":
        r = dave.session.post(
            f"{stack.url}/hub/spawn/dave",
            params={"_xsrf": dave.xsrf},
            data=as_fields(options),
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        check_refusal(r, spawn_error(r.text), expected)
        assert SCRIPT not in r.text  # shown escaped, never as markup
    else:
        # JupyterHub starts a server straight from the query string; refused, it shows the form
        # again, with the status and the error above it.
        r = dave.session.get(
            f"{stack.url}/hub/spawn/dave", params=as_fields(options), allow_redirects=False, timeout=TIMEOUT
        )
        if len(r.request.url) > 16_000:
            # A 100 kB URL never reaches the hub: the proxy refuses headers that long.
            assert r.status_code == 431, (r.status_code, r.text[:300])
        else:
            check_refusal(r, spawn_error(r.text), expected)
            assert SCRIPT not in r.text
            assert 'id="spawn_form"' in r.text
    assert_nothing_started(dave)


@FORGED
@pytest.mark.parametrize(
    "query",
    [
        {"opt-image": NOT_IN_CATALOGUE},
        {"opt-environment": "pyiron_base", "opt-privileged": "true"},
        {"opt-environment": "pyiron_base", "opt-mem_limit": "64G"},
        {"opt-environment": "pyiron_base", "environment": "pyiron_base", "opt-cmd": "sh"},
        {"environment": "pyiron_base", "mem_limit": "512M", "image": NOT_IN_CATALOGUE},
    ],
    ids=["opt-image", "opt-privileged", "opt-memory", "mixed-prefixes", "valid-options-plus-image"],
)
def test_query_options_with_jupyterhub_prefix_are_checked_too(stack, dave, query):
    r = dave.session.get(f"{stack.url}/hub/spawn/dave", params=query, allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert re.search(r"Unknown option|above the maximum", spawn_error(r.text))
    assert_nothing_started(dave)


@FORGED
def test_forged_options_stored_with_patch_never_start(stack, dave):
    """JupyterHub 6 lets a user edit a stopped server's user_options; a start re-checks them.

    The start with what is stored is refused; what is refused is not remembered (issue 21),
    so the next start falls back to the default environment, never to the forged image or a
    privileged container.
    """
    dave.api("POST", "/users/dave/server", json={"environment": "no_such_environment"})  # the spawner record exists
    r = dave.api("PATCH", "/users/dave/server", json={"user_options": {"image": NOT_IN_CATALOGUE, "privileged": True}})
    assert r.status_code == 200, r.text
    r = dave.api("POST", "/users/dave/server", json=None)  # "start with what is stored": refused
    assert r.status_code == 400, r.text
    assert "Unknown option 'image', 'privileged'" in r.json()["message"]
    assert_nothing_started(dave)
    r = dave.api("POST", "/users/dave/server", json={})  # the refusal is not remembered: the default starts
    assert r.status_code in (201, 202), r.text
    try:
        dave.wait_ready()
        info = inspect("jupyter-dave")
        assert info["Config"]["Image"] != NOT_IN_CATALOGUE and info["HostConfig"]["Privileged"] is False, info["Config"]
    finally:
        dave.stop()
    assert_nothing_started(dave)


@FORGED
@pytest.mark.parametrize(
    "body, expected",
    [
        ("{not json", "Invalid JSON"),
        ('"pyiron_base"', "JSON object"),
        ('{"user_options": "pyiron_base"}', "user_options must be an object"),
        ('{"user_options": {"environment": "pyiron_base"}, "display_name": 7}', "display_name must be a string"),
    ],
    ids=["malformed", "string", "options-not-an-object", "display-name-not-a-string"],
)
def test_malformed_api_bodies_are_refused(stack, dave, body, expected):
    r = dave.api("POST", "/users/dave/server", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and expected in r.json()["message"], r.text
    assert_nothing_started(dave)


# --- one user against another, and against the admin's endpoints ----------------------------------


@FORGED
@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/users/peggy/server"),
        ("POST", "/users/carol/server"),
        ("DELETE", "/users/carol/server"),
        ("GET", "/users/carol"),
        ("GET", "/users/carol/server"),
        ("GET", "/users/carol/server/progress"),
        ("GET", "/users/carol/tokens"),
        ("POST", "/users/carol/tokens"),
        ("DELETE", "/users/carol/tokens/{carol_token_id}"),
        ("POST", "/users/carol/activity"),
        ("PATCH", "/users/peggy/server"),
    ],
)
def test_a_user_cannot_touch_another_users_server_or_tokens(stack, dave, carol, method, path):
    carol_token_id = carol.api("GET", "/users/carol/tokens").json()["api_tokens"][0]["id"]
    before = {t["id"] for t in carol.api("GET", "/users/carol/tokens").json()["api_tokens"]}
    body = (
        {"last_activity": "2030-01-01T00:00:00.000000Z"}
        if path.endswith("activity")
        else ({"user_options": {"environment": "pyiron_base"}} if method == "PATCH" else {})
    )
    r = dave.api(method, path.format(carol_token_id=carol_token_id), json=body if method != "GET" else None)
    assert r.status_code in (403, 404), (r.status_code, r.text)
    # Nothing changed: carol's server still runs, her tokens are hers, peggy has no server.
    assert carol.server()["ready"] and inspect("jupyter-carol")["State"]["Running"]
    assert {t["id"] for t in carol.api("GET", "/users/carol/tokens").json()["api_tokens"]} == before
    assert inspect("jupyter-peggy") is None


@FORGED
@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/hub/spawn/carol"),
        ("GET", "/hub/spawn/peggy?environment=pyiron_base"),
        ("POST", "/hub/spawn/peggy"),
        ("POST", "/hub/api/users/peggy/server"),
        ("DELETE", "/hub/api/users/carol/server"),
        ("GET", "/user/carol/api/contents"),
        ("GET", "/user/carol/lab"),
    ],
)
def test_a_users_cookie_session_cannot_reach_another_users_server(stack, dave, carol, method, path):
    r = dave.session.request(
        method,
        f"{stack.url}{path}",
        params={"_xsrf": dave.xsrf},
        headers={"X-XSRFToken": dave.xsrf},
        data={"environment": "pyiron_base"},
        allow_redirects=True,
        timeout=TIMEOUT,
    )
    assert r.status_code in (403, 404), (r.status_code, r.url, r.text[:300])
    assert carol.server()["ready"] and inspect("jupyter-peggy") is None


@FORGED
def test_a_users_token_cannot_reach_another_users_jupyter_server(stack, dave, carol):
    for path in ("/api/status", "/api/contents", "/api/kernels"):
        r = requests.get(
            f"{stack.url}/user/carol{path}",
            headers={"Authorization": f"token {dave.token}"},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert r.status_code == 403, (path, r.status_code, r.text[:200])
    assert carol.user_server("GET", "/api/status").status_code == 200  # while carol's own token works


@FORGED
@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/users", None),
        ("POST", "/users", {"usernames": ["trent"]}),
        ("POST", "/users/trent", {}),
        ("DELETE", "/users/peggy", None),
        ("PATCH", "/users/dave", {"admin": True}),
        ("PATCH", "/users/peggy", {"name": "peggy2"}),
        ("GET", "/groups", None),
        ("POST", "/groups/admins", {}),
        ("GET", "/services", None),
        ("GET", "/services/idle-culler", None),
        ("GET", "/proxy", None),
        ("POST", "/proxy", None),
        ("GET", "/info", None),
        ("POST", "/shutdown", None),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_users_token_cannot_reach_admin_endpoints(stack, dave, admin, method, path, body):
    r = dave.api(method, path, json=body)
    assert r.status_code in (403, 404), (r.status_code, r.text)
    # and nothing happened, as the admin sees it
    names = {u["name"] for u in admin.api("GET", "/users").json()}
    assert {"carol", "dave", "peggy"} <= names and not {"trent", "peggy2"} & names
    assert dave.api("GET", "/user").json()["admin"] is False
    assert requests.get(f"{stack.url}/hub/health", timeout=TIMEOUT).status_code == 200


@FORGED
@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/hub/admin"),
        ("GET", "/hub/api/users"),
        ("POST", "/hub/api/users/trent"),
        ("PATCH", "/hub/api/users/dave"),
        ("GET", "/hub/token"),  # allowed: a user's own tokens page (the control of the list above)
    ],
)
def test_a_users_cookie_session_cannot_reach_admin_endpoints(stack, dave, method, path):
    r = dave.session.request(
        method,
        f"{stack.url}{path}",
        headers={"X-XSRFToken": dave.xsrf},
        json={"admin": True} if method == "PATCH" else None,
        timeout=TIMEOUT,
    )
    if path == "/hub/token":
        assert r.status_code == 200
    else:
        assert r.status_code == 403, (r.status_code, r.text[:300])
    assert dave.api("GET", "/user").json()["admin"] is False


@FORGED
@pytest.mark.parametrize(
    "request_body",
    [
        {"scopes": ["admin:users"]},
        {"scopes": ["admin:servers"]},
        {"scopes": ["list:users", "delete:servers"]},
        {"roles": ["admin"]},
        {"roles": ["idle-culler"]},
    ],
    ids=["admin-users", "admin-servers", "culler-scopes", "admin-role", "culler-role"],
)
def test_a_user_cannot_make_a_token_with_more_than_they_have(stack, dave, request_body):
    r = dave.api("POST", "/users/dave/tokens", json=request_body)
    # JupyterHub answers 400 ("Not assigning requested scopes ... not held by User dave") for
    # scopes and 403 for roles: either way no token is made.
    assert r.status_code in (400, 403), (r.status_code, r.text)
    assert "token" not in r.json()


# --- the idle culler -------------------------------------------------------------------------------


@FORGED
def test_culler_is_a_service_without_endpoints_and_with_only_its_role(stack, admin):
    service = admin.api("GET", "/services/idle-culler").json()
    assert service["roles"] == ["idle-culler"] and service["pid"] > 0
    assert not service["url"] and not service["prefix"]  # no HTTP endpoint of its own
    # So nothing answers under /services/idle-culler/ for anyone, admin or not.
    for who in (admin, None):
        session = who.session if who else requests.Session()
        for path in ("/services/idle-culler/", "/services/idle-culler/api/status"):
            r = session.get(f"{stack.url}{path}", timeout=TIMEOUT)
            # The proxy has no route for it, so the hub answers: not found (or, anonymous, log in first).
            assert r.status_code == 404 or r.url.startswith(f"{stack.url}/hub/login"), (path, r.status_code, r.url)
    # The role, as the hub stored it: exactly what the culler needs, held by the culler alone.
    sql = (
        "SELECT r.scopes FROM roles r WHERE r.name = 'idle-culler';"
        "SELECT count(*) FROM user_role_map m JOIN roles r ON r.id = m.role_id WHERE r.name = 'idle-culler';"
        "SELECT count(*) FROM group_role_map m JOIN roles r ON r.id = m.role_id WHERE r.name = 'idle-culler';"
        "SELECT s.name FROM service_role_map m JOIN roles r ON r.id = m.role_id "
        "JOIN services s ON s.id = m.service_id WHERE r.name = 'idle-culler';"
    )
    out = subprocess.run(
        [
            DOCKER,
            "exec",
            "-i",
            "-e",
            "PGPASSWORD",
            stack.container("hub-db"),
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "hub",
            "-d",
            "jupyterhub",
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
        ],
        input=sql,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={"PGPASSWORD": stack.db_password},
    )
    assert out.returncode == 0, out.stderr
    scopes, users, groups, services = out.stdout.split("\n")[:4]
    assert set(json.loads(scopes)) == CULLER_SCOPES
    assert (users, groups, services) == ("0", "0", "idle-culler")


@pytest.fixture(scope="module")
def culler_token(stack, admin) -> str:
    """The token the hub gave its culler, read as root from the culler's environment."""
    pid = admin.api("GET", "/services/idle-culler").json()["pid"]
    environ = subprocess.run(
        [DOCKER, "exec", stack.container("hub"), "cat", f"/proc/{pid}/environ"],
        capture_output=True,
        check=True,
        timeout=TIMEOUT,
    ).stdout
    env = dict(item.split(b"=", 1) for item in environ.split(b"\0") if b"=" in item)
    return env[b"JUPYTERHUB_API_TOKEN"].decode()


@FORGED
def test_culler_token_can_do_what_culling_needs_and_nothing_more(stack, carol, culler_token):
    def culler(method, path, **kw):
        return requests.request(
            method,
            f"{stack.url}/hub/api{path}",
            headers={"Authorization": f"token {culler_token}"},
            timeout=TIMEOUT,
            **kw,
        )

    me = culler("GET", "/user").json()
    assert me["kind"] == "service" and set(me["scopes"]) == CULLER_RESOLVED_SCOPES
    # what it needs
    assert culler("GET", "/users").status_code == 200
    assert culler("GET", "/users/carol").json()["servers"][""]["ready"]
    # and nothing more
    for method, path, body in [
        ("POST", "/users/peggy/server", {"environment": "pyiron_base"}),
        ("GET", "/users/carol/tokens", None),
        ("POST", "/users/carol/tokens", {}),
        ("PATCH", "/users/carol", {"admin": True}),
        ("POST", "/users/trent", {}),
        ("DELETE", "/users/peggy", None),
        ("GET", "/proxy", None),
        ("POST", "/shutdown", None),
    ]:
        r = culler(method, path, json=body)
        assert r.status_code in (403, 404), (method, path, r.status_code, r.text)
    assert inspect("jupyter-peggy") is None


@FORGED
@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/users"),  # list:users
        ("GET", "/users/carol"),  # read:users:activity
        ("GET", "/users/carol/server"),  # read:servers
        ("DELETE", "/users/carol/server"),  # delete:servers
    ],
    ids=["list-users", "read-activity", "read-servers", "delete-servers"],
)
def test_a_user_token_cannot_do_what_the_culler_does(stack, dave, carol, method, path):
    r = dave.api(method, path)
    assert r.status_code in (403, 404), (r.status_code, r.text)
    assert carol.server()["ready"] and inspect("jupyter-carol")["State"]["Running"]


# --- secrets -------------------------------------------------------------------------------------


@ISOLATION
def test_generated_secrets_are_private_files_in_the_data_volume(stack):
    out = docker(
        "exec",
        stack.container("hub"),
        "stat",
        "-c",
        "%a %U %G %n",
        "/srv/jupyterhub/data",
        *(f"/srv/jupyterhub/data/{name}" for name in DATA_FILES),
    ).stdout.splitlines()
    assert out[0] == "700 root root /srv/jupyterhub/data", out
    assert out[1:] == [f"600 root root /srv/jupyterhub/data/{name}" for name in DATA_FILES], out
    listing = docker("exec", stack.container("hub"), "ls", "-A", "/srv/jupyterhub/data").stdout.split()
    assert sorted(listing) == sorted(DATA_FILES), listing  # no temporary file left beside them
    mounts = {m["Destination"]: m for m in inspect(stack.container("hub"))["Mounts"]}
    assert mounts["/srv/jupyterhub/data"]["Type"] == "volume"


@ISOLATION
def test_no_secret_in_the_hub_image(stack, deployment_secrets, tmp_path):
    image = inspect(stack.container("hub"))["Image"]  # the image the hub runs, whatever the tag says now
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    assert not occurrences(history, deployment_secrets)
    config = inspect(image)["Config"]
    assert not [e for e in config.get("Env") or [] if e.split("=", 1)[0] in SECRET_VARIABLES], config["Env"]
    assert not occurrences(json.dumps(config), deployment_secrets)

    saved = tmp_path / "hub-image.tar"
    subprocess.run([DOCKER, "save", "-o", str(saved), image], check=True, capture_output=True, timeout=300)
    try:
        found, longest, tail = set(), max(map(len, deployment_secrets.values())), b""
        with saved.open("rb") as f:  # layers are plain tars inside: a byte search sees every file
            while chunk := f.read(8 << 20):
                buf = tail + chunk
                found |= set(occurrences(buf, deployment_secrets))
                tail = buf[-longest:]
        assert not found, f"in the saved image: {sorted(found)}"
        # Nor any env file or secret file in any layer (the data directory is empty in the image).
        names = []
        with tarfile.open(saved) as outer:
            for member in outer:
                if member.name.endswith("layer.tar"):
                    with tarfile.open(fileobj=outer.extractfile(member)) as layer:
                        names += layer.getnames()
        assert names, "no layers found in docker save's output"
        bad = [
            n
            for n in names
            if re.search(
                r"(^|/)[^/]*\.env$|(^|/)(cookie_secret|crypt_key|proxy_token)$|"
                r"jupyterhub_cookie_secret$|run/secrets/",
                n,
            )
        ]
        assert not bad, bad
    finally:
        saved.unlink(missing_ok=True)


@ISOLATION
def test_no_secret_in_a_user_containers_inspect(stack, carol, deployment_secrets):
    info = inspect("jupyter-carol")
    assert not occurrences(json.dumps(info), deployment_secrets)
    names = {e.split("=", 1)[0] for e in info["Config"]["Env"]}
    assert not names & set(SECRET_VARIABLES), names & set(SECRET_VARIABLES)
    host = info["HostConfig"]
    assert host["Privileged"] is False and not host["CapAdd"] and not host["Devices"]
    assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges:true"], host
    assert host["PidsLimit"] == 4096 and host["CpuQuota"] > 0 and host["Memory"] > 0, host
    assert sorted(host["Binds"]) == [
        "jupyterhub-home-carol:/home/jovyan:rw",
        "jupyterhub-user-carol:/home/jovyan/work:rw",
    ], host["Binds"]
    # Only the user's own volumes are writable; the image's home copy, the boot step and the
    # packages the hub lends (hub_packages.py) are read-only.
    mounts = {m["Destination"]: (m["Type"], m["Name"], m["RW"]) for m in info["Mounts"]}
    image_copy = mounts["/home"][1]
    assert image_copy.startswith("pyiron-hub-image-")
    packages = mounts["/opt/pyiron-hub/packages"][1]
    assert packages.startswith("pyiron-hub-packages-")
    assert mounts == {
        "/home/jovyan": ("volume", "jupyterhub-home-carol", True),
        "/home/jovyan/work": ("volume", "jupyterhub-user-carol", True),
        "/home": ("volume", image_copy, False),
        "/opt/pyiron-hub/image": ("volume", image_copy, False),
        "/opt/pyiron-hub/boot": ("volume", boot_name(boot_source()), False),  # the boot step (boot_file.py)
        "/opt/pyiron-hub/packages": ("volume", packages, False),
    }


@ISOLATION
def test_no_secret_in_the_hubs_logs(stack, dave, carol, deployment_secrets):
    # Some more of what gets logged: a refused spawn, a failed and a good login, a token.
    dave.api("POST", "/users/dave/server", json={"environment": "pyiron_base", "image": NOT_IN_CATALOGUE})
    browser = requests.Session()
    browser.get(f"{stack.url}/hub/login", timeout=TIMEOUT)
    r = browser.post(
        f"{stack.url}/hub/login",
        params={"_xsrf": browser.cookies.get("_xsrf")},
        data={"username": "dave", "password": "not-the-password"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert r.status_code == 403, r.status_code
    HubUser(stack, "peggy").login()
    hub = stack.container("hub")
    logs = subprocess.run([DOCKER, "logs", hub], capture_output=True, timeout=TIMEOUT)
    text = logs.stdout + logs.stderr
    assert b"User logged in: carol" in text and b"Starting pyiron_atomistics for carol" in text
    assert not occurrences(text, deployment_secrets)


@ISOLATION
def test_no_secret_in_files_other_users_can_read_in_the_hub_container(stack, deployment_secrets):
    result = probe(stack.container("hub"), "shared", ["/"], deployment_secrets)
    assert result["scanned"] > 1000, result  # the walk saw the whole file system
    assert not result["hits"], result["hits"]
    # The control: the same probe, reading as root what only root may read, does find them.
    control = probe(stack.container("hub"), "readable", ["/srv/jupyterhub/data"], deployment_secrets)
    assert sorted(control["hits"]) == sorted([f"/srv/jupyterhub/data/{name}", name] for name in DATA_FILES)


# --- from inside a user's container --------------------------------------------------------------


def in_carol(script: str, timeout: float = 60) -> str:
    r = subprocess.run(
        [DOCKER, "exec", "jupyter-carol", "python3", "-c", script], capture_output=True, text=True, timeout=timeout
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


@ISOLATION
def test_user_container_has_no_route_to_the_database_or_the_proxy_api(stack, carol):
    db = inspect(stack.container("hub-db"))
    db_ips = [n["IPAddress"] for n in db["NetworkSettings"]["Networks"].values()]
    # carol's own network (ISOLATE_USERS), which the hub joined; not the users' network itself
    assert db_ips and list(inspect("jupyter-carol")["NetworkSettings"]["Networks"]) == [f"{NETWORK}-jupyter-carol"]
    targets = [("hub-db", 5432), *((ip, 5432) for ip in db_ips), ("hub", 8001), ("hub", 5432)]
    out = in_carol(
        "import socket\n"
        f"for host, port in {targets!r}:\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=3).close(); print(host, port, 'open')\n"
        "    except OSError as e:\n"
        "        print(host, port, type(e).__name__)\n"
    )
    assert "open" not in out, out
    assert len(out.splitlines()) == len(targets)
    # ...while the hub's API, which a server needs, answers on the same network.
    assert (
        in_carol(
            "import urllib.request;print(urllib.request.urlopen('http://hub:8081/hub/api/', timeout=5).status)"
        ).strip()
        == "200"
    )


@ISOLATION
def test_user_container_has_no_docker_socket_or_api(stack, carol):
    gateway = json.loads(docker("network", "inspect", f"{NETWORK}-jupyter-carol").stdout)[0]["IPAM"]["Config"][0][
        "Gateway"
    ]
    out = in_carol(
        "import os, socket\n"
        "print('socket', [p for p in ('/var/run/docker.sock', '/run/docker.sock', '/tmp/docker.sock') if os.path.exists(p)])\n"
        "print('DOCKER_HOST', os.environ.get('DOCKER_HOST'))\n"
        f"for port in (2375, 2376):\n"
        "    try:\n"
        f"        socket.create_connection(({gateway!r}, port), timeout=3).close(); print(port, 'open')\n"
        "    except OSError as e:\n"
        "        print(port, type(e).__name__)\n"
    )
    assert "socket []" in out and "DOCKER_HOST None" in out and "open" not in out, out


@ISOLATION
def test_user_container_cannot_read_the_hubs_secrets(stack, carol, deployment_secrets):
    assert in_carol("import os;print(os.path.exists('/srv/jupyterhub/data'))").strip() == "False"
    # A canary the user wrote through their own server: the probe must find it, and nothing else.
    canary = f"canary-{random_secrets.token_hex(16)}"
    r = carol.user_server(
        "PUT", "/api/contents/work/canary.txt", json={"type": "file", "format": "text", "content": canary}
    )
    assert r.status_code in (200, 201), r.text
    # Everything uid 1000 can read, but /proc, /sys and /dev (the user's image is a few hundred MB).
    result = probe("jupyter-carol", "readable", ["/"], {**deployment_secrets, "canary": canary})
    assert result["scanned"] > 1000, result
    assert result["hits"] == [["/home/jovyan/work/canary.txt", "canary"]], result["hits"]


@ISOLATION
def test_a_user_cannot_change_the_paramiko_every_users_server_loads(stack, carol):
    # Every server mounts the same packages volume: a user who could change paramiko there
    # would read other users' SSH keys as they submit. The attack, from carol's own server:
    out = in_carol(
        "import os\n"
        "for path in ('/opt/pyiron-hub/packages/paramiko/__init__.py', '/opt/pyiron-hub/packages/evil.pth',\n"
        "             '/opt/pyiron-hub/packages/paramiko/transport.py'):\n"
        "    try:\n"
        "        open(path, 'a').write('# changed\\n'); print(path, 'WRITTEN')\n"
        "    except OSError as e:\n"
        "        print(path, e.errno)\n"
        "print('OWNER', os.stat('/opt/pyiron-hub/packages/paramiko/__init__.py').st_uid)\n"
        "import paramiko; print('LOADED', paramiko.__file__)\n"
    )
    refused = [line for line in out.splitlines() if line.startswith("/opt/") and line.split()[-1] in ("13", "30")]
    assert "WRITTEN" not in out and len(refused) == 3, out  # EACCES or EROFS: a read-only volume owned by root
    assert "OWNER 0" in out, out
    # Control: the same server loads that paramiko, and writes its own home.
    assert "LOADED /opt/pyiron-hub/packages/paramiko/__init__.py" in out, out
    assert in_carol("open('/home/jovyan/mine.txt', 'w').write('x'); print('ok')").strip() == "ok"


@ISOLATION
def test_user_runs_as_uid_1000_and_their_files_belong_to_them(stack, carol):
    assert docker("exec", "jupyter-carol", "id", "-u").stdout.strip() == "1000"
    uids = in_carol(
        "import os\n"
        "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "    try:\n"
        "        line = next(l for l in open(f'/proc/{pid}/status') if l.startswith('Uid:'))\n"
        "    except OSError:\n"
        "        continue\n"
        "    print(pid, *line.split()[1:])\n"
    ).splitlines()
    assert uids and all(set(line.split()[1:]) == {"1000"} for line in uids), uids  # real, effective, saved, fs
    # A file the user writes through their own Jupyter server is theirs.
    r = carol.user_server(
        "PUT", "/api/contents/work/owner.txt", json={"type": "file", "format": "text", "content": "x"}
    )
    assert r.status_code in (200, 201), r.text
    assert docker("exec", "jupyter-carol", "stat", "-c", "%u", "/home/jovyan/work/owner.txt").stdout.strip() == "1000"


@ISOLATION
@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/users"),
        ("GET", "/users/dave"),
        ("POST", "/users/peggy/server"),
        ("POST", "/users/carol/tokens"),
        ("DELETE", "/users/carol/server"),
        ("GET", "/proxy"),
    ],
)
def test_the_token_inside_a_users_container_reaches_nothing_else(stack, carol, method, path):
    """The server's own API token (in its environment, so readable by the user's code) is
    limited to the server role: activity and access to this one server."""
    out = in_carol(
        "import os, urllib.request, urllib.error\n"
        f"req = urllib.request.Request('http://hub:8081/hub/api{path}', method={method!r},"
        " headers={'Authorization': 'token ' + os.environ['JUPYTERHUB_API_TOKEN']},"
        f" data=b'{{}}' if {method!r} == 'POST' else None)\n"
        "try:\n"
        "    print(urllib.request.urlopen(req, timeout=10).status)\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code)\n"
    )
    assert out.strip() in ("403", "404"), out
    assert carol.server()["ready"] and inspect("jupyter-peggy") is None


# --- users' networks beyond Docker's default address pools (USER_NETWORKS_POOL) --------------------

FILL_LABEL = "org.pyiron-hub.test-fill"
NO_POOL_LEFT = "could not find an available, non-overlapping IPv4 address pool"


def network_ipam(name: str) -> dict:
    return json.loads(docker("network", "inspect", name).stdout)[0]["IPAM"]["Config"][0]


@pytest.fixture(scope="module")
def default_pools_used_up(stack):
    """Plain networks (no subnet given, as compose makes them) until Docker's default address
    pools have none left: the two servers started after this (mallory's, bob's) would have
    failed before the hub took subnets from its own pool. How many it took, for the report."""
    leftovers = docker("network", "ls", "-q", "--filter", f"label={FILL_LABEL}").stdout.split()
    if leftovers:  # a run that was killed: they would starve every other suite of networks
        docker("network", "rm", *leftovers, check=False)
    made = []
    try:
        for i in range(100):  # Docker's defaults hold 31; an engine configured with more is another machine
            r = docker("network", "create", "--label", FILL_LABEL, f"{NETWORK}-fill-{i}", check=False)
            if r.returncode:
                assert NO_POOL_LEFT in r.stderr, r.stderr
                break
            made.append(f"{NETWORK}-fill-{i}")
        else:
            pytest.fail("Docker's default address pools still had room after 100 networks")
        print(f"Docker's default address pools were used up by {len(made)} more networks")
        yield made
    finally:
        if made:
            docker("network", "rm", *made, check=False)


@pytest.fixture(scope="module")
def carols_network(stack, carol) -> dict:
    return network_ipam(f"{NETWORK}-jupyter-carol")


@ISOLATION
def test_a_users_network_is_a_subnet_of_the_configured_pool(stack, carol, carols_network):
    subnet = ip_network(carols_network["Subnet"])
    assert subnet.subnet_of(POOL) and subnet.prefixlen == 28, carols_network
    assert carols_network["Gateway"] == str(subnet[1])
    # carol's server and the hub have their addresses there.
    addresses = {
        inspect(c)["NetworkSettings"]["Networks"][f"{NETWORK}-jupyter-carol"]["IPAddress"]
        for c in ("jupyter-carol", stack.container("hub"))
    }
    assert len(addresses) == 2 and all(ip_network(a).subnet_of(subnet) for a in addresses), addresses


# Starts /bin/sleep until the kernel refuses (EAGAIN), as a fork bomb would, but bounded:
# every child ends by itself after HOLD seconds, the script stops at MOST children, and it
# kills them all as soon as the test closes its stdin (it has looked around by then).
FORK_BOMB = r"""
import errno, os, select, signal, sys
hold, most = int(sys.argv[1]), int(sys.argv[2])
children, error = [], None
while len(children) < most:
    try:
        children.append(os.posix_spawn("/bin/sleep", ["sleep", str(hold)], os.environ))
    except OSError as e:
        error = errno.errorcode.get(e.errno, e.errno)
        break
print(len(children), error, flush=True)
select.select([sys.stdin], [], [], hold)
for pid in children:
    os.kill(pid, signal.SIGKILL)
for pid in children:
    os.waitpid(pid, 0)
"""


@pytest.fixture(scope="module")
def mallory(stack, default_pools_used_up):
    user = HubUser(stack, "mallory").login()
    # The most memory a user may pick: thousands of processes need their page tables and stacks.
    user.start(environment="pyiron_base", mem_limit="1G")
    yield user
    user.stop()


@ISOLATION
def test_a_fork_bomb_stays_in_its_container(stack, mallory, carol):
    hold, most = 40, 20_000  # bounded: 40 s, at most 20000 processes (below the host's pid_max)
    bomb = subprocess.Popen(
        [DOCKER, "exec", "-i", "jupyter-mallory", "python3", "-c", FORK_BOMB, str(hold), str(most)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        started, error = bomb.stdout.readline().split()
        # The kernel said no at the container's process limit (4096, less what already runs there)...
        assert error == "EAGAIN" and 3900 < int(started) < 4096, (started, error)
        # ...while the hub, the proxy and another user's server answer, and the host starts processes.
        assert requests.get(f"{stack.url}/hub/health", timeout=TIMEOUT).status_code == 200
        assert carol.user_server("GET", "/api/status").status_code == 200
        assert carol.api("GET", "/users/carol").json()["servers"][""]["ready"]
        assert docker("exec", "jupyter-carol", "true").returncode == 0
        assert subprocess.run(["true"], timeout=10).returncode == 0
    finally:
        bomb.stdin.close()  # the bomb kills its children and ends
        bomb.wait(timeout=hold + 30)
    # The bomb's own server survives it.
    assert mallory.user_server("GET", "/api/status").status_code == 200


# --- users cannot reach each other (ISOLATE_USERS) ---------------------------------------------

REACH = r"""
import socket, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close(); print(target, "open")
    except OSError as e:
        print(target, type(e).__name__)
"""


def reach(container: str, *targets: str) -> dict[str, str]:
    """Which host:port targets a TCP connect from inside the container reaches."""
    out = docker("exec", container, "python3", "-c", REACH, *targets).stdout
    return dict(line.split(" ", 1) for line in out.splitlines())


@pytest.fixture(scope="module")
def bob(stack, admin, default_pools_used_up):
    """bob's server, started by the admin (who may start and stop servers without opening them)."""
    user = HubUser(stack, "bob").login()
    r = admin.api("POST", "/users/bob/server", json={"environment": "pyiron_base"})
    assert r.status_code in (201, 202), (r.status_code, r.text)
    user.wait_ready()
    yield user
    user.stop()


@pytest.fixture(scope="module")
def bobs_port(stack, bob) -> str:
    """bob serves a port from his server, as a Dask dashboard or a test web app would; its address."""
    docker("exec", "-d", "jupyter-bob", "python3", "-m", "http.server", "9000", "--bind", "0.0.0.0")
    wait_for(
        lambda: reach("jupyter-bob", "127.0.0.1:9000")["127.0.0.1:9000"] == "open",
        timeout=30,
        message="bob's http.server",
    )
    return inspect("jupyter-bob")["NetworkSettings"]["Networks"][f"{NETWORK}-jupyter-bob"]["IPAddress"]


@ISOLATION
def test_a_user_cannot_reach_another_users_ports(stack, mallory, bob, bobs_port):
    ip = bobs_port
    found = reach("jupyter-mallory", f"{ip}:9000", f"{ip}:8888", "jupyter-bob:9000", "jupyter-bob:8888")
    assert "open" not in found.values(), found
    # The name does not even resolve on mallory's network; the address is on a bridge Docker keeps apart.
    assert found["jupyter-bob:9000"] == "gaierror", found
    # The controls: bob reaches his own port, by loopback and by his address...
    assert set(reach("jupyter-bob", "127.0.0.1:9000", f"{ip}:9000").values()) == {"open"}
    # ...the hub (and the proxy inside it) reaches bob's server and his port...
    assert set(reach(stack.container("hub"), f"{ip}:8888", f"{ip}:9000").values()) == {"open"}
    assert bob.user_server("GET", "/api/status").status_code == 200
    # ...and mallory still reaches the hub's API, on a network that is not internal (a way out).
    assert reach("jupyter-mallory", "hub:8081")["hub:8081"] == "open"
    mallorys = json.loads(docker("network", "inspect", f"{NETWORK}-jupyter-mallory").stdout)[0]
    assert mallorys["Internal"] is False and mallorys["Driver"] == "bridge"
    assert set(mallorys["Containers"]) == {inspect("jupyter-mallory")["Id"], inspect(stack.container("hub"))["Id"]}


@ISOLATION
def test_servers_start_isolated_with_dockers_default_pools_used_up(
    stack, default_pools_used_up, mallory, bob, carols_network
):
    # The control: Docker itself has no network left for one made without a subnet...
    r = docker("network", "create", "--label", FILL_LABEL, f"{NETWORK}-fill-one-more", check=False)
    if not r.returncode:
        default_pools_used_up.append(f"{NETWORK}-fill-one-more")  # removed with the others
    assert r.returncode and NO_POOL_LEFT in r.stderr, (r.stdout, r.stderr)
    # ...yet mallory's and bob's servers run (and the attack above failed between them), each on a
    # /28 of the hub's pool of its own, apart from carol's.
    subnets = [ip_network(network_ipam(f"{NETWORK}-jupyter-{u}")["Subnet"]) for u in ("mallory", "bob")]
    subnets.append(ip_network(carols_network["Subnet"]))
    assert all(n.subnet_of(POOL) and n.prefixlen == 28 for n in subnets) and len(set(subnets)) == 3, subnets
    assert mallory.server()["ready"] and bob.server()["ready"]


# --- admins stay out of users' servers (ADMIN_ACCESS) --------------------------------------------

ADMIN_ACCESS = pytest.mark.reliability("admin access")


@ADMIN_ACCESS
@pytest.mark.parametrize("path", ["/api/contents", "/api/contents/work", "/api/kernels", "/api/status", "/lab"])
def test_an_admin_cannot_open_a_users_server(stack, admin, bob, path):
    me = admin.api("GET", "/user").json()
    assert "admin-ui" in me["scopes"] and "admin:servers" in me["scopes"], me  # an admin, by the hub-admin role
    r = requests.get(
        f"{stack.url}/user/bob{path}",
        headers={"Authorization": f"token {admin.token}"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert r.status_code == 403, (r.status_code, r.text[:300])
    r = admin.session.get(f"{stack.url}/user/bob{path}", timeout=TIMEOUT)  # the admin's browser, likewise
    assert r.status_code == 403, (r.status_code, r.url, r.text[:300])
    assert bob.user_server("GET", path).status_code == 200  # bob himself gets in


@ADMIN_ACCESS
@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/users/bob/tokens", {"note": "as bob"}),
        ("POST", "/users/bob/tokens", {"scopes": ["access:servers!user=bob"]}),
        ("POST", "/shares/bob/", {"user": ADMIN}),
    ],
    ids=["token-for-bob", "token-with-access", "share-of-bobs-server"],
)
def test_an_admin_cannot_give_themselves_a_way_in(stack, admin, bob, method, path, body):
    r = admin.api(method, path, json=body)
    assert r.status_code in (400, 403, 404), (r.status_code, r.text)
    assert "token" not in r.text or "token" not in r.json()


@ADMIN_ACCESS
def test_an_admin_still_uses_the_admin_page_and_stops_servers_and_the_network_goes(stack, admin, bob):
    assert admin.session.get(f"{stack.url}/hub/admin", timeout=TIMEOUT).status_code == 200
    assert {"bob", "carol", "peggy"} <= {u["name"] for u in admin.api("GET", "/users").json()}
    assert docker("network", "inspect", f"{NETWORK}-jupyter-bob", check=False).returncode == 0
    assert admin.api("DELETE", "/users/bob/server").status_code in (202, 204)
    wait_for(
        lambda: bob.server() is None and inspect("jupyter-bob") is None, timeout=60, message="bob's server stopped"
    )
    # bob's own network went with his server (the hub left it); the hub still answers.
    assert docker("network", "inspect", f"{NETWORK}-jupyter-bob", check=False).returncode != 0
    assert requests.get(f"{stack.url}/hub/health", timeout=TIMEOUT).status_code == 200


@ADMIN_ACCESS
def test_with_admin_access_on_an_admin_opens_a_users_server(stack, admin, carol):
    """The control, last in this module: the same admin token once the deployment sets ADMIN_ACCESS=true."""
    env = stack.dir / "pyiron.env"
    env.write_text(env.read_text() + "ADMIN_ACCESS='true'\n")
    stack.compose("up", "-d", "hub")  # recreated with the new variable (stopping users' servers)
    stack.wait_healthy("hub")
    carol.start(environment="pyiron_base")
    r = requests.get(
        f"{stack.url}/user/carol/api/contents",
        headers={"Authorization": f"token {admin.token}"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert r.status_code == 200, (r.status_code, r.text[:300])
