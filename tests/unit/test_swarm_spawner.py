"""The swarm variant's pure parts: configuration, mounts, node checks, the kept node (swarm.py).

The spawner's talk with a real swarm is tested in tests/e2e/test_swarm.py.
"""

from __future__ import annotations

import os
import stat
from types import SimpleNamespace

import pytest
from docker.errors import APIError, NotFound
from docker.types import Mount
from requests import ReadTimeout
from traitlets.config import Config

from pyiron_hub_config import configure
from pyiron_hub_config.storage import make_user_directories, nfs_volume_options, service_volume_mounts
from pyiron_hub_config.swarm import HUNG_AFTER, REMOVE_ATTEMPTS, PyironSwarmSpawner, node_problem

from .helpers import with_env

NODE_ID = "n0d3" * 6


@pytest.fixture(autouse=True)
def nothing_ran_yet(monkeypatch):
    """The hub's memory of where images ran (all spawners share it) starts empty in each test."""
    monkeypatch.setattr(PyironSwarmSpawner, "_ran_on", set())


@pytest.fixture
def swarm_config(minimal_env):
    def run(**changes) -> Config:
        c = Config()
        configure(c, with_env(minimal_env, SPAWNER="swarm", **changes))
        return c

    return run


def spawner(c: Config) -> PyironSwarmSpawner:
    return PyironSwarmSpawner(config=c, user=SimpleNamespace(name="alice"))


def node(availability="active", state="ready", labels=None) -> dict:
    return {
        "Spec": {"Availability": availability, "Labels": labels or {}},
        "Status": {"State": state},
        "Description": {"Hostname": "worker-2"},
    }


# --- configuration ------------------------------------------------------------------------
def test_swarm_selects_the_swarm_spawner(swarm_config):
    assert swarm_config().JupyterHub.spawner_class is PyironSwarmSpawner


def test_limits_are_reserved_as_well(swarm_config):
    sp = spawner(swarm_config(MEM_LIMIT="3G", CPU_LIMIT="1.5"))
    assert (sp.mem_limit, sp.mem_guarantee) == (3 * 1024**3, 3 * 1024**3)
    assert (sp.cpu_limit, sp.cpu_guarantee) == (1.5, 1.5)


def test_constraints_come_from_the_settings(swarm_config):
    sp = spawner(swarm_config(SWARM_CONSTRAINTS="node.role==worker,node.labels.pyiron==yes"))
    assert sp.constraints == ["node.role==worker", "node.labels.pyiron==yes"]


def test_node_local_storage_by_default(swarm_config):
    assert not spawner(swarm_config()).shared_storage


def test_nfs_makes_storage_shared(swarm_config):
    sp = spawner(swarm_config(SWARM_NFS_SERVER="10.0.0.5", SWARM_NFS_EXPORT="/export/pyiron-hub"))
    assert sp.shared_storage
    assert (sp.nfs_server, sp.nfs_export) == ("10.0.0.5", "/export/pyiron-hub")


def test_a_crashed_server_is_not_restarted_by_the_swarm(swarm_config):
    assert spawner(swarm_config()).extra_task_spec["restart_policy"]["Condition"] == "none"


def test_services_drop_every_capability_and_use_dns_round_robin(swarm_config):
    sp = spawner(swarm_config())
    assert sp.extra_container_spec == {"cap_drop": ["ALL"]}
    assert sp.extra_endpoint_spec == {"mode": "dnsrr"}


# --- mounts -------------------------------------------------------------------------------
def test_users_volumes_are_volume_mounts_not_host_binds(swarm_config):
    mounts = {m["Target"]: m for m in spawner(swarm_config()).mounts}
    assert set(mounts) == {"/home/jovyan", "/home/jovyan/work"}
    assert all(isinstance(m, Mount) and m["Type"] == "volume" for m in mounts.values())
    assert mounts["/home/jovyan"]["Source"] == "jupyterhub-home-alice"
    assert mounts["/home/jovyan/work"]["Source"] == "jupyterhub-user-alice"
    assert "VolumeOptions" not in mounts["/home/jovyan"]


def test_nfs_volumes_name_their_directory_on_the_server(swarm_config):
    sp = spawner(swarm_config(SWARM_NFS_SERVER="10.0.0.5", SWARM_NFS_EXPORT="/export/pyiron-hub/"))
    home = next(m for m in sp.mounts if m["Target"] == "/home/jovyan")
    driver = home["VolumeOptions"]["DriverConfig"]
    assert driver["Name"] == "local"
    assert driver["Options"] == {
        "type": "nfs",
        "o": "addr=10.0.0.5,rw,nfsvers=4",
        "device": ":/export/pyiron-hub/jupyterhub-home-alice",
    }


def test_the_image_mounts_follow_the_users_volumes(swarm_config):
    sp = spawner(swarm_config())
    sp._use_image_mounts(
        [
            {
                "type": "volume",
                "source": "pyiron-hub-image-0123456789ab",
                "target": "/opt/pyiron-hub/image",
                "read_only": True,
            }
        ]
    )
    assert [m["Target"] for m in sp.mounts][-1] == "/opt/pyiron-hub/image"
    assert sp.mounts[-1]["ReadOnly"] is True


def test_service_volume_mounts_without_nfs():
    assert service_volume_mounts({"v": "/t"}, None) == [
        {"type": "volume", "source": "v", "target": "/t", "read_only": False}
    ]


def test_nfs_options_strip_a_trailing_slash():
    assert nfs_volume_options("nfs", "/e/", "v")["device"] == ":/e/v"


# --- the shared path (SWARM_SHARED_PATH) ----------------------------------------------------
@pytest.fixture
def shared(swarm_config, tmp_path):
    root = tmp_path / "shared"
    root.mkdir()
    return root, spawner(swarm_config(SWARM_SHARED_PATH=str(root)))


def test_shared_path_volumes_are_binds_of_its_subdirectories(shared):
    root, sp = shared
    assert sp.shared_storage and sp.shared_path == str(root)
    mounts = {m["Target"]: m for m in sp.mounts}
    assert {t: (m["Type"], m["Source"], m["ReadOnly"]) for t, m in mounts.items()} == {
        "/home/jovyan": ("bind", f"{root}/jupyterhub-home-alice", False),
        "/home/jovyan/work": ("bind", f"{root}/jupyterhub-user-alice", False),
    }


def test_a_deployment_name_prefixes_the_directories(swarm_config, tmp_path):
    sp = spawner(swarm_config(SWARM_SHARED_PATH=str(tmp_path), DEPLOYMENT_NAME="staging"))
    assert {m["Source"] for m in sp.mounts} == {
        f"{tmp_path}/staging-jupyterhub-home-alice",
        f"{tmp_path}/staging-jupyterhub-user-alice",
    }


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to uid 1000 needs root, as the hub has")
def test_directories_are_made_once_for_uid_1000_and_never_world_readable(tmp_path):
    made = make_user_directories(str(tmp_path), ["jupyterhub-home-alice", "jupyterhub-user-alice"])
    assert made == [f"{tmp_path}/jupyterhub-home-alice", f"{tmp_path}/jupyterhub-user-alice"]
    for name in ("jupyterhub-home-alice", "jupyterhub-user-alice"):
        st = (tmp_path / name).stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o700)
    (tmp_path / "jupyterhub-home-alice" / "notebook.ipynb").write_text("{}")
    # Again: nothing made, nothing touched, no staging directory left behind.
    assert make_user_directories(str(tmp_path), ["jupyterhub-home-alice", "jupyterhub-user-alice"]) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jupyterhub-home-alice", "jupyterhub-user-alice"]
    assert (tmp_path / "jupyterhub-home-alice" / "notebook.ipynb").exists()


def test_a_directory_that_cannot_be_made_leaves_nothing(tmp_path, monkeypatch):
    def refuse(path, uid, gid):
        raise PermissionError(1, "Operation not permitted", path)

    monkeypatch.setattr("pyiron_hub_config.storage.os.chown", refuse)
    with pytest.raises(PermissionError):
        make_user_directories(str(tmp_path), ["jupyterhub-home-alice"])
    assert list(tmp_path.iterdir()) == []  # no half-made home a later start would take as made


async def test_a_new_user_gets_directories_and_no_node(shared):
    root, sp = shared
    await sp._use_shared_path()
    assert sp.on_shared_path and sp.node_id == ""
    assert sorted(p.name for p in root.iterdir()) == ["jupyterhub-home-alice", "jupyterhub-user-alice"]


async def test_a_user_whose_files_are_still_on_a_node_stays_pinned_there(shared):
    root, sp = shared
    sp.node_id = NODE_ID  # started before SWARM_SHARED_PATH was set: volumes on that node
    await sp._use_shared_path()
    assert not sp.on_shared_path and not sp.shared_storage and sp.node_id == NODE_ID
    assert {m["Type"] for m in sp.mounts} == {"volume"}
    assert list(root.iterdir()) == []  # no empty home made that would hide the real one


async def test_once_moved_the_user_leaves_their_node(shared):
    root, sp = shared
    sp.node_id = NODE_ID
    (root / "jupyterhub-home-alice").mkdir()  # what `pyiron-hub move-to-shared` leaves
    await sp._use_shared_path()
    assert sp.on_shared_path and sp.node_id == ""
    assert "node_id" not in sp.get_state()
    assert (root / "jupyterhub-user-alice").is_dir()


async def test_a_shared_path_that_cannot_be_written_fails_the_start_naming_it(shared, monkeypatch):
    root, sp = shared

    def refuse(*args):
        raise PermissionError(13, "Permission denied", str(root))

    monkeypatch.setattr("pyiron_hub_config.swarm.make_user_directories", refuse)
    with pytest.raises(RuntimeError, match=f"shared file system {root} could not be made .Permission denied"):
        await sp._use_shared_path()


# --- the node that holds a user's files ---------------------------------------------------
def test_an_active_ready_node_can_run_the_server():
    assert node_problem(node(), NODE_ID) is None


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"availability": "drain"}, "which is drained"),
        ({"availability": "pause"}, "which is pause"),
        ({"state": "down"}, "which is down"),
    ],
)
def test_a_node_that_cannot_run_it_is_named_with_the_reason(kwargs, says):
    problem = node_problem(node(labels={"rack": "b"}, **kwargs), NODE_ID)
    assert problem.startswith(f"node worker-2 (ID {NODE_ID[:12]}, rack=b)")
    assert problem.endswith(says)


def test_a_node_gone_from_the_swarm():
    assert node_problem(None, NODE_ID) == f"node {NODE_ID[:12]} is no longer in the swarm"


def test_the_node_is_kept_across_stops_and_hub_restarts(swarm_config):
    sp = spawner(swarm_config())
    sp.node_id = NODE_ID
    state = sp.get_state()
    assert state["node_id"] == NODE_ID
    sp.clear_state()  # at every stop
    assert sp.node_id == NODE_ID
    fresh = spawner(swarm_config())
    fresh.load_state(state)  # a restarted hub
    assert fresh.node_id == NODE_ID


def test_no_node_before_the_first_start(swarm_config):
    sp = spawner(swarm_config())
    assert "node_id" not in sp.get_state()
    sp.load_state({})
    assert sp.node_id == ""


# --- removal at stop (Docker's answers stood in for: the retry rule only) ------------------
class Answers:
    """spawner.docker standing in: each call takes the next answer (an exception or a value)."""

    def __init__(self, *answers):
        self.answers, self.calls = list(answers), []

    async def __call__(self, method, *args, **kwargs):
        self.calls.append((method, *args))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def removing(swarm_config, monkeypatch):
    async def no_wait(_):
        pass

    monkeypatch.setattr("pyiron_hub_config.swarm.asyncio.sleep", no_wait)

    def make(*answers, object_id="svc123"):
        sp = spawner(swarm_config())
        sp.object_id = object_id
        sp.docker = Answers(*answers)
        return sp

    return make


async def test_a_stopped_servers_service_is_removed_by_id(removing):
    sp = removing(None)
    await sp.remove_object()
    assert sp.docker.calls == [("remove_service", "svc123")]


async def test_without_an_id_the_service_is_removed_by_its_name(removing):
    sp = removing(None, object_id="")
    await sp.remove_object()
    assert sp.docker.calls == [("remove_service", "jupyter-alice")]


async def test_a_service_already_gone_is_fine(removing):
    sp = removing(NotFound("no such service"))
    await sp.remove_object()
    assert len(sp.docker.calls) == 1


async def test_a_busy_manager_is_asked_again(removing):
    sp = removing(APIError("rpc error: update out of sequence"), ReadTimeout("slow"), None)
    await sp.remove_object()
    assert len(sp.docker.calls) == 3


async def test_removal_gives_up_after_the_last_attempt_and_says_so(removing):
    sp = removing(*[APIError("down")] * REMOVE_ATTEMPTS)
    with pytest.raises(APIError):
        await sp.remove_object()
    assert len(sp.docker.calls) == REMOVE_ATTEMPTS


async def test_a_server_that_ended_by_itself_has_its_service_removed_too(removing):
    # JupyterHub skips stop() for a server it finds dead; the post-stop step removes it.
    sp = removing(None)
    await sp.run_post_stop_hook()
    assert sp.docker.calls == [("remove_service", "svc123")]


async def test_after_a_normal_stop_nothing_is_removed_twice(removing):
    sp = removing(object_id="")  # stop() removed the service and cleared the id
    await sp.run_post_stop_hook()
    assert sp.docker.calls == []


# --- a node that refuses the task on a shared path -------------------------------------------
def task(state: str, node_id: str, err: str = "") -> dict:
    return {"Status": {"State": state, "Err": err}, "NodeID": node_id}


MISSING = 'invalid mount config for type "bind": bind source path does not exist: /srv/u/jupyterhub-home-alice'


@pytest.fixture
def placing(shared, monkeypatch):
    """start_object with the swarm's answers stood in for: tasks in turn, services made and removed."""
    from dockerspawner import SwarmSpawner

    _, sp = shared
    created, removed = [], []

    async def create(self):
        created.append(list(self.extra_placement_spec["constraints"]))
        return {"ID": f"svc{len(created)}"}

    async def remove(self):
        removed.append(self.object_id)

    monkeypatch.setattr(SwarmSpawner, "create_object", create)
    monkeypatch.setattr(PyironSwarmSpawner, "remove_object", remove)

    def run(*tasks):
        answers = list(tasks)

        async def get_task():
            return answers.pop(0)

        sp.get_task = get_task
        sp.docker = Answers(*[node(labels={"n": str(i)}) for i in range(5)])  # inspect_node, for names
        sp.object_id = "svc0"
        return sp, created, removed

    return run


async def test_a_node_that_refuses_the_shared_path_is_avoided(placing):
    sp, created, removed = placing(task("rejected", "nodeA", MISSING), task("running", "nodeB"))
    await sp.start_object()
    assert removed == ["svc0"] and sp.object_id == "svc1"
    assert "node.id!=nodeA" in created[0]
    assert sp.node_id == ""  # shared: nothing pinned
    assert not sp._refused_by  # the next start may try nodeA again (its mount may be back)


async def test_when_every_node_refuses_the_start_says_where_and_why(placing):
    sp, created, removed = placing(
        task("rejected", "nodeA", MISSING), task("rejected", "nodeB", MISSING), task("rejected", "nodeC", MISSING)
    )
    with pytest.raises(RuntimeError) as info:
        await sp.start_object()
    message = str(info.value)
    assert message.startswith("Your server could not start on node worker-2 (ID nodeC")
    assert "bind source path does not exist: /srv/u/jupyterhub-home-alice" in message
    assert message.count("could not start on node") == 3  # the two before, named too
    assert created[-1][-2:] == ["node.id!=nodeA", "node.id!=nodeB"]


def pending(err: str) -> dict:
    return {"Status": {"State": "pending", "Err": err}}


async def test_once_the_nodes_left_are_all_ruled_out_the_start_fails_without_waiting(placing):
    # nodeA refused; the others drained or excluded: no waiting frees one (PENDING_GRACE is
    # for resources a stopping server may give back).
    ruled_out = "no suitable node (scheduling constraints not satisfied on 2 nodes; 1 node not available for new tasks)"
    sp, created, removed = placing(task("rejected", "nodeA", MISSING), pending(ruled_out))
    with pytest.raises(RuntimeError) as info:
        await sp.start_object()
    assert str(info.value).startswith(
        f"No swarm node can run your server now: {ruled_out} (before: could not start on node worker-2 (ID nodeA"
    )


async def test_a_node_short_of_resources_is_waited_for(placing):
    short = "no suitable node (insufficient resources on 1 node; scheduling constraints not satisfied on 2 nodes)"
    sp, created, removed = placing(task("rejected", "nodeA", MISSING), pending(short), task("running", "nodeB"))
    await sp.start_object()
    assert len(created) == 1


def failed(node_id: str, exit_code: int) -> dict:
    return {
        "Status": {
            "State": "failed",
            "Err": f"task: non-zero exit ({exit_code})",
            "ContainerStatus": {"ExitCode": exit_code},
        },
        "NodeID": node_id,
    }


READ_ONLY = (
    b"pyiron-hub boot: not writable: /home/jovyan: Read-only file system; /home/jovyan/work: Read-only file system\n"
)


async def test_a_node_where_the_users_folders_are_not_writable_is_avoided_and_named(placing, monkeypatch):
    sp, created, removed = placing(failed("nodeA", 73), failed("nodeB", 73), failed("nodeC", 73))
    sp.docker = Answers(*[node(labels={"n": str(i)}) for i in range(3)])
    logs = SimpleNamespace(service_logs=lambda name, **kwargs: iter([b"other\n", READ_ONLY]))  # a stream
    monkeypatch.setattr(PyironSwarmSpawner, "client", logs)
    with pytest.raises(RuntimeError) as info:
        await sp.start_object()
    root = sp.shared_path
    message = str(info.value)
    assert message.startswith("Your server could not start on node worker-2 (ID nodeC")
    # The node's paths of the user's folders, not the container's mount points.
    assert (
        f"your folders {root}/jupyterhub-home-alice, {root}/jupyterhub-user-alice are not writable there "
        f"({root}/jupyterhub-home-alice: Read-only file system; {root}/jupyterhub-user-alice: Read-only file "
        "system)"
    ) in message
    assert message.count("could not start on node") == 3
    assert created[-1][-2:] == ["node.id!=nodeA", "node.id!=nodeB"] and len(removed) == 2


async def test_without_the_boot_steps_words_the_paths_are_still_named(placing, monkeypatch):
    sp, created, _ = placing(failed("nodeA", 73), task("running", "nodeB"))

    def no_logs(name, **kwargs):
        raise APIError("no logs")

    monkeypatch.setattr(PyironSwarmSpawner, "client", SimpleNamespace(service_logs=no_logs))
    await sp.start_object()
    assert "node.id!=nodeA" in created[0]


async def test_a_server_that_fails_otherwise_is_not_placed_anew(placing):
    sp, created, removed = placing(failed("nodeA", 1))
    with pytest.raises(RuntimeError, match=r"could not start on node worker-2 .*\(failed\): task: non-zero exit \(1\)"):
        await sp.start_object()
    assert created == [] and removed == []


async def test_on_a_shared_path_the_boot_step_must_be_able_to_write(placing, swarm_config):
    sp, created, _ = placing()
    await sp.create_object()
    assert sp.environment["PYIRON_HUB_MUST_WRITE"] == "/home/jovyan:/home/jovyan/work"
    local = spawner(swarm_config())  # node-local volumes: nothing to check
    local.environment = {"PYIRON_HUB_MUST_WRITE": "/home/jovyan"}
    await local.create_object()
    assert "PYIRON_HUB_MUST_WRITE" not in local.environment


async def test_a_node_that_could_not_make_the_container_is_avoided(placing):
    # runc, on a read-only home without the work folder's mount point: the task fails before
    # anything of the user's ran.
    err = (
        "starting container failed: failed to create shim task: OCI runtime create failed: error mounting "
        '"/srv/u/jupyterhub-user-alice" to rootfs at "/home/jovyan/work": read-only file system: unknown'
    )
    sp, created, _ = placing(
        {**failed("nodeA", 128), "Status": {"State": "failed", "Err": err}}, task("running", "nodeB")
    )
    await sp.start_object()
    assert "node.id!=nodeA" in created[0]


def running_at(node_id: str, sp: PyironSwarmSpawner) -> dict:
    """A running task with its address on the users' network (where the hub asks the server)."""
    return {
        **task("running", node_id),
        "NetworksAttachments": [{"Network": {"Spec": {"Name": sp.network_name}}, "Addresses": ["10.0.1.5/24"]}],
    }


@pytest.fixture
def answering(monkeypatch):
    """The server's answer stood in for (never, or at once); no real waiting between polls."""
    import pyiron_hub_config.readiness as readiness

    async def no_wait(_):
        pass

    monkeypatch.setattr(readiness.asyncio, "sleep", no_wait)
    monkeypatch.setattr(readiness, "ENDED_EVERY", 0)
    monkeypatch.setattr(PyironSwarmSpawner, "server", SimpleNamespace(base_url="/user/alice/"))

    def answer(answered: bool):
        async def answers(host, port, path):
            assert (host, path) == ("10.0.1.5", "/user/alice/")
            return answered

        monkeypatch.setattr(readiness, "answers", answers)

    return answer


async def test_a_task_that_ends_after_it_ran_but_before_its_server_answered_is_avoided(placing, answering, monkeypatch):
    # The full swarm run's failure: the hub saw the task "running" (the boot step had begun),
    # then the boot step's check ended it (exit 73); the hub must not wait for an answer
    # until SPAWN_TIMEOUT but refuse that node and place the server anew.
    answering(False)
    sp, created, removed = placing()
    sp, created, removed = placing(running_at("nodeA", sp), failed("nodeA", 73), task("running", "nodeB"))
    monkeypatch.setattr(
        PyironSwarmSpawner, "client", SimpleNamespace(service_logs=lambda name, **kw: iter([READ_ONLY]))
    )
    await sp.start_object()
    assert "node.id!=nodeA" in created[0] and removed == ["svc0"] and sp.object_id == "svc1"


async def test_a_running_task_whose_server_answers_is_not_asked_again(placing, answering):
    answering(True)
    sp, created, removed = placing()
    sp, created, removed = placing(running_at("nodeA", sp))  # a second get_task would find no answer left
    await sp.start_object()
    assert created == [] and removed == []


# --- a node whose mount hangs (neither fails nor answers) ------------------------------------
IMAGE = "registry/base@sha256:abc"


def placed(node_id: str, state: str = "preparing") -> dict:
    return {**task(state, node_id), "Spec": {"ContainerSpec": {"Image": IMAGE}}}


@pytest.fixture
def clock(monkeypatch):
    """The spawner's clock moves on by `step` seconds at each look (no real waiting)."""
    import pyiron_hub_config.swarm as swarm

    now = {"t": 0.0, "step": HUNG_AFTER / 2 + 0.1}

    def monotonic():
        now["t"] += now["step"]
        return now["t"]

    async def no_wait(_):
        pass

    monkeypatch.setattr(swarm, "time", SimpleNamespace(monotonic=monotonic))
    monkeypatch.setattr(swarm.asyncio, "sleep", no_wait)
    return now


async def test_a_node_whose_mount_hangs_is_avoided_once_the_image_ran_there(placing, clock):
    PyironSwarmSpawner._ran_on.add(("nodeA", IMAGE))
    sp, created, removed = placing(placed("nodeA"), placed("nodeA"), placed("nodeA"), placed("nodeB", "running"))
    await sp.start_object()
    assert "node.id!=nodeA" in created[0] and removed == ["svc0"] and sp.object_id == "svc1"
    assert ("nodeB", IMAGE) in PyironSwarmSpawner._ran_on  # its start counts for the next one there


async def test_a_nodes_first_start_of_an_image_may_take_as_long_as_its_pull(placing, clock):
    PyironSwarmSpawner._ran_on.add(("nodeB", IMAGE))  # elsewhere: nodeA has never run it
    sp, created, removed = placing(*[placed("nodeA")] * 6, placed("nodeA", "running"))
    await sp.start_object()
    assert created == [] and removed == []


async def test_when_every_node_hangs_the_start_says_where_and_which_folders(placing, clock):
    PyironSwarmSpawner._ran_on.update({("nodeA", IMAGE), ("nodeB", IMAGE), ("nodeC", IMAGE)})
    sp, created, removed = placing()

    async def get_task():  # each new service's task placed on the next node, where it hangs
        return placed(("nodeA", "nodeB", "nodeC")[len(created)])

    sp.get_task = get_task
    with pytest.raises(RuntimeError) as info:
        await sp.start_object()
    root, message = sp.shared_path, str(info.value)
    assert message.startswith("Your server could not start on node worker-2 (ID nodeC")
    assert (
        f"still preparing after {HUNG_AFTER:.0f} s, with the image there already: its mount of your folders "
        f"{root}/jupyterhub-home-alice, {root}/jupyterhub-user-alice does not answer (hung)"
    ) in message
    assert message.count("could not start on node") == 3 and len(removed) == 2


async def test_without_a_shared_path_a_slow_start_is_left_to_the_spawn_timeout(swarm_config, placing, clock):
    PyironSwarmSpawner._ran_on.add(("nodeA", IMAGE))
    sp, created, removed = placing()
    local = spawner(swarm_config())
    answers = [placed("nodeA")] * 6 + [placed("nodeA", "running")]

    async def get_task():
        return answers.pop(0)

    local.get_task = get_task
    await local.start_object()
    assert created == [] and removed == []
