"""The swarm variant: users' servers as Docker Swarm services, spread over the worker nodes.

Built on dockerspawner's SwarmSpawner, not on jhub-swarmspawner: SwarmSpawner is a
DockerSpawner, so the picker, its checks, the limits and the image mounts are the very
same code as on one host (EnvironmentPicker); jhub-swarmspawner is a Spawner of its own
with its own form and image list, and would pull in jhub-authenticators. What
SwarmSpawner gets wrong for us is mended here: ``volumes`` become real volume mounts
(not bind mounts of host paths, jupyterhub/dockerspawner#536, #537), limits become
limits *and* reservations, a crashed server is not restarted behind the hub's back, and a
task that cannot run fails at once with the scheduler's reason.

Where a user's files live decides where their server may run:
- SWARM_SHARED_PATH set: a directory every node mounts at that same path (the site's NFS,
  CephFS, GPFS ...). The user's volumes are bind mounts of <path>/<volume name>, which the
  hub makes on first use (storage.make_user_directories); the scheduler places the server
  anywhere SWARM_CONSTRAINTS allow. A user whose files are still in node-local volumes
  (pinned to a node, and no home directory on the shared path yet) keeps the node-local
  behaviour below until the admin moves them (`pyiron-hub move-to-shared`).
- SWARM_NFS_SERVER set: volumes are NFS directories, the same on every node; the
  scheduler places the server anywhere SWARM_CONSTRAINTS allow.
- otherwise the volumes are local to the node of the user's first start. That node's ID
  is kept in the spawner's state, and every later start is constrained to it; if the node
  is drained, paused or down, the start fails at once saying so, instead of starting on
  another node with an empty home.
"""

from __future__ import annotations

import asyncio
import os
import time

from docker.errors import NotFound
from docker.types import DriverConfig, Mount, RestartPolicy
from docker.utils import parse_repository_tag
from dockerspawner import SwarmSpawner
from jupyterhub.utils import maybe_future
from requests import RequestException
from traitlets import List, Unicode, default

from .boot_file import boot_config
from .boot_shared import MUST_WRITE_VARIABLE, NOT_WRITABLE, NOT_WRITABLE_LINE
from .docker_pool import PooledDockerSpawner
from .readiness import AnswerBeforeReady
from .spawner import EnvironmentPicker
from .storage import HOME, make_user_directories, service_volume_mounts, shared_directory

# Task states (docker/swarmkit) after which the task will never run.
_FINAL_STATES = {"complete", "shutdown", "failed", "rejected", "orphaned", "remove"}
# A task the scheduler cannot place stays "pending" with its reason in Err; give the
# scheduler this long (a server elsewhere may just be stopping) before saying why.
PENDING_GRACE = 15.0
# Why the scheduler leaves a node out where waiting frees nothing (swarmkit's filters'
# words): its constraints (our node.id!= of a node that refused) or its availability.
_RULED_OUT = ("scheduling constraints not satisfied", "not available for new tasks")
# A stopped server's service is removed with this many tries (1, 2, 4 ... s apart).
REMOVE_ATTEMPTS = 4
# On a shared path, a node that refuses the task (the path missing or its mount dead there:
# Docker refuses a missing bind source, runc one it cannot mount; or the boot step finds the
# user's folders not writable there) is avoided, and this many other nodes are tried.
MAX_REFUSALS = 2
# How long the boot step's own words on why a folder is not writable are waited for.
LOG_WAIT = 10.0
# Task states after placement on a node and before running (docker/swarmkit).
_PLACED_STATES = {"assigned", "accepted", "preparing", "ready", "starting"}
# On a shared path, a task placed on a node that has run its image before, and still not
# running after this long, counts as that node's refusal: Docker there waits on a mount that
# hangs (an NFS server gone under a `hard` mount, a stopped FUSE daemon) and would wait until
# SPAWN_TIMEOUT. A start on a node that has the image takes seconds (benchmarks/swarm_spawn.py).
HUNG_AFTER = 30.0


def _only_ruled_out(err: str) -> bool:
    """Does 'no suitable node (...)' leave every node out for a reason that waiting does not end?"""
    reasons = [reason for reason in err.partition("(")[2].rstrip(")").split("; ") if reason]
    return bool(reasons) and all(any(words in reason for words in _RULED_OUT) for reason in reasons)


def _task_image(task: dict) -> str | None:
    return task.get("Spec", {}).get("ContainerSpec", {}).get("Image")


class NodeUnavailable(RuntimeError):
    """The node that holds a user's files cannot run their server now."""


def node_name(node: dict, node_id: str) -> str:
    """'node vm (ID 4f2a..., pyiron-hub.test-node=node2)': host names alone may repeat."""
    labels = ", ".join(f"{k}={v}" for k, v in sorted(node["Spec"].get("Labels", {}).items()))
    return f"node {node['Description']['Hostname']} (ID {node_id[:12]}{', ' + labels if labels else ''})"


def node_problem(node: dict | None, node_id: str) -> str | None:
    """Why a server pinned to this node cannot start there, or None if it can."""
    if node is None:
        return f"node {node_id[:12]} is no longer in the swarm"
    availability = node["Spec"].get("Availability", "active")
    state = node["Status"].get("State", "unknown")
    name = node_name(node, node_id)
    if availability != "active":
        return f"{name}, which is {'drained' if availability == 'drain' else availability}"
    if state != "ready":
        return f"{name}, which is {state}"
    return None


class PyironSwarmSpawner(EnvironmentPicker, AnswerBeforeReady, SwarmSpawner, PooledDockerSpawner):
    """Starts the environment a user picks as a swarm service (see the module's docstring).

    As on one host, the server is seen as soon as it answers (readiness.py) and Docker calls
    run on a pool of threads (docker_pool.py). Each of these layers is a DockerSpawner that
    overrides methods of its own; PooledDockerSpawner replaces only DockerSpawner's single
    thread, which SwarmSpawner does not touch.
    """

    constraints = List(
        Unicode(), help="Placement constraints of every user's service, e.g. ['node.role==worker']."
    ).tag(config=True)
    nfs_server = Unicode(None, allow_none=True, help="NFS server of users' volumes; None: volumes stay on a node.").tag(
        config=True
    )
    nfs_export = Unicode(None, allow_none=True, help="Exported directory on nfs_server.").tag(config=True)
    shared_path = Unicode(
        None,
        allow_none=True,
        help="Directory every node mounts at this path, holding users' volumes as subdirectories.",
    ).tag(config=True)
    # The node holding this user's volumes (node-local storage only); kept across stops.
    node_id = Unicode("")
    # (node ID, image) of every server that ran, all users together: there the image is pulled.
    _ran_on: set[tuple[str, str]] = set()

    @default("pull_policy")
    def _pull_policy_default(self):
        # The hub's own engine needs the image to know its id (which names the read-only
        # copy of its home); the nodes pull it by digest from the registry.
        return "ifnotpresent"

    @default("extra_task_spec")
    def _extra_task_spec_default(self):
        # As with one container per start: a server that exits stays stopped and the hub
        # notices, rather than the swarm restarting it out of sight.
        return {"restart_policy": RestartPolicy(condition="none")}

    @default("extra_container_spec")
    def _extra_container_spec_default(self):
        # Services cannot say no-new-privileges (Docker 20.10); dropping every capability
        # from the bounding set leaves a setuid binary nothing to gain either.
        return {"cap_drop": ["ALL"]}

    @default("extra_endpoint_spec")
    def _extra_endpoint_spec_default(self):
        # The hub finds the server by the service's name; DNS round robin answers with the
        # task's own address. The default virtual IP needs the kernel's IPVS, which not
        # every kernel has, and brings nothing to a service of one task.
        return {"mode": "dnsrr"}

    @property
    def on_shared_path(self) -> bool:
        """This start's volumes are directories on shared_path (not a node-local user's, see create_object)."""
        return bool(self.shared_path) and not getattr(self, "_files_on_node", False)

    @property
    def shared_storage(self) -> bool:
        return bool(self.nfs_server and self.nfs_export) or self.on_shared_path

    @property
    def volume_names(self) -> dict[str, str]:
        """The user's volume names -> mount points."""
        return {source: bind["bind"] for source, bind in self._volumes_to_binds(self.volumes, {}).items()}

    @property
    def mounts(self):
        names = self.volume_names
        nfs = (self.nfs_server, self.nfs_export) if self.nfs_server and self.nfs_export else None
        shared = self.shared_path if self.on_shared_path else None
        mounts = []
        for spec in service_volume_mounts(names, nfs, shared) + list(getattr(self, "_image_mounts", [])):
            spec = dict(spec)
            if "driver_config" in spec:
                spec["driver_config"] = DriverConfig(**spec["driver_config"])
            mounts.append(Mount(**spec))
        return mounts

    def _use_image_mounts(self, mounts: list[dict]) -> None:
        self._image_mounts = mounts  # turned into the service's mounts with the volumes (mounts)

    async def _ship_boot_step(self) -> None:
        config = await asyncio.wrap_future(self.executor.submit(boot_config, self.client))
        self.extra_container_spec = {**self.extra_container_spec, "configs": [config]}

    def _set_size(self, mem_limit: int, cpu_limit: float) -> None:
        # Reserved as well as limited: the scheduler then places a server only on a node
        # with that much memory and CPU left, instead of overfilling one node.
        self.mem_limit = self.mem_guarantee = mem_limit
        self.cpu_limit = self.cpu_guarantee = cpu_limit

    async def _image_to_run(self, image: str) -> tuple[str, str]:
        # Pinned by digest: every node runs exactly the image whose id names the home copy,
        # even if the tag moves on in the registry meanwhile (`pyiron-hub pull` moves it).
        await self.pull_image(image)
        info = await self.docker("inspect_image", image)
        repository, _ = parse_repository_tag(image)
        digests = [d for d in info.get("RepoDigests") or [] if d.split("@", 1)[0] == repository]
        if not digests:
            self.log.warning("%s has no registry digest: every node must have it already", image)
        return (digests[0] if digests else image), info["Id"]

    # The server runs on a node's engine, which the hub does not drive: there is no container
    # here to read its public key or the boot step's file report from.
    async def read_public_key(self):
        return None

    async def read_files_skipped(self) -> dict[str, str]:
        return {}

    async def _use_shared_path(self) -> None:
        """Decide where this start's files are; make the user's directories on first use.

        Made here, by the hub, not by the boot step: a bind mount's source must exist before
        the container does (Docker refuses a missing one rather than make it root-owned),
        and the boot step runs inside the container as the user, who must never see the
        shared path's other directories. The hub sees the same path (compose.swarm-shared.yml).
        """
        names = self.volume_names
        home = next((name for name, target in names.items() if target == HOME), None)
        moved = home is not None and await asyncio.wrap_future(
            self.executor.submit(os.path.isdir, shared_directory(self.shared_path, home))
        )
        # Files still in node-local volumes (their node known, never moved): stay with them.
        self._files_on_node = bool(self.node_id) and not moved
        if self._files_on_node:
            self.log.info(
                "%s's files are still in volumes on node %s (not yet moved to %s)",
                self.user.name,
                self.node_id[:12],
                self.shared_path,
            )
            return
        try:
            made = await asyncio.wrap_future(self.executor.submit(make_user_directories, self.shared_path, list(names)))
        except OSError as err:
            raise RuntimeError(
                f"Your folders on the shared file system {self.shared_path} could not be made "
                f"({err.strerror or err}). Ask the hub's admin."
            ) from err
        for path in made:
            self.log.info("Made %s for %s", path, self.user.name)
        self.node_id = ""  # moved: the node of the old volumes no longer matters

    async def create_object(self):
        constraints = list(self.constraints)
        if self.shared_path:
            await self._use_shared_path()
        self._must_write()
        if self.node_id and not self.shared_storage:
            try:
                node = await self.docker("inspect_node", self.node_id)
            except NotFound:
                node = None
            problem = node_problem(node, self.node_id)
            if problem:
                raise NodeUnavailable(
                    f"Your files are on swarm {problem}: your server cannot start anywhere else without "
                    "them. Ask the hub's admin to bring that node back (docker node update --availability "
                    "active) or to move your files."
                )
            constraints.append(f"node.id=={self.node_id}")
        constraints += [f"node.id!={node_id}" for node_id in getattr(self, "_refused_by", {})]
        self.extra_placement_spec = {**self.extra_placement_spec, "constraints": constraints}
        return await super().create_object()

    async def start_object(self):
        """Wait until the task runs; fail at once, with Docker's reason, if it cannot."""
        # Asked of the manager finely at first: a task usually runs within a second or two
        # (measured: benchmarks/swarm_spawn.py), and each poll is one cheap API call.
        self._refused_by = {}  # node ID -> why it refused this start's task
        try:
            task = await self._running_task()
        finally:
            self._refused_by = {}
        if not self.shared_storage and not self.node_id:
            self.node_id = task["NodeID"]
            self.log.info("%s's files are on node %s from now on", self.user.name, self.node_id[:12])
        self.log.info("%s's server runs on node %s", self.user.name, task["NodeID"][:12])

    def _must_write(self) -> None:
        """On a shared path, the boot step checks that the user's folders take a new file (boot.py)."""
        # Checked inside the container, not by the hub: only there is it the node's mount
        # and uid 1000 writing; the hub sees the path through its own mount, as root.
        environment = {k: v for k, v in self.environment.items() if k != MUST_WRITE_VARIABLE}
        if self.on_shared_path:
            environment[MUST_WRITE_VARIABLE] = os.pathsep.join(self.volume_names.values())
        self.environment = environment

    def _boot_log(self) -> str:
        """The end of the service's log, read from the task's node through the manager (blocking)."""
        # A stream even when not following: read it whole here, on the executor.
        return b"".join(self.client.service_logs(self.service_name, stderr=True, tail=20)).decode(errors="replace")

    async def _not_writable(self, node: str) -> str:
        """Why the boot step found the user's folders not writable: the shared paths, and its own words."""
        names = self.volume_names
        paths = ", ".join(shared_directory(self.shared_path, name) for name in names)
        lines = []
        try:
            logs = await asyncio.wait_for(asyncio.wrap_future(self.executor.submit(self._boot_log)), LOG_WAIT)
            lines = [line.split(NOT_WRITABLE_LINE, 1)[1] for line in logs.splitlines() if NOT_WRITABLE_LINE in line]
        except (TimeoutError, RequestException) as err:  # the node's words are a bonus; the path is the point
            self.log.warning("No log of %s's boot step from%s: %s", self.user.name, node, err)
        # The container's mount points, named as the node's paths the user's folders are at.
        words = lines[-1] if lines else "no file could be made there"
        for name, target in sorted(names.items(), key=lambda item: -len(item[1])):
            words = words.replace(f"{target}:", f"{shared_directory(self.shared_path, name)}:")
        return f"could not start{node}: your folders {paths} are not writable there ({words})"

    async def _running_task(self) -> dict:
        started, delay, placed = time.monotonic(), 0.1, None
        while True:
            task = await self.get_task()
            if not task:
                raise RuntimeError(f"Service {self.service_name} has no task")
            if task["Status"]["State"] == "running":
                task = await self._ended_before_answering(task) or task
            status = task["Status"]
            state, err = status["State"], status.get("Err") or status.get("Message", "")
            if state == "running":
                PyironSwarmSpawner._ran_on.add((task.get("NodeID"), _task_image(task) or self.image))
                return task
            before = f" (before: {'; '.join(self._refused_by.values())})" if self._refused_by else ""
            why, refused = None, False
            if state in _FINAL_STATES:
                node = await self._node_name(task.get("NodeID"))
                # A node that could not make the container (e.g. runc could not mount the
                # user's folders there: read-only, dead) refused it as surely as a rejection.
                refused = state == "rejected" or (state == "failed" and err.startswith("starting container failed"))
                if state == "failed" and status.get("ContainerStatus", {}).get("ExitCode") == NOT_WRITABLE:
                    why, refused = await self._not_writable(node), True
                else:
                    why = f"could not start{node} ({state}): {err}"
            elif state in _PLACED_STATES and task.get("NodeID"):
                placed = placed or time.monotonic()
                if self._hangs(task, time.monotonic() - placed):
                    why, refused = self._not_answering(await self._node_name(task["NodeID"]), state), True
            if why:
                if refused and self.on_shared_path and task.get("NodeID") and len(self._refused_by) < MAX_REFUSALS:
                    # Placed anew as a new service, never again on that node.
                    self.log.warning("%s's server %s; trying another node", self.user.name, why)
                    self._refused_by[task["NodeID"]] = why
                    await self.remove_object()
                    self.object_id = (await self.create_object())[self.object_id_key]
                    started, delay, placed = time.monotonic(), 0.1, None
                    continue
                raise RuntimeError(f"Your server {why}{before}")
            if (
                state == "pending"
                and status.get("Err")
                and (time.monotonic() - started > PENDING_GRACE or (self._refused_by and _only_ruled_out(err)))
            ):
                raise RuntimeError(f"No swarm node can run your server now: {err}{before}")
            await asyncio.sleep(delay)
            delay = min(delay * 1.3, 2)

    def _hangs(self, task: dict, placed_for: float) -> bool:
        """Has this task, on a shared path, been placed for longer than a start there ever takes?

        Only where this hub has run the image on that node before: a node's first start of an
        image pulls it first, which may take as long as the image is big.
        """
        return (
            self.on_shared_path
            and placed_for > HUNG_AFTER
            and (task.get("NodeID"), _task_image(task) or self.image) in PyironSwarmSpawner._ran_on
        )

    def _not_answering(self, node: str, state: str) -> str:
        paths = ", ".join(shared_directory(self.shared_path, name) for name in self.volume_names)
        return (
            f"could not start{node}: Docker there was still {state} after {HUNG_AFTER:.0f} s, with the image "
            f"there already: its mount of your folders {paths} does not answer (hung)"
        )

    async def _ended_before_answering(self, task: dict) -> dict | None:
        """The task again if it ended before its server answered, else None (it answers, or may yet).

        "running" means the container's first process runs: the boot step, whose check of the
        user's folders (exit NOT_WRITABLE) comes a second or so later. The hub's own wait
        after start() never looks at the task again, so a task that ended then would be
        waited for until SPAWN_TIMEOUT instead of refused and placed anew.
        """
        address = self._task_address(task)
        if self.internal_ssl or address is None:  # the hub's own wait, with its certificates
            return None

        async def ended():
            again = await self.get_task()
            return again if again and again["Status"]["State"] in _FINAL_STATES else None

        again = await self._wait_until_answering(address, self.port, self.server.base_url, ended=ended)
        if again:
            self.log.info("%s's server ended before it answered (%s)", self.user.name, again["Status"]["State"])
        return again

    def _task_address(self, task: dict | None) -> str | None:
        """The task's own address on the users' network."""
        for attachment in (task or {}).get("NetworksAttachments", []):
            if attachment["Network"]["Spec"]["Name"] == self.network_name and attachment.get("Addresses"):
                return attachment["Addresses"][0].split("/")[0]
        return None

    async def _node_name(self, node_id: str | None) -> str:
        """' on node vm (ID ..., labels)' for a message, or '' if the node is unknown."""
        if not node_id:
            return ""
        try:
            return " on " + node_name(await self.docker("inspect_node", node_id), node_id)
        except (NotFound, RequestException):
            return f" on node {node_id[:12]}"

    async def get_ip_and_port(self):
        # The task's own address on the users' network, as DockerSpawner gives a container's:
        # just after a restart, the service's name may still answer with the previous task's.
        address = self._task_address(await self.get_task())
        return (address, self.port) if address else await super().get_ip_and_port()

    async def remove_object(self):
        # By name when the id is unknown: the name (jupyter-<user>) is this server's alone,
        # and a service left behind would hold the user's volumes and reservation.
        target = self.object_id or self.object_name
        for attempt in range(REMOVE_ATTEMPTS):
            try:
                await self.docker("remove_service", target)
                self.log.info("Removed service %s", self.object_name)
                return
            except NotFound:  # already gone, or never created (e.g. its node was down)
                return
            except RequestException as err:  # APIError is one
                # A busy manager can fail a request now and then (raft, timeouts); the hub
                # forgets the server whatever happens here, so try again before giving up.
                self.log.warning("Removing service %s failed (%s), attempt %d", self.object_name, err, attempt + 1)
                if attempt + 1 == REMOVE_ATTEMPTS:
                    raise
                await asyncio.sleep(2**attempt)

    async def run_post_stop_hook(self):
        # JupyterHub calls stop() only for a server it finds running. A server whose task
        # ended by itself (its node drained, the process exited) would leave its service
        # behind, holding the users' network so that `docker stack rm` cannot remove it.
        # Every stop, of either kind, ends here; stop() clears the id of what it removed, so
        # an id still set is a service nobody removed.
        if self.object_id:
            await self.remove_object()
        return await maybe_future(super().run_post_stop_hook())

    def get_state(self):
        state = super().get_state()
        if self.node_id:
            state["node_id"] = self.node_id
        return state

    def load_state(self, state):
        super().load_state(state)
        self.node_id = state.get("node_id", "") or self.node_id

    def clear_state(self):
        # Cleared at every stop; the node of the user's files is not server state.
        node_id = self.node_id
        super().clear_state()
        self.node_id = node_id
