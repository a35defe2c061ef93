"""The subnets of users' own networks: the next free one in the hub's pool (pure, no Docker).

The hub gives each network an explicit subnet from USER_NETWORKS_POOL rather than letting
Docker take one from its default address pools (172.17–31.0.0/16 and 192.168.0.0/16 in
/20s: 31 networks on an engine, the default bridge among them). The default pool,
172.16.0.0/16, lies in the private 172.16.0.0/12 but outside those pools, so Docker's own
networks (compose's, other projects') never land in it, and in /28s it holds 4096 networks.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network, ip_network

DEFAULT_POOL = "172.16.0.0/16"
DEFAULT_PREFIX = 28
# Server and hub need two addresses beside the network's, broadcast and gateway: /29 (5 hosts).
SMALLEST_PREFIX, LARGEST_PREFIX = 29, 16
# Ranges that are not for hosts on a bridge: this network, loopback, link-local, multicast, reserved.
NOT_FOR_BRIDGES = tuple(IPv4Network(n) for n in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/3"))


def networks_in(pool: IPv4Network, prefix: int) -> int:
    """How many networks of /prefix the pool holds."""
    return 2 ** (prefix - pool.prefixlen) if prefix >= pool.prefixlen else 0


def next_free_subnet(pool: IPv4Network, prefix: int, used: Iterable[IPv4Network | IPv6Network]) -> IPv4Network | None:
    """The lowest /prefix network in the pool that overlaps none of the used ones; None if all do.

    One pass over the used networks sorted by address (IPv6 and those outside the pool
    ignored), skipping each to the next aligned block after it: fast on a pool of
    thousands with thousands in use.
    """
    size = 2 ** (32 - prefix)
    candidate, end = int(pool.network_address), int(pool.broadcast_address)
    spans = sorted(
        (int(n.network_address), int(n.broadcast_address)) for n in used if n.version == 4 and n.overlaps(pool)
    )
    for first, last in spans:
        if candidate + size - 1 < first:
            break  # the candidate ends before this used network: free
        if last >= candidate:
            candidate = (last // size + 1) * size  # the first aligned block after it
    if candidate + size - 1 > end:
        return None
    return IPv4Network((candidate, prefix))


def subnets_of(networks: Iterable[dict]) -> list[IPv4Network | IPv6Network]:
    """The subnets in Docker's network descriptions (``IPAM.Config[].Subnet``), as the API lists them."""
    found = []
    for network in networks:
        for config in (network.get("IPAM") or {}).get("Config") or []:
            try:
                found.append(ip_network(config.get("Subnet") or "", strict=False))
            except ValueError:  # no subnet (e.g. host, none) or one Docker writes oddly: not ours to judge
                continue
    return found
