"""End to end: the Docker API guard between the hub and the engine, as docker-compose.yml runs it.

The stack starts in the layout before the guard was the default (the hub holding the Docker
socket; tests/e2e/legacy/), a user saves a file, and the stack is upgraded the way README
"Upgrading to the guard by default" says: `up -d` of today's files. The hub then holds no
socket; the user's file is still there; she starts a server (its image looked up, the boot
volume written, SITE_RESOURCES_DIR checked at the hub's start and mounted read-only, a
network of its own) and stops it, all through the guard. Then whoever controls the hub
attacks: a script run in the hub's own container, with the hub's own Docker client
settings, asks the engine for what would make it root on the host, or reach into the
database, the backup service or anything else on the engine. Each attempt is answered 403
with its reason, nothing is created, and what the hub does itself still passes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from datetime import UTC, datetime, timedelta

import pytest

from .conftest import (
    DOCKER,
    HubUser,
    Stack,
    docker,
    inspect,
    local_registry,
    remove_user_containers_and_volumes,
    run,
    write_env_files,
)

pytestmark = pytest.mark.reliability("the Docker API guard")
USERS = ("guardann",)
ATTACK_LABEL = "org.pyiron-hub.test=guard-attack"

# Run by the hub container's own python: docker-py reads DOCKER_HOST (the guard) as the hub does.
ATTACKS = r"""
import io, json, socket, tarfile, docker
from docker.types import DriverConfig, Mount

api = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
hub = api.inspect_container(socket.gethostname())
image = hub["Image"]
labels = {"org.pyiron-hub.test": "guard-attack"}

def create(**host_config):
    return api.create_container(image, ["true"], labels=labels, host_config=api.create_host_config(**host_config))

def service(name):
    return api.containers(all=True, filters={"label": [f"com.docker.compose.service={name}",
                                                      "com.docker.compose.project=" + project]})[0]["Id"]

project = hub["Config"]["Labels"]["com.docker.compose.project"]
db, backup, guard = service("hub-db"), service("backup"), service("docker-guard")
backup_guard = service("backup-guard")
outsider = api.containers(all=True, filters={"label": "org.pyiron-hub.test=guard-outsider"})[0]["Id"]
tar = io.BytesIO()
with tarfile.open(fileobj=tar, mode="w") as t:
    # What would run as root with the socket in the backup service's next health check.
    payload = b"import os; os.system('touch /tmp/owned')\n"
    info = tarfile.TarInfo("evil.pth")
    info.size = len(payload)
    t.addfile(info, io.BytesIO(payload))
evil_tar = tar.getvalue()
net = api.create_network("guard-attack-net", driver="bridge", labels=labels)["Id"]  # the hub's own kind

def raw_create(body):
    return api._result(api._post_json(api._url("/containers/create"), data={"Image": image, "Labels": labels, **body}),
                       json=True)

attacks = {
    "archive into the backup": lambda: api.put_archive(backup, "/usr/local/lib", evil_tar),
    "archive into hub-db": lambda: api.put_archive(db, "/tmp", evil_tar),
    "archive read of hub-db": lambda: api.get_archive(db, "/var/lib/postgresql/data/pg_hba.conf"),
    "stop hub-db": lambda: api.stop(db, timeout=1),
    "remove the backup": lambda: api.remove_container(backup, force=True),
    "archive into the backup's guard": lambda: api.put_archive(backup_guard, "/tmp", evil_tar),
    "remove the backup's guard": lambda: api.remove_container(backup_guard, force=True),
    "start a container made outside": lambda: api.start(outsider),
    "remove a container made outside": lambda: api.remove_container(outsider, force=True),
    "top-level MaskedPaths": lambda: raw_create({"MaskedPaths": [], "ReadonlyPaths": []}),
    "top-level ReadonlyPaths": lambda: raw_create({"ReadonlyPaths": []}),
    "a field the guard does not know": lambda: raw_create({"HostConfig": {"Sysctls": {}}}),
    "Links to the guard": lambda: create(links={guard: "guard"}),
    "the guard's label forged": lambda: api.create_container(
        image, ["true"], labels={**labels, "org.pyiron-hub.guard.owner": "hub"}),
    "a bind-type volume made outside": lambda: create(mounts=[Mount("/host-etc", "guard-attack-etc")]),
    "a bind-type volume made outside, as a bind": lambda: create(binds=["guard-attack-etc:/host-etc"]),
    "the database's volume": lambda: create(mounts=[Mount("/pgdata", project + "_hub-db-data")]),
    "the hub's data volume, as a bind": lambda: create(binds=[project + "_hub-data:/data"]),
    "hub-db joined to a hub network": lambda: api.connect_container_to_network(db, net),
    "the hub's network joined to the database's": lambda: api.connect_container_to_network(
        hub["Id"], project + "_db"),
    "privileged": lambda: create(privileged=True),
    "bind of /": lambda: create(binds={"/": {"bind": "/host", "mode": "ro"}}),
    "bind of the socket": lambda: create(binds=["/var/run/docker.sock:/var/run/docker.sock"]),
    "CapAdd SYS_ADMIN": lambda: create(cap_add=["SYS_ADMIN"]),
    "host PID": lambda: create(pid_mode="host"),
    "host network": lambda: create(network_mode="host"),
    "seccomp unconfined": lambda: create(security_opt=["seccomp=unconfined"]),
    "lower-case privileged": lambda: api._result(api._post_json(
        api._url("/containers/create"), data={"Image": image, "Labels": labels, "HostConfig": {"privileged": True}}),
        json=True),
    "volume mount binding /": lambda: create(mounts=[Mount("/host", "guard-attack-root", driver_config=DriverConfig(
        "local", {"type": "none", "o": "bind", "device": "/"}))]),
    "local volume binding /": lambda: api.create_volume("guard-attack-root", driver="local", labels=labels,
                                                        driver_opts={"type": "none", "o": "bind", "device": "/"}),
    "exec create": lambda: api.exec_create(hub["Id"], ["id"]),
    "stop the guard": lambda: api.stop(guard),
    "pull over the guard's image": lambda: api.pull(hub["Config"]["Image"].split(":")[0], tag="evil"),
}
results = {}
for name, attack in attacks.items():
    try:
        attack()
        results[name] = [200, "passed"]
    except docker.errors.APIError as err:
        results[name] = [err.status_code, err.explanation]
# The control: a container as the hub makes them (a named volume, no capabilities), written
# into and read back as the boot volume's writer does (a tar streamed each way).
made = api.create_container(image, ["true"], labels=labels, host_config=api.create_host_config(
    mounts=[Mount("/data", "guard-control")], cap_drop=["ALL"], security_opt=["no-new-privileges:true"]))
content = b"written through the guard\n" * 40000
tar = io.BytesIO()
with tarfile.open(fileobj=tar, mode="w") as t:
    info = tarfile.TarInfo("control.txt")
    info.size = len(content)
    t.addfile(info, io.BytesIO(content))
api.put_archive(made["Id"], "/data", tar.getvalue())
stream, _ = api.get_archive(made["Id"], "/data/control.txt")
with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as t:
    read_back = t.extractfile("control.txt").read()
api.remove_container(made["Id"], v=True)
api.remove_volume("guard-control")
api.remove_network(net)
results["control"] = [201, read_back == content]
print(json.dumps(results))
"""


class GuardedStack(Stack):
    # The backup service is there to be attacked (its socket made it root on the host).
    files = ("docker-compose.yml", "compose.backup.yml")


LEGACY = ("tests/e2e/legacy/docker-compose.before-guard.yml", "tests/e2e/legacy/compose.backup.before-guard.yml")


def remove_attack_leftovers() -> None:
    """Whatever an attack that got through made (none, when the guard holds), and what the test made outside."""
    for cid in docker("ps", "-aq", "--filter", f"label={ATTACK_LABEL}").stdout.split():
        docker("rm", "-f", "-v", cid, check=False)
    docker("rm", "-f", OUTSIDER, check=False)
    docker("network", "rm", "guard-attack-net", check=False)
    docker("volume", "rm", "-f", "guard-attack-root", "guard-control", "guard-attack-etc", check=False)


OUTSIDER = "pyiron-hub-guard-outsider"
# A file saved before the upgrade, read back after it.
SAVED = "saved before the guard was the default\n"


@pytest.fixture(scope="module")
def probe_image(tmp_path_factory):
    """An image of one small layer in a registry on the loopback (Debian's docker-registry),
    not on the engine: the hub pulls it through the guard."""
    with local_registry(tmp_path_factory.mktemp("guard-registry")) as port:
        image = f"127.0.0.1:{port}/pyiron-hub-guard-probe:1"
        try:
            layer = io.BytesIO()
            with tarfile.open(fileobj=layer, mode="w") as tar:
                info = tarfile.TarInfo("probe.bin")
                info.size = 4_000_000
                tar.addfile(info, io.BytesIO(os.urandom(info.size)))
            subprocess.run([DOCKER, "import", "-", image], input=layer.getvalue(), capture_output=True, check=True)
            docker("push", image)
            docker("rmi", image)
            yield image
        finally:
            docker("rmi", image, check=False)


@pytest.fixture(scope="module")
def guarded(images, probe_image, tmp_path_factory):
    directory = tmp_path_factory.mktemp("compose-guard")
    site = tmp_path_factory.mktemp("site-resources")
    (site / "potentials.csv").write_text("element,potential\n")
    write_env_files(directory, users=USERS, SITE_RESOURCES_DIR=str(site), PYIRON_WORKFLOW=probe_image)
    # A backup service that idles (its first run half a day away) and a repository never made.
    first_run = (datetime.now(UTC) + timedelta(hours=12)).strftime("%H:%M")
    (directory / "backup.env").write_text(
        f"RESTIC_REPOSITORY='/nonexistent/repo'\nRESTIC_PASSWORD='x'\nBACKUP_AT='{first_run}'\n"
    )
    s = GuardedStack(directory, images, project="pyironhubguard", network="pyiron-hub-guard-users", users=USERS)
    legacy = GuardedStack(directory, images, project=s.project, network=s.network, users=USERS)
    legacy.files, legacy.port, legacy.url = LEGACY, s.port, s.url
    remove_user_containers_and_volumes(USERS)
    remove_attack_leftovers()
    s.compose("down", "-v", "--remove-orphans", check=False)
    try:
        # Yesterday's layout: the hub holds the socket. A user saves a file in her home.
        legacy.up()
        ann = HubUser(legacy, USERS[0]).login()
        ann.start()
        r = ann.user_server("PUT", "/api/contents/saved.txt", json={"type": "file", "format": "text", "content": SAVED})
        assert r.status_code in (200, 201), r.text
        # The upgrade, as README says: today's files, `up -d`.
        s.up()
        s.site = str(site)
    except BaseException:
        print(s.dump())
        s.compose("down", "-v", "--remove-orphans", check=False)
        raise
    yield s
    remove_user_containers_and_volumes(USERS)
    remove_attack_leftovers()
    s.compose("down", "-v", "--remove-orphans", check=False)


def test_the_upgrade_leaves_the_hub_without_the_socket_and_users_files_in_place(guarded):
    hub = inspect(guarded.container("hub"))
    assert not [m for m in hub["Mounts"] if m["Type"] == "bind"], "the hub holds no host path, the socket least"
    assert "DOCKER_HOST=tcp://docker-guard:2375" in hub["Config"]["Env"]
    assert guarded.health("docker-guard") == "healthy"
    guard = inspect(guarded.container("docker-guard"))
    assert [m["Source"] for m in guard["Mounts"] if m["Destination"] == "/var/run/docker.sock"] == [
        "/var/run/docker.sock"
    ]
    # The backup service held the socket too (the legacy overlay): now its own guard does, and
    # the backup reaches the database over a network of its own (docs/howto/upgrades.md).
    backup = inspect(guarded.container("backup"))
    assert not [m for m in backup["Mounts"] if m["Destination"] == "/var/run/docker.sock"]
    assert "DOCKER_HOST=tcp://backup-guard:2375" in backup["Config"]["Env"]
    assert guarded.health("backup-guard") == "healthy"
    assert [m["Source"] for m in inspect(guarded.container("backup-guard"))["Mounts"] if "docker.sock" in m["Source"]]
    assert f"{guarded.project}_backup-db" in inspect(guarded.container("hub-db"))["NetworkSettings"]["Networks"]
    # The hub stopped the user's server as it went (its default); her home is where it was.
    assert inspect(f"jupyter-{USERS[0]}") is None
    r = run(
        DOCKER,
        "run",
        "--rm",
        "-v",
        f"jupyterhub-home-{USERS[0]}:/h:ro",
        guarded.hub_image,
        "cat",
        "/h/saved.txt",
        check=False,
    )
    assert r.stdout == SAVED, r.stdout + r.stderr


def test_a_user_starts_and_stops_a_server_through_the_guard(guarded):
    ann = HubUser(guarded, USERS[0]).login()
    ann.start()
    server = inspect(f"jupyter-{USERS[0]}")
    assert server["Config"]["Labels"]["org.pyiron-hub.guard.owner"] == "hub"  # set by the guard
    mounts = {m["Destination"]: m for m in server["Mounts"]}
    assert mounts["/opt/pyiron-hub/site-resources"]["Source"] == guarded.site
    assert mounts["/opt/pyiron-hub/site-resources"]["RW"] is False
    assert mounts["/opt/pyiron-hub/boot"]["Name"].startswith("pyiron-hub-boot-")
    assert ann.user_server("GET", "/api/status").status_code == 200
    r = ann.user_server("GET", "/api/contents/saved.txt")
    assert r.status_code == 200 and r.json()["content"] == SAVED  # her file from before the upgrade
    # The usage report (volume sizes, the running server's stats) asks the engine through the guard too.
    usage = run(DOCKER, "exec", guarded.container("hub"), "pyiron-hub", "usage", check=False)
    assert usage.returncode == 0 and USERS[0] in usage.stdout, usage.stdout + usage.stderr
    # The hub writes into and reads from a user's server (her public key, boot.py's files).
    r = run(
        DOCKER,
        "exec",
        "-i",
        guarded.container("hub"),
        "python3",
        "-",
        input=ARCHIVE_INTO_SERVER.format(server=f"jupyter-{USERS[0]}"),
        check=False,
    )
    assert r.stdout.strip().splitlines()[-1:] == ["read back"], r.stdout + r.stderr
    ann.stop()
    assert inspect(f"pyiron-hub-guard-users-jupyter-{USERS[0]}") is None  # its own network went with it
    assert "refused" not in guarded.compose("logs", "--no-color", "docker-guard").stdout


ARCHIVE_INTO_SERVER = """
import io, tarfile, docker
api = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
tar = io.BytesIO()
with tarfile.open(fileobj=tar, mode="w") as t:
    info = tarfile.TarInfo("from-the-hub.txt")
    info.size = 5
    t.addfile(info, io.BytesIO(b"hello"))
api.put_archive("{server}", "/tmp", tar.getvalue())
stream, _ = api.get_archive("{server}", "/tmp/from-the-hub.txt")
with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as t:
    print("read back" if t.extractfile("from-the-hub.txt").read() == b"hello" else "wrong")
"""


def test_whoever_controls_the_hub_is_not_root_on_the_host(guarded):
    hub = guarded.container("hub")
    # Made outside the hub: a container never started, a volume that binds the host's /etc.
    docker("create", "--name", OUTSIDER, "--label", "org.pyiron-hub.test=guard-outsider", guarded.hub_image, "true")
    docker("volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", "device=/etc", "guard-attack-etc")
    db_before = inspect(guarded.container("hub-db"))["State"]
    r = run(DOCKER, "exec", "-i", hub, "python3", "-", input=ATTACKS, check=False)
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout.strip().splitlines()[-1])
    for name, (status, message) in results.items():
        print(f"{name:<28} {status}  {str(message)[:150]}")
    assert results.pop("control") == [201, True]  # the hub's kind of container still passes, and its archives
    got_through = {name: result for name, result in results.items() if result[0] != 403}
    assert got_through == {}
    for name, words in [
        ("archive into the backup", "not made by the hub"),
        ("archive into hub-db", "not made by the hub"),
        ("archive read of hub-db", "not made by the hub"),
        ("stop hub-db", "not made by the hub"),
        ("remove the backup", "not made by the hub"),
        ("archive into the backup's guard", "not made by the hub"),
        ("remove the backup's guard", "not made by the hub"),
        ("start a container made outside", "not made by the hub"),
        ("top-level MaskedPaths", "at the top"),
        ("top-level ReadonlyPaths", "ReadonlyPaths at the top"),
        ("a field the guard does not know", "does not know"),
        ("Links to the guard", "Links"),
        ("the guard's label forged", "only the guard sets it"),
        ("a bind-type volume made outside", "the volume guard-attack-etc has driver"),
        ("a bind-type volume made outside, as a bind", "the volume guard-attack-etc has driver"),
        ("the database's volume", "of the compose project or stack"),
        ("the hub's data volume, as a bind", "of the compose project or stack"),
        ("hub-db joined to a hub network", "joining the container"),
        ("the hub's network joined to the database's", "not made by the hub"),
        ("privileged", "Privileged"),
        ("bind of /", "binding the host path /"),
        ("CapAdd SYS_ADMIN", "CapAdd"),
        ("host PID", "pidmode"),
        ("exec create", "exec"),
        ("lower-case privileged", "Privileged"),
        ("local volume binding /", "driver options"),
        ("stop the guard", "own container"),
        ("pull over the guard's image", "own image"),
    ]:
        assert "docker-guard refused" in results[name][1] and words in results[name][1], (name, results[name])
    assert docker("ps", "-aq", "--filter", f"label={ATTACK_LABEL}").stdout.strip() == ""
    assert inspect("guard-attack-root") is None
    assert inspect(OUTSIDER)["State"]["Status"] == "created"
    assert inspect(guarded.container("hub-db"))["State"]["StartedAt"] == db_before["StartedAt"]
    assert inspect(guarded.container("backup")) is not None
    r = docker("exec", guarded.container("backup"), "ls", "/usr/local/lib/evil.pth", check=False)
    assert r.returncode != 0
    log = guarded.compose("logs", "--no-color", "docker-guard").stdout
    assert "refused POST /v1.41/containers/create: a privileged container" in log
    assert guarded.health("docker-guard") == "healthy"


def test_an_image_pull_streams_through_the_guard(guarded, probe_image):
    """The admin's `pyiron-hub pull --missing` in the hub: the engine's chunked stream of
    progress events reaches docker-py through the guard, and the image lands."""
    r = run(DOCKER, "exec", guarded.container("hub"), "pyiron-hub", "pull", "--missing", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"pulled {probe_image}" in r.stdout
    assert inspect(probe_image) is not None
