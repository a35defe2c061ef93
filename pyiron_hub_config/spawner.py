"""DockerSpawner with the pyiron environment picker."""

from __future__ import annotations

import asyncio
import json
import time
from functools import lru_cache

import docker.errors
from dockerspawner import DockerSpawner
from jinja2 import Environment as Jinja
from jinja2 import PackageLoader, select_autoescape
from sqlalchemy.orm import object_session
from tornado import web
from traitlets import Dict, Float, Integer, List, Unicode, default

from .boot_file import boot_volume_mount
from .boot_shared import (
    ACTIVITY_EVERY_VARIABLE,
    IMAGE_ID_VARIABLE,
    LAST_STOP_VARIABLE,
    LIVE_HOSTS_VARIABLE,
    QUOTA_VARIABLE,
    STOP_WARNING_VARIABLE,
    STOPS_AT_VARIABLE,
    work_status_name,
)
from .catalogue import Environment, offered_to
from .clusters import QUIET_ENVIRONMENT, cluster_files
from .docker_pool import PooledDockerSpawner
from .group_folders import folder_groups, group_folder_mounts, prepare_group_volume
from .hub_packages import PACKAGES_SOURCE, packages_volume_mount
from .image_pull import PullsWithProgress
from .options import InvalidChoice, find_environment, options_from_form, validate_choice
from .parallelism import thread_environment
from .quota import QuotaServiceError, ensure_group, ensure_home, group_storage_name, home_mount
from .readiness import AnswerBeforeReady
from .server_stops import (
    EXITED,
    MEMORY,
    OOM_EXIT,
    count_memory_kill,
    started_epoch,
    stop_kind,
    stop_record,
    stop_text,
    stop_warning,
    stops_at,
)
from .ssh_keys import (
    FILES_STATUS_PATH,
    PUBLIC_KEY_PATH,
    WORK_STATUS_DIR,
    PublicKey,
    public_key_from_archive,
    skipped_from_archive,
    work_from_archive,
)
from .start_queue import StartQueue
from .storage import SITE_RESOURCES_MOUNT, group_volume, image_volume, server_mounts
from .user_networks import UserNetworks
from .values import MIN_CPUS, MIN_MEMORY, format_memory


@lru_cache(maxsize=1)
def _templates() -> Jinja:
    return Jinja(loader=PackageLoader(__package__, "templates"), autoescape=select_autoescape(default=True))


def render_options_form(environments, max_mem_limit=None, max_cpu_limit=None, last_options=None, gone=None) -> str:
    """The picker's HTML, preselecting the last choice that started; empty when there is
    nothing to choose and nothing to say.

    gone: the catalogue entry the user last ran, when it is no longer offered.
    """
    if len(environments) < 2 and max_mem_limit is None and max_cpu_limit is None and gone is None:
        return ""
    last_options = last_options or {}
    default = next((env for env in environments if env.default), None)
    last = find_environment(last_options.get("environment"), environments)
    selected = (last or default).name if (last or default) else None
    return (
        _templates()
        .get_template("options_form.html")
        .render(
            environments=environments,
            selected=selected,
            max_mem_limit=format_memory(max_mem_limit) if max_mem_limit else None,
            max_cpu_limit=max_cpu_limit,
            min_mem_limit=format_memory(MIN_MEMORY),
            min_cpu_limit=MIN_CPUS,
            # Sizes are offered again only while the admin still lets users pick them.
            mem_limit=last_options.get("mem_limit") if max_mem_limit else None,
            cpu_limit=last_options.get("cpu_limit") if max_cpu_limit else None,
            gone=gone,
            default=default,
        )
    )


# Jupyter's runtime files (server info, kernels' connection files) with STORAGE_QUOTA: not in the home.
QUOTA_RUNTIME_DIR = "/tmp/jupyter-runtime"
# How often (a second apart) an exited container is inspected again after a SIGKILL's 137
# without OOMKilled: the engine marks the OOM apart from the exit, in either order.
OOM_READS = 5


class EnvironmentPicker(DockerSpawner):
    """The picker, its server-side checks, limits, read-only image mounts and cluster files: one
    form for both spawners.

    A DockerSpawner of its own, like every layer the spawners are made of (readiness.py,
    docker_pool.py, dockerspawner's SwarmSpawner): each overrides its own methods and calls
    only its own or DockerSpawner's, so their order in a class statement does not matter.
    What differs between one host and a swarm is the six methods at the end of this class:
    each concrete spawner defines every one of them.
    """

    environments = List(
        help="The resolved catalogue (pyiron_hub_config.catalogue.Environment); users can start only these.",
    ).tag(config=True)
    left_out_environments = List(
        help="Catalogue entries not offered (retired, no image set): a saved choice of one starts the default.",
    ).tag(config=True)
    max_mem_limit = Integer(
        None, allow_none=True, help="Bytes a user may ask for; None: users cannot pick memory."
    ).tag(config=True)
    max_cpu_limit = Float(None, allow_none=True, help="CPUs a user may ask for; None: users cannot pick CPUs.").tag(
        config=True
    )
    site_resources = Unicode(
        None,
        allow_none=True,
        help="Host directory every server mounts read-only and adds to pyiron's resource paths.",
    ).tag(config=True)

    clusters = List(
        help="HPC clusters (pyiron_hub_config.clusters.Cluster) every server gets a pysqa configuration for.",
    ).tag(config=True)
    activity_every = Integer(
        0,
        help="Seconds between the server's own checks for work (boot.py's watcher); 0: no watcher.",
    ).tag(config=True)
    max_age = Integer(0, help="MAX_SERVER_AGE: seconds after which the culler stops a server; 0: none.").tag(
        config=True
    )
    memory_kills_file = Unicode(
        None,
        allow_none=True,
        help="JSON file counting each user's servers stopped by their memory limit.",
    ).tag(config=True)
    # Why the server last stopped, and the work lost with it (server_stops.stop_record); kept
    # in the state across stops, for the home page and the next start's boot step.
    last_stop = Dict()
    # The user's public key as last read from their server (see ssh_keys.py); kept in the
    # spawner's state, so it outlives the container.
    ssh_public_key = Unicode("")
    # The options of the last start that succeeded, kept in the state across stops: the
    # picker preselects them, and a refused request falls back to them (see _apply_choice).
    last_options = Dict()
    _environment_name = None  # the catalogue name of what the server runs, kept in the state

    @default("options_form")
    def _options_form_default(self):
        # A callable, so that JupyterHub renders it at each visit: it preselects the user's
        # last choice, and says when that environment is gone.
        return type(self)._render_form

    @staticmethod
    def _render_form(spawner: EnvironmentPicker) -> str:
        # From before last_options was kept: the options last sent, if they were not refused.
        last = spawner.last_options or {k: v for k, v in (spawner.user_options or {}).items() if k != "profile"}
        gone = next((env for env in spawner.left_out_environments if env.name == last.get("environment")), None)
        return render_options_form(spawner.mine(), spawner.max_mem_limit, spawner.max_cpu_limit, last, gone)

    def mine(self) -> list[Environment]:
        """The environments this server's owner may start: asked again at each start and each
        visit of the picker, from the groups Keycloak gave at their last login or refresh."""
        groups = [group.name for group in getattr(self.user, "groups", None) or []]
        return offered_to(self.environments, groups)

    @default("options_from_form")
    def _options_from_form_default(self):
        return self._checked_options_from_form

    def _checked_options_from_form(self, formdata):
        # Checked here too so that a bad form comes back at once with the message above it.
        options = options_from_form(formdata)
        self._choose(options, for_page=True)
        return options

    def options_from_query(self, query_data):
        return self._checked_options_from_form(query_data)

    @default("apply_user_options")
    def _apply_user_options_default(self):
        return type(self)._apply_choice

    @staticmethod
    def _apply_choice(spawner: EnvironmentPicker, user_options: dict):
        # Runs for every start, whichever way the request came (form, query, REST API).
        try:
            choice = spawner._choose(user_options)
        except web.HTTPError:
            spawner._forget_refused_options()
            raise
        if choice.replaced is not None:
            spawner.log.info(
                "%s asked for %s, which is no longer offered: starting the default, %s",
                spawner.user.name,
                choice.replaced.name,
                choice.environment.name,
            )
        spawner.image = choice.environment.image
        spawner._set_size(choice.mem_limit, choice.cpu_limit)
        spawner.environment = {
            **spawner.environment,
            "PYIRON_ENVIRONMENT": choice.environment.name,
            **thread_environment(choice.cpu_limit),
        }
        spawner._show_environment(choice.environment)
        spawner.log.info(
            "Starting %s for %s: %s, %s memory, %g CPU",
            choice.environment.name,
            spawner.user.name,
            choice.environment.image,
            format_memory(choice.mem_limit),
            choice.cpu_limit,
        )

    def _forget_refused_options(self) -> None:
        # JupyterHub saved the REST API's options in the database before this check, to
        # reuse them for every later start without options (the admin page's "Start Server"
        # too): put back those of the last start that succeeded, or none (the default).
        orm_spawner = getattr(self, "orm_spawner", None)
        if orm_spawner is None:
            return
        orm_spawner.user_options = dict(self.last_options)
        session = object_session(orm_spawner)
        if session is not None:
            session.commit()

    async def start(self):
        # The image's id names the read-only copy of its home (see storage.py), so it is
        # looked up for every start: an updated image brings its own examples.
        self.image, image_id = await self._image_to_run(self.image)
        self._use_image_mounts(server_mounts(image_id, self.site_resources))
        await self._ship_boot_step()
        if self.site_resources:
            self.environment = {**self.environment, "PYIRON_HUB_SITE_RESOURCES": SITE_RESOURCES_MOUNT}
        # The boot step skips the examples when it brought in this image's at an earlier start.
        self.environment = {
            **self.environment,
            **self.cluster_environment(),
            **self.work_environment(),
            IMAGE_ID_VARIABLE: image_id,
        }
        self.log.debug("%s's examples come from %s", self.user.name, image_volume(image_id))
        url = await super().start()
        self.last_options = {k: v for k, v in (self.user_options or {}).items() if k != "profile"}
        return url

    def work_environment(self) -> dict[str, str]:
        """What the boot step needs to report work (culling), warn before MAX_SERVER_AGE, and say why
        the last server stopped when it marks that server's jobs aborted."""
        env = {}
        if self.activity_every:
            env[ACTIVITY_EVERY_VARIABLE] = str(self.activity_every)
        end = stops_at(self, self.max_age)
        if end is not None:
            env[STOPS_AT_VARIABLE] = str(int(end))
            env[STOP_WARNING_VARIABLE] = str(stop_warning(self.max_age))
        if self.last_stop:
            env[LAST_STOP_VARIABLE] = json.dumps({k: self.last_stop.get(k) for k in ("at", "text", "kind", "jobs")})
        live = self.live_hosts()
        if live:
            env[LIVE_HOSTS_VARIABLE] = ",".join(live)
        return env

    def live_hosts(self) -> list[str]:
        """The host names of the owner's other servers (named servers) running now: pyiron writes
        them into its job table, and the boot step must not take their jobs for a stopped server's."""
        hosts = []
        for spawner in (getattr(self.user, "spawners", None) or {}).values():
            container_id = getattr(spawner, "container_id", "")
            # Docker names a container's host by the first 12 characters of its id (no hostname is set).
            if spawner is not self and container_id and spawner.active:
                hosts.append(container_id[:12])
        return sorted(hosts)

    def cluster_environment(self) -> dict[str, str]:
        """What the boot step needs for the clusters: their files and a key pair to log in with."""
        if not self.clusters:
            return {}
        files = cluster_files(self.clusters, self.user.name)
        if not files:
            self.log.warning("%s has no valid account name on any cluster; no cluster configuration", self.user.name)
            return {}
        return {"PYIRON_HUB_FILES": json.dumps(files), "PYIRON_HUB_SSH_KEY": "1", **QUIET_ENVIRONMENT}

    def _show_environment(self, env: Environment) -> None:
        # JupyterHub's admin page shows user_options["profile"] of each running server. Only
        # the in-memory copy gets it, after the check: the copy in the database (reused by
        # the next start) keeps exactly what the user sent, and a "profile" the user sends
        # is still refused as an unknown option.
        self.user_options = {**(self.user_options or {}), "profile": env.display_name}
        self._environment_name = env.name

    def get_state(self):
        state = super().get_state()
        if self._environment_name:
            state["environment"] = self._environment_name
        if self.ssh_public_key:  # kept when the server stops (clear_state leaves it)
            state["ssh_public_key"] = self.ssh_public_key
        if self.last_options:  # kept too
            state["last_options"] = self.last_options
        if self.last_stop:  # kept too
            state["last_stop"] = self.last_stop
        return state

    def load_state(self, state):
        # After a restart of the hub the admin page still shows what each server runs.
        super().load_state(state)
        self.ssh_public_key = state.get("ssh_public_key", "")
        if isinstance(state.get("last_options"), dict):
            self.last_options = state["last_options"]
        if isinstance(state.get("last_stop"), dict):
            self.last_stop = state["last_stop"]
        env = next((e for e in self.environments if e.name == state.get("environment")), None)
        if env is not None:
            self._show_environment(env)

    def clear_state(self):
        super().clear_state()
        self._environment_name = None
        self.user_options = {k: v for k, v in (self.user_options or {}).items() if k != "profile"}

    def _choose(self, options, for_page: bool = False):
        mine = self.mine()
        offered = {env.name for env in mine}
        withheld = [env for env in self.environments if env.name not in offered]
        try:
            return validate_choice(
                options, mine, self.max_mem_limit, self.max_cpu_limit, self.left_out_environments, withheld
            )
        except InvalidChoice as err:
            self.log.warning("%s's choice refused: %s", self.user.name, err.api_message)
            error = web.HTTPError(err.status, "%s", err.api_message)
            if for_page:
                # The spawn page shows jupyterhub_message as it is, instead of "HTTP 400: Bad Request (...)".
                error.jupyterhub_message = str(err)
            raise error from None

    # --- What each spawner defines for itself: one host, or a swarm's service -------------
    async def _image_to_run(self, image: str) -> tuple[str, str]:
        """(the reference to start, its image id), the image pulled to the hub's engine if missing."""
        raise NotImplementedError

    def _use_image_mounts(self, mounts: list[dict]) -> None:
        """Give the server these read-only mounts (storage.server_mounts) besides its volumes."""
        raise NotImplementedError

    async def _ship_boot_step(self) -> None:
        """Give the server the boot step as a read-only file (boot_file.py), after the mounts."""
        raise NotImplementedError

    def _set_size(self, mem_limit: int, cpu_limit: float) -> None:
        """Give the server the memory (bytes) and CPUs of the user's choice."""
        raise NotImplementedError

    async def read_public_key(self) -> PublicKey | None:
        """The public key in the user's running server, where the hub can read it; else None.

        Raises KeyFileProblem when the file is there but is not a public key.
        """
        raise NotImplementedError

    async def read_files_skipped(self) -> dict[str, str]:
        """The hub-managed files the boot step left out of the running server, and why."""
        raise NotImplementedError


class PyironSpawner(
    EnvironmentPicker, PullsWithProgress, StartQueue, AnswerBeforeReady, UserNetworks, PooledDockerSpawner
):
    """Starts the catalogue environment a user picks, with its memory and CPU limits, as one
    container on the hub's engine; a missing image pulled first with its progress shown
    (image_pull.py), then in line while STARTS_AT_ONCE servers boot (start_queue.py), seen as soon as it answers (readiness.py), Docker calls on a pool of
    threads (docker_pool.py)."""

    async def _image_to_run(self, image: str) -> tuple[str, str]:
        # Looked up (or pulled) before start() by run_pre_spawn_hook: no second round trip.
        return image, await self.find_or_pull_image(image)

    packages_dir = Unicode(
        PACKAGES_SOURCE,
        help="The tree of packages (paramiko) the hub lends to servers, with its manifest; none if absent.",
    ).tag(config=True)

    storage_quota = Integer(
        None, allow_none=True, help="STORAGE_QUOTA in bytes: each user's home is a limited subvolume; None: volumes."
    ).tag(config=True)
    quota_root = Unicode("", help="STORAGE_QUOTA_ROOT: the host directory of users' limited homes.").tag(config=True)
    quota_service_url = Unicode("", help="QUOTA_SERVICE_URL: the service that makes and limits them.").tag(config=True)
    group_folder_quota = Integer(
        None, allow_none=True, help="GROUP_FOLDER_QUOTA in bytes (default STORAGE_QUOTA's): each group folder's limit."
    ).tag(config=True)

    def _use_image_mounts(self, mounts: list[dict]) -> None:
        self.mounts = mounts

    group_folders = List(
        Unicode(), help="GROUP_FOLDERS: Keycloak groups (names or patterns) whose members share ~/groups/<group>."
    ).tag(config=True)
    deployment_name = Unicode("", help="DEPLOYMENT_NAME, the prefix of the volumes' names.").tag(config=True)

    async def _mount_group_folders(self) -> list[dict]:
        """This start's group folders: those of the groups the owner is in now, no others.
        With STORAGE_QUOTA they are limited subvolumes, returned as mounts; else volumes."""
        groups = folder_groups(self.group_folders, [g.name for g in getattr(self.user, "groups", None) or []])
        deployment = self.deployment_name or None
        quota_root = self.quota_root if self.storage_quota is not None else None
        limits = {}
        for group in groups:
            if quota_root is None:
                volume = group_volume(group, deployment)
                await asyncio.wrap_future(
                    self.executor.submit(prepare_group_volume, self.client, self.image, volume, group)
                )
                continue
            limit = self.group_folder_quota or self.storage_quota
            try:
                usage = await asyncio.to_thread(ensure_group, self.quota_service_url, group_storage_name(group), limit)
            except QuotaServiceError as err:
                # Never an unlimited folder instead: the admin asked for a quota.
                raise web.HTTPError(503, f"The folder of your group {group} is not available: {err}") from None
            limits[group] = usage.limit
        got = group_folder_mounts(self.volumes, groups, deployment, quota_root, limits)
        self.volumes = got.volumes
        self.environment = {**self.environment, **got.environment}
        if groups:
            limited = "limited " if quota_root is not None else ""
            self.log.info("%s's server gets the %sgroup folders of %s", self.user.name, limited, ", ".join(groups))
        return got.mounts

    async def _ship_boot_step(self) -> None:
        mount = await asyncio.wrap_future(self.executor.submit(boot_volume_mount, self.client, self.image))
        self.mounts = [*await self._limited_home(), *self.mounts, mount, *await self._packages_mounts()]
        # Here, with the image on the engine: its volumes' writer is made from it.
        self.mounts = [*self.mounts, *await self._mount_group_folders()]

    async def _limited_home(self) -> list[dict]:
        """With STORAGE_QUOTA, the user's home as their subvolume (made at the first start)."""
        if self.storage_quota is None:
            return []
        name = self.escaped_name
        try:
            usage = await asyncio.to_thread(ensure_home, self.quota_service_url, name, self.storage_quota)
        except QuotaServiceError as err:
            # Never fall back to an unlimited volume: the admin asked for a quota.
            raise web.HTTPError(503, f"Your storage is not available: {err}") from None
        self.log.info(
            "%s's home: %s of %s used", self.user.name, format_memory(usage.used), format_memory(usage.limit or 0)
        )
        # Jupyter Server refuses to run when it cannot write its runtime files, which are in
        # the home by default: a user whose home is full would not get the server they need
        # to free space. The files live as long as the server, so the writable layer suits them.
        self.environment = {**self.environment, "JUPYTER_RUNTIME_DIR": QUOTA_RUNTIME_DIR}
        # The limit as it is now (an admin may have raised it), for the boot step's message.
        if usage.limit:
            self.environment = {**self.environment, QUOTA_VARIABLE: format_memory(usage.limit)}
        return [home_mount(self.quota_root, name)]

    async def _packages_mounts(self) -> list[dict]:
        """The hub's packages (hub_packages.py), read-only; none if they cannot be had."""
        try:
            mount = await asyncio.wrap_future(
                self.executor.submit(packages_volume_mount, self.client, self.image, self.packages_dir)
            )
        except Exception as err:  # a server without paramiko beats no server
            self.log.warning("%s starts without the hub's packages: %s", self.user.name, err)
            return []
        return [mount] if mount else []

    def _set_size(self, mem_limit: int, cpu_limit: float) -> None:
        self.mem_limit = mem_limit
        self.cpu_limit = cpu_limit

    # The user's public key and the boot step's file report are read out of the container
    # through the engine the hub drives (ssh_keys.py); a swarm's containers are on other nodes.
    async def stop(self, now=False):
        # The container is removed on stop: remember the public key while it is there.
        if self.container_id:
            try:
                key = await self.read_public_key()
                if key is not None:
                    self.ssh_public_key = key.line
            except Exception as err:  # never keep a server from stopping
                self.log.info("Could not read %s's public key before stopping: %s", self.user.name, err)
            await self._record_stop()
        return await super().stop(now=now)

    async def poll(self):
        container_id = self.container_id  # DockerSpawner's poll forgets it when the container is gone
        status = await super().poll()
        if status is not None and not self.container_id and container_id:
            # Servers are not AutoRemoved (apply.py): a container already gone was removed by
            # someone else (e.g. `docker rm -f`), so its State cannot say more than that.
            self._record_gone(container_id)
            return status
        # Ended by itself (memory limit, engine restart): the hub calls no stop(), and the
        # exited container is there until the hub's stop removes it. (A start that fails is
        # the spawn page's to explain.)
        if (
            status is not None
            and self.container_id
            and not getattr(self, "_spawn_pending", False)
            and self.last_stop.get("container") != self.container_id
        ):
            await self._record_stop()
        return status

    async def _record_stop(self) -> None:
        """Keep why the server stops and the work lost with it (server_stops.py); count memory kills."""
        if self.last_stop.get("container") == self.container_id:
            return  # recorded when the hub's poll found it ended
        try:
            # A stop through the REST API (the user, an admin, the idle culler) runs in the
            # future JupyterHub's stop_single_user keeps; the hub's own shutdown calls
            # User.stop without it.
            api_request = getattr(self, "_stop_future", None) is not None
            container = await self._inspect_ended(self.container_id, api_request)
            state = container.get("State") or {}
            started = started_epoch(self)
            kind = stop_kind(state, api_request, None if started is None else time.time() - started, self.max_age)
            text = stop_text(
                kind,
                (container.get("HostConfig") or {}).get("Memory") or self.mem_limit,
                self.max_age,
                state.get("ExitCode"),
            )
            work = await self._read_from_container(
                f"{WORK_STATUS_DIR}/{work_status_name(self.name)}", work_from_archive
            )
            self.last_stop = stop_record(kind, text, work, container=self.container_id)
            self.log.info("%s's server stopped: %s; work in it: %s", self.user.name, text, work)
            if kind == MEMORY:
                count_memory_kill(self.memory_kills_file, self.user.name)
        except Exception as err:  # never keep a server from stopping
            self.log.warning("Could not record why %s's server stopped: %s", self.user.name, err)

    async def _inspect_ended(self, container_id: str, api_request: bool) -> dict:
        """The container's inspect; for a SIGKILL's 137 that no one asked for, read again for a
        few seconds until the engine has marked an OOM kill (it handles the exit and the OOM
        as two events, in either order: seen under load, the hub looked between them)."""
        for attempt in range(OOM_READS):
            container = await self.docker("inspect_container", container_id)
            state = container.get("State") or {}
            if api_request or state.get("Running") or state.get("OOMKilled") or state.get("ExitCode") != OOM_EXIT:
                break
            if attempt < OOM_READS - 1:
                await asyncio.sleep(1)
        return container

    def _record_gone(self, container_id: str) -> None:
        """A container removed by someone else before the hub saw it end: ended, cause unknown."""
        if self.last_stop.get("container") == container_id or getattr(self, "_spawn_pending", False):
            return
        text = stop_text(EXITED, self.mem_limit, self.max_age, None)
        self.last_stop = stop_record(EXITED, text, None, container=container_id)
        self.log.info("%s's server ended: %s", self.user.name, text)

    async def read_public_key(self) -> PublicKey | None:
        return await self._read_from_container(PUBLIC_KEY_PATH, public_key_from_archive)

    async def read_files_skipped(self) -> dict[str, str]:
        return await self._read_from_container(FILES_STATUS_PATH, skipped_from_archive) or {}

    async def _read_from_container(self, path: str, parse):
        def read():
            try:
                stream, _ = self.client.get_archive(self.container_id, path)
            except docker.errors.NotFound:
                return None
            return parse(stream)

        return await asyncio.wrap_future(self.executor.submit(read))


def pass_access_token(spawner: PyironSpawner, auth_state: dict | None) -> None:
    """auth_state_hook: give the user's server its Keycloak access token (opt-in)."""
    if auth_state and auth_state.get("access_token"):
        spawner.environment = {**spawner.environment, "OAUTH_ACCESS_TOKEN": auth_state["access_token"]}
