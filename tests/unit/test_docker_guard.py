"""The Docker API guard's policy (docker_guard.py): what the hub sends passes, attacks do not.

The hub's requests are built here as docker-py serializes them, from the hub's own
arguments (apply_spawner's host config, storage.py's mounts, boot_file.py's writer). The
real engine behind the real guard is in tests/e2e/test_docker_guard.py.
"""

from __future__ import annotations

import asyncio
import json
from ipaddress import IPv4Network
from pathlib import Path
from types import SimpleNamespace

import docker
import pytest
from docker.types import Mount
from traitlets.config import Config

from pyiron_hub_config.apply import apply_spawner
from pyiron_hub_config.boot_file import BOOT_DIR, LABEL
from pyiron_hub_config.docker_guard.guard import (
    OWNER_LABEL,
    BindRule,
    Policy,
    Refused,
    check_host_bind,
    check_owned,
    check_request,
    check_volumes,
    guard_settings,
    load_guard_settings,
    main,
    mark_owned,
    names_own_container,
    own_container_id,
    repository,
)
from pyiron_hub_config.hub_config import load_hub_config
from pyiron_hub_config.problems import ConfigError
from pyiron_hub_config.storage import SITE_RESOURCES_MOUNT, server_mounts, user_volumes
from pyiron_hub_config.user_networks import UserNetworks

from .helpers import guard_before_engine

SITE = "/srv/pyiron/resources"
GUARD_ID = "4f2a0c9e1b7d" + "0" * 52
POLICY = Policy(
    binds=(BindRule(SITE),),
    own_container=GUARD_ID,
    own_name="/pyiron-hub-docker-guard-1",
    own_repositories=frozenset({repository("pyiron-hub:latest")}),
)
API = docker.APIClient(base_url="tcp://127.0.0.1:1", version="1.41")  # builds bodies, never connects


def container_body(image="pyiron/base:latest", command=None, **host_config) -> dict:
    """A container create's body as docker-py sends it."""
    return json.loads(
        json.dumps(API.create_container_config(image, command, host_config=API.create_host_config(**host_config)))
    )


def spawner_body(minimal_env) -> dict:
    """What DockerSpawner.create_object sends for a user's server, with the hub's own settings."""
    c = Config()
    apply_spawner(c, load_hub_config({**minimal_env, "SITE_RESOURCES_DIR": SITE}, check_paths=False))
    sp = c.PyironSpawner
    mounts = [
        *server_mounts("sha256:" + "ab" * 32, SITE),
        {"type": "volume", "source": "pyiron-hub-boot-0123456789ab", "target": BOOT_DIR, "read_only": True},
    ]
    host_config = dict(
        auto_remove=True,
        links={},
        mem_limit=1 << 30,
        cpu_period=100_000,
        cpu_quota=100_000,
        binds={
            name.format(username="alice"): {"bind": target, "mode": "rw"} for name, target in user_volumes().items()
        },
        mounts=[Mount(**m) for m in mounts],
        network_mode="pyiron-hub-users-jupyter-alice",
    )
    host_config.update(sp.extra_host_config)  # merged over DockerSpawner's own, as it does
    body = container_body(command=sp.cmd, **host_config)
    body.update(Labels=sp.extra_create_kwargs["labels"], Env=["JUPYTERHUB_API_TOKEN=x"], ExposedPorts={"8888/tcp": {}})
    return body


def refused(method, path, body=None, query=None, policy=POLICY) -> str:
    with pytest.raises(Refused) as err:
        check_request(policy, method, path, query, body)
    return str(err.value)


# --- The hub's own calls pass -----------------------------------------------------------------


def test_a_users_server_as_the_hub_creates_it_passes(minimal_env):
    body = spawner_body(minimal_env)
    assert body["HostConfig"]["SecurityOpt"] == ["no-new-privileges:true"]  # the hub's settings are in it
    assert not body["HostConfig"].get("AutoRemove")  # an ended server stays until the hub reads why
    assert any(m["Type"] == "bind" and m["Source"] == SITE for m in body["HostConfig"]["Mounts"])
    check_request(POLICY, "POST", "/v1.41/containers/create", {"name": ["jupyter-alice"]}, body)


class SentNetworks(UserNetworks):
    """The users' networks layer on docker-py's real client, whose creates are kept, not sent."""

    client = None


def users_network_create_body() -> dict:
    sent = []

    class Client(docker.APIClient):
        def networks(self, *args, **kw):  # the engine has one network in the pool already
            return [{"Name": "bob's", "IPAM": {"Config": [{"Subnet": "172.16.0.0/28"}]}}]

        def _post_json(self, url, data, **kw):
            sent.append(json.loads(json.dumps(data)))
            return SimpleNamespace()

        def _result(self, response, json=False, binary=False):
            return {}

    spawner = SentNetworks(user=SimpleNamespace(name="alice"), users_network="pyiron-hub-users")
    spawner.client = Client(base_url="tcp://127.0.0.1:1", version="1.41")
    spawner._create_network_sync("pyiron-hub-users-jupyter-alice")
    (body,) = sent
    return body


def test_a_users_network_as_the_hub_creates_it_passes():
    body = users_network_create_body()
    assert body["IPAM"]["Config"][0]["Subnet"] == "172.16.0.16/28"  # a subnet of the hub's own choosing
    check_request(POLICY, "POST", "/v1.41/networks/create", None, body)


def test_the_volume_writer_and_the_site_resources_check_pass():
    writer = container_body("pyiron-hub:latest", ["true"], mounts=[Mount(BOOT_DIR, "pyiron-hub-boot-0123")])
    writer.update(Labels={LABEL: "writer"}, NetworkDisabled=True)
    check_request(POLICY, "POST", "/v1.41/containers/create", None, writer)
    check = container_body(
        "pyiron-hub:latest", ["true"], mounts=[Mount(SITE_RESOURCES_MOUNT, SITE, type="bind", read_only=True)]
    )
    check_request(POLICY, "POST", "/v1.41/containers/create", None, check)


@pytest.mark.parametrize(
    "method, path, query, body",
    [
        ("HEAD", "/_ping", None, None),
        ("GET", "/version", None, None),
        ("GET", "/v1.41/system/df", None, None),
        ("GET", "/v1.41/containers/json", {"filters": ['{"name": ["^jupyter-"]}']}, None),
        ("GET", "/v1.41/containers/jupyter-alice/json", None, None),
        ("GET", "/v1.41/containers/jupyter-alice/stats", {"stream": ["0"]}, None),
        ("POST", "/v1.41/containers/jupyter-alice/start", None, None),
        ("POST", "/v1.41/containers/jupyter-alice/stop", {"t": ["10"]}, None),
        ("DELETE", "/v1.41/containers/0123abcd", {"v": ["1"], "force": ["1"]}, None),
        ("GET", "/v1.41/containers/jupyter-alice/archive", {"path": ["/home/jovyan/.ssh/id_ed25519.pub"]}, None),
        ("PUT", "/v1.41/containers/0123abcd/archive", {"path": [BOOT_DIR]}, None),
        ("GET", "/v1.41/images/pyiron/base:latest/json", None, None),
        ("GET", "/v1.41/images/json", {"only_ids": ["1"]}, None),
        ("POST", "/v1.41/images/create", {"fromImage": ["pyiron/base"], "tag": ["latest"]}, None),
        ("GET", "/v1.41/volumes/pyiron-hub-boot-0123", None, None),
        (
            "POST",
            "/v1.41/volumes/create",
            None,
            {"Name": "pyiron-hub-boot-0123", "Driver": None, "DriverOpts": None, "Labels": {LABEL: "1"}},
        ),
        ("DELETE", "/v1.41/volumes/pyiron-hub-image-0123", None, None),
        ("GET", "/v1.41/networks/pyiron-hub-users", None, None),
        (
            "POST",
            "/v1.41/networks/create",
            None,
            {
                "Name": "pyiron-hub-users-jupyter-alice",
                "Driver": "bridge",
                "Options": None,
                "IPAM": None,
                "CheckDuplicate": True,
                "Labels": {"org.pyiron-hub.user-network": "alice"},
            },
        ),
        (
            "POST",
            "/v1.41/networks/pyiron-hub-users-jupyter-alice/connect",
            None,
            {"Container": "0123abcd", "EndpointConfig": {"Aliases": ["hub"]}},
        ),
        (
            "POST",
            "/v1.41/networks/pyiron-hub-users-jupyter-alice/disconnect",
            None,
            {"Container": "0123abcd", "Force": True},
        ),
        ("DELETE", "/v1.41/networks/pyiron-hub-users-jupyter-alice", None, None),
    ],
)
def test_the_hubs_other_calls_pass(method, path, query, body):
    check_request(POLICY, method, path, query, body)


# --- Containers that would give the host away are refused -------------------------------------


@pytest.mark.parametrize(
    "host_config, words",
    [
        ({"privileged": True}, "Privileged"),
        ({"binds": ["/:/host"]}, "binding the host path /"),
        ({"binds": ["/var/run/docker.sock:/var/run/docker.sock"]}, "/var/run/docker.sock"),
        ({"binds": [f"{SITE}/../..:/x:ro"]}, "binding the host path"),
        ({"binds": [f"{SITE}:/x"]}, "only read-only"),
        ({"binds": [f"{SITE}:/x:rw"]}, "only read-only"),
        ({"binds": [f"{SITE}:/x:ro,rshared"]}, "only read-only"),
        ({"mounts": [Mount("/host", "/", type="bind", read_only=True)]}, "binding the host path /"),
        ({"mounts": [Mount("/x", SITE, type="bind")]}, "writable"),
        ({"mounts": [Mount("/x", SITE, type="bind", read_only=True, propagation="rshared")]}, "BindOptions"),
        (
            {
                "mounts": [
                    Mount(
                        "/host",
                        "evil",
                        driver_config=docker.types.DriverConfig("local", {"type": "none", "o": "bind", "device": "/"}),
                    )
                ]
            },
            "driver configuration",
        ),
        ({"mounts": [Mount("/x", "", type="tmpfs")]}, "tmpfs"),
        ({"cap_add": ["SYS_ADMIN"]}, "CapAdd"),
        ({"devices": ["/dev/sda:/dev/sda:rwm"]}, "devices"),
        ({"device_requests": [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]}, "devicerequests"),
        ({"pid_mode": "host"}, "pidmode"),
        ({"pid_mode": "container:jupyter-bob"}, "pidmode"),
        ({"ipc_mode": "host"}, "ipcmode"),
        ({"network_mode": "host"}, "NetworkMode"),
        ({"network_mode": "container:pyiron-hub-hub-1"}, "NetworkMode"),
        ({"userns_mode": "host"}, "usernsmode"),
        ({"uts_mode": "host"}, "utsmode"),
        ({"cgroupns": "host"}, "cgroupnsmode"),
        ({"security_opt": ["seccomp=unconfined"]}, "SecurityOpt"),
        ({"security_opt": ["apparmor=unconfined"]}, "SecurityOpt"),
        ({"security_opt": ["label=disable"]}, "SecurityOpt"),
        ({"security_opt": ["systempaths=unconfined"]}, "SecurityOpt"),
        ({"volumes_from": ["pyiron-hub-docker-guard-1"]}, "VolumesFrom"),
        ({"sysctls": {"net.ipv4.ip_forward": "1"}}, "sysctls"),
        ({"cgroup_parent": "/"}, "cgroupparent"),
        ({"runtime": "runsc-unsafe"}, "runtime"),
        ({"port_bindings": {22: ("0.0.0.0", 22)}}, "portbindings"),  # the hub reaches servers by their address
    ],
)
def test_a_container_that_reaches_the_host_is_refused(host_config, words):
    assert words in refused("POST", "/v1.41/containers/create", container_body(**host_config))


@pytest.mark.parametrize("host_config", [{"MaskedPaths": []}, {"ReadonlyPaths": []}])
def test_unmasking_procs_host_files_is_refused(host_config):
    assert "masked" in refused("POST", "/containers/create", {"Image": "x", "HostConfig": host_config})


@pytest.mark.parametrize(
    "body, words",
    [
        # Go's encoding/json matches field names without regard to case.
        ({"Image": "x", "HostConfig": {"privileged": True}}, "Privileged"),
        ({"Image": "x", "hostconfig": {"Binds": ["/:/host"]}}, "binding the host path /"),
        ({"Image": "x", "HostConfig": {"Privileged": False, "PRIVILEGED": True}}, "twice"),
        ({"Image": "x", "HostConfig": {"Capadd": ["ALL"]}}, "CapAdd"),
        # U+212A KELVIN SIGN folds to k in Go: 'Lin\u212as' would be Links, and so on.
        ({"Image": "x", "HostConfig": {"Bind\u017f": ["/:/host"]}}, "non-ASCII"),
        # Without a HostConfig the engine reads its fields at the top level (the deprecated form).
        ({"Image": "x", "Privileged": True}, "deprecated"),
        ({"Image": "x", "Binds": ["/:/host"]}, "deprecated"),
        ("not an object", "not an object"),
        (
            {"Image": "x", "HostConfig": {"Mounts": [{"Type": "volume", "Source": "/etc", "Target": "/x"}]}},
            "no volume's name",
        ),
        ({"Image": "x", "NetworkingConfig": {"EndpointsConfig": {"host": {}}}}, "'host'"),
    ],
)
def test_spellings_the_engine_reads_as_the_same_are_refused(body, words):
    assert words in refused("POST", "/v1.41/containers/create", body)


@pytest.mark.parametrize(
    "body, words",
    [
        # What `--security-opt systempaths=unconfined` sends, in the deprecated top-level form:
        # empty lists, which unmask /proc/sys and /proc/sysrq-trigger.
        ({"Image": "x", "MaskedPaths": []}, "MaskedPaths at the top"),
        ({"Image": "x", "ReadonlyPaths": []}, "ReadonlyPaths at the top"),
        ({"Image": "x", "maskedpaths": [], "readonlypaths": []}, "at the top"),
        ({"Image": "x", "Links": ["pyiron-hub-docker-guard-1:guard"]}, "Links at the top"),
        ({"Image": "x", "SomethingNew": False}, "does not know"),
        ({"Image": "x", "HostConfig": {"SomethingNew": {}}}, "does not know"),
        ({"Image": "x", "HostConfig": {"Sysctls": {}}}, "does not know"),
        ({"Image": "x", "HostConfig": {"Links": ["/pyiron-hub-docker-guard-1:/jupyter-alice/guard"]}}, "Links"),
        ({"Image": "x", "Labels": {OWNER_LABEL: "hub"}}, "only the guard sets it"),
        ({"Image": "x", "Labels": {OWNER_LABEL.upper() + " ": "hub"}}, "only the guard sets it"),
    ],
)
def test_fields_the_guard_does_not_know_or_the_hub_never_sends_are_refused_even_empty(body, words):
    assert words in refused("POST", "/v1.41/containers/create", body)


def test_null_is_unset_to_the_engine_and_passes():
    check_request(
        POLICY,
        "POST",
        "/v1.41/containers/create",
        None,
        {"Image": "x", "MaskedPaths": None, "HostConfig": {"Links": None, "Sysctls": None}},
    )


def test_the_guard_labels_what_the_hub_creates_under_the_spelling_of_the_body():
    assert mark_owned(POLICY, {"Image": "x", "labels": {"a": "b"}}) == {
        "Image": "x",
        "labels": {"a": "b", OWNER_LABEL: "hub"},
    }
    assert mark_owned(POLICY, {"Name": "n"})["Labels"] == {OWNER_LABEL: "hub"}
    assert "only the guard" in refused("POST", "/networks/create", {"Name": "n", "Labels": {OWNER_LABEL: "hub"}})


# --- What the hub made: asked of the engine ---------------------------------------------------

HUB_NETWORK = "pyiron-hub-users"
ENGINE = {
    ("container", "jupyter-alice"): {
        "Id": "a" * 64,
        "Name": "/jupyter-alice",
        "Config": {"Labels": {OWNER_LABEL: "hub", "org.pyiron-hub.server": "true"}},
        "NetworkSettings": {"Networks": {HUB_NETWORK: {}}},
    },
    ("container", "pyiron-hub-hub-db-1"): {
        "Id": "d" * 64,
        "Name": "/pyiron-hub-hub-db-1",
        "Config": {"Labels": {"com.docker.compose.service": "hub-db"}},
        "NetworkSettings": {"Networks": {"pyiron-hub_db": {}}},
    },
    # Made by someone else with the label another guard sets (the backup's): not the hub's.
    ("container", "worker"): {
        "Id": "w" * 64,
        "Name": "/worker",
        "Config": {"Labels": {OWNER_LABEL: "backup"}},
        "NetworkSettings": {"Networks": {}},
    },
    ("container", "pyiron-hub-hub-1"): {
        "Id": "h" * 64,
        "Name": "/pyiron-hub-hub-1",
        "Config": {"Labels": {"com.docker.compose.service": "hub"}},
        "NetworkSettings": {"Networks": {HUB_NETWORK: {}, "pyiron-hub_db": {}}},
    },
    ("network", "pyiron-hub-users-jupyter-alice"): {
        "Id": "n" * 64,
        "Name": "pyiron-hub-users-jupyter-alice",
        "Labels": {OWNER_LABEL: "hub"},
    },
    ("network", "pyiron-hub-users-jupyter-old"): {
        "Id": "o" * 64,
        "Name": "pyiron-hub-users-jupyter-old",
        "Labels": {"org.pyiron-hub.user-network": "old"},
    },
    ("network", "pyiron-hub_db"): {"Id": "b" * 64, "Name": "pyiron-hub_db", "Labels": {}},
    ("volume", "etc"): {"Name": "etc", "Driver": "local", "Options": {"type": "none", "o": "bind", "device": "/etc"}},
    ("volume", "plain"): {"Name": "plain", "Driver": "local", "Options": None},
    # docker-compose.yml's, as compose makes it; a stack's carries com.docker.stack.namespace.
    ("volume", "pyiron-hub_hub-db-data"): {
        "Name": "pyiron-hub_hub-db-data",
        "Driver": "local",
        "Options": None,
        "Labels": {"com.docker.compose.project": "pyiron-hub", "com.docker.compose.volume": "hub-db-data"},
    },
    ("volume", "pyiron-hub_hub-data"): {
        "Name": "pyiron-hub_hub-data",
        "Driver": "local",
        "Options": {},
        "Labels": {"com.docker.stack.namespace": "pyiron-hub"},
    },
}
OWNED = Policy(users_network=HUB_NETWORK)


def owned(method, path, body=None) -> str:
    async def inspect(kind, name):
        return ENGINE.get((kind, name))

    route = check_request(OWNED, method, path, None, body)
    return asyncio.run(check_owned(OWNED, route, path, body, inspect))


def refused_owned(method, path, body=None) -> str:
    with pytest.raises(Refused) as err:
        owned(method, path, body)
    return str(err.value)


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/v1.41/containers/pyiron-hub-hub-db-1/start"),
        ("POST", "/v1.41/containers/pyiron-hub-hub-db-1/stop"),
        ("DELETE", "/v1.41/containers/pyiron-hub-hub-db-1"),
        ("PUT", "/v1.41/containers/pyiron-hub-hub-db-1/archive"),
        ("GET", "/v1.41/containers/pyiron-hub-hub-db-1/archive"),
        ("HEAD", "/v1.41/containers/pyiron-hub-hub-db-1/archive"),
        ("PUT", "/v1.41/containers/worker/archive"),
        ("DELETE", "/v1.41/containers/pyiron-hub-hub-1"),
    ],
)
def test_the_hub_touches_no_container_it_did_not_make(method, path):
    assert "was not made by the hub" in refused_owned(method, path)


def test_the_hubs_own_containers_pass_named_by_the_id_that_was_checked():
    assert owned("PUT", "/v1.41/containers/jupyter-alice/archive") == f"/containers/{'a' * 64}/archive"
    assert owned("DELETE", "/containers/jupyter-alice") == f"/containers/{'a' * 64}"
    assert owned("POST", "/containers/gone/stop") == "/containers/gone/stop"  # the engine answers 404 itself


@pytest.mark.parametrize(
    "path, body, words",
    [
        # The database joined into a user's network would be reachable from the user's server.
        (
            "/networks/pyiron-hub-users-jupyter-alice/connect",
            {"Container": "pyiron-hub-hub-db-1"},
            "joining the container",
        ),
        ("/networks/pyiron-hub_db/connect", {"Container": "jupyter-alice"}, "was not made by the hub"),
        ("/networks/pyiron-hub_db/disconnect", {"Container": "pyiron-hub-hub-db-1"}, "was not made by the hub"),
        ("/networks/pyiron-hub_db", None, "was not made by the hub"),
    ],
)
def test_the_hub_joins_containers_only_to_its_networks_and_only_its_own_or_the_users_networks(path, body, words):
    assert words in refused_owned("DELETE" if body is None else "POST", "/v1.41" + path, body)


def test_the_hub_and_its_servers_join_its_networks():
    net = "/networks/pyiron-hub-users-jupyter-alice"
    assert owned("POST", f"/v1.41{net}/connect", {"Container": "pyiron-hub-hub-1"}) == f"/networks/{'n' * 64}/connect"
    assert owned("POST", f"/v1.41{net}/connect", {"Container": "jupyter-alice"}).endswith("/connect")
    assert owned(
        "POST", "/networks/pyiron-hub-users-jupyter-old/disconnect", {"Container": "jupyter-alice", "Force": True}
    )
    assert owned("DELETE", net) == f"/networks/{'n' * 64}"


def volumes_checked(body, policy=OWNED):
    async def inspect(kind, name):
        return ENGINE.get((kind, name))

    return asyncio.run(check_volumes(policy, body, inspect))


@pytest.mark.parametrize(
    "host_config",
    [
        {"mounts": [Mount("/x", "etc")]},
        {"binds": ["etc:/x:ro"]},
    ],
)
def test_a_volume_made_elsewhere_that_binds_a_host_path_is_refused(host_config):
    with pytest.raises(Refused, match="the volume etc has driver 'local' with options"):
        volumes_checked(container_body(**host_config))


@pytest.mark.parametrize("name", ["pyiron-hub_hub-db-data", "pyiron-hub_hub-data"])
def test_a_deployments_own_volume_is_no_servers(name):
    # The database's files, mounted into a container the hub creates, are the database's to
    # anyone controlling the hub; the backup's workers read them (its own policy).
    with pytest.raises(Refused, match=f"mounting the volume {name} of the compose project or stack pyiron-hub"):
        volumes_checked(container_body(mounts=[Mount("/x", name)]))
    with pytest.raises(Refused, match="compose project or stack"):
        volumes_checked(container_body(binds=[f"{name}:/x:ro"]))
    volumes_checked(container_body(mounts=[Mount("/x", name)]), policy=Policy(role="backup"))


def test_plain_and_new_volumes_pass():
    volumes_checked(container_body(mounts=[Mount("/x", "plain"), Mount("/y", "new-one")], binds=["plain:/z"]))


# --- Volumes, networks, pulls ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, words",
    [
        (
            {"Name": "evil", "Driver": "local", "DriverOpts": {"type": "none", "o": "bind", "device": "/"}},
            "driver options",
        ),
        ({"Name": "evil", "driveropts": {"device": "/etc"}}, "driver options"),
        ({"Name": "evil", "Driver": "local-persist"}, "driver"),
    ],
)
def test_a_volume_that_binds_a_host_path_is_refused(body, words):
    assert words in refused("POST", "/volumes/create", body)


@pytest.mark.parametrize(
    "body, words",
    [
        ({"Name": "evil", "Driver": "macvlan", "Options": {"parent": "eth0"}}, "driver"),
        ({"Name": "evil", "Driver": "host"}, "driver"),
        ({"Name": "evil", "Driver": "bridge", "Options": {"com.docker.network.bridge.name": "eth0"}}, "options"),
        # A bridge on a subnet of the site's (or the host's own LAN) takes the host's route to it.
        (
            {"Name": "evil", "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.0.0.0/8"}]}},
            "IPAM subnet 10.0.0.0/8: users' networks take theirs from USER_NETWORKS_POOL=172.16.0.0/16",
        ),
        ({"Name": "evil", "IPAM": {"Config": [{"Subnet": "192.0.2.0/28"}]}}, "USER_NETWORKS_POOL"),
        (
            {"Name": "evil", "IPAM": {"Config": [{"Subnet": "172.16.0.0/12"}]}},
            "USER_NETWORKS_POOL",
        ),  # the pool and more
        ({"Name": "evil", "IPAM": {"Config": [{"Subnet": "fd00::/64"}]}}, "USER_NETWORKS_POOL"),
        ({"Name": "evil", "IPAM": {"Config": [{"Subnet": "172.16.0.1/28"}]}}, "is not a network's address"),
        (
            {"Name": "evil", "IPAM": {"Config": [{"Subnet": None, "Gateway": "172.16.0.1"}]}},
            "is not a network's address",
        ),
        ({"Name": "evil", "IPAM": {"Config": [{"Subnet": "172.16.0.0/28", "Gateway": "192.0.2.1"}]}}, "IPAM gateway"),
        ({"Name": "evil", "IPAM": {"Config": [{"Subnet": "172.16.0.0/28", "Gateway": "nowhere"}]}}, "IPAM gateway"),
        ({"Name": "evil", "IPAM": {"Config": [{"Subnet": "172.16.0.0/28", "IPRange": "192.0.2.0/28"}]}}, "iprange"),
        (
            {
                "Name": "evil",
                "IPAM": {"Config": [{"Subnet": "172.16.0.0/28", "AuxiliaryAddresses": {"x": "192.0.2.1"}}]},
            },
            "auxiliaryaddresses",
        ),
        (
            {"Name": "evil", "IPAM": {"Config": [{"Subnet": "172.16.0.0/28"}, {"Subnet": "172.16.0.16/28"}]}},
            "more than one",
        ),
        ({"Name": "evil", "IPAM": {"Config": {"Subnet": "172.16.0.0/28"}}}, "more than one"),
        ({"Name": "evil", "IPAM": {"Driver": "infoblox", "Config": []}}, "IPAM driver"),
        ({"Name": "evil", "IPAM": {"Options": {"com.docker.network.driver.mtu": "1"}}}, "IPAM driver or its options"),
        ({"Name": "evil", "ConfigFrom": {"Network": "x"}}, "configfrom"),
    ],
)
def test_a_network_the_hub_never_makes_is_refused(body, words):
    assert words in refused("POST", "/networks/create", body)


@pytest.mark.parametrize(
    "query, words",
    [
        ({"fromSrc": ["-"], "repo": ["pyiron/base"]}, "importing"),
        ({"fromImage": ["pyiron-hub"], "tag": ["latest"]}, "guard's own image"),
        ({"fromImage": ["docker.io/library/pyiron-hub:evil"]}, "guard's own image"),
        ({"fromImage": ["a", "b"]}, "exactly one"),
        ({}, "exactly one"),
    ],
)
def test_a_pull_that_is_no_pull_or_replaces_the_guard_is_refused(query, words):
    assert words in refused("POST", "/v1.41/images/create", query=query)


# --- Endpoints the hub never calls ------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path, words",
    [
        ("POST", "/v1.41/containers/jupyter-alice/exec", "exec"),
        ("POST", "/v1.41/exec/0123/start", "exec"),
        ("POST", "/v1.41/containers/jupyter-alice/attach", "attaching"),
        ("POST", "/v1.41/containers/jupyter-alice/update", "limits"),
        ("POST", "/v1.41/build", "building"),
        ("POST", "/session", "building"),
        ("POST", "/v1.41/commit", "image of a container"),
        ("POST", "/v1.41/images/evil/tag", "tagging"),
        ("POST", "/v1.41/images/load", "loading"),
        ("POST", "/v1.41/plugins/pull", "plugins"),
        ("POST", "/v1.41/swarm/init", "swarm"),
        ("POST", "/v1.41/services/create", "swarm"),
        ("POST", "/v1.41/secrets/create", "swarm"),
        ("POST", "/v1.41/containers/prune", "pruning"),
        ("POST", "/v1.41/containers/jupyter-alice/kill", "not a call the hub makes"),
        ("GET", "/v1.41/events", "not a call the hub makes"),
        ("GET", "/v1.41/info", "not a call the hub makes"),
        ("DELETE", "/v1.41/images/pyiron/base:latest", "not a call the hub makes"),
        ("POST", "/v1.23/containers/jupyter-alice/start", "1.24"),  # took a HostConfig in its body
        ("POST", "/v1.41/containers/../build", "not one of"),
        ("POST", "/v1.41//containers/create", "not one of"),
        ("POST", "/v1.41/networks/host/connect", "not a call the hub makes"),
    ],
)
def test_calls_the_hub_never_makes_are_refused(method, path, words):
    assert words in refused(method, path, {"Image": "x"})


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", f"/v1.41/containers/{GUARD_ID}/stop", None),
        ("DELETE", f"/v1.41/containers/{GUARD_ID[:12]}", None),
        ("PUT", "/v1.41/containers/pyiron-hub-docker-guard-1/archive", None),
        ("POST", "/v1.41/networks/pyiron-hub-users/connect", {"Container": GUARD_ID[:5]}),
        ("POST", "/v1.41/networks/pyiron-hub_docker-api/disconnect", {"Container": "/pyiron-hub-docker-guard-1"}),
    ],
)
def test_the_guards_own_container_is_out_of_reach(method, path, body):
    assert "own container" in refused(method, path, body)


def test_the_guard_tells_its_own_container_from_others():
    assert names_own_container(POLICY, GUARD_ID[:12]) and names_own_container(POLICY, "pyiron-hub-docker-guard-1")
    assert not names_own_container(POLICY, "jupyter-alice") and not names_own_container(Policy(), GUARD_ID)
    check_request(POLICY, "GET", f"/containers/{GUARD_ID}/json")  # looking is harmless


def test_the_guard_finds_its_container_id_in_its_mounts(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        f"1 2 8:1 /var/lib/docker/containers/{GUARD_ID}/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n"
    )
    assert own_container_id(str(mountinfo)) == GUARD_ID


@pytest.mark.parametrize(
    "reference, expected",
    [
        ("postgres:17", "docker.io/library/postgres"),
        ("pyiron/base@sha256:" + "0" * 64, "docker.io/pyiron/base"),
        ("index.docker.io/Pyiron/base:1", "docker.io/pyiron/base"),
        ("localhost:5000/hub:x", "localhost:5000/hub"),
        ("ghcr.io/pyiron/hub", "ghcr.io/pyiron/hub"),
    ],
)
def test_image_references_are_compared_by_repository(reference, expected):
    assert repository(reference) == expected


# --- Settings ----------------------------------------------------------------------------------


def test_a_subnet_of_another_pool_than_the_guards_is_refused():
    body = users_network_create_body()  # in the default pool, 172.16.0.0/16
    policy = Policy(network_pool=IPv4Network("10.213.0.0/16"))
    assert "USER_NETWORKS_POOL=10.213.0.0/16" in refused("POST", "/networks/create", body, policy=policy)


def test_the_guard_reads_the_hubs_pool_of_users_networks():
    assert load_guard_settings({}).network_pool == IPv4Network("172.16.0.0/16")
    assert load_guard_settings({"USER_NETWORKS_POOL": "10.213.0.0/16"}).network_pool == IPv4Network("10.213.0.0/16")
    with pytest.raises(ConfigError) as err:  # both problems at once, as the hub reports them
        load_guard_settings({"USER_NETWORKS_POOL": "10.213.0.1/16", "SITE_RESOURCES_DIR": "resources"})
    assert [p.where for p in err.value.problems] == ["SITE_RESOURCES_DIR", "USER_NETWORKS_POOL"]
    assert "the range is written 10.213.0.0/16" in str(err.value)


def test_site_resources_dir_is_the_one_host_path_by_default_none():
    assert load_guard_settings({}).bind_paths == frozenset()
    assert load_guard_settings({"SITE_RESOURCES_DIR": SITE + "/"}).bind_paths == {SITE}
    with pytest.raises(ConfigError, match="SITE_RESOURCES_DIR: must be an absolute path"):
        load_guard_settings({"SITE_RESOURCES_DIR": "resources"})


def test_the_guard_reads_the_hubs_env_file_and_reports_a_bad_path_before_anything(tmp_path, capsys):
    env_file = tmp_path / "pyiron.env"
    env_file.write_text("CLIENT_SECRET='s'\nSITE_RESOURCES_DIR='resources'\n")
    assert main(["--env-file", str(env_file), "--upstream", str(tmp_path / "no.sock")]) == 1
    assert "SITE_RESOURCES_DIR: must be an absolute path" in capsys.readouterr().err
    assert main(["--env-file", str(tmp_path / "missing.env")]) == 1
    assert "cannot read --env-file" in capsys.readouterr().err


# --- The server: refusals in docker-py's words, answers streamed as they come -----------------


async def test_the_server_refuses_with_a_message_and_streams_what_it_passes(tmp_path):
    """Against a stand-in engine on a Unix socket: a 403 carries the reason as `message`;
    a chunked answer reaches the client piece by piece; a checked body is sent on as checked."""
    from aiohttp import web

    seen, release = [], asyncio.Event()

    async def engine(request):
        if request.path.endswith("/json") and "/containers/" in request.path:  # the guard's own inspects
            name = request.path.split("/")[-2]
            labels = {OWNER_LABEL: "hub"} if name == "writer" else {"com.docker.compose.service": "hub-db"}
            return web.json_response({"Id": name + "-id", "Name": "/" + name, "Config": {"Labels": labels}})
        seen.append((request.method, request.path, await request.read()))
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"status": "Pulling"}\n')
        await release.wait()
        await response.write(b'{"status": "Done"}\n')
        return response

    async with guard_before_engine(tmp_path, POLICY, engine) as client:
        async with client.post(
            "http://guard/v1.41/containers/create", json={"Image": "x", "HostConfig": {"Privileged": True}}
        ) as answer:
            assert answer.status == 403
            assert "Privileged" in (await answer.json())["message"]
        async with client.post(
            "http://guard/v1.41/containers/jupyter-alice/start", data=b'{"Privileged": true}'
        ) as answer:
            assert answer.status == 403 and "a body where the hub sends none" in (await answer.json())["message"]
        async with client.post("http://guard/v1.41/images/create?fromImage=pyiron/base&tag=latest") as answer:
            assert answer.status == 200
            assert await answer.content.readline() == b'{"status": "Pulling"}\n'  # before the rest exists
            release.set()
            assert await answer.content.readline() == b'{"status": "Done"}\n'
        tar = b"x" * 300_000  # passed on as it comes, not read whole
        async with client.put("http://guard/v1.41/containers/writer/archive?path=/opt", data=tar) as answer:
            assert answer.status == 200
        async with client.put("http://guard/v1.41/containers/db/archive?path=/", data=tar) as answer:
            assert answer.status == 403 and "not made by the hub" in (await answer.json())["message"]
        body = {"Image": "x", "HostConfig": {"CapDrop": ["ALL"]}}
        async with client.post("http://guard/v1.41/containers/create", data=json.dumps(body, indent=4)) as answer:
            assert answer.status == 200
    # The archive went to the container checked, by its id; the create carries the guard's label.
    assert [(m, p) for m, p, _ in seen] == [
        ("POST", "/v1.41/images/create"),
        ("PUT", "/v1.41/containers/writer-id/archive"),
        ("POST", "/v1.41/containers/create"),
    ]
    assert seen[1][2] == tar
    assert json.loads(seen[2][2]) == {**body, "Labels": {OWNER_LABEL: "hub"}}


# --- The compose files: who holds the socket ---------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
# What holds the socket where, and why (docs/topics/security.md): the guards (the hub's, the
# backup's); a swarm's hub (services, which the guard does not serve).
SOCKET_HOLDERS = {
    "docker-compose.yml": {"docker-guard"},
    "compose.backup.yml": {"backup-guard"},
    "compose.swarm.yml": {"docker-guard"},
}


@pytest.mark.parametrize("path", sorted(p.name for p in REPO.glob("*.yml")))
def test_no_compose_file_gives_the_socket_to_the_hub(path):
    import yaml

    services = (yaml.safe_load((REPO / path).read_text()) or {}).get("services") or {}
    holders = {
        name
        for name, service in services.items()
        if any("docker.sock" in str(v) for v in (service or {}).get("volumes") or [])
    }
    assert holders == SOCKET_HOLDERS.get(path, set())


# --- The backup's guard (compose.backup.yml's backup-guard): its workers and nothing else -------

BACKUP_REPO = "/srv/backups/pyiron-hub"
BACKUP_SSH = "/root/.ssh-backup"
BACKUP_NETWORK = "pyiron-hub-users"
BACKUP = Policy(
    role="backup",
    owner="backup",
    binds=(BindRule(BACKUP_SSH), BindRule(BACKUP_REPO, writable=True)),
    users_network=BACKUP_NETWORK,
    own_image="sha256:" + "b" * 64,
)


def worker_body(init=False, host_dirs=None, **settings) -> dict:
    """The create of a worker exactly as backup.py's run_worker sends it (docker-py's body)."""
    from pyiron_hub_config.backup import Deployment
    from pyiron_hub_config.backup_settings import load_backup_settings

    sent = []

    class Sent(Exception):
        pass

    class Client(docker.APIClient):
        def _post_json(self, url, data, **kw):
            sent.append(json.loads(json.dumps(data)))
            raise Sent

    client = SimpleNamespace(api=Client(base_url="tcp://127.0.0.1:1", version="1.41"))
    client.containers = docker.models.containers.ContainerCollection(client=client)
    environ = {"RESTIC_REPOSITORY": BACKUP_REPO, "RESTIC_PASSWORD": "x", "DOCKER_NETWORK_NAME": BACKUP_NETWORK}
    environ.update(settings)
    dep = Deployment(client, "pyiron-hub", None, None, BACKUP.own_image)
    with pytest.raises(Sent):
        dep.run_worker(
            load_backup_settings(environ),
            environ,
            ["restic", "snapshots"],
            volumes={"pyiron-hub_hub-data": ("/data/volumes/pyiron-hub_hub-data", True)},
            host_dirs=host_dirs or {},
            init=init,
        )
    return sent[0]


@pytest.mark.parametrize(
    "init, settings",
    [
        (False, {}),
        (True, {}),
        (False, {"BACKUP_SSH_DIR": BACKUP_SSH}),
        (False, {"RESTIC_REPOSITORY": "sftp:restic@backup-sftp:/repo", "BACKUP_SSH_DIR": BACKUP_SSH}),
    ],
)
def test_the_backups_workers_as_it_creates_them_pass(init, settings):
    body = worker_body(init, **settings)
    assert body["HostConfig"]["NetworkMode"] == BACKUP_NETWORK
    check_request(BACKUP, "POST", "/v1.41/containers/create", None, body)


def _with_host_config(body, **changes):
    return {**body, "HostConfig": {**body["HostConfig"], **changes}}


@pytest.mark.parametrize(
    "change, words",
    [
        ({"Privileged": True}, "privileged"),
        ({"Binds": ["/:/host"]}, "binding the host path /: the backup's workers"),
        ({"Binds": ["/etc:/srv/backups/pyiron-hub"]}, "binding the host path /etc"),
        ({"Binds": [f"{BACKUP_SSH}:/root/.ssh:rw"]}, "only read-only"),
        ({"Mounts": [{"Type": "bind", "Source": "/var/run/docker.sock", "Target": "/s"}]}, "binding the host path"),
        ({"NetworkMode": "host"}, "the host's or another container's network"),
        ({"NetworkMode": "container:pyiron-hub-hub-db-1"}, "another container's network"),
        ({"NetworkMode": "pyiron-hub_db"}, "the backup's workers are on pyiron-hub-users"),
        ({"PidMode": "host"}, "a namespace of the host"),
        ({"CapAdd": ["SYS_ADMIN"]}, "adding capabilities"),
    ],
)
def test_a_worker_that_reaches_the_host_or_other_services_is_refused(change, words):
    assert words in refused(
        "POST", "/v1.41/containers/create", _with_host_config(worker_body(), **change), policy=BACKUP
    )


@pytest.mark.parametrize(
    "method, path, words",
    [
        ("POST", "/v1.41/containers/pyiron-hub-hub-db-1/exec", "exec"),
        ("POST", "/v1.41/exec/0123/start", "exec"),
        ("POST", "/v1.41/images/create", "not a call the backup makes"),
        ("POST", "/v1.41/networks/create", "not a call the backup makes"),
        ("POST", "/v1.41/networks/pyiron-hub-users/connect", "not a call the backup makes"),
        ("POST", "/v1.41/containers/pyiron-hub-hub-1/stop", "not a call the backup makes"),
        ("POST", "/v1.41/containers/0123/update", "changing a container's limits: the backup never does"),
        ("DELETE", "/v1.41/volumes/pyiron-hub_hub-db-data", "not a call the backup makes"),
    ],
)
def test_the_backup_guard_refuses_what_the_backup_never_does(method, path, words):
    assert words in refused(method, path, None, None, BACKUP)


def test_the_backup_touches_only_its_own_workers():
    engine = {
        "worker": {"Id": "1" * 64, "Name": "/w", "Config": {"Labels": {OWNER_LABEL: "backup"}}},
        "server": {"Id": "2" * 64, "Name": "/jupyter-alice", "Config": {"Labels": {OWNER_LABEL: "hub"}}},
        "db": {"Id": "3" * 64, "Name": "/pyiron-hub-hub-db-1", "Config": {"Labels": {}}},
    }

    async def inspect(kind, name):
        return engine.get(name)

    def touch(method, path):
        route = check_request(BACKUP, method, path)
        return asyncio.run(check_owned(BACKUP, route, path, None, inspect))

    for method, action in (("POST", "/start"), ("POST", "/wait"), ("GET", "/logs"), ("PUT", "/archive")):
        assert touch(method, f"/v1.41/containers/worker{action}") == f"/containers/{'1' * 64}{action}"
        for other in ("server", "db"):
            with pytest.raises(Refused, match="was not made by the backup"):
                touch(method, f"/v1.41/containers/{other}{action}")
    # The hub's guard, in turn, never touches the backup's workers.
    route = check_request(OWNED, "DELETE", "/v1.41/containers/worker")
    with pytest.raises(Refused, match="was not made by the hub"):
        asyncio.run(check_owned(OWNED, route, "/v1.41/containers/worker", None, inspect))


def test_the_backups_workers_run_its_own_image_and_no_other():
    from pyiron_hub_config.docker_guard.guard import check_worker_image

    images = {"pyiron-hub:latest": {"Id": BACKUP.own_image}, "postgres:17": {"Id": "sha256:" + "c" * 64}}

    async def inspect_image(name):
        return images.get(name)

    asyncio.run(check_worker_image(BACKUP, {"Image": "pyiron-hub:latest"}, inspect_image))
    for other in ("postgres:17", "no-such-image", None):
        with pytest.raises(Refused, match="the backup's own image"):
            asyncio.run(check_worker_image(BACKUP, {"Image": other}, inspect_image))


def test_the_backup_guard_takes_the_repository_and_the_ssh_dir_of_backup_env():
    from pyiron_hub_config.docker_guard.guard import load_backup_guard_settings

    s = load_backup_guard_settings({"RESTIC_REPOSITORY": "local:/srv/b/", "BACKUP_SSH_DIR": BACKUP_SSH})
    assert (s.writable_bind_paths, s.bind_paths) == ({"/srv/b"}, {BACKUP_SSH})
    s = load_backup_guard_settings({"RESTIC_REPOSITORY": "sftp:u@h:/r", "RESTIC_PASSWORD": "secret"})
    assert (s.writable_bind_paths, s.bind_paths) == (frozenset(), frozenset())
    with pytest.raises(ConfigError, match="BACKUP_SSH_DIR"):
        load_backup_guard_settings({"BACKUP_SSH_DIR": "ssh"})


# --- The host paths a container may bind: one list of rules, applied by one function ----------

SHAPE = BindRule("/q", "home", writable=True)


@pytest.mark.parametrize(
    "source, allowed",
    [
        ("/q/ann/home", True),
        ("/q/-ann/home", True),
        ("/q/ann/home/..", False),  # not normalized: refused before any rule
        ("/q/../home", False),
        ("/q/../q/ann/home", False),
        ("/q/ann/../bob/home", False),
        ("/q/ann/home/x", False),  # below the shape
        ("/q/ann", False),  # above it
        ("/q/ann/work", False),  # another leaf
        ("/q/a/b/home", False),  # another depth
        ("/q/.ann/home", False),
        ("/r/ann/home", False),
        ("/q", False),
    ],
)
def test_a_shape_rule_allows_that_shape_and_no_other(source, allowed):
    policy = Policy(binds=(SHAPE,))
    if allowed:
        check_host_bind(policy, source, writable=True, made_if_missing=False, mode="writable")
    else:
        with pytest.raises(Refused, match="binding the host path"):
            check_host_bind(policy, source, writable=False, made_if_missing=False, mode="writable")


@pytest.mark.parametrize(
    "source, allowed",
    [
        ("/s/jupyterhub-home-ann", True),
        ("/s", False),  # the shared path itself
        ("/s/..", False),
        ("/s/a/b", False),  # below a user's directory
        ("/s/..ann", False),
        ("/t/jupyterhub-home-ann", False),
    ],
)
def test_a_directory_rule_allows_the_directories_right_under_its_path(source, allowed):
    # The swarm's SWARM_SHARED_PATH: <path>/<volume name>, as a mount only.
    policy = Policy(binds=(BindRule("/s", "", writable=True),))
    if allowed:
        check_host_bind(policy, source, writable=True, made_if_missing=False, mode="writable")
        with pytest.raises(Refused, match="binding the host path"):
            check_host_bind(policy, source, writable=True, made_if_missing=True, mode="with mode rw")
    else:
        with pytest.raises(Refused, match="binding the host path"):
            check_host_bind(policy, source, writable=True, made_if_missing=False, mode="writable")
    assert str(policy.binds[0]) == "/s/* (read-write)"


def test_a_read_only_rule_refuses_a_writable_bind_and_a_shape_is_no_binds_string():
    policy = Policy(binds=(BindRule(SITE), SHAPE))
    check_host_bind(policy, SITE, writable=False, made_if_missing=True, mode="with mode ro")
    with pytest.raises(Refused, match="only read-only"):
        check_host_bind(policy, SITE, writable=True, made_if_missing=False, mode="writable")
    # The engine would make a missing Binds source, as root: a home that is no limited subvolume.
    with pytest.raises(Refused, match="binding the host path"):
        check_host_bind(policy, "/q/ann/home", writable=True, made_if_missing=True, mode="with mode rw")
    assert [str(r) for r in policy.binds] == [f"{SITE} (read-only)", "/q/*/home (read-write)"]


def test_compose_s_quota_root_wins_over_the_env_file_s():
    env_file = {"STORAGE_QUOTA": "1G", "STORAGE_QUOTA_ROOT": "/from/pyiron-env"}
    assert guard_settings("hub", env_file, {}).quota_root == "/from/pyiron-env"
    assert guard_settings("hub", env_file, {"STORAGE_QUOTA_ROOT": "/from/dot-env"}).quota_root == "/from/dot-env"
    assert guard_settings("hub", {}, {"STORAGE_QUOTA_ROOT": "/from/dot-env"}).quota_root is None  # no STORAGE_QUOTA
    rules = guard_settings("hub", env_file, {}).bind_rules()
    assert rules == (
        BindRule("/from/pyiron-env", "home", writable=True),
        BindRule("/from/pyiron-env/_groups", "folder", writable=True),
    )


def test_the_backup_guard_binds_the_quotas_homes_and_group_folders_and_nothing_beside_them():
    from pyiron_hub_config.docker_guard.guard import load_backup_guard_settings

    quota = "/srv/pyiron-hub/quota"
    settings = load_backup_guard_settings(
        {"RESTIC_REPOSITORY": BACKUP_REPO, "BACKUP_SSH_DIR": BACKUP_SSH, "STORAGE_QUOTA_ROOT": quota + "/"}
    )
    policy = Policy(**{**BACKUP.__dict__, "binds": settings.bind_rules()})
    home, folder = f"{quota}/ann/home", f"{quota}/_groups/jupyterhub-group-lab/folder"
    for read_only in (True, False):  # a backup's worker reads them; a restore's writes them
        dirs = {home: ("/data/volumes/_quota/ann/home", read_only), folder: ("/data/volumes/_quota/x", read_only)}
        check_request(policy, "POST", "/v1.41/containers/create", None, worker_body(host_dirs=dirs))
    for source in (quota, f"{quota}/ann", f"{quota}/_groups", "/etc/ann/home", f"{BACKUP_REPO}/ann/home"):
        body = worker_body(host_dirs={source: ("/data/volumes/_quota/x", True)})
        assert "binding the host path" in refused("POST", "/v1.41/containers/create", body, policy=policy), source
    # Without STORAGE_QUOTA_ROOT (.env) the backup guard binds no home at all.
    body = worker_body(host_dirs={home: ("/data/volumes/_quota/ann/home", True)})
    assert "binding the host path" in refused("POST", "/v1.41/containers/create", body, policy=BACKUP)
    assert guard_settings("backup", {}, {"STORAGE_QUOTA_ROOT": quota}).quota_root == quota
