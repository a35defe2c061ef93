"""One Docker network per user's server, so that no user reaches another user's ports.

On one shared bridge every container reaches every other's ports: a Dask dashboard or a
test web server a user starts would be open to all users. Docker's ``enable_icc=false``
bridge option cannot help, as it also cuts the hub and the proxy off from the servers.
Instead each server gets a bridge network of its own (<users' network>-<container>), and
what users may reach joins it: every container on the users' network (DOCKER_NETWORK_NAME)
but users' servers, i.e. the hub (with the proxy inside it) under its aliases ("hub"),
and e.g. a cluster's login node run as a container. Docker itself keeps bridges apart
(its DOCKER-ISOLATION chains), and a user's container has no capability to route
through the hub. The network is not internal: servers reach the internet and outside
clusters through the host, as before.

Each network takes a subnet from the engine's address pools (README "Security notes":
Docker's defaults hold about 30 networks; ``default-address-pools`` raises that).
"""

from __future__ import annotations

import asyncio

import docker.errors
from dockerspawner import DockerSpawner
from traitlets import Bool, Unicode

# The label on users' servers, and on their networks: such containers never join another user's network.
SERVER_LABEL = "org.pyiron-hub.server"
NETWORK_LABEL = "org.pyiron-hub.user-network"


class NoNetworkLeft(RuntimeError):
    """The engine's address pools are used up: what the user sees, and what an admin does about it."""

    def __init__(self, user: str):
        super().__init__(
            f"No network left for {user}'s server: the Docker engine's address pools are used up (one network "
            "per running server with ISOLATE_USERS; Docker's defaults hold about 30). An admin raises "
            "default-address-pools in /etc/docker/daemon.json (README \"Security notes\")."
        )


class UserNetworks(DockerSpawner):
    """A layer of PyironSpawner: the server's own network, made at start, removed at stop."""

    isolate_users = Bool(
        True, help="Give each server a network of its own that the members of network_name join."
    ).tag(config=True)
    users_network = Unicode(
        help="The network whose members (the hub, clusters) join every user's network: DOCKER_NETWORK_NAME."
    ).tag(config=True)

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
            try:
                client.create_network(name, driver="bridge", check_duplicate=True,
                                      labels={NETWORK_LABEL: self.user.name})
            except docker.errors.APIError as err:
                if "address pool" in str(err):
                    raise NoNetworkLeft(self.user.name) from err
                if err.status_code != 409:  # made by a concurrent call: fine
                    raise
            network = client.inspect_network(name)
        joined = set(network.get("Containers") or {})
        for peer_id in client.inspect_network(self.users_network).get("Containers") or {}:
            if peer_id in joined:
                continue
            peer = client.inspect_container(peer_id)
            if (peer["Config"].get("Labels") or {}).get(SERVER_LABEL):
                continue  # another user's server (left on the shared network by ISOLATE_USERS=false)
            aliases = (peer["NetworkSettings"]["Networks"].get(self.users_network) or {}).get("Aliases") or []
            try:
                client.connect_container_to_network(peer_id, name, aliases=[a for a in aliases if a != peer_id[:12]])
            except docker.errors.APIError as err:
                if "already exists" not in str(err):
                    raise
            self.log.debug("%s joined %s", peer["Name"].lstrip("/"), name)

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
