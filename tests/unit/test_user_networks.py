"""The users' own networks (user_networks.py) against a stand-in for Docker's API client.

The real engine is in tests/e2e/test_security.py (mallory cannot reach bob's port); here
only the choices: who joins, under which names, what is never touched.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import docker.errors
import pytest

from pyiron_hub_config.user_networks import NETWORK_LABEL, SERVER_LABEL, NoNetworkLeft, UserNetworks

USERS_NETWORK = "pyiron-hub-users"
MINE = f"{USERS_NETWORK}-jupyter-alice"


class FakeDocker:
    """The docker-py APIClient calls the layer makes, on networks and containers held in dicts."""

    def __init__(self, containers: dict[str, dict], pools_left: int = 10):
        self.containers = containers  # id -> {"labels": ..., "aliases": [...]}
        self.networks = {USERS_NETWORK: {"Labels": {}, "Containers": {cid: {} for cid in containers}}}
        self.pools_left = pools_left
        self.joined: list[tuple[str, str, list[str]]] = []

    def inspect_network(self, name):
        if name not in self.networks:
            raise docker.errors.NotFound(name)
        return copy.deepcopy(self.networks[name])  # a fresh answer per call, as from the engine

    def create_network(self, name, driver, check_duplicate, labels):
        if not self.pools_left:
            raise docker.errors.APIError("could not find an available, non-overlapping IPv4 address pool among "
                                         "the defaults to assign to the network")
        self.pools_left -= 1
        self.networks[name] = {"Labels": labels, "Containers": {}}

    def inspect_container(self, cid):
        c = self.containers[cid]
        return {"Name": f"/{cid}", "Config": {"Labels": c["labels"]},
                "NetworkSettings": {"Networks": {USERS_NETWORK: {"Aliases": c["aliases"]}}}}

    def connect_container_to_network(self, cid, name, aliases):
        self.networks[name]["Containers"][cid] = {}
        self.joined.append((cid, name, aliases))

    def disconnect_container_from_network(self, cid, name, force):
        del self.networks[name]["Containers"][cid]

    def remove_network(self, name):
        del self.networks[name]


class Layer(UserNetworks):
    client = None  # the stand-in, instead of DockerSpawner's client property


def layer(fake: FakeDocker) -> Layer:
    spawner = Layer(user=SimpleNamespace(name="alice"), users_network=USERS_NETWORK)
    spawner.client = fake
    return spawner


HUB, CLUSTER, BOB = "1" * 64, "2" * 64, "3" * 64  # container ids


@pytest.fixture
def fake():
    return FakeDocker({
        HUB: {"labels": {}, "aliases": ["hub", HUB[:12]]},
        CLUSTER: {"labels": {}, "aliases": ["slurm"]},
        # bob's server, left on the users' network by ISOLATE_USERS=false: never joins alice's
        BOB: {"labels": {SERVER_LABEL: "true"}, "aliases": ["jupyter-bob"]},
    })


def test_the_hub_and_clusters_join_under_their_names_and_no_other_server(fake):
    layer(fake)._join_user_network_sync()
    assert fake.networks[MINE]["Labels"] == {NETWORK_LABEL: "alice"}
    # Their names on the users' network, less the container's short id (Docker adds its own).
    assert fake.joined == [(HUB, MINE, ["hub"]), (CLUSTER, MINE, ["slurm"])]


def test_joining_again_connects_only_who_is_missing(fake):
    layer(fake)._join_user_network_sync()
    fake.joined.clear()
    layer(fake)._join_user_network_sync()  # a restarted hub's first poll
    assert fake.joined == []


def test_used_up_address_pools_say_what_an_admin_does(fake):
    fake.pools_left = 0
    with pytest.raises(NoNetworkLeft, match="alice's server.*default-address-pools in /etc/docker/daemon.json"):
        layer(fake)._join_user_network_sync()


def test_the_network_goes_with_the_server(fake):
    spawner = layer(fake)
    spawner._join_user_network_sync()
    spawner._remove_network_sync()
    assert MINE not in fake.networks and USERS_NETWORK in fake.networks


def test_a_network_the_hub_did_not_make_is_never_removed(fake):
    fake.networks[MINE] = {"Labels": {}, "Containers": {HUB: {}}}  # an admin's, by that name
    layer(fake)._remove_network_sync()
    assert fake.networks[MINE]["Containers"] == {HUB: {}}
