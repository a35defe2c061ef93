"""End to end: the Docker API guard (compose.guard.yml) between the hub and the engine.

The stack runs with the overlay, as README "Security notes" turns it on. The hub holds no
Docker socket; a user logs in, starts a server (its image looked up, the boot volume
written, SITE_RESOURCES_DIR checked at the hub's start and mounted read-only, a network of
its own) and stops it, all through the guard. Then whoever controls the hub attacks: a
script run in the hub's own container, with the hub's own Docker client settings, asks
the engine for what would make it root on the host. Each attempt is answered 403 with its
reason, nothing is created, and a container as the hub makes them still passes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile

import pytest

from .conftest import DOCKER, HubUser, Stack, docker, inspect, local_registry, remove_user_containers_and_volumes, run, \
    write_env_files

pytestmark = pytest.mark.reliability("the Docker API guard")
USERS = ("guardann",)
ATTACK_LABEL = "org.pyiron-hub.test=guard-attack"

# Run by the hub container's own python: docker-py reads DOCKER_HOST (the guard) as the hub does.
ATTACKS = r'''
import json, socket, docker
from docker.types import DriverConfig, Mount

api = docker.APIClient(version="auto", **docker.utils.kwargs_from_env())
hub = api.inspect_container(socket.gethostname())
image = hub["Image"]
guard = api.containers(filters={"label": "com.docker.compose.service=docker-guard"})[0]["Id"]
labels = {"org.pyiron-hub.test": "guard-attack"}

def create(**host_config):
    return api.create_container(image, ["true"], labels=labels, host_config=api.create_host_config(**host_config))

attacks = {
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
import io, tarfile
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
results["control"] = [201, read_back == content]
print(json.dumps(results))
'''


class GuardedStack(Stack):
    files = ("docker-compose.yml", "compose.guard.yml")


def remove_attack_leftovers() -> None:
    """Whatever an attack that got through made (none, when the guard holds)."""
    for cid in docker("ps", "-aq", "--filter", f"label={ATTACK_LABEL}").stdout.split():
        docker("rm", "-f", "-v", cid, check=False)
    docker("volume", "rm", "-f", "guard-attack-root", "guard-control", check=False)


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
    s = GuardedStack(directory, images, project="pyironhubguard", network="pyiron-hub-guard-users", users=USERS)
    remove_user_containers_and_volumes(USERS)
    s.compose("down", "-v", "--remove-orphans", check=False)
    s.up()
    s.site = str(site)
    yield s
    remove_user_containers_and_volumes(USERS)
    remove_attack_leftovers()
    s.compose("down", "-v", "--remove-orphans", check=False)


def test_a_user_starts_and_stops_a_server_through_the_guard(guarded):
    hub = inspect(guarded.container("hub"))
    assert not [m for m in hub["Mounts"] if m["Type"] == "bind"], "the hub holds no host path, the socket least"
    assert "DOCKER_HOST=tcp://docker-guard:2375" in hub["Config"]["Env"]
    ann = HubUser(guarded, USERS[0]).login()
    ann.start()
    server = inspect(f"jupyter-{USERS[0]}")
    mounts = {m["Destination"]: m for m in server["Mounts"]}
    assert mounts["/opt/pyiron-hub/site-resources"]["Source"] == guarded.site
    assert mounts["/opt/pyiron-hub/site-resources"]["RW"] is False
    assert mounts["/opt/pyiron-hub/boot"]["Name"].startswith("pyiron-hub-boot-")
    assert ann.user_server("GET", "/api/status").status_code == 200
    # The usage report (volume sizes, the running server's stats) asks the engine through the guard too.
    usage = run(DOCKER, "exec", guarded.container("hub"), "pyiron-hub", "usage", check=False)
    assert usage.returncode == 0 and USERS[0] in usage.stdout, usage.stdout + usage.stderr
    ann.stop()
    assert inspect(f"pyiron-hub-guard-users-jupyter-{USERS[0]}") is None  # its own network went with it
    assert "refused" not in guarded.compose("logs", "--no-color", "docker-guard").stdout


def test_whoever_controls_the_hub_is_not_root_on_the_host(guarded):
    hub = guarded.container("hub")
    r = run(DOCKER, "exec", "-i", hub, "python3", "-", input=ATTACKS, check=False)
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout.strip().splitlines()[-1])
    for name, (status, message) in results.items():
        print(f"{name:<28} {status}  {str(message)[:150]}")
    assert results.pop("control") == [201, True]  # the hub's kind of container still passes, and its archives
    got_through = {name: result for name, result in results.items() if result[0] != 403}
    assert got_through == {}
    for name, words in [("privileged", "Privileged"), ("bind of /", "binding the host path /"),
                        ("CapAdd SYS_ADMIN", "CapAdd"), ("host PID", "pidmode"), ("exec create", "exec"),
                        ("lower-case privileged", "Privileged"), ("local volume binding /", "driver options"),
                        ("stop the guard", "own container"), ("pull over the guard's image", "own image")]:
        assert "docker-guard refused" in results[name][1] and words in results[name][1], (name, results[name])
    assert docker("ps", "-aq", "--filter", f"label={ATTACK_LABEL}").stdout.strip() == ""
    assert inspect("guard-attack-root") is None
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
