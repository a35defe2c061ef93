"""The swarm hub's guard (`--for swarm`, compose.swarm.yml): what the hub sends passes, attacks do not.

A user's service is built here by dockerspawner's SwarmSpawner.create_object itself, on the
hub's PyironSwarmSpawner with the hub's own settings, and serialized by docker-py's real
create_service; only the sending is caught. The real swarm behind the real guard is in
tests/e2e/test_swarm.py.
"""

from __future__ import annotations

import asyncio
import copy
import json
from types import SimpleNamespace
from urllib.parse import urlencode

import docker
import pytest
from docker.types import ConfigReference
from dockerspawner import SwarmSpawner
from traitlets.config import Config

from pyiron_hub_config import configure
from pyiron_hub_config.boot_file import BOOT_PATH, LABEL
from pyiron_hub_config.docker_guard.guard import (
    OWNER_LABEL,
    BindRule,
    Policy,
    Refused,
    check_owned,
    check_request,
    check_service_configs,
    check_volume_mounts,
    load_swarm_guard_settings,
    mark_owned,
    repository,
)
from pyiron_hub_config.problems import ConfigError
from pyiron_hub_config.storage import server_mounts
from pyiron_hub_config.swarm import PyironSwarmSpawner

from .helpers import guard_before_engine, with_env

SITE = "/srv/pyiron/resources"
SHARED = "/srv/pyiron-hub-users"
NFS = ("10.0.0.5", "/export/pyiron-hub")
USERS = "pyiron-hub-users"
SWARM = Policy(
    role="swarm",
    owner="hub",
    binds=(BindRule(SITE),),
    users_network=USERS,
    own_repositories=frozenset({repository("pyiron-hub:latest")}),
)
BOOT_CONFIG = "c0nf1g"


def shared(path: str) -> Policy:
    """SWARM with SWARM_SHARED_PATH: users' directories under it, writable (GuardSettings.bind_rules)."""
    return Policy(**{**SWARM.__dict__, "binds": (*SWARM.binds, BindRule(path, "", writable=True))})


API = docker.APIClient(base_url="tcp://127.0.0.1:1", version="1.41")  # builds bodies, never connects


def recording_client(answer: dict) -> tuple[docker.APIClient, list[dict]]:
    """docker-py's own client, connecting nowhere: the JSON bodies it posts (as the engine
    would read them) are kept in the list, and each call answers `answer`."""
    sent = []

    class Client(docker.APIClient):
        def _post_json(self, url, data, **kw):
            sent.append(json.loads(json.dumps(data)))
            return SimpleNamespace()

        def _result(self, response, json=False, binary=False):
            return answer

    return Client(base_url="tcp://127.0.0.1:1", version="1.41"), sent


@pytest.fixture
def service_body(minimal_env):
    """What the swarm hub sends to create a user's server (POST /services/create), with its own settings."""

    def build(**env) -> dict:
        c = Config()
        configure(c, with_env(minimal_env, SPAWNER="swarm", DOCKER_NETWORK_NAME=USERS, **env))
        sp = PyironSwarmSpawner(config=c, user=SimpleNamespace(name="alice"))
        # What start() gives every server before create_object (spawner.py, swarm.py).
        sp._use_image_mounts(server_mounts("sha256:" + "ab" * 32, SITE))
        boot = ConfigReference(BOOT_CONFIG, "pyiron-hub-boot-0123456789ab", filename=BOOT_PATH, mode=0o444)
        sp.extra_container_spec = {**sp.extra_container_spec, "configs": [boot]}
        sp.extra_placement_spec = {**sp.extra_placement_spec, "constraints": ["node.id==n0d3", "node.id!=b4d"]}
        client, sent = recording_client({"ID": "s3rv1c3"})
        client.tasks = lambda filters=None: [{}]

        async def call(method, *args, **kw):
            return getattr(client, method)(*args, **kw)

        async def command():
            return ["jupyterhub-singleuser"]

        sp.docker, sp.get_command, sp.get_env = call, command, lambda: {"JUPYTERHUB_API_TOKEN": "x"}
        asyncio.run(SwarmSpawner.create_object(sp))  # dockerspawner's own: what it sends is the point
        (body,) = sent
        return body

    return build


def refused(method, path, body=None, query=None, policy=SWARM) -> str:
    with pytest.raises(Refused) as err:
        check_request(policy, method, path, query, body)
    return str(err.value)


# --- The swarm hub's own calls pass -------------------------------------------------------------


@pytest.mark.parametrize(
    "env, policy",
    [
        ({}, SWARM),  # volumes on the node of the user's first start
        ({"SWARM_NFS_SERVER": NFS[0], "SWARM_NFS_EXPORT": NFS[1]}, Policy(**{**SWARM.__dict__, "nfs": NFS})),
        ({"SWARM_SHARED_PATH": SHARED}, shared(SHARED)),
    ],
)
def test_a_users_service_as_the_swarm_hub_creates_it_passes(service_body, env, policy, tmp_path):
    if "SWARM_SHARED_PATH" in env:
        env = {"SWARM_SHARED_PATH": str(tmp_path)}
        policy = shared(str(tmp_path))
    body = service_body(**env)
    spec = body["TaskTemplate"]["ContainerSpec"]
    assert spec["CapabilityDrop"] == ["ALL"] and body["TaskTemplate"]["Networks"] == [{"Target": USERS}]
    assert any(m["Type"] == "bind" and m["Source"] == SITE and m["ReadOnly"] for m in spec["Mounts"])
    if "SWARM_SHARED_PATH" in env:
        assert {m["Source"] for m in spec["Mounts"] if m["Type"] == "bind" and not m["ReadOnly"]} == {
            f"{tmp_path}/jupyterhub-home-alice",
            f"{tmp_path}/jupyterhub-user-alice",
        }
    check_request(policy, "POST", "/v1.41/services/create", None, body)
    assert mark_owned(policy, body)["Labels"] == {OWNER_LABEL: "hub"}  # what the engine gets


def boot_config_create_body() -> dict:
    """boot_file.boot_config's create of the boot step's config, as docker-py sends it."""
    client, sent = recording_client({"ID": "c"})
    client.create_config("pyiron-hub-boot-0123", b"print()", {LABEL: "1"})
    return sent[0]


@pytest.mark.parametrize(
    "method, path, query, body",
    [
        ("GET", "/_ping", None, None),
        ("GET", "/v1.41/version", None, None),
        ("GET", "/v1.41/images/registry.example.org/pyiron/base:latest/json", None, None),
        ("POST", "/v1.41/images/create", {"fromImage": ["registry.example.org/pyiron/base"], "tag": ["1"]}, None),
        ("GET", "/v1.41/configs", {"filters": ['{"name": ["pyiron-hub-boot-0123"]}']}, None),
        ("POST", "/v1.41/configs/create", None, boot_config_create_body()),
        ("GET", "/v1.41/services/jupyter-alice", {"insertDefaults": ["false"]}, None),
        ("GET", "/v1.41/tasks", {"filters": ['{"service": ["jupyter-alice"], "desired-state": ["running"]}']}, None),
        ("GET", "/v1.41/nodes/n0d3", None, None),
        ("GET", "/v1.41/services/jupyter-alice/logs", {"stderr": ["1"], "tail": ["20"]}, None),
        ("DELETE", "/v1.41/services/jupyter-alice", None, None),
        # SITE_RESOURCES_DIR asked of the manager's engine at the hub's start (host_checks.py)
        ("GET", "/v1.41/containers/vm/json", None, None),
        ("DELETE", "/v1.41/containers/0123abcd", {"v": ["1"], "force": ["1"]}, None),
    ],
)
def test_the_swarm_hubs_other_calls_pass(method, path, query, body):
    check_request(SWARM, method, path, query, body)


# --- Services that would give a node away are refused ---------------------------------------------


def changed(body: dict, where: str, **values) -> dict:
    """The body with fields set at a place ("", "TaskTemplate", "TaskTemplate.ContainerSpec")."""
    body = copy.deepcopy(body)
    part = body
    for key in filter(None, where.split(".")):
        part = part[key]
    part.update(values)
    return body


BIND_ROOT = {"Type": "bind", "Source": "/", "Target": "/host", "ReadOnly": False}
SPEC = "TaskTemplate.ContainerSpec"


@pytest.mark.parametrize(
    "where, values, words",
    [
        (SPEC, {"Mounts": [BIND_ROOT]}, "binding the host path /"),
        (SPEC, {"Mounts": [{**BIND_ROOT, "Source": "/var/run/docker.sock"}]}, "binding the host path"),
        (SPEC, {"Mounts": [{**BIND_ROOT, "Source": SITE}]}, "writable: only read-only"),
        (
            SPEC,
            {
                "Mounts": [
                    {
                        "Type": "volume",
                        "Source": "evil",
                        "Target": "/host",
                        "VolumeOptions": {
                            "DriverConfig": {"Name": "local", "Options": {"type": "none", "o": "bind", "device": "/"}}
                        },
                    }
                ]
            },
            "driver configuration",
        ),
        (SPEC, {"Mounts": [{"Type": "npipe", "Source": "x", "Target": "/x"}]}, "npipe"),
        (SPEC, {"Privileges": {"SELinuxContext": {"Disable": True}}}, "Privileges"),
        (SPEC, {"Privileges": {"CredentialSpec": {"File": "spec.json"}}}, "Privileges"),
        (SPEC, {"Privileges": {"Seccomp": {"Mode": "unconfined"}}}, "Privileges"),
        (SPEC, {"Privileges": {"AppArmor": {"Mode": "disabled"}}}, "Privileges"),
        (SPEC, {"CapabilityAdd": ["SYS_ADMIN"]}, "adding capabilities"),
        (SPEC, {"capabilityadd": ["SYS_ADMIN"]}, "adding capabilities"),  # the engine folds case
        (SPEC, {"Sysctls": {"net.ipv4.ip_forward": "1"}}, "sysctls"),
        (SPEC, {"Ulimits": [{"Name": "memlock", "Soft": -1, "Hard": -1}]}, "ulimits"),
        (SPEC, {"Secrets": [{"SecretID": "s", "SecretName": "postgres_password"}]}, "no swarm secret"),
        (SPEC, {"Isolation": "hyperv"}, "Isolation"),
        (SPEC, {"Labels": {OWNER_LABEL: "hub"}}, "only the guard sets it"),
        (SPEC, {"SomethingNew": True}, "does not know"),
        (SPEC, {"Configs": [{"ConfigID": "c", "Runtime": {}, "File": None}]}, None),  # empty: passes
        (SPEC, {"Configs": [{"ConfigID": "c", "Runtime": {"x": 1}}]}, "credential spec"),
        ("TaskTemplate", {"Networks": [{"Target": "host"}]}, "the network 'host'"),
        ("TaskTemplate", {"Networks": [{"Target": "pyiron-hub_db"}]}, "the network 'pyiron-hub_db'"),
        ("TaskTemplate", {"Networks": [{"Target": "pyiron-hub_docker-api"}]}, "no other network"),
        ("TaskTemplate", {"Networks": [{"Target": USERS, "DriverOpts": {"x": "y"}}]}, "DriverOpts".lower()),
        ("TaskTemplate", {"LogDriver": {"Name": "syslog", "Options": {"syslog-address": "x"}}}, "LogDriver"),
        ("TaskTemplate", {"Runtime": "plugin", "PluginSpec": {"Name": "x"}}, "plugins"),
        ("TaskTemplate", {"Unknown": 1}, "does not know"),
        ("", {"Networks": [{"Target": "ingress"}]}, "the network 'ingress'"),
        ("", {"EndpointSpec": {"Mode": "vip", "Ports": [{"TargetPort": 22, "PublishedPort": 22}]}}, "Ports"),
        ("", {"Mode": {"Global": {}}}, "every node"),
        ("", {"Labels": {OWNER_LABEL: "hub"}}, "only the guard sets it"),
        ("", {"UpdateConfig": {"Parallelism": 1}}, "updateconfig"),
    ],
)
def test_a_service_that_reaches_a_node_or_another_service_is_refused(service_body, where, values, words):
    body = changed(service_body(), where, **values)
    if words is None:
        check_request(SWARM, "POST", "/v1.41/services/create", None, body)
    else:
        assert words in refused("POST", "/v1.41/services/create", body)


@pytest.mark.parametrize(
    "source",
    [SHARED, f"{SHARED}/..", f"{SHARED}/../etc", f"{SHARED}/jupyterhub-home-alice/..", f"{SHARED}/a/b", "/srv"],
)
def test_only_users_directories_of_the_shared_path_are_bound_writable(service_body, source):
    policy = shared(SHARED)
    mount = {"Type": "bind", "Source": source, "Target": "/home/jovyan", "ReadOnly": False}
    body = changed(service_body(), SPEC, Mounts=[mount])
    assert "binding the host path" in refused("POST", "/v1.41/services/create", body, policy=policy)
    # Without SWARM_SHARED_PATH no user's directory is bound either.
    mount["Source"] = f"{SHARED}/jupyterhub-home-alice"
    check_request(policy, "POST", "/v1.41/services/create", None, changed(service_body(), SPEC, Mounts=[mount]))
    assert "binding the host path" in refused(
        "POST", "/v1.41/services/create", changed(service_body(), SPEC, Mounts=[mount])
    )


def test_an_nfs_volume_passes_only_as_the_hub_makes_it(service_body):
    policy = Policy(**{**SWARM.__dict__, "nfs": NFS})
    body = service_body(SWARM_NFS_SERVER=NFS[0], SWARM_NFS_EXPORT=NFS[1])
    home = body["TaskTemplate"]["ContainerSpec"]["Mounts"][0]
    assert home["VolumeOptions"]["DriverConfig"]["Options"]["device"] == f":{NFS[1]}/jupyterhub-home-alice"
    for options in (
        {"device": ":/export/pyiron-hub/jupyterhub-user-bob"},  # another's directory
        {"device": ":/"},
        {"o": "addr=10.9.9.9,rw,nfsvers=4"},  # another server
        {"type": "none", "o": "bind", "device": "/"},
    ):
        evil = copy.deepcopy(body)
        evil["TaskTemplate"]["ContainerSpec"]["Mounts"][0]["VolumeOptions"]["DriverConfig"]["Options"].update(options)
        assert "driver configuration" in refused("POST", "/v1.41/services/create", evil, policy=policy)
    # Without SWARM_NFS_SERVER in the guard's settings no NFS volume passes.
    assert "driver configuration" in refused("POST", "/v1.41/services/create", body)


@pytest.mark.parametrize(
    "body, words",
    [
        ({"Name": "x", "Data": "eA==", "Templating": {"Name": "golang"}}, "expand the swarm's secrets"),
        ({"Name": "x", "Data": "eA==", "Labels": {OWNER_LABEL: "hub"}}, "only the guard sets it"),
    ],
)
def test_a_config_that_could_read_secrets_or_pass_for_the_hubs_is_refused(body, words):
    assert words in refused("POST", "/v1.41/configs/create", body)


# --- What the hub made: services and configs asked of the engine ----------------------------------

ENGINE = {
    ("service", "jupyter-alice"): {"ID": "a" * 25, "Spec": {"Name": "jupyter-alice", "Labels": {OWNER_LABEL: "hub"}}},
    ("service", "pyiron-hub_hub-db"): {
        "ID": "d" * 25,
        "Spec": {"Name": "pyiron-hub_hub-db", "Labels": {"com.docker.stack.namespace": "pyiron-hub"}},
    },
    ("service", "pyiron-hub_docker-guard"): {"ID": "g" * 25, "Spec": {"Name": "pyiron-hub_docker-guard"}},
    ("service", "pyiron-hub_hub"): {"ID": "h" * 25, "Spec": {"Name": "pyiron-hub_hub", "Labels": {}}},
    # A one-host backup guard's label is not the hub's.
    ("service", "other"): {"ID": "o" * 25, "Spec": {"Name": "other", "Labels": {OWNER_LABEL: "backup"}}},
    ("config", BOOT_CONFIG): {"ID": BOOT_CONFIG, "Spec": {"Name": "b", "Labels": {OWNER_LABEL: "hub"}}},
    ("config", "legacy"): {"ID": "legacy", "Spec": {"Name": "b", "Labels": {LABEL: "1"}}},
    ("config", "another-stacks"): {"ID": "x", "Spec": {"Name": "site-ldap.conf", "Labels": {}}},
    ("volume", "etc"): {"Name": "etc", "Driver": "local", "Options": {"type": "none", "o": "bind", "device": "/etc"}},
    ("volume", "jupyterhub-home-alice"): {
        "Name": "jupyterhub-home-alice",
        "Driver": "local",
        "Options": {"type": "nfs", "o": f"addr={NFS[0]},rw,nfsvers=4", "device": f":{NFS[1]}/jupyterhub-home-alice"},
    },
}


async def inspect(kind, name):
    return ENGINE.get((kind, name))


def owned(method, path, query=None) -> str:
    route = check_request(SWARM, method, path, query)
    return asyncio.run(check_owned(SWARM, route, path, None, inspect, query))


def tasks_of(service: str, **more) -> dict[str, list[str]]:
    return {"filters": [json.dumps({"service": [service], "desired-state": ["running"], **more})]}


@pytest.mark.parametrize("service", ["pyiron-hub_hub-db", "pyiron-hub_docker-guard", "pyiron-hub_hub", "other"])
@pytest.mark.parametrize("method, action", [("DELETE", ""), ("GET", ""), ("GET", "/logs")])
def test_the_swarm_hub_removes_inspects_and_reads_only_its_own_services(service, method, action):
    with pytest.raises(Refused, match="was not made by the hub"):
        owned(method, f"/v1.41/services/{service}{action}")


@pytest.mark.parametrize("service", ["pyiron-hub_hub-db", "pyiron-hub_docker-guard", "other"])
def test_the_swarm_hub_lists_only_its_own_services_tasks(service):
    # A task's spec shows its service's environment.
    with pytest.raises(Refused, match="was not made by the hub"):
        owned("GET", "/v1.41/tasks", tasks_of(service))


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"filters": ['{"desired-state": ["running"]}']},
        {"filters": ['{"service": ["jupyter-alice", "pyiron-hub_hub-db"]}']},
        {"filters": ['{"service": ["jupyter-alice"]}', '{"service": ["pyiron-hub_hub-db"]}']},
        {"filters": ['{"service": ["jupyter-alice"], "node": ["n0d3"]}']},
        {"filters": ["not json"]},
    ],
)
def test_a_task_list_names_one_service(query):
    assert "names one service" in refused("GET", "/v1.41/tasks", None, query)


def test_its_own_services_pass_named_by_the_id_that_was_checked():
    assert owned("DELETE", "/v1.41/services/jupyter-alice") == f"/services/{'a' * 25}"
    assert owned("GET", "/v1.41/services/jupyter-alice") == f"/services/{'a' * 25}"
    assert owned("GET", "/v1.41/services/jupyter-alice/logs") == f"/services/{'a' * 25}/logs"
    assert owned("GET", "/v1.41/tasks", tasks_of("jupyter-alice")) == "/tasks"
    assert owned("GET", "/v1.41/tasks", {"filters": ['{"service": {"jupyter-alice": true}}']}) == "/tasks"
    assert owned("DELETE", "/v1.41/services/gone") == "/services/gone"  # the engine answers 404 itself


def test_a_service_mounts_only_the_hubs_configs(service_body):
    body = service_body()
    asyncio.run(check_service_configs(SWARM, body, inspect))
    for config in ("legacy",):  # the boot step's, made before the guard labelled configs
        body["TaskTemplate"]["ContainerSpec"]["Configs"][0]["ConfigID"] = config
        asyncio.run(check_service_configs(SWARM, body, inspect))
    for config in ("another-stacks", "missing"):
        body["TaskTemplate"]["ContainerSpec"]["Configs"][0]["ConfigID"] = config
        with pytest.raises(Refused, match="was not made by the hub"):
            asyncio.run(check_service_configs(SWARM, body, inspect))


def test_a_managers_volume_that_binds_a_host_path_is_refused_an_nfs_one_as_the_hub_makes_it_passes():
    volume = [{"Type": "volume", "Source": "etc", "Target": "/x"}]
    with pytest.raises(Refused, match="the volume etc has driver 'local' with options"):
        asyncio.run(check_volume_mounts(SWARM, [], volume, inspect))
    home = [{"Type": "volume", "Source": "jupyterhub-home-alice", "Target": "/home/jovyan"}]
    asyncio.run(check_volume_mounts(Policy(**{**SWARM.__dict__, "nfs": NFS}), [], home, inspect))
    with pytest.raises(Refused, match="jupyterhub-home-alice"):
        asyncio.run(check_volume_mounts(SWARM, [], home, inspect))


@pytest.mark.parametrize(
    "method, path, words",
    [
        ("POST", "/v1.41/services/jupyter-alice/update", "changing a service"),
        ("POST", "/v1.41/services/pyiron-hub_hub-db/update", "changing a service"),
        ("GET", "/v1.41/services", "listing services"),
        ("POST", "/v1.41/secrets/create", "secrets"),
        ("GET", "/v1.41/secrets", "secrets"),
        ("DELETE", "/v1.41/configs/c0nf1g", "changing or removing configs"),
        ("POST", "/v1.41/swarm/leave", "the swarm's settings and nodes"),
        ("POST", "/v1.41/swarm/update", "the swarm's settings and nodes"),
        ("POST", "/v1.41/nodes/n0d3/update", "the swarm's settings and nodes"),
        ("DELETE", "/v1.41/nodes/n0d3", "the swarm's settings and nodes"),
        ("POST", "/v1.41/containers/x/exec", "exec"),
        ("POST", "/v1.41/containers/x/start", "not a call the hub makes"),
        ("POST", "/v1.41/networks/create", "not a call the hub makes"),
        ("POST", "/v1.41/volumes/create", "not a call the hub makes"),
    ],
)
def test_the_swarm_guard_refuses_what_the_swarm_hub_never_does(method, path, words):
    assert words in refused(method, path, {"x": 1} if method == "POST" else None)


def test_a_pull_over_the_guards_own_image_is_refused():
    assert "the guard's own image" in refused("POST", "/v1.41/images/create", None, {"fromImage": ["pyiron-hub"]})


def test_the_swarm_guard_reads_where_users_files_are():
    s = load_swarm_guard_settings({"SITE_RESOURCES_DIR": SITE, "SWARM_SHARED_PATH": SHARED + "/"})
    assert (s.bind_paths, s.shared_path, s.nfs) == ({SITE}, SHARED, None)
    assert BindRule(SHARED, "", writable=True) in s.bind_rules()
    s = load_swarm_guard_settings({"SWARM_NFS_SERVER": NFS[0], "SWARM_NFS_EXPORT": NFS[1]})
    assert (s.shared_path, s.nfs) == (None, NFS)
    with pytest.raises(ConfigError) as err:
        load_swarm_guard_settings({"SWARM_SHARED_PATH": "/", "SITE_RESOURCES_DIR": "x"})
    assert {p.where for p in err.value.problems} == {"SWARM_SHARED_PATH", "SITE_RESOURCES_DIR"}


async def test_the_swarm_guard_passes_the_hubs_task_list_on_as_sent_and_refuses_another(tmp_path):
    """Against a stand-in engine on a Unix socket: the JSON filters of a task list reach the
    engine encoded as docker-py sent them; the database's tasks get a 403 with the reason."""
    from aiohttp import web
    from yarl import URL

    seen = []

    async def engine(request):
        if request.path.startswith("/services/"):  # the guard's own inspects
            found = ENGINE.get(("service", request.path.split("/")[2]))
            return web.json_response(found) if found else web.json_response({"message": "no"}, status=404)
        seen.append(request.raw_path)
        return web.json_response([])

    # As docker-py sends tasks(filters=...): the JSON URL-encoded.
    sent = "/v1.41/tasks?" + urlencode(tasks_of("jupyter-alice"), doseq=True)
    async with guard_before_engine(tmp_path, SWARM, engine) as client:
        async with client.get(URL("http://guard" + sent, encoded=True)) as answer:
            assert answer.status == 200 and await answer.json() == []
        theirs = sent.replace("jupyter-alice", "pyiron-hub_hub-db")
        async with client.get(URL("http://guard" + theirs, encoded=True)) as answer:
            assert answer.status == 403 and "was not made by the hub" in (await answer.json())["message"]
    assert seen == [sent]
