"""One Docker network per user's server, so that no user reaches another user's ports.

On one shared bridge every container reaches every other's ports: a Dask dashboard or a
test web server a user starts would be open to all users. Docker's ``enable_icc=false``
bridge option cannot help, as it also cuts the hub and the proxy off from the servers.
Instead each server gets a bridge network of its own (<users' network>-<container>), and
what users may reach joins it, under its names on the users' network (DOCKER_NETWORK_NAME):
the hub (with the proxy inside it, HUB_CONNECT_HOST, "hub") and the containers the admin
names in USERS_REACH, nothing else. Keycloak, the backup service or a cluster's login node
on the users' network are not joined unless named: a container joined into every user's
network reaches every user's server, so a shell on it (a login node's) would be a bridge
between users. The demo's cluster is reached through an SSH relay (relay/tcp_relay.py) that is
joined instead: it forwards to the login node's SSH port and nowhere else, and the login
node itself stays off users' networks. Docker itself keeps bridges apart (its
DOCKER-ISOLATION chains), and a user's container has no capability to route through the
hub or the relay. The network is not internal: servers reach the internet and outside
clusters through the host, as before.

Each network gets a subnet the hub picks from its own pool (USER_NETWORKS_POOL, subnets.py),
not one from Docker's default address pools, which hold 31 networks on an engine:
isolation holds for 4096 servers by default without touching /etc/docker/daemon.json.
"""

from __future__ import annotations

import asyncio
import threading
from ipaddress import IPv4Network, ip_network

import docker.errors
from docker.types import IPAMConfig, IPAMPool
from dockerspawner import DockerSpawner
from traitlets import Bool, Integer, List, Unicode

from .subnets import DEFAULT_POOL, DEFAULT_PREFIX, networks_in, next_free_subnet, subnets_of

# The label on users' servers, and on their networks: such containers never join another user's network.
SERVER_LABEL = "org.pyiron-hub.server"
NETWORK_LABEL = "org.pyiron-hub.user-network"


class NoNetworkLeft(RuntimeError):
    """The hub's pool is used up: what the user sees, and what an admin does about it."""

    def __init__(self, user: str, pool: str, prefix: int):
        n = networks_in(ip_network(pool), prefix)
        super().__init__(
            f"No network left for {user}'s server: all {n} networks of /{prefix} in USER_NETWORKS_POOL={pool} "
            "are in use (one per running server with ISOLATE_USERS). An admin sets a larger USER_NETWORKS_POOL "
            '(README "Security notes").'
        )


# Subnets chosen by this hub's starts whose networks are still being made: concurrent starts
# (the spawners' Docker threads) never pick the same one. Another hub on the engine may,
# and Docker's overlap error then sends the start to the next.
_choosing = threading.Lock()
_being_made: set[IPv4Network] = set()


class UserNetworks(DockerSpawner):
    """A layer of PyironSpawner: the server's own network, made at start, removed at stop."""

    isolate_users = Bool(True, help="Give each server a network of its own that the members of network_name join.").tag(
        config=True
    )
    users_network = Unicode(
        help="The network whose members (the hub, clusters) join every user's network: DOCKER_NETWORK_NAME."
    ).tag(config=True)
    joined_names = List(
        Unicode(),
        default_value=["hub"],
        help="Names on network_name of the containers that join each user's network: the hub "
        "(HUB_CONNECT_HOST) and USERS_REACH. Any other member stays off users' networks.",
    ).tag(config=True)
    subnet_pool = Unicode(
        DEFAULT_POOL, help="The range each user's network takes its subnet from: USER_NETWORKS_POOL."
    ).tag(config=True)
    subnet_prefix = Integer(DEFAULT_PREFIX, help="Prefix length of each user's network: USER_NETWORKS_PREFIX.").tag(
        config=True
    )

    _peers_joined = False  # per spawner: a restarted or recreated hub joins again on its first poll

    @property
    def user_network(self) -> str:
        """The server's own network: the users' network's name, then its container's.

        Docker routes a container with several networks through the first by name (of equal
        priority), and moves its published ports there: a name starting with the users'
        network's keeps the hub's default route and port 8000 where they are.
        """
        return f"{self.users_network}-{self.object_name}"

    async def start(self):
        if self.isolate_users:
            await self._join_user_network()
            self.network_name = self.user_network
        return await super().start()

    async def poll(self):
        status = await super().poll()
        if status is None and self.isolate_users and not self._peers_joined:
            try:
                await self._join_user_network()
            except docker.errors.APIError as err:  # answer the poll; the next one tries again
                self.log.warning("Could not join %s's network: %s", self.user.name, err)
        return status

    async def stop(self, now=False):
        result = await super().stop(now=now)
        if self.isolate_users:
            try:
                await self.docker_call(self._remove_network_sync)
            except Exception as err:  # never keep a server from stopping; the next start reuses it
                self.log.warning("Could not remove %s's network: %s", self.user.name, err)
        return result

    async def docker_call(self, function, *args):
        """Run a function of several Docker calls on the spawner's Docker threads."""
        return await asyncio.wrap_future(self.executor.submit(function, *args))

    async def _join_user_network(self) -> None:
        await self.docker_call(self._join_user_network_sync)
        self._peers_joined = True

    def _join_user_network_sync(self) -> None:
        client, name = self.client, self.user_network
        try:
            network = client.inspect_network(name)
        except docker.errors.NotFound:
            self._create_network_sync(name)
            network = client.inspect_network(name)
        joined = set(network.get("Containers") or {})
        for peer_id in client.inspect_network(self.users_network).get("Containers") or {}:
            if peer_id in joined:
                continue
            peer = client.inspect_container(peer_id)
            if (peer["Config"].get("Labels") or {}).get(SERVER_LABEL):
                continue  # another user's server (left on the shared network by ISOLATE_USERS=false)
            aliases = (peer["NetworkSettings"]["Networks"].get(self.users_network) or {}).get("Aliases") or []
            if not set(aliases) & set(self.joined_names):
                continue  # not named by the admin (Keycloak, a login node, the backup service ...)
            try:
                client.connect_container_to_network(peer_id, name, aliases=[a for a in aliases if a != peer_id[:12]])
            except docker.errors.APIError as err:
                if "already exists" not in str(err):
                    raise
            self.log.debug("%s joined %s", peer["Name"].lstrip("/"), name)

    def _create_network_sync(self, name: str) -> None:
        """The network, on the lowest subnet of the pool that no network on the engine has."""
        pool, taken = ip_network(self.subnet_pool), set()
        while True:
            with _choosing:
                used = [*subnets_of(self.client.networks()), *_being_made, *taken]
                subnet = next_free_subnet(pool, self.subnet_prefix, used)
                if subnet is None:
                    raise NoNetworkLeft(self.user.name, self.subnet_pool, self.subnet_prefix)
                _being_made.add(subnet)
            try:
                self.client.create_network(
                    name,
                    driver="bridge",
                    check_duplicate=True,
                    labels={NETWORK_LABEL: self.user.name},
                    # The gateway Docker would pick, given so that inspect shows it as for its own subnets.
                    ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet), gateway=str(subnet[1]))]),
                )
                return
            except docker.errors.APIError as err:
                if err.status_code == 409:  # made by a concurrent call: fine
                    return
                if "overlap" not in str(err).lower():
                    raise
                # Taken since we looked, by a network another hub made: the next one.
                self.log.info("%s for %s's network was just taken; trying the next", subnet, self.user.name)
                taken.add(subnet)
            finally:
                with _choosing:
                    _being_made.discard(subnet)

    def _remove_network_sync(self) -> None:
        client, name = self.client, self.user_network
        try:
            network = client.inspect_network(name)
        except docker.errors.NotFound:
            return
        if (network.get("Labels") or {}).get(NETWORK_LABEL) != self.user.name:
            return  # not ours: never remove a network we did not make
        for member in network.get("Containers") or {}:
            client.disconnect_container_from_network(member, name, force=True)
        client.remove_network(name)
        self._peers_joined = False
