"""Faults, and nothing lost: the hub killed, killed mid-spawn, Postgres and the Docker engine
restarted under it, and two spawns racing. Runs its own stack; the engine restart comes last
because it stops every container of the machine's default engine (and only that engine)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from .conftest import (
    REPO,
    HubUser,
    Stack,
    docker,
    inspect,
    remove_user_containers_and_volumes,
    wait_for,
    write_env_files,
)

pytestmark = pytest.mark.reliability("faults")

USERS = ("erin", "frank", "grace", "heidi")
PROJECT, NETWORK = "pyironhubfault", "pyiron-hub-fault-users"


@pytest.fixture(scope="module")
def stack(images, tmp_path_factory):
    directory = tmp_path_factory.mktemp("faults")
    # Servers kept across a hub restart (test_hub_restarted_...); a killed hub keeps them anyway.
    write_env_files(directory, users=USERS, KEEP_SERVERS_ON_HUB_STOP="true")
    s = Stack(directory, images, project=PROJECT, network=NETWORK, users=USERS)
    remove_user_containers_and_volumes(USERS)  # first: servers left running hold its network
    s.compose("down", "-v", "--remove-orphans", check=False)
    s.up()
    yield s
    remove_user_containers_and_volumes(USERS)  # first: servers left running hold its network
    s.compose("down", "-v", "--remove-orphans", check=False)


def _write(user: HubUser, name: str, text: str) -> None:
    r = user.user_server("PUT", f"/api/contents/work/{name}", json={"type": "file", "format": "text", "content": text})
    assert r.status_code in (200, 201), r.text


def _read(user: HubUser, name: str) -> str:
    r = user.user_server("GET", f"/api/contents/work/{name}")
    assert r.status_code == 200, r.text
    return r.json()["content"]


def engine_pid(socket: str = "/var/run/docker.sock") -> int:
    """The pid of the dockerd listening on this socket: the engine these tests drive.

    By the socket, not by the name: other engines run on the same machine (the swarm suite's
    nodes, a developer's own), and `pkill -x dockerd` would end them all.
    """
    listening = {  # /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path; flag 00010000 = listening
        f"socket:[{fields[6]}]"
        for fields in (line.split() for line in Path("/proc/net/unix").read_text().splitlines()[1:])
        if len(fields) == 8 and fields[7] == socket and int(fields[3], 16) & 0x10000
    }
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            if os.readlink(fd) in listening and Path(f"/proc/{fd.parts[2]}/comm").read_text().strip() == "dockerd":
                return int(fd.parts[2])
        except OSError:  # a process or fd that ended meanwhile
            continue
    raise RuntimeError(f"no dockerd listens on {socket}")


def _ended(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def _restart_hub_after_kill(stack: Stack) -> None:
    docker("kill", stack.container("hub"))
    stack.compose("up", "-d", "hub")  # what an admin (or a restart policy) does next
    stack.wait_healthy("hub")


def test_hub_killed_while_servers_run_keeps_them_and_their_files(stack):
    users = [HubUser(stack, name).login() for name in ("erin", "frank")]
    before = {}
    for user in users:
        user.start(environment="pyiron_base")
        _write(user, "before-kill.txt", f"{user.name} was here")
        before[user.name] = inspect(f"jupyter-{user.name}")["Id"]

    _restart_hub_after_kill(stack)

    for user in users:
        server = user.server()
        assert server and server["ready"], server  # the hub still knows the server
        assert inspect(f"jupyter-{user.name}")["Id"] == before[user.name]  # the very same container
        assert user.user_server("GET", "/api/status").status_code == 200  # routed by the new proxy
        assert _read(user, "before-kill.txt") == f"{user.name} was here"
        user.stop()


def test_hub_restarted_with_servers_kept_routes_them_again(stack):
    # KEEP_SERVERS_ON_HUB_STOP=true: `docker restart` (a graceful stop) leaves servers running.
    user = HubUser(stack, "grace").login()
    user.start(environment="pyiron_base")
    _write(user, "before-restart.txt", "kept")
    before = inspect("jupyter-grace")["Id"]
    docker("restart", stack.container("hub"))
    stack.wait_healthy("hub")
    server = user.server()
    assert server and server["ready"], server
    assert inspect("jupyter-grace")["Id"] == before and inspect("jupyter-grace")["State"]["Running"]
    assert user.user_server("GET", "/api/status").status_code == 200
    assert _read(user, "before-restart.txt") == "kept"
    user.stop()


def test_hub_killed_mid_spawn_leaves_no_orphan_and_the_user_can_start_again(stack):
    grace = HubUser(stack, "grace").login()
    r = grace.api("POST", "/users/grace/server", json={"environment": "pyiron_atomistics"})
    assert r.status_code in (201, 202), r.text
    # Kill the hub as soon as Docker has the container, before the server is ready.
    wait_for(lambda: inspect("jupyter-grace"), timeout=60, interval=0.1, message="grace's container")
    docker("kill", stack.container("hub"))
    stack.compose("up", "-d", "hub")
    stack.wait_healthy("hub")

    server = grace.server()
    container = inspect("jupyter-grace")
    running = bool(container and container["State"]["Running"])
    # Either the hub knows the server (and it runs), or no container of grace's runs.
    assert (server is not None) == running, (server, container and container["State"])
    if server is not None:
        grace.stop()
    started = grace.start(environment="pyiron_atomistics")
    assert started["ready"]
    assert inspect("jupyter-grace")["Config"]["Image"].endswith("/pyiron:latest")
    grace.stop()


def test_postgres_restarted_under_the_hub_first_login_works(stack):
    # JupyterHub's one ORM session would keep the connection the restart breaks; the hub
    # gives it back to the pool between requests (db_sessions.py), where it is checked.
    HubUser(stack, "erin").login()
    docker("restart", stack.container("hub-db"))
    stack.wait_healthy("hub-db")
    HubUser(stack, "erin").login()  # the very first request after the restart


def test_postgres_restarted_under_the_hub_recovers_by_itself(stack):
    docker("restart", stack.container("hub-db"))
    stack.wait_healthy("hub-db")
    # The hub heals itself, nobody restarts it, and nothing is lost: the first request gets
    # its answer (not HTTP 500), logins and spawns work.
    probe = requests.get(f"{stack.url}/hub/api/user", headers={"Authorization": "token not-a-token"}, timeout=30)
    assert probe.status_code == 403
    erin = HubUser(stack, "erin").login()
    erin.start(environment="pyiron_atomistics")
    assert erin.user_server("GET", "/api/status").status_code == 200
    erin.stop()
    assert inspect(stack.container("hub"))["RestartCount"] == 0


def test_two_spawns_at_once_give_one_server(stack):
    heidi = HubUser(stack, "heidi").login()
    codes = []

    def spawn():
        codes.append(heidi.api("POST", "/users/heidi/server", json={"environment": "pyiron_base"}).status_code)

    threads = [threading.Thread(target=spawn) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(codes)[0] in (201, 202) and all(c in (201, 202, 400) for c in codes), codes
    heidi.wait_ready()
    mine = docker("ps", "-a", "--filter", "name=^/jupyter-heidi$", "--format", "{{.ID}}").stdout.split()
    assert len(mine) == 1
    heidi.stop()


def test_docker_engine_restarted_the_hub_recovers_and_tells_the_truth(stack):
    frank = HubUser(stack, "frank").login()
    frank.start(environment="pyiron_atomistics")
    _write(frank, "before-engine-restart.txt", "kept")

    # Stop the engine (every container stops with it) and start it again as CI does.
    pid = engine_pid()
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: _ended(pid), timeout=120, interval=1, message="the engine to stop")
    wait_for(
        lambda: (
            subprocess.run([str(REPO / "scripts/ensure-docker.sh")], capture_output=True).returncode == 0
            and docker("info", check=False).returncode == 0
        ),
        timeout=120,
        interval=2,
        message="docker engine back",
    )
    # restart: unless-stopped brings Postgres and the hub back by themselves.
    stack.wait_healthy("hub-db", timeout=180)
    stack.wait_healthy("hub", timeout=180)

    # The user's container did not come back, and the hub says so instead of pretending.
    container = inspect("jupyter-frank")
    assert not (container and container["State"]["Running"])
    frank = HubUser(stack, "frank").login()
    assert wait_for(lambda: frank.server() is None, timeout=60, message="hub to notice the server is gone")
    # Starting again works, and the file written before is there.
    frank.start(environment="pyiron_atomistics")
    assert _read(frank, "before-engine-restart.txt") == "kept"
    frank.stop()
