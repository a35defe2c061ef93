"""`pyiron-hub backup`, `restore` and `snapshots`: the whole deployment into a restic repository.

Run from the compose project (`docker compose run --rm backup pyiron-hub backup`), which
gives this container the project directory at /project, the hub's data volume, the database
over the network and the Docker engine through the backup guard (compose.backup.yml's
`backup-guard`, docker_guard/guard.py's backup policy): this container holds no Docker
socket. What runs where:

- Postgres is dumped here with pg_dump, a client of hub-db over the network (the backup's
  own network to it) with the password of shared.env (one transaction: a consistent
  database while the hub keeps writing), never copied as files.
- restic runs in a short-lived container of the same image (the "worker") that mounts
  every volume to keep, read-only, under /data/volumes: the volume list changes with the
  users, so no static compose service could mount them. The dump, the env files and a
  manifest reach it in its /data/staging; SQLite databases are copied there by the worker
  (backup_worker/worker.py). The worker is on DOCKER_NETWORK_NAME (for sftp: and s3:).
- With STORAGE_QUOTA, users' homes and group folders are host directories (btrfs subvolumes
  under STORAGE_QUOTA_ROOT, quota_service/): the backup asks the quota service which there are
  (and their limits, into the manifest) and the worker binds each, read-only, under
  /data/volumes/_quota as they lie under the root (backup_layout.QUOTA_DIR); a restore has the
  quota service make each again (with the limit it had) before the worker writes into it.
- A restore runs the same worker the other way round, onto new volumes, then pg_restore,
  again a client over the network.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from . import error_words as words
from .backup_layout import QUOTA_DIR, SKIPPED_MARK, SQLITE_DIR, STAGING, UNREADABLE_MARK, VOLUMES
from .backup_settings import BackupSettings, load_backup_settings, restic_environment
from .backup_status import STATUS_FILE, read_status
from .problems import ConfigError
from .quota import (
    QuotaServiceError,
    ensure_group,
    ensure_home,
    group_path,
    group_storage_name,
    home_path,
    storage_name,
    usage_of,
)
from .storage import GROUP_VOLUME, GROUPS_DIR, HOME, HOME_VOLUME, WORK_DIR, WORK_VOLUME, group_folder, group_volume

PROJECT_DIR = Path("/project")
DATA_DIR = Path("/srv/jupyterhub/data")  # the hub's data volume, mounted by compose.backup.yml
CONFIG_FILES = ("pyiron.env", "shared.env", "build.env", ".env", "clusters.toml", "environments.toml")
DUMP = "hub.dump"
HUB_DATA = "hub-data"
COMPOSE = "com.docker.compose"
WORKER_MODULE = f"{__package__}.backup_worker.worker"
DATABASE = "{database}"  # in postgres_client's arguments: the database's name (shared.env)

# What went wrong with restic -> what the admin should do (nothing was changed): by its exit
# code where it has one, else by its words (error_words.py, tested against its own output).
RESTIC_EXITS = {
    words.RESTIC_WRONG_PASSWORD: "RESTIC_PASSWORD does not open the repository {repo}: set the passphrase it was made "
    "with (the copy you keep off this host).",
    words.RESTIC_NO_REPOSITORY: "there is no restic repository at {repo}: check RESTIC_REPOSITORY, or create one with "
    "`pyiron-hub backup --init`.",
    words.RESTIC_LOCKED: "another restic command holds the repository {repo}: wait for it, or run `restic unlock` if "
    "it died.",
}
RESTIC_WORDS = [
    (
        words.RESTIC_DISK_FULL,
        "the repository's disk ({repo}) is full: free space there or point RESTIC_REPOSITORY at a larger disk, "
        "then run the backup again. Earlier snapshots are intact; `restic prune` removes the partial data.",
    ),
    (
        words.RESTIC_UNREACHABLE,
        "cannot reach the repository {repo}: check the host is up and reachable from the Docker host, "
        "its SSH key and known_hosts in BACKUP_SSH_DIR, or the S3 credentials.",
    ),
]


class BackupError(Exception):
    """Something the admin must fix; the message names it. Nothing was changed."""


class HostDirMissing(BackupError):
    """The engine found no directory at path, one of a worker's host_dirs (a quota home or group folder)."""

    def __init__(self, path: str):
        super().__init__(f"{path} does not exist on the Docker host")
        self.path = path


def restic_problem(status: int, output: str, repository: str) -> str | None:
    """What the admin should do about restic's failure (its exit status and output), if known."""
    if status in RESTIC_EXITS:
        return RESTIC_EXITS[status].format(repo=repository)
    for pattern, message in RESTIC_WORDS:
        if pattern.search(output):
            return message.format(repo=repository)
    return None


# --- which volumes ----------------------------------------------------------------------


def user_volume_pattern(deployment: str | None) -> re.Pattern:
    """Names of users' home and work volumes of this deployment (and of no other)."""
    prefix = re.escape(f"{deployment}-") if deployment else ""
    kinds = "|".join(re.escape(t.split("{")[0]) for t in (HOME_VOLUME, WORK_VOLUME))
    return re.compile(rf"^{prefix}(?:{kinds})(?P<user>.+)$")


def volumes_to_back_up(names: list[str], project: str, deployment: str | None) -> list[str]:
    """The hub's data volume (its secrets), every user's home and work volume and every group
    folder's (GROUP_FOLDERS), sorted."""
    pattern = user_volume_pattern(deployment)
    groups = re.compile(rf"^{re.escape(f'{deployment}-') if deployment else ''}{re.escape(GROUP_VOLUME)}.+$")
    hub = f"{project}_{HUB_DATA}"
    return sorted({n for n in names if pattern.match(n) or groups.match(n)} | ({hub} if hub in names else set()))


def user_volumes(user: str, deployment: str | None) -> tuple[str, str]:
    prefix = f"{deployment}-" if deployment else ""
    return prefix + HOME_VOLUME.format(username=user), prefix + WORK_VOLUME.format(username=user)


def relative_path(path: str, base: str = HOME, what: str = "the user's home", example: str = "work/a.ipynb") -> str:
    """--path, relative to base or absolute in the server ('work/a.ipynb' or '/home/jovyan/.ssh')
    -> that path relative to base."""
    p = path.strip()
    if p.startswith(base + "/"):
        p = p[len(base) + 1 :]
    p = p.strip("/")
    if not p or ".." in p.split("/"):
        raise BackupError(f"--path {path!r}: give a file or folder inside {what}, e.g. {example}")
    return p


def volume_for_path(user: str, path: str, deployment: str | None) -> tuple[str, str]:
    """A path in the user's home ('work/a.ipynb' or '/home/jovyan/.ssh') -> (volume, path in it)."""
    home, work = user_volumes(user, deployment)
    p = relative_path(path)
    work_rel = WORK_DIR[len(HOME) + 1 :]
    if p == work_rel:
        return work, ""
    if p.startswith(work_rel + "/"):
        return work, p[len(work_rel) + 1 :]
    return home, p


@dataclass(frozen=True)
class OnePart:
    """What a restore of one user's home or one group's folder takes of a snapshot."""

    volumes: list[str]  # the snapshot's volumes, each restored into the volume of its name here
    quota: dict[str, dict[str, int | None]]  # its homes or group folders under STORAGE_QUOTA_ROOT
    paths: dict[str, str]  # --path: a volume's or quota place's (quota_places) one path, relative to it
    what: str  # in words, for the log


def users_part(manifest: Mapping, user: str, path: str | None) -> OnePart:
    """A user's home and work volumes, or their home under STORAGE_QUOTA_ROOT, or one path of them."""
    old_deployment = manifest.get("deployment")
    home, work = user_volumes(user, old_deployment)
    name = storage_name(user)
    homes = (manifest.get("quota") or {}).get("homes", {})
    if home not in manifest["volumes"] and name not in homes:
        raise BackupError(
            f"the snapshot has no home of user {user!r}; it has: "
            + ", ".join(
                [v for v in manifest["volumes"] if not v.endswith(HUB_DATA) and not groups_volume(v)] + sorted(homes)
            )
        )
    what = f"{user}'s {path or 'home'}"
    if name in homes:  # a directory under STORAGE_QUOTA_ROOT, with ~/work in it
        paths = {home_path(QUOTA_DIR, name): relative_path(path)} if path else {}
        return OnePart([], {"homes": {name: homes[name]}}, paths, what)
    if path:
        volume, rel = volume_for_path(user, path, old_deployment)
        return OnePart([volume], {}, {volume: rel}, what)
    return OnePart([v for v in (home, work) if v in manifest["volumes"]], {}, {}, what)


def groups_volume(name: str) -> bool:
    """Whether a volume of the snapshot is a group folder's (of any deployment)."""
    return GROUP_VOLUME in name


def groups_part(manifest: Mapping, group: str, path: str | None) -> OnePart:
    """A group's folder (GROUP_FOLDERS): its volume, or its folder under STORAGE_QUOTA_ROOT, or one path of it."""
    volume = group_volume(group, manifest.get("deployment"))
    name = group_storage_name(group)
    groups = (manifest.get("quota") or {}).get("groups", {})
    if volume not in manifest["volumes"] and name not in groups:
        have = sorted({v.split(GROUP_VOLUME, 1)[1] for v in manifest["volumes"] if groups_volume(v)} | set(groups))
        raise BackupError(
            f"the snapshot has no folder of group {group!r}; it has "
            + (", ".join(n.removeprefix(GROUP_VOLUME) for n in have) if have else "none")
            + " (the Keycloak group's name, as in GROUP_FOLDERS)"
        )
    rel = (
        relative_path(path, f"{GROUPS_DIR}/{group_folder(group)}", "the group's folder", "results/a.txt")
        if path
        else ""
    )
    what = f"group {group}'s {path or 'folder'}"
    if name in groups:
        place = group_path(QUOTA_DIR, name)
        return OnePart([], {"groups": {name: groups[name]}}, {place: rel} if path else {}, what)
    return OnePart([volume], {}, {volume: rel} if path else {}, what)


@dataclass(frozen=True)
class QuotaHomes:
    """STORAGE_QUOTA's homes and group folders: host directories under root (STORAGE_QUOTA_ROOT)
    that the quota service at url makes; one a restore makes anew gets the limit it had, else
    home_limit (STORAGE_QUOTA) or group_limit (GROUP_FOLDER_QUOTA, else STORAGE_QUOTA)."""

    root: str
    url: str
    home_limit: int
    group_limit: int


def quota_homes(hub_env: Mapping[str, str], environ: Mapping[str, str]) -> QuotaHomes | None:
    """The quota's places, of pyiron.env (hub_env) and STORAGE_QUOTA_ROOT of the environment, which
    compose.backup.yml passes from .env as to the backup guard; None without STORAGE_QUOTA."""
    from .settings import Settings
    from .values import parse_size

    quota = (hub_env.get("STORAGE_QUOTA") or "").strip()
    if not quota:
        return None
    root = (environ.get("STORAGE_QUOTA_ROOT") or "").strip()
    if not root.startswith("/") or root.rstrip("/") == "":
        raise BackupError(
            "STORAGE_QUOTA is on in pyiron.env, but the backup has no STORAGE_QUOTA_ROOT: set it in .env "
            "(compose.backup.yml passes it to the backup and to backup-guard), then "
            "`docker compose up -d --force-recreate backup-guard`"
        )
    try:
        home_limit = parse_size(quota)
        group_limit = parse_size(hub_env.get("GROUP_FOLDER_QUOTA") or quota)
    except ValueError as err:
        raise BackupError(f"STORAGE_QUOTA or GROUP_FOLDER_QUOTA in pyiron.env: {err}") from None
    url = (hub_env.get("QUOTA_SERVICE_URL") or "").strip() or Settings.model_fields["quota_service_url"].default
    return QuotaHomes(root.rstrip("/"), url, home_limit, group_limit)


def quota_places(root: str, quota: Mapping[str, Mapping[str, int | None]]) -> dict[str, str]:
    """Each home's and group folder's host directory -> its path in a snapshot, relative to
    VOLUMES: under QUOTA_DIR as under the root. quota: the manifest's {"homes": {name: limit},
    "groups": {name: limit}}."""
    places = {home_path(root, name): home_path(QUOTA_DIR, name) for name in quota.get("homes", {})}
    places.update({group_path(root, name): group_path(QUOTA_DIR, name) for name in quota.get("groups", {})})
    return places


def restore_includes(volumes: list[str], paths: dict[str, str] | None = None, postgres: bool = False) -> list[str]:
    """restic --include paths: each volume (or one path in it) and its SQLite copies."""
    includes = []
    for volume in volumes:
        rel = (paths or {}).get(volume, "")
        includes.append(str(VOLUMES / volume / rel).rstrip("/"))
        includes.append(str(STAGING / SQLITE_DIR / volume / rel).rstrip("/"))
    if postgres:
        includes.append(str(STAGING / "postgres"))
    return includes


def next_run(now: datetime, every: int, at) -> datetime:
    """When the scheduled backup runs next: at the time of day given, else now."""
    if at is None:
        return now
    first = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    while first < now:
        first += timedelta(seconds=every) if every < 86400 else timedelta(days=1)
    return first


def tar_bytes(files: Mapping[str, bytes], mode: int = 0o600) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def file_from_tar(chunks) -> bytes:
    data = b"".join(chunks)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = next(m for m in tar.getmembers() if m.isfile())
        return tar.extractfile(member).read()


# --- the deployment on this engine --------------------------------------------------------


@dataclass
class Deployment:
    client: object
    project: str
    deployment: str | None
    own: object | None = None  # this container, if we run in one
    image: str | None = None
    quota: QuotaHomes | None = None  # with STORAGE_QUOTA: homes and group folders are host directories
    log: Callable[[str], None] = field(default=lambda m: print(m, flush=True))

    @classmethod
    def here(cls, environ: Mapping[str, str], settings: BackupSettings) -> Deployment:
        import docker

        try:
            client = docker.from_env(timeout=600)
            client.ping()
        except docker.errors.DockerException as err:
            raise BackupError(
                f"cannot reach the Docker engine ({err}): run this in the compose project's "
                "`backup` service, which reaches it through the backup guard (DOCKER_HOST)"
            ) from None
        own = None
        try:
            own = client.containers.get(socket.gethostname())
        except docker.errors.NotFound:
            pass
        project = environ.get("COMPOSE_PROJECT_NAME") or (own and own.labels.get(f"{COMPOSE}.project"))
        if not project:
            raise BackupError(
                "cannot tell the compose project: run this through `docker compose run` or set COMPOSE_PROJECT_NAME"
            )
        from .envfiles import parse_env_file

        env_file = PROJECT_DIR / "pyiron.env"
        hub_env = parse_env_file(env_file) if env_file.is_file() else {}
        deployment = environ.get("DEPLOYMENT_NAME") or hub_env.get("DEPLOYMENT_NAME") or None
        image = settings.image or (own and own.attrs["Image"])
        if not image:
            raise BackupError("cannot tell which image runs restic: set BACKUP_IMAGE (e.g. pyiron-hub:latest)")
        return cls(client, project, deployment, own, image, quota_homes(hub_env, environ))

    def service(self, name: str, running: bool = True):
        filters = {"label": [f"{COMPOSE}.project={self.project}", f"{COMPOSE}.service={name}"]}
        if running:
            filters["status"] = "running"
        found = self.client.containers.list(all=not running, filters=filters)
        return found[0] if found else None

    def volume_names(self) -> list[str]:
        return [v.name for v in self.client.volumes.list()]

    # -- running commands -------------------------------------------------------------

    def run_worker(
        self,
        settings: BackupSettings,
        environ: Mapping[str, str],
        command: list[str],
        volumes: Mapping[str, tuple[str, bool]] = {},
        host_dirs: Mapping[str, tuple[str, bool]] = {},
        put: bytes | None = None,
        fetch: str | None = None,
        init: bool = False,
        echo: bool = True,
    ) -> tuple[int, str, bytes | None]:
        """Run command in a worker; volumes: name -> (mount point, read_only); host_dirs: the
        quota's homes and group folders, path -> (mount point, read_only). Returns (status, output, fetched)."""
        import docker
        from docker.types import Mount

        mounts = [Mount(target, name, type="volume", read_only=ro) for name, (target, ro) in volumes.items()]
        # Bind mounts, never Binds strings: the engine makes a missing Binds source itself (and the
        # guard refuses that), where a home must be the quota service's limited subvolume.
        mounts += [Mount(target, path, type="bind", read_only=ro) for path, (target, ro) in host_dirs.items()]
        binds = {}
        if settings.local_path:
            if init:
                binds[settings.local_path] = {"bind": settings.local_path, "mode": "rw"}  # made if missing
            else:
                mounts.append(Mount(settings.local_path, settings.local_path, type="bind"))
        if settings.ssh_dir:
            mounts.append(Mount("/root/.ssh", str(settings.ssh_dir), type="bind", read_only=True))
        try:
            worker = self.client.containers.create(
                self.image,
                command,
                environment=restic_environment(environ, settings),
                mounts=mounts,
                volumes=binds or None,
                working_dir="/",
                # The backup guard lets workers on this network only (it reaches sftp: and s3:
                # repositories); outside compose, this container's own.
                network_mode=environ.get("DOCKER_NETWORK_NAME") or (f"container:{self.own.id}" if self.own else None),
                labels={f"{COMPOSE}.project": self.project, "org.pyiron.hub.role": "backup-worker"},
                security_opt=["no-new-privileges:true"],
                # The hub image's health check asks for a hub that a worker never runs.
                healthcheck={"test": ["NONE"]},
            )
        except docker.errors.APIError as err:
            text = str(err.explanation or err)
            missing = re.search(re.escape(words.DOCKER_NO_BIND_SOURCE) + r":\s*(\S+)", text)
            if missing and missing.group(1).rstrip("'\".,") in host_dirs:
                raise HostDirMissing(missing.group(1).rstrip("'\".,")) from None
            if settings.local_path and words.DOCKER_NO_BIND_SOURCE in text:
                raise BackupError(restic_problem(words.RESTIC_NO_REPOSITORY, text, settings.repository)) from None
            if words.GUARD_REFUSED in text:
                raise BackupError(
                    f"the backup guard refused the restic container: {text}. The guard reads backup.env "
                    "when it starts: after changing RESTIC_REPOSITORY or BACKUP_SSH_DIR there, run "
                    "`docker compose up -d --force-recreate backup-guard` (STORAGE_QUOTA_ROOT: after changing it in .env)"
                ) from None
            if settings.ssh_dir and str(settings.ssh_dir) in text:
                raise BackupError(f"BACKUP_SSH_DIR {settings.ssh_dir} does not exist on the Docker host") from None
            raise BackupError(f"cannot start the restic container: {text}") from None
        try:
            if put:
                worker.put_archive("/", put)
            worker.start()
            output = bytearray()
            for chunk in worker.logs(stream=True, follow=True):
                output += chunk
                if echo:
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()
            status = worker.wait()["StatusCode"]
            fetched = None
            if fetch and status == 0:
                try:
                    fetched = file_from_tar(worker.get_archive(fetch)[0])
                except docker.errors.NotFound:
                    fetched = None
            if not echo:
                output = bytearray(worker.logs(stdout=True, stderr=False))
                errors = worker.logs(stdout=False, stderr=True).decode(errors="replace")
                if status:
                    sys.stderr.write(errors)
                return status, output.decode(errors="replace") + ("\n" + errors if status else ""), fetched
            return status, output.decode(errors="replace"), fetched
        finally:
            worker.remove(v=True, force=True)  # v: the hub image's VOLUME would be left behind

    def restic(self, settings, environ, *args: str, echo: bool = False) -> str:
        status, output, _ = self.run_worker(settings, environ, ["restic", "--no-cache", *args], echo=echo)
        if status:
            raise BackupError(
                restic_problem(status, output, settings.repository) or f"restic {args[0]} failed:\n{output}"
            )
        return output


# --- backup ---------------------------------------------------------------------------------


def postgres_client(
    args: list[str], stdin: bytes | None = None, directory: Path = PROJECT_DIR, host: str = "hub-db"
) -> tuple[int, bytes, bytes]:
    """Run pg_dump, pg_restore or psql as a client of hub-db over the network, as the hub's
    database user (shared.env's POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD, read when needed:
    a restore writes shared.env first). (status, stdout, stderr)."""
    from .envfiles import parse_env_file

    shared = parse_env_file(directory / "shared.env") if (directory / "shared.env").is_file() else {}
    user = shared.get("POSTGRES_USER") or "postgres"
    if not shared.get("POSTGRES_PASSWORD"):
        raise BackupError(
            "shared.env in the project directory has no POSTGRES_PASSWORD: the backup logs into the "
            "database with it (restore the env files first: `pyiron-hub restore --config`)"
        )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PGHOST": host,
        "PGUSER": user,
        "PGDATABASE": shared.get("POSTGRES_DB") or user,
        "PGPASSWORD": shared["POSTGRES_PASSWORD"],
        "PGCONNECT_TIMEOUT": "20",
    }
    args = [env["PGDATABASE"] if a == DATABASE else a for a in args]
    done = subprocess.run(args, input=stdin, capture_output=True, env=env)
    return done.returncode, done.stdout, done.stderr


def pg_dump(dep: Deployment) -> bytes:
    db = dep.service("hub-db")
    if db is None:
        raise BackupError(
            "the hub's database (service hub-db) is not running: start it with "
            "`docker compose up -d hub-db`, then back up again"
        )
    status, out, err = postgres_client(["pg_dump", "-Fc"])
    if status or not out:
        raise BackupError(f"pg_dump of hub-db failed ({status}): {err.decode(errors='replace').strip()}")
    return out


def config_files(directory: Path = PROJECT_DIR) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in CONFIG_FILES if (directory / name).is_file()}


def write_status(status: dict, directory: Path = DATA_DIR) -> None:
    if directory.is_dir():
        # The hub writes into this volume too: a link planted at the temporary name must not
        # lead this process (root, with the Docker socket) to write elsewhere. So the file is
        # made anew, never followed (O_NOFOLLOW, O_EXCL), and renamed over the status (a
        # rename replaces a link, it does not follow it).
        tmp = directory / f".{STATUS_FILE}.tmp"
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(status))
        tmp.replace(directory / STATUS_FILE)


def backup(
    dep: Deployment, settings: BackupSettings, environ: Mapping[str, str], init: bool = False
) -> tuple[dict[str, str], dict[str, str]]:
    """One backup; returns what it skipped, all else is in the snapshot: the SQLite databases
    ({volume/path: why}) and the quota's homes and group folders ({host path: why})."""
    if init:
        status, output, _ = dep.run_worker(settings, environ, ["restic", "--no-cache", "init"], init=True, echo=False)
        if status and not words.RESTIC_REPOSITORY_EXISTS.search(output):
            raise BackupError(restic_problem(status, output, settings.repository) or f"restic init failed:\n{output}")
        dep.log(f"repository {settings.repository}: " + ("created" if status == 0 else "already there"))
    else:
        dep.restic(settings, environ, "cat", "config")  # the repository opens: else a clear error, nothing staged
    volumes = volumes_to_back_up(dep.volume_names(), dep.project, dep.deployment)
    quota = quota_limits(dep)
    dump = pg_dump(dep)
    dep.log(f"database dumped ({len(dump)} bytes); volumes: {', '.join(volumes) or 'none'}")
    places, skipped_dirs = {}, {}
    if dep.quota:
        places = quota_places(dep.quota.root, quota)
        dep.log(
            f"under {dep.quota.root}: homes of {', '.join(quota['homes']) or 'nobody'}; "
            f"group folders {', '.join(quota['groups']) or 'none'}"
        )
    plan = {"host": dep.project, "forget": settings.forget_args()}
    while True:
        manifest = {
            "project": dep.project,
            "deployment": dep.deployment,
            "volumes": volumes,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if dep.quota:
            manifest["quota"] = quota_kept(dep.quota.root, quota, places)
        staging = STAGING.relative_to("/")
        files = {f"{staging}/postgres/{DUMP}": dump, f"{staging}/manifest.json": json.dumps(manifest).encode()}
        files.update({f"{staging}/config/{name}": data for name, data in config_files().items()})
        try:
            status, output, _ = dep.run_worker(
                settings,
                environ,
                ["pyiron-hub", "backup-worker", "backup", json.dumps({**plan, "places": sorted(places.values())})],
                volumes={v: (str(VOLUMES / v), True) for v in volumes},
                host_dirs={path: (str(VOLUMES / rel), True) for path, rel in places.items()},
                put=tar_bytes(files),
            )
            break
        except HostDirMissing as err:
            # A subvolume without its home or folder (made by hand, or half deleted): the engine
            # cannot bind it. Left out and named; the rest is backed up.
            skipped_dirs[err.path] = "it does not exist (a subvolume under STORAGE_QUOTA_ROOT without it?)"
            dep.log(f"{err.path}: SKIPPED, {skipped_dirs[err.path]}")
            del places[err.path]
    if status:
        raise BackupError(
            restic_problem(status, output, settings.repository) or f"the backup failed ({status}); see above"
        )
    by_place = {rel: path for path, rel in places.items()}
    skipped_dirs.update({by_place.get(rel, rel): why for rel, why in marked(output, UNREADABLE_MARK).items()})
    return marked(output, SKIPPED_MARK), skipped_dirs


def quota_kept(root: str, quota: Mapping[str, Mapping[str, int | None]], places: Mapping[str, str]) -> dict:
    """quota (the manifest's homes and group folders) without those left out of places."""
    return {
        "homes": {n: limit for n, limit in quota.get("homes", {}).items() if home_path(root, n) in places},
        "groups": {n: limit for n, limit in quota.get("groups", {}).items() if group_path(root, n) in places},
    }


def quota_limits(dep: Deployment) -> dict[str, dict[str, int | None]]:
    """The quota's homes and group folders, as the quota service has them, with their limits:
    {"homes": {name: limit}, "groups": {name: limit}}; empty without STORAGE_QUOTA."""
    if dep.quota is None:
        return {}
    try:
        return {
            "homes": {name: u.limit for name, u in usage_of(dep.quota.url, "users").items()},
            "groups": {name: u.limit for name, u in usage_of(dep.quota.url, "groups").items()},
        }
    except QuotaServiceError as err:
        raise BackupError(
            f"cannot list the homes under STORAGE_QUOTA_ROOT: {err} (is the quota service running? "
            "`docker compose up -d quota-service`)"
        ) from None


def make_quota_dirs(dep: Deployment, quota: Mapping[str, Mapping[str, int | None]]) -> None:
    """Have the quota service make each home and group folder a restore writes into: a missing
    one anew, with the limit it had; one that is there keeps its own."""
    try:
        for name, limit in quota.get("homes", {}).items():
            ensure_home(dep.quota.url, name, limit or dep.quota.home_limit)
        for name, limit in quota.get("groups", {}).items():
            ensure_group(dep.quota.url, name, limit or dep.quota.group_limit)
    except QuotaServiceError as err:
        raise BackupError(
            f"the quota service cannot make the homes to restore into: {err} "
            "(is it running? `docker compose up -d quota-service`)"
        ) from None


def marked(output: str, mark: str) -> dict[str, str]:
    """{what: why} of the worker's lines that begin with mark (backup_layout's SKIPPED_MARK, UNREADABLE_MARK)."""
    found = {}
    for line in output.splitlines():
        if line.startswith(mark):
            try:
                found.update({str(k): str(v) for k, v in json.loads(line[len(mark) :]).items()})
            except (ValueError, AttributeError):
                continue
    return found


# --- restore --------------------------------------------------------------------------------


def snapshot_list(dep: Deployment, settings, environ, snapshot: str | None = None) -> list[dict]:
    args = ["snapshots", "--json", "--host", dep.project]
    if snapshot and snapshot != "latest":
        if not re.fullmatch(r"[0-9a-fA-F]{1,64}", snapshot):
            return []
        args = ["snapshots", "--json", snapshot]
    status, output, _ = dep.run_worker(settings, environ, ["restic", "--no-cache", *args], echo=False)
    if status:  # an ID that matches nothing is no failure: exit 0, an empty list
        raise BackupError(restic_problem(status, output, settings.repository) or f"restic snapshots failed:\n{output}")
    return json.loads(output.strip().splitlines()[0] if output.strip() else "[]") or []


def resolve_snapshot(dep: Deployment, settings, environ, snapshot: str | None) -> str:
    found = snapshot_list(dep, settings, environ, snapshot)
    if not found:
        if snapshot and snapshot != "latest":
            raise BackupError(
                f"there is no snapshot {snapshot!r} in {settings.repository}: `pyiron-hub snapshots` lists them"
            )
        raise BackupError(
            f"{settings.repository} has no snapshot of project {dep.project!r} yet: "
            "run `pyiron-hub backup` first, or name a snapshot with --snapshot"
        )
    return sorted(found, key=lambda s: s["time"])[-1]["id"]


def read_manifest(dep: Deployment, settings, environ, snapshot_id: str) -> dict:
    return json.loads(dep.restic(settings, environ, "dump", snapshot_id, str(STAGING / "manifest.json")))


def data_present(dep: Deployment, volumes: list[str]) -> list[str]:
    """What a whole restore would overwrite, in words; empty on a fresh engine."""
    found = []
    existing = set(dep.volume_names())
    users = sorted(v for v in volumes if v in existing and not v.endswith(f"_{HUB_DATA}"))
    if users:
        found.append(f"users' volumes exist ({', '.join(users)})")
    if DATA_DIR.is_dir() and any(p.name != STATUS_FILE for p in DATA_DIR.iterdir()):
        found.append(f"the hub's data volume holds secrets ({', '.join(sorted(p.name for p in DATA_DIR.iterdir()))})")
    db = dep.service("hub-db")
    if db is not None:
        status, out, _ = postgres_client(
            ["psql", "-tAc", "select count(*) from information_schema.tables where table_schema='public'"]
        )
        if status == 0 and out.strip() not in (b"", b"0"):
            found.append(f"the hub's database has {out.decode().strip()} tables")
    return found


def quota_present(dep: Deployment, quota: Mapping[str, Mapping[str, int | None]]) -> list[str]:
    """The snapshot's homes under STORAGE_QUOTA_ROOT that are here already, in words."""
    homes = sorted(set(quota.get("homes", {})) & set(quota_limits(dep).get("homes", {}))) if quota else []
    return [f"users' homes exist under {dep.quota.root} ({', '.join(homes)})"] if homes else []


def ensure_volume(dep: Deployment, name: str, compose_volume: str | None = None) -> None:
    import docker

    try:
        dep.client.volumes.get(name)
    except docker.errors.NotFound:
        labels = {f"{COMPOSE}.project": dep.project, f"{COMPOSE}.volume": compose_volume} if compose_volume else None
        dep.client.volumes.create(name, labels=labels)


def pg_restore(dep: Deployment, dump: bytes, clean: bool) -> None:
    # The dump on stdin: pg_restore reads a custom-format archive from a pipe.
    flags = ["--clean", "--if-exists"] if clean else []
    status, _, err = postgres_client(
        ["pg_restore", "--no-owner", "--exit-on-error", "-d", DATABASE, *flags], stdin=dump
    )
    if status:
        raise BackupError(f"pg_restore into hub-db failed ({status}): {err.decode(errors='replace').strip()}")


def restore_config(dep: Deployment, settings, environ, snapshot_id: str, directory: Path = PROJECT_DIR) -> list[str]:
    """The env files of the snapshot, into the project directory: only those missing there."""
    written = []
    for name in CONFIG_FILES:
        if (directory / name).exists() and (directory / name).stat().st_size:
            continue  # never overwritten; an empty stand-in (compose needs the file) is
        status, output, _ = dep.run_worker(
            settings, environ, ["restic", "--no-cache", "dump", snapshot_id, str(STAGING / "config" / name)], echo=False
        )
        if status == 0:
            (directory / name).write_text(output)
            (directory / name).chmod(0o600)
            written.append(name)
    return written


def running_users_of(dep: Deployment, user: str | None, part: OnePart, old_deployment: str | None) -> list[str]:
    """The running servers that have what a restore of part would write into: the user's (any
    of them: named ones, NAMED_SERVER_LIMIT, are <container>--<name>), or any mounting the group's folder."""
    if user:
        container = f"{old_deployment}-jupyter-{user}" if old_deployment else f"jupyter-{user}"
        found = dep.client.containers.list(filters={"name": f"^/{container}(--.+)?$", "status": "running"})
        return sorted(c.name for c in found)
    # A volume by its name, a bind mount by its host path: the engine's `volume` filter takes either.
    sources = [*part.volumes, *(group_path(dep.quota.root, n) for n in part.quota.get("groups", {}))]
    return sorted(
        {c.name for s in sources for c in dep.client.containers.list(filters={"volume": s, "status": "running"})}
    )


def restore(
    dep: Deployment,
    settings: BackupSettings,
    environ: Mapping[str, str],
    snapshot: str | None,
    user: str | None = None,
    path: str | None = None,
    force: bool = False,
    config_only: bool = False,
    group: str | None = None,
) -> None:
    one = user or group  # one user's home or one group's folder, while the hub runs
    if dep.service("hub") is not None and not one and not config_only:
        raise BackupError(
            "the hub is running: stop it first (`docker compose stop hub`), restore, then start it "
            "(one user's home or file, --user NAME [--path PATH], or one group's folder, --group GROUP, "
            "restores while it runs)"
        )
    snapshot_id = resolve_snapshot(dep, settings, environ, snapshot)
    manifest = read_manifest(dep, settings, environ, snapshot_id)
    dep.log(f"snapshot {snapshot_id[:8]} of {manifest['time']} (project {manifest['project']})")
    if config_only:
        written = restore_config(dep, settings, environ, snapshot_id)
        dep.log(
            f"wrote {', '.join(written)} to the project directory"
            if written
            else "every configuration file is there already; none was written"
        )
        return
    snapshot_quota = manifest.get("quota") or {}
    if any(snapshot_quota.values()) and dep.quota is None:
        raise BackupError(
            f"snapshot {snapshot_id[:8]} holds homes under STORAGE_QUOTA_ROOT, and this deployment has no "
            "STORAGE_QUOTA: restore pyiron.env first (--config), set STORAGE_QUOTA_ROOT in .env, start the "
            "quota service (compose.quota.yml: `docker compose up -d quota-service`), then restore again"
        )
    if one:
        try:
            part = users_part(manifest, user, path) if user else groups_part(manifest, group, path)
        except BackupError as err:
            raise BackupError(f"snapshot {snapshot_id[:8]}: {err}") from None
        quota, paths, what = part.quota, part.paths, part.what
        if not path:
            running = running_users_of(dep, user, part, manifest.get("deployment"))
            if running and user:
                raise BackupError(
                    f"{user}'s server is running: stop it (admin page, or ask {user}), then restore "
                    "the home; one file restores while it runs (--path)"
                )
            if running:
                raise BackupError(
                    f"servers with group {group}'s folder are running ({', '.join(running)}): stop them (admin "
                    "page, or ask their users), then restore the folder; one file restores while they run (--path)"
                )
        mounts = {v: (v, v) for v in part.volumes}  # snapshot volume -> volume here
    else:
        if dep.service("hub-db") is None:
            raise BackupError("the hub's database is not running: `docker compose up -d hub-db`, then restore again")
        quota, paths, what = (snapshot_quota if any(snapshot_quota.values()) else {}), {}, "everything"
        present = data_present(dep, manifest["volumes"]) + quota_present(dep, quota)
        if present and not force:
            raise BackupError(
                "this engine still has a hub's data: " + "; ".join(present) + ". Nothing was changed. "
                "Restore onto a fresh engine, or add --force to overwrite it with the snapshot."
            )
        mounts = {v: (f"{dep.project}_{HUB_DATA}" if v.endswith(f"_{HUB_DATA}") else v) for v in manifest["volumes"]}
        mounts = {v: (here, v) for v, here in mounts.items()}
        written = restore_config(dep, settings, environ, snapshot_id)
        if written:
            dep.log(f"wrote {', '.join(written)} to the project directory")
    places = quota_places(dep.quota.root, quota) if quota else {}
    includes = restore_includes([*mounts, *places.values()], paths, postgres=not one)
    for _snap_volume, (here, _) in mounts.items():
        ensure_volume(dep, here, HUB_DATA if here == f"{dep.project}_{HUB_DATA}" else None)
    if quota:
        make_quota_dirs(dep, quota)
    plan = {"snapshot": snapshot_id, "include": includes}
    status, output, dump = dep.run_worker(
        settings,
        environ,
        ["pyiron-hub", "backup-worker", "restore", json.dumps(plan)],
        volumes={here: (f"/restore{VOLUMES}/{snap}", False) for snap, (here, _) in mounts.items()},
        # Each as it lay under VOLUMES in the snapshot; restic writes as the volumes' (owners kept).
        host_dirs={path: (f"/restore{VOLUMES}/{rel}", False) for path, rel in places.items()},
        fetch=None if one else f"/restore{STAGING}/postgres/{DUMP}",
    )
    if status:
        raise BackupError(
            restic_problem(status, output, settings.repository) or f"the restore failed ({status}); see above"
        )
    if not one:
        if dump is None:
            raise BackupError(f"snapshot {snapshot_id[:8]} holds no database dump")
        pg_restore(dep, dump, clean=force)
        dep.log("database restored")
    dep.log(f"restored {what} from snapshot {snapshot_id[:8]}")


# --- the commands ---------------------------------------------------------------------------


def _setup(environ: Mapping[str, str]) -> tuple[Deployment, BackupSettings]:
    settings = load_backup_settings(environ)
    return Deployment.here(environ, settings), settings


def _reports_errors(command: str, nothing: str):
    """A command's one way of failing: the configuration report or restic's reason, exit 1."""

    def wrap(run):
        @functools.wraps(run)
        def reported(args, environ: Mapping[str, str] = os.environ) -> int:
            try:
                return run(args, environ)
            except ConfigError as err:
                print(err.report(nothing), file=sys.stderr)
            except BackupError as err:
                print(f"pyiron-hub {command}: {err}", file=sys.stderr)
            return 1

        return reported

    return wrap


@_reports_errors("backup", "No backup was made.")
def cmd_backup(args, environ: Mapping[str, str]) -> int:
    dep, settings = _setup(environ)
    if not args.schedule:
        return _one_backup(dep, settings, environ, args.init)
    while True:
        when = next_run(datetime.now(UTC), settings.every, settings.at)
        dep.log(f"next backup at {when.isoformat(timespec='seconds')}")
        time.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))
        started = time.monotonic()
        _one_backup(dep, settings, environ, args.init)  # reports its own failure and goes on
        time.sleep(max(0.0, settings.every - (time.monotonic() - started)))
        settings = settings.model_copy(update={"at": None})


def _one_backup(dep, settings, environ, init: bool) -> int:
    started, status, message, skipped, skipped_dirs = time.time(), 0, "ok", {}, {}
    try:
        skipped, skipped_dirs = backup(dep, settings, environ, init=init)
        # The rest is in the snapshot: the backup succeeded, and says what it left out or kept as raw files.
        buts = []
        if skipped:
            buts.append(
                f"{len(skipped)} SQLite database(s) could not be copied consistently and are in "
                "the snapshot only as raw files: " + "; ".join(f"{db}: {why}" for db, why in skipped.items())
            )
        if skipped_dirs:
            buts.append(
                f"{len(skipped_dirs)} home(s) or group folder(s) under STORAGE_QUOTA_ROOT could not be read and "
                "are not in the snapshot: " + "; ".join(f"{d}: {why}" for d, why in skipped_dirs.items())
            )
        if buts:
            message = "ok, but " + "; and ".join(buts)
            dep.log(message)
        dep.log("backup finished")
    except BackupError as err:
        status, message = 1, str(err)
        print(f"pyiron-hub backup: {err}", file=sys.stderr, flush=True)
    last_success = time.time() if status == 0 else (read_status(DATA_DIR) or {}).get("last_success")
    write_status(
        {
            "exit_status": status,
            "message": message,
            "started": started,
            "finished": time.time(),
            "last_success": last_success,
            "repository": settings.repository,
            "skipped_databases": skipped,
            "skipped_quota_dirs": skipped_dirs,
        }
    )
    return status


@_reports_errors("restore", "Nothing was restored.")
def cmd_restore(args, environ: Mapping[str, str]) -> int:
    if args.path and not (args.user or args.group):
        print(
            "pyiron-hub restore: --path needs --user (whose home the path is in) or --group (whose folder)",
            file=sys.stderr,
        )
        return 2
    dep, settings = _setup(environ)
    restore(
        dep,
        settings,
        environ,
        args.snapshot,
        user=args.user,
        path=args.path,
        force=args.force,
        config_only=args.config,
        group=args.group,
    )
    return 0


@_reports_errors("snapshots", "Nothing was read.")
def cmd_snapshots(args, environ: Mapping[str, str]) -> int:
    dep, settings = _setup(environ)
    for s in sorted(snapshot_list(dep, settings, environ), key=lambda s: s["time"]):
        print(f"{s['short_id']}  {s['time'][:19].replace('T', ' ')}  {s.get('hostname', '')}")
    if args.check:
        dep.restic(settings, environ, "check", echo=True)
    return 0


def add_commands(sub) -> None:
    b = sub.add_parser("backup", help="back up the database, secrets and every user's files (restic)")
    b.add_argument("--init", action="store_true", help="create the repository first if there is none")
    b.add_argument("--schedule", action="store_true", help="run every BACKUP_EVERY (the compose `backup` profile)")
    b.set_defaults(func=cmd_backup)
    r = sub.add_parser(
        "restore", help="restore everything, one user's home, one group's folder, or one file from a snapshot"
    )
    r.add_argument("--snapshot", help="snapshot id (default: the latest of this project)")
    one = r.add_mutually_exclusive_group()
    one.add_argument("--user", help="restore only this user's home and work volumes (or quota home)")
    one.add_argument(
        "--group",
        help="restore only this Keycloak group's folder (GROUP_FOLDERS): its volume, or with STORAGE_QUOTA "
        "its folder under STORAGE_QUOTA_ROOT",
    )
    r.add_argument(
        "--path",
        help="with --user: only this file or folder of the home, e.g. work/a.ipynb; "
        "with --group: of the group's folder, e.g. results/a.txt",
    )
    r.add_argument("--force", action="store_true", help="overwrite a hub that still has data")
    r.add_argument(
        "--config",
        action="store_true",
        help="only write the snapshot's env files (pyiron.env, shared.env ...) missing in the project",
    )
    r.set_defaults(func=cmd_restore)
    s = sub.add_parser("snapshots", help="list this project's snapshots")
    s.add_argument("--check", action="store_true", help="also check the repository's integrity (restic check)")
    s.set_defaults(func=cmd_snapshots)
    w = sub.add_parser("backup-worker", help="(run by `backup` and `restore` in their restic container)")
    w.add_argument("action", choices=("backup", "restore"))
    w.add_argument("plan")
    # Run, not imported: the worker's code is backup_worker/, which hub modules never import.
    w.set_defaults(func=lambda a: os.execv(sys.executable, [sys.executable, "-m", WORKER_MODULE, a.action, a.plan]))
