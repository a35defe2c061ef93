"""The choice of a user's network's subnet in the hub's pool (subnets.py): pure, no Docker."""

from __future__ import annotations

from ipaddress import IPv4Network, ip_network

import pytest

from pyiron_hub_config.subnets import DEFAULT_POOL, DEFAULT_PREFIX, networks_in, next_free_subnet, subnets_of

POOL = IPv4Network(DEFAULT_POOL)


def nets(*cidrs: str) -> list:
    return [ip_network(c) for c in cidrs]


def test_an_empty_pool_gives_its_first_network():
    assert next_free_subnet(POOL, 28, []) == IPv4Network("172.16.0.0/28")


def test_the_default_pool_holds_4096_networks_of_16_addresses():
    assert (networks_in(POOL, DEFAULT_PREFIX), IPv4Network("172.16.0.0/28").num_addresses) == (4096, 16)
    assert networks_in(IPv4Network("10.0.0.0/29"), 28) == 0


@pytest.mark.parametrize(
    "used, expected",
    [
        (["172.16.0.0/28"], "172.16.0.16/28"),
        (["172.16.0.0/28", "172.16.0.16/28", "172.16.0.48/28"], "172.16.0.32/28"),  # the gap first
        (["172.16.0.5/32"], "172.16.0.16/28"),  # a smaller network inside a candidate takes it
        (["172.16.0.0/24"], "172.16.1.0/28"),  # a larger one takes every candidate it covers
        (["172.16.0.8/29", "172.16.0.0/24", "172.16.0.16/28"], "172.16.1.0/28"),  # nested and unsorted
        (["172.16.0.0/28", "172.16.0.0/28"], "172.16.0.16/28"),  # listed twice
        (["172.17.0.0/16", "192.168.0.0/20", "10.0.0.0/8"], "172.16.0.0/28"),  # Docker's own, outside the pool
        (["fd00::/64", "::/0"], "172.16.0.0/28"),  # IPv6 never blocks an IPv4 subnet
    ],
)
def test_the_lowest_network_that_overlaps_nothing_used(used, expected):
    assert next_free_subnet(POOL, 28, nets(*used)) == IPv4Network(expected)


def test_a_network_covering_the_pool_leaves_nothing():
    assert next_free_subnet(POOL, 28, nets("172.16.0.0/12")) is None


def test_a_pool_used_up_gives_none_and_one_freed_is_found():
    small = IPv4Network("10.9.0.0/26")  # four /28s
    used = list(small.subnets(new_prefix=28))
    assert next_free_subnet(small, 28, used) is None
    assert next_free_subnet(small, 28, used[:2] + used[3:]) == used[2]


def test_every_network_of_a_pool_is_handed_out_once_and_then_none():
    pool, used = IPv4Network("172.16.0.0/20"), []
    for _ in range(256):
        subnet = next_free_subnet(pool, 28, used)
        assert subnet is not None and subnet.subnet_of(pool) and subnet.prefixlen == 28
        used.append(subnet)
    assert len(set(used)) == 256 and next_free_subnet(pool, 28, used) is None


def test_the_last_network_of_the_default_pool_with_4095_in_use():
    used = list(POOL.subnets(new_prefix=28))
    last = used.pop()
    assert next_free_subnet(POOL, 28, used) == last == IPv4Network("172.16.255.240/28")


@pytest.mark.parametrize("prefix, expected", [(29, "172.16.0.8/29"), (27, "172.16.0.32/27"), (24, "172.16.1.0/24")])
def test_other_prefix_lengths_stay_aligned(prefix, expected):
    assert next_free_subnet(POOL, prefix, nets("172.16.0.0/29", "172.16.0.16/28")) == IPv4Network(expected)


def test_subnets_as_docker_lists_its_networks():
    listed = [
        {
            "Name": "bridge",
            "IPAM": {"Driver": "default", "Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]},
        },
        {"Name": "host", "IPAM": {"Driver": "default", "Config": []}},
        {"Name": "none", "IPAM": {"Driver": "default", "Config": None}},
        {"Name": "dual", "IPAM": {"Config": [{"Subnet": "172.16.0.16/28"}, {"Subnet": "fd00:1::/64"}]}},
        {"Name": "odd", "IPAM": {"Config": [{"Gateway": "10.0.0.1"}, {"Subnet": "not a subnet"}]}},
        {"Name": "no ipam"},
    ]
    assert subnets_of(listed) == nets("172.17.0.0/16", "172.16.0.16/28", "fd00:1::/64")
