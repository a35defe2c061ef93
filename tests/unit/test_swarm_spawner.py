"""The swarm variant's pure parts: configuration, mounts, node checks, the kept node (swarm.py).

The spawner's talk with a real swarm is tested in tests/e2e/test_swarm.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from docker.errors import APIError, NotFound
from docker.types import Mount
from requests import ReadTimeout
from traitlets.config import Config

from pyiron_hub_config import configure
from pyiron_hub_config.storage import nfs_volume_options, service_volume_mounts
from pyiron_hub_config.swarm import REMOVE_ATTEMPTS, PyironSwarmSpawner, node_problem

from .helpers import with_env

NODE_ID = "n0d3" * 6


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
    return {"Spec": {"Availability": availability, "Labels": labels or {}},
            "Status": {"State": state}, "Description": {"Hostname": "worker-2"}}


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
    assert driver["Options"] == {"type": "nfs", "o": "addr=10.0.0.5,rw,nfsvers=4",
                                 "device": ":/export/pyiron-hub/jupyterhub-home-alice"}


def test_the_image_mounts_follow_the_users_volumes(swarm_config):
    sp = spawner(swarm_config())
    sp._use_image_mounts([{"type": "volume", "source": "pyiron-hub-image-0123456789ab",
                           "target": "/opt/pyiron-hub/image", "read_only": True}])
    assert [m["Target"] for m in sp.mounts][-1] == "/opt/pyiron-hub/image"
    assert sp.mounts[-1]["ReadOnly"] is True


def test_service_volume_mounts_without_nfs():
    assert service_volume_mounts({"v": "/t"}, None) == [{"type": "volume", "source": "v", "target": "/t",
                                                         "read_only": False}]


def test_nfs_options_strip_a_trailing_slash():
    assert nfs_volume_options("nfs", "/e/", "v")["device"] == ":/e/v"


# --- the node that holds a user's files ---------------------------------------------------
def test_an_active_ready_node_can_run_the_server():
    assert node_problem(node(), NODE_ID) is None


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"availability": "drain"}, "which is drained"),
    ({"availability": "pause"}, "which is pause"),
    ({"state": "down"}, "which is down"),
])
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

    async def __call__(self, method, *args):
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
