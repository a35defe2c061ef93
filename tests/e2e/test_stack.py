"""End to end: the built hub image under docker compose starts users' containers.

The tests share one stack (starting it costs most of the time); each runs alone as well
(`-k`): what one needs of another's work comes from a fixture.
Everything a user does goes through the hub's proxy; Docker is only asked afterwards to
confirm what the hub did (image, limits, networks, volumes).
"""

from __future__ import annotations

import json
import subprocess
import time
from ipaddress import ip_network

import pytest
import requests

from .conftest import (
    CPU_LIMIT,
    DB_PASSWORD,
    DOCKER,
    HUB_IMAGE,
    IMAGES,
    MEM_LIMIT,
    NETWORK,
    PREFIX,
    HubUser,
    container_limits,
    copy_build_context,
    docker,
    inspect,
)

PROOF = "work/written-in-pyiron_base.txt"


@pytest.fixture(scope="module")
def alice(stack):
    return HubUser(stack, "alice").login()


@pytest.fixture(scope="module")
def written() -> set[str]:
    """What this module's cases wrote into alice's files."""
    return set()


@pytest.fixture
def proof(alice, written):
    """PROOF in alice's files, written in pyiron_base (by that case, or here when it did not run)."""
    if PROOF not in written:
        alice.start(environment="pyiron_base")
        _write_proof(alice)
        alice.stop()
        written.add(PROOF)
    return PROOF


def _write_proof(user: HubUser) -> None:
    r = user.user_server("PUT", f"/api/contents/{PROOF}", json={"type": "file", "format": "text", "content": "kept"})
    assert r.status_code in (200, 201), r.text


def test_stack_comes_up_database_first_then_hub(stack):
    db, hub = inspect(stack.container("hub-db")), inspect(stack.container("hub"))
    assert db["State"]["Health"]["Status"] == "healthy"
    assert hub["State"]["Health"]["Status"] == "healthy"
    # compose started the hub only once the database was healthy
    assert hub["State"]["StartedAt"] > db["State"]["StartedAt"]
    r = requests.get(f"{stack.url}/hub/health", timeout=10)
    assert r.status_code == 200
    # Its proxy weighs more than users' servers on a busy CPU (it runs in the hub's container).
    assert hub["HostConfig"]["CpuShares"] == 4096
    # `-o pid,args` (the engine needs the pid): its ps may cut lines at 80 columns (seen in a full run), which
    # in ps -ef's layout fell inside the proxy's command line.
    assert "configurable-http-proxy" in docker("top", stack.container("hub"), "-o", "pid,args").stdout


def test_start_up_log_has_no_proxy_error(stack):
    # The health probe asked the proxy before the hub listened: ECONNREFUSED, then 404 until the
    # hub's route was added; now the probe asks the hub first and the proxy defaults to the hub.
    started = docker("logs", stack.container("hub"))
    log = started.stdout + started.stderr
    assert "JupyterHub is now running" in log
    assert [line for line in log.splitlines() if "[ConfigProxy] error" in line or "ECONNREFUSED" in line] == []


@pytest.mark.parametrize("environment", list(IMAGES))
def test_each_environment_starts_with_its_image_and_limits(stack, alice, environment, written, request):
    if environment != "pyiron_base":
        request.getfixturevalue("proof")
    server = alice.start(environment=environment)
    # what the user sent, plus the display name the admin page shows (never reused as input)
    assert server["user_options"] == {"environment": environment, "profile": environment.replace("_", " ")}
    memory, quota, period, image = container_limits("jupyter-alice")
    assert image == IMAGES[environment]
    assert memory == MEM_LIMIT
    assert quota == int(CPU_LIMIT * period) and period == 100_000
    assert inspect("jupyter-alice")["HostConfig"]["CpuShares"] == 512  # below the hub's 4096
    # The user's own server answers through the proxy.
    status = alice.user_server("GET", "/api/status")
    assert status.status_code == 200, status.text
    # The image's own examples (~/notebooks_<image>, as in the public pyiron images) are
    # visible next to the user's persistent work/.
    image_name = IMAGES[environment].split("/")[1].split(":")[0]
    listing = alice.user_server("GET", "/api/contents/").json()
    assert {"work", f"notebooks_{image_name}"} <= {item["name"] for item in listing["content"]}
    notebooks = alice.user_server("GET", f"/api/contents/notebooks_{image_name}").json()
    # The stand-ins name themselves in a README; the workflow image (images/workflow) is the
    # one an admin builds, with its example.
    example = "workflow_example.ipynb" if environment == "pyiron_workflow" else f"README-{image_name}.ipynb"
    assert example in {n["name"] for n in notebooks["content"]}
    if environment == "pyiron_base":
        _write_proof(alice)
        written.add(PROOF)
    else:
        # written in pyiron_base, still there after switching environments
        r = alice.user_server("GET", f"/api/contents/{PROOF}")
        assert r.status_code == 200 and r.json()["content"] == "kept", r.text
    alice.stop()


@pytest.mark.parametrize("environment", list(IMAGES))
def test_html_form_posted_with_the_pages_own_fields(stack, alice, environment):
    url = f"{stack.url}/hub/spawn/alice"
    page = alice.session.get(url)
    assert page.status_code == 200 and f'value="{environment}"' in page.text
    form = {"environment": environment, "mem_limit": "", "cpu_limit": ""}  # size fields left blank
    if environment == "pyiron_continuum":
        form.update(mem_limit="640M", cpu_limit="0.25")  # a size the user picked, below the maximum
    r = alice.session.post(url, params={"_xsrf": alice.xsrf}, data=form, allow_redirects=False)
    assert r.status_code == 302, (r.status_code, r.text[:300])
    alice.wait_ready()
    memory, quota, period, image = container_limits("jupyter-alice")
    assert image == IMAGES[environment]
    if environment == "pyiron_continuum":
        assert memory == 640 * 1024**2 and quota == period // 4
    else:
        assert memory == MEM_LIMIT and quota == int(CPU_LIMIT * period)
    assert alice.user_server("GET", "/api/status").status_code == 200
    alice.stop()


@pytest.mark.parametrize(
    "options",
    [
        {"image": "busybox:latest"},
        {"environment": "pyiron_base", "image": f"{PREFIX}/extra:latest"},
        {"environment": "no_such_environment"},
        {"environment": "pyiron_base", "mem_limit": "2G"},
        {"environment": "pyiron_base", "cpu_limit": "8"},
    ],
)
def test_forged_requests_are_refused_and_start_nothing(stack, alice, options):
    r = alice.api("POST", "/users/alice/server", json=options)
    assert r.status_code == 400, r.text
    assert alice.server() is None
    assert inspect("jupyter-alice") is None


def test_forged_form_is_refused(stack, alice):
    url = f"{stack.url}/hub/spawn/alice"
    xsrf = alice.xsrf
    r = alice.session.post(
        url, params={"_xsrf": xsrf}, data={"environment": "pyiron_base", "mem_limit": "64G"}, allow_redirects=False
    )
    assert r.status_code == 400
    assert "above the maximum" in r.text
    assert inspect("jupyter-alice") is None


def test_user_container_cannot_reach_database_or_docker(stack, alice):
    alice.start(environment="pyiron_base")
    info = inspect("jupyter-alice")
    # Its own network (ISOLATE_USERS), which the hub joined; not the users' network itself.
    assert list(info["NetworkSettings"]["Networks"]) == [f"{NETWORK}-jupyter-alice"]
    mine = json.loads(docker("network", "inspect", f"{NETWORK}-jupyter-alice").stdout)[0]
    assert inspect(stack.container("hub"))["Id"] in mine["Containers"]
    # A /28 of the hub's default USER_NETWORKS_POOL, not of Docker's default address pools.
    subnet = ip_network(mine["IPAM"]["Config"][0]["Subnet"])
    assert subnet.prefixlen == 28 and subnet.subnet_of(ip_network("172.16.0.0/16")), subnet
    db = inspect(stack.container("hub-db"))
    db_ips = [n["IPAddress"] for n in db["NetworkSettings"]["Networks"].values()]
    probe = (
        "import socket, sys, os\n"
        "out = []\n"
        f"for host in ['hub-db', *{db_ips!r}]:\n"
        "    try:\n"
        "        socket.create_connection((host, 5432), timeout=3).close(); out.append(host + ':open')\n"
        "    except OSError as e:\n"
        "        out.append(host + ':' + type(e).__name__)\n"
        "out.append('sock:' + str(os.path.exists('/var/run/docker.sock')))\n"
        "print(' '.join(out))\n"
    )
    # Docker is asked only to run the probe inside the user's container.
    result = docker("exec", "jupyter-alice", "python3", "-c", probe).stdout.split()
    assert not [r for r in result if r.endswith(":open")], result
    assert "sock:False" in result
    # ...while the hub on the same user network does answer.
    hub = docker(
        "exec",
        "jupyter-alice",
        "python3",
        "-c",
        "import urllib.request;print(urllib.request.urlopen('http://hub:8081/hub/api/').status)",
    )
    assert hub.stdout.strip() == "200"
    alice.stop()


def test_idle_culler_runs_as_a_managed_service_with_a_scoped_role(stack):
    admin = HubUser(stack, "admin").login()
    r = admin.api("GET", "/services/idle-culler")
    assert r.status_code == 200, r.text
    service = r.json()
    assert service["command"][-1] == "--timeout=3600" and service["pid"] > 0
    assert service["roles"] == ["idle-culler"]


@pytest.mark.reliability("secrets and isolation")
def test_hub_and_users_servers_run_with_least_privilege(stack, alice):
    hub = inspect(stack.container("hub"))["HostConfig"]
    assert hub["CapDrop"] == ["ALL"] and not hub["CapAdd"] and not hub["Privileged"]
    assert "no-new-privileges:true" in hub["SecurityOpt"]
    alice.start(environment="pyiron_base")
    user = inspect("jupyter-alice")
    assert "no-new-privileges:true" in user["HostConfig"]["SecurityOpt"] and not user["HostConfig"]["Privileged"]
    assert user["Config"]["User"] in ("1000", "jovyan", "1000:100")
    alice.stop()


def test_state_lives_in_postgres(stack, alice):
    r = docker(
        "exec",
        "-e",
        f"PGPASSWORD={DB_PASSWORD}",
        stack.container("hub-db"),
        "psql",
        "-h",
        "127.0.0.1",
        "-U",
        "hub",
        "-d",
        "jupyterhub",
        "-tAc",
        "SELECT name FROM users ORDER BY name",
    )
    assert "alice" in r.stdout.split(), r.stdout


def test_metrics_need_the_metrics_token_and_it_reads_nothing_else(stack, alice):
    token = docker("exec", stack.container("hub"), "cat", "/srv/jupyterhub/data/metrics_token").stdout.strip()
    metrics = f"{stack.url}/hub/metrics"
    r = requests.get(metrics, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200 and "jupyterhub_server_spawn_duration_seconds" in r.text, r.text[:300]
    assert requests.get(metrics, timeout=10).status_code == 403
    assert requests.get(metrics, headers={"Authorization": f"token {alice.token}"}, timeout=10).status_code == 403
    # The token is the metrics service's: no users, no servers.
    assert (
        requests.get(f"{stack.url}/hub/api/users", headers={"Authorization": f"token {token}"}, timeout=10).status_code
        == 403
    )


def test_files_survive_hub_restart_and_compose_down_up(stack, alice, proof):
    docker("restart", stack.container("hub"))
    stack.wait_healthy("hub")
    fresh = HubUser(stack, "alice").login()  # a new login: sessions survive, but be explicit
    fresh.start(environment="pyiron_experimental")
    r = fresh.user_server("GET", f"/api/contents/{PROOF}")
    assert r.status_code == 200 and r.json()["content"] == "kept"
    fresh.stop()

    stack.compose("down")  # volumes kept
    stack.up()
    again = HubUser(stack, "alice").login()
    again.start(environment="pyiron_atomistics")
    r = again.user_server("GET", f"/api/contents/{PROOF}")
    assert r.status_code == 200 and r.json()["content"] == "kept"
    again.stop()


def test_adding_an_environment(stack, tmp_path, record_property):
    """A fifth catalogue entry: rebuild the image (timed), recreate the hub, it is offered and spawns."""
    src = copy_build_context(tmp_path)
    catalogue = src / "pyiron_hub_config" / "environments.toml"
    catalogue.write_text(
        catalogue.read_text()
        + (
            '\n[[environments]]\nname = "pyiron_extra"\ndisplay_name = "pyiron extra <b>new</b>"\n'
            f'description = "Added by the end-to-end test."\nimage = "{PREFIX}/extra:latest"\n'
            'mem_limit = "768M"\ncpu_limit = 0.75\n'
        )
    )
    tag = f"{PREFIX}/hub:five-environments"
    began = time.monotonic()
    subprocess.run(
        [
            DOCKER,
            "build",
            "-q",
            "--secret",
            "id=ca,src=/etc/ssl/certs/ca-certificates.crt",
            "--build-arg",
            f"BASE_IMAGE={PREFIX}/debian:trixie",
            "-t",
            tag,
            str(src),
        ],
        check=True,
        capture_output=True,
        text=True,
        env={"DOCKER_BUILDKIT": "1", "PATH": "/usr/bin:/bin"},
    )
    rebuild = time.monotonic() - began
    record_property("rebuild_seconds", round(rebuild, 1))
    print(f"\nrebuild after adding an environment: {rebuild:.1f}s")

    stack.hub_image = tag
    try:
        stack.compose("up", "-d", "hub")
        stack.wait_healthy("hub")
        user = HubUser(stack, "alice").login()
        page = user.session.get(f"{stack.url}/hub/spawn/alice")
        assert 'value="pyiron_extra"' in page.text
        assert "pyiron extra &lt;b&gt;new&lt;/b&gt;" in page.text  # the catalogue's markup is escaped
        user.start(environment="pyiron_extra")
        memory, quota, period, image = container_limits("jupyter-alice")
        assert image == f"{PREFIX}/extra:latest"
        assert memory == 768 * 1024**2 and quota == int(0.75 * period)
        user.stop()
    finally:
        stack.hub_image = HUB_IMAGE
        stack.compose("up", "-d", "hub")
