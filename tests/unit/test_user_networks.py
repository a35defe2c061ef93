"""The users' own networks (user_networks.py) against a stand-in for Docker's API client.

The real engine is in tests/e2e/test_security.py (mallory cannot reach bob's port); here
only the choices: who joins, under which names, what is never touched.
"""

from __future__ import annotations

import copy
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Network, ip_network
from types import SimpleNamespace

import docker.errors
import pytest

from pyiron_hub_config.user_networks import NETWORK_LABEL, SERVER_LABEL, NoNetworkLeft, UserNetworks

USERS_NETWORK = "pyiron-hub-users"
MINE = f"{USERS_NETWORK}-jupyter-alice"


def network(subnet: str, labels: dict | None = None, containers: dict | None = None) -> dict:
    return {"Labels": labels or {}, "Containers": containers or {}, "IPAM": {"Config": [{"Subnet": subnet}]}}


def api_error(status: int, reason: str, explanation: str) -> docker.errors.APIError:
    """As docker-py raises the engine's answer."""
    response = SimpleNamespace(status_code=status, reason=reason, url="http+docker://localhost/networks/create")
    return docker.errors.APIError(f"{status} Client Error", response=response, explanation=explanation)


class FakeDocker:
    """The docker-py APIClient calls the layer makes, on networks and containers held in dicts.

    Networks have subnets as the engine lists them (IPAM.Config); a create with a subnet that
    overlaps another network's fails with the engine's own words.
    """

    def __init__(self, containers: dict[str, dict]):
        self.containers = containers  # id -> {"labels": ..., "aliases": [...]}
        self.by_name = {
            "bridge": network("172.17.0.0/16"),
            USERS_NETWORK: network("172.18.0.0/16", containers={cid: {} for cid in containers}),
        }
        self.hidden: set[str] = set()  # made by another hub after our listing: not listed, yet there
        self.joined: list[tuple[str, str, list[str]]] = []
        self.creates = 0
        self.engine = threading.RLock()  # one call at a time, as the engine answers starts on several threads

    def networks(self):
        with self.engine:
            return [copy.deepcopy(n) for name, n in self.by_name.items() if name not in self.hidden]

    def inspect_network(self, name):
        with self.engine:
            if name not in self.by_name:
                raise docker.errors.NotFound(name)
            return copy.deepcopy(self.by_name[name])  # a fresh answer per call, as from the engine

    def create_network(self, name, driver, check_duplicate, labels, ipam):
        with self.engine:
            self._create_network(name, labels, ipam)

    def _create_network(self, name, labels, ipam):
        self.creates += 1
        if name in self.by_name:
            raise api_error(409, "Conflict", f"network with name {name} already exists")
        (subnet,) = [ip_network(c["Subnet"]) for c in ipam["Config"]]
        if any(ip_network(c["Subnet"]).overlaps(subnet) for n in self.by_name.values() for c in n["IPAM"]["Config"]):
            raise api_error(403, "Forbidden", "Pool overlaps with other one on this address space")
        self.by_name[name] = network(str(subnet), labels=labels)
        self.by_name[name]["IPAM"]["Config"] = [{k: v for k, v in c.items() if v} for c in ipam["Config"]]

    def inspect_container(self, cid):
        c = self.containers[cid]
        return {
            "Name": f"/{cid}",
            "Config": {"Labels": c["labels"]},
            "NetworkSettings": {"Networks": {USERS_NETWORK: {"Aliases": c["aliases"]}}},
        }

    def connect_container_to_network(self, cid, name, aliases):
        with self.engine:
            self.by_name[name]["Containers"][cid] = {}
            self.joined.append((cid, name, aliases))

    def disconnect_container_from_network(self, cid, name, force):
        with self.engine:
            del self.by_name[name]["Containers"][cid]

    def remove_network(self, name):
        with self.engine:
            del self.by_name[name]


class Layer(UserNetworks):
    client = None  # the stand-in, instead of DockerSpawner's client property


def layer(fake: FakeDocker, user: str = "alice", **config) -> Layer:
    config.setdefault("joined_names", ["hub", "slurm"])
    spawner = Layer(user=SimpleNamespace(name=user), users_network=USERS_NETWORK, **config)
    spawner.client = fake
    return spawner


def subnet_of(fake: FakeDocker, name: str) -> IPv4Network:
    return ip_network(fake.by_name[name]["IPAM"]["Config"][0]["Subnet"])


HUB, CLUSTER, BOB = "1" * 64, "2" * 64, "3" * 64  # container ids


@pytest.fixture
def fake():
    return FakeDocker(
        {
            HUB: {"labels": {}, "aliases": ["hub", HUB[:12]]},
            CLUSTER: {"labels": {}, "aliases": ["slurm"]},
            # bob's server, left on the users' network by ISOLATE_USERS=false: never joins alice's
            BOB: {"labels": {SERVER_LABEL: "true"}, "aliases": ["jupyter-bob"]},
        }
    )


def test_the_hub_and_clusters_join_under_their_names_and_no_other_server(fake):
    layer(fake)._join_user_network_sync()
    assert fake.by_name[MINE]["Labels"] == {NETWORK_LABEL: "alice"}
    # Their names on the users' network, less the container's short id (Docker adds its own).
    assert fake.joined == [(HUB, MINE, ["hub"]), (CLUSTER, MINE, ["slurm"])]


def test_only_the_hub_and_what_the_admin_names_join(fake):
    # issue 29: Keycloak, the backup service, a login node: on the users' network, not in users' networks.
    fake.containers["4" * 64] = {"labels": {}, "aliases": ["keycloak", "4" * 12]}
    fake.by_name[USERS_NETWORK]["Containers"]["4" * 64] = {}
    layer(fake, joined_names=["hub"])._join_user_network_sync()
    assert fake.joined == [(HUB, MINE, ["hub"])]
    assert set(fake.by_name[MINE]["Containers"]) == {HUB}


def test_by_default_the_hub_alone_joins(fake):
    spawner = Layer(user=SimpleNamespace(name="alice"), users_network=USERS_NETWORK)
    spawner.client = fake
    spawner._join_user_network_sync()
    assert [cid for cid, _, _ in fake.joined] == [HUB]


def test_joining_again_connects_only_who_is_missing(fake):
    layer(fake)._join_user_network_sync()
    fake.joined.clear()
    layer(fake)._join_user_network_sync()  # a restarted hub's first poll
    assert fake.joined == []


def test_the_network_takes_the_first_free_subnet_of_the_pool(fake):
    fake.by_name["someone-elses"] = network("172.16.0.0/28")
    layer(fake)._join_user_network_sync()
    assert subnet_of(fake, MINE) == IPv4Network("172.16.0.16/28")


def test_the_network_has_its_first_address_as_gateway(fake):
    layer(fake)._join_user_network_sync()
    assert fake.by_name[MINE]["IPAM"]["Config"] == [{"Subnet": "172.16.0.0/28", "Gateway": "172.16.0.1"}]


def test_the_configured_pool_and_prefix(fake):
    layer(fake, subnet_pool="10.213.0.0/16", subnet_prefix=27)._join_user_network_sync()
    assert subnet_of(fake, MINE) == IPv4Network("10.213.0.0/27")


def test_a_subnet_taken_since_the_listing_sends_the_start_to_the_next(fake):
    # Another hub on the engine made a network on the subnet this start picks, after it looked.
    fake.by_name["other-hub"] = network("172.16.0.0/28")
    fake.hidden.add("other-hub")
    layer(fake)._join_user_network_sync()
    assert subnet_of(fake, MINE) == IPv4Network("172.16.0.16/28") and fake.creates == 2


def test_a_pool_used_up_says_which_setting_an_admin_raises(fake):
    fake.by_name["the-only-one"] = network("10.9.0.0/28")
    with pytest.raises(
        NoNetworkLeft,
        match=r"alice's server: all 1 networks of /28 in "
        r"USER_NETWORKS_POOL=10\.9\.0\.0/28 are in use.*larger USER_NETWORKS_POOL",
    ):
        layer(fake, subnet_pool="10.9.0.0/28")._join_user_network_sync()
    assert MINE not in fake.by_name


def test_a_pool_used_up_by_another_hub_meanwhile_ends_in_the_message(fake):
    fake.by_name["other-hub"] = network("10.9.0.0/28")
    fake.hidden.add("other-hub")
    with pytest.raises(NoNetworkLeft):
        layer(fake, subnet_pool="10.9.0.0/28")._join_user_network_sync()


def test_starts_at_once_in_one_hub_never_pick_the_same_subnet(fake):
    made = fake.create_network

    def slow_create(*args, **kw):  # the engine takes its time, while the other threads choose
        time.sleep(0.01)
        return made(*args, **kw)

    fake.create_network = slow_create
    users = [f"user{i}" for i in range(16)]
    with ThreadPoolExecutor(8) as threads:
        list(threads.map(lambda u: layer(fake, u)._join_user_network_sync(), users))
    subnets = {subnet_of(fake, f"{USERS_NETWORK}-jupyter-{u}") for u in users}
    assert len(subnets) == 16 and fake.creates == 16  # none had to try again


def test_the_network_goes_with_the_server(fake):
    spawner = layer(fake)
    spawner._join_user_network_sync()
    spawner._remove_network_sync()
    assert MINE not in fake.by_name and USERS_NETWORK in fake.by_name


def test_a_network_the_hub_did_not_make_is_never_removed(fake):
    fake.by_name[MINE] = {"Labels": {}, "Containers": {HUB: {}}}  # an admin's, by that name
    layer(fake)._remove_network_sync()
    assert fake.by_name[MINE]["Containers"] == {HUB: {}}
