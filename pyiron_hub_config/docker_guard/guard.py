"""The Docker API guard: the hub reaches the engine through it, and it lets through only
what the hub itself does, on what the hub made (docker-compose.yml; README "Security notes").

Whoever controls a process that holds the Docker socket is root on the host: one
``POST /containers/create`` with ``"Privileged": true`` or a bind of ``/`` is enough. The
guard holds the socket instead of the hub and checks each request: its method and path
against the calls the hub makes (the spawner, the boot and packages volumes' writer, the
SITE_RESOURCES_DIR check, image pulls, users' networks, the usage page), everything else
refused; and the *bodies* of creates: a container gets no privilege, capability, device,
host namespace, weakened confinement or host path but SITE_RESOURCES_DIR (read-only) and,
with STORAGE_QUOTA, users' limited homes <STORAGE_QUOTA_ROOT>/<name>/home and group folders
<STORAGE_QUOTA_ROOT>/_groups/<name>/folder (quota_service/); a
volume no driver options (``type=none,o=bind,device=/`` would bind the host's ``/``); a
network only the bridge driver with no options, and no subnet but one in USER_NETWORKS_POOL
(a bridge on the subnet of a site network would take the host's route to it). The guard's own container and image are
out of reach (it would otherwise be replaced by one that is not a guard). What the hub
creates gets a label only the guard sets (OWNER_LABEL); start, stop, remove, archives and
network joins act only on what carries it, so the database, Keycloak, the backup service
and whatever else runs on the engine are out of the hub's reach; named volumes are asked
of the engine, so one made elsewhere that binds a host path is refused too. Fields the
guard does not know are refused (fail closed). Refusals answer 403 with a JSON
``message`` (docker-py shows it as the error) and are logged.

A second guard, ``--for backup`` (compose.backup.yml's ``backup-guard``), serves the backup
service, with a narrower policy (BACKUP_ROUTES): it creates only worker containers of the
guard's own image (the backup's), on DOCKER_NETWORK_NAME, mounting named volumes and no host
path but the restic repository's (RESTIC_REPOSITORY, a local one, read-write) and
BACKUP_SSH_DIR (read-only), both read from backup.env, and, with STORAGE_QUOTA_ROOT (.env),
the quota's homes and group folders (the hub's shapes; a restore writes them); it starts,
waits for, reads the logs and archives of, and removes only the containers it made
(OWNER_LABEL "backup"), and makes volumes (a restore's). No pull, no network, no exec: the
database is dumped over the network.

A third, ``--for swarm`` (compose.swarm.yml's ``docker-guard``, on a manager), serves the hub
whose users' servers are swarm services (SWARM_ROUTES): it creates services whose container
may be only what the hub's containers may be on one host (the same check_mount for their
mounts, plus users' directories of SWARM_SHARED_PATH, writable, or their NFS volumes exactly
as swarm.py makes them), on DOCKER_NETWORK_NAME alone, publishing no port, mounting no swarm
secret and no config but the boot step's; it labels what it lets the hub create (services,
the boot step's config) and looks at, lists the tasks of, reads the logs of and removes only
those services, so the database's, the guard's and every other service of the swarm are out
of reach (their specs too, which show their environment). No service update, no secret, no
change to the swarm or its nodes (they are only looked at).

Why written here rather than taken from elsewhere:
- socket proxies (tecnativa/docker-socket-proxy and the like) filter method and URL only,
  and the danger is in the body of a create the hub must be allowed to make;
- Open Policy Agent's opa-docker-authz checks bodies, but as a Docker authorization
  plugin: dockerd must be restarted with ``--authorization-plugin``, which a deployment
  on a shared engine (and the test machines) cannot do;
- rootless Docker needs an engine of its own and cannot run beside the one the stack uses.
It is a small aiohttp application (aiohttp is in the hub image already): streamed
responses (pull progress, chunked answers) pass through as they come. No call of the hub
upgrades its connection (attach, exec), so hijacked connections are refused with the rest.

    python -m pyiron_hub_config.docker_guard [--env-file pyiron.env] [--listen 0.0.0.0:2375]
                                             [--upstream /var/run/docker.sock] [--for hub|backup|swarm]
    python -m pyiron_hub_config.docker_guard --ping     (the service's healthcheck)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import posixpath
import re
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, ip_address, ip_network
from pathlib import Path
from urllib.parse import quote

from ..problems import ConfigError, Problem
from ..subnets import DEFAULT_POOL

log = logging.getLogger("docker-guard")

LISTEN = "0.0.0.0:2375"
UPSTREAM = "/var/run/docker.sock"
# Bodies the guard reads whole to check (creates, connects): a few kB in practice.
MAX_CHECKED_BODY = 4 << 20
# API versions before 1.24 take a HostConfig in the body of /containers/{id}/start.
MIN_API_VERSION = (1, 24)


class Refused(Exception):
    """What a request asked for that the hub never does, and why it is refused."""


# --- The policy: pure functions of a request --------------------------------------------


# A name of storage under STORAGE_QUOTA_ROOT (dockerspawner's escaped user name, '-' may come
# first; a group folder's name): never '', '.', '..' or one with a '/'.
QUOTA_HOME_NAME = re.compile(r"[A-Za-z0-9-][A-Za-z0-9_.-]{0,200}")


@dataclass(frozen=True)
class BindRule:
    """A host path containers may bind: `path` itself (leaf None), any <path>/<name> (leaf ""),
    or any <path>/<name>/<leaf>, with a name as the hub names storage (QUOTA_HOME_NAME), e.g.
    <STORAGE_QUOTA_ROOT>/<user>/home or <SWARM_SHARED_PATH>/<volume>; writable, or read-only only."""

    path: str
    leaf: str | None = None
    writable: bool = False

    def matches(self, source: str) -> bool:
        """Whether source (normalized) is this path, or of this shape: nothing above or beside it."""
        if self.leaf is None:
            return source == self.path
        parent, leaf = posixpath.split(source) if self.leaf else (source, "")
        base, name = posixpath.split(parent)
        return leaf == self.leaf and base == self.path and bool(QUOTA_HOME_NAME.fullmatch(name)) and ".." not in name

    def __str__(self) -> str:
        shape = {None: self.path, "": f"{self.path}/*"}.get(self.leaf, f"{self.path}/*/{self.leaf}")
        return shape + (" (read-write)" if self.writable else " (read-only)")


@dataclass(frozen=True)
class Policy:
    """What the guard lets through besides the hub's calls' shapes.

    binds: the host paths containers may bind (BindRule), all the guard allows of the host's
        files: for the hub SITE_RESOURCES_DIR read-only and, with STORAGE_QUOTA, users' limited
        homes and group folders under STORAGE_QUOTA_ROOT writable; for the swarm's hub also
        users' directories <SWARM_SHARED_PATH>/<volume name>, writable; for the backup its local
        repository and BACKUP_SSH_DIR (bind_rules builds them of GuardSettings).
    own_container, own_name: the guard's container (id and name), never touched.
    own_repositories: the guard's image (normalized repositories), never pulled over.
    network_pool: the range users' networks take their subnets from (USER_NETWORKS_POOL).
    owner: the value of OWNER_LABEL the guard sets on what it lets the hub create; the hub
        starts, stops, removes, reads and writes only containers (and joins only networks)
        that carry it.
    users_network: DOCKER_NETWORK_NAME: its members (the hub, services the admin put on it)
        may be joined into the hub's networks, as users' networks join the hub. For the
        backup: the one network its workers are on.
    role: whom the guard serves, "hub", "backup" or "swarm" (the hub on a swarm): its routes (ROLES).
    own_image: the guard's image id; the backup's workers run that image and no other.
    nfs: (SWARM_NFS_SERVER, SWARM_NFS_EXPORT) (role "swarm"): users' volumes may be NFS
        directories of that export, with exactly the options storage.nfs_volume_options gives.
    """

    binds: tuple[BindRule, ...] = ()
    network_pool: IPv4Network = IPv4Network(DEFAULT_POOL)
    own_container: str | None = None
    own_name: str | None = None
    own_repositories: frozenset[str] = frozenset()
    owner: str = "hub"
    users_network: str | None = None
    role: str = "hub"
    own_image: str | None = None
    nfs: tuple[str, str] | None = None

    @property
    def who(self) -> str:
        """Whom the guard serves, in its refusals' words: the swarm's guard serves the hub too."""
        return "hub" if self.role == "swarm" else self.role


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    pattern: re.Pattern
    body: str = "none"  # "none": must be empty; "json": read, checked, re-sent; "stream": passed on
    check_query: Callable[[Policy, Mapping[str, list[str]]], None] | None = None
    check_body: Callable[[Policy, object], None] | None = None
    # What must be the hub's own (asked of the engine, check_owned): "container" or "service"
    # (the one the path names), "tasks" (the service a task list's filter names), "network"
    # (connect/disconnect: the path's network and the body's container).
    owned: str | None = None


def _route(methods: str, path: str, body: str = "none", check_query=None, check_body=None, owned=None) -> Route:
    return Route(tuple(methods.split()), re.compile(path + r"\Z"), body, check_query, check_body, owned)


def _check_pull(policy: Policy, query: Mapping[str, list[str]]) -> None:
    if query.get("fromSrc") or query.get("repo"):
        raise Refused("importing an image (fromSrc): the hub only pulls images from registries")
    names = query.get("fromImage") or []
    if len(names) != 1 or not names[0]:
        raise Refused("a pull names exactly one image (fromImage)")
    if repository(names[0]) in policy.own_repositories:
        raise Refused(f"pulling {names[0]}: it is the guard's own image, which would then run without it")


C = r"/containers/[^/]+"
N = r"/networks/[^/]+"
# The hub's calls (method, path after the API version, what its body is). Read in
# spawner.py, boot_file.py, hub_packages.py, host_checks.py, image_pull.py, user_networks.py,
# usage.py and dockerspawner; docker-py asks for /version and /_ping first.
ROUTES = [
    _route("GET HEAD", r"/_ping"),
    _route("GET", r"/version"),
    _route("GET", r"/system/df"),  # the usage page's volume sizes
    _route("GET", r"/containers/json"),
    _route("POST", r"/containers/create", "json", check_body=lambda p, b: check_container_create(p, b)),
    _route("GET", C + r"/(?:json|stats)"),
    _route("POST", C + r"/(?:start|stop)", owned="container"),
    _route("DELETE", C, owned="container"),
    # the user's public key, the written volume's marker
    _route("GET HEAD", C + r"/archive", owned="container"),
    _route("PUT", C + r"/archive", "stream", owned="container"),  # into the volume writer (boot_file.py)
    _route("GET", r"/images/json"),
    _route("GET", r"/images/.+/json"),
    _route("POST", r"/images/create", check_query=_check_pull),
    _route("GET", r"/volumes"),
    _route("GET DELETE", r"/volumes/[^/]+"),  # DELETE: stale image volumes (usage page)
    _route("POST", r"/volumes/create", "json", check_body=lambda p, b: check_volume_create(b)),
    _route("GET", r"/networks"),
    _route("GET", N),
    _route("DELETE", N, owned="network"),
    _route("POST", r"/networks/create", "json", check_body=lambda p, b: check_network_create(p, b)),
    _route(
        "POST",
        r"/networks/(?!host/|none/)[^/]+/(?:connect|disconnect)",
        "json",
        check_body=lambda p, b: check_network_member(p, b),
        owned="network",
    ),
]


def check_backup_worker_create(policy: Policy, body: object) -> None:
    """A backup worker: what any of the hub's containers may be (check_container_create),
    and on the one network the backup's workers use, and no other."""
    check_container_create(policy, body)
    config = fields(body, "the container")
    hc = fields(config.get("hostconfig"), "HostConfig")
    network = hc.get("networkmode") or ""
    if not policy.users_network or network != policy.users_network:
        raise Refused(
            f"HostConfig.NetworkMode {network!r}: the backup's workers are on {policy.users_network} "
            "(DOCKER_NETWORK_NAME) and no other network"
        )
    endpoints = fields(
        fields(config.get("networkingconfig"), "NetworkingConfig").get("endpointsconfig"),
        "NetworkingConfig.EndpointsConfig",
    )
    if set(endpoints) - {policy.users_network}:
        raise Refused("NetworkingConfig names another network: the backup's workers are on one network")


async def check_worker_image(policy: Policy, body: dict, inspect_image: Callable[[str], object]) -> None:
    """The backup's worker runs the guard's own image (the backup's): asked of the engine by id."""
    image = fields(body, "the container").get("image")
    found = await inspect_image(image) if isinstance(image, str) and image else None
    if not policy.own_image or found is None or found.get("Id") != policy.own_image:
        raise Refused(
            f"the image {image!r}: the backup's workers run the backup's own image "
            f"({policy.own_image or 'unknown: the guard runs outside a container'}) and no other"
        )


# The backup's calls (backup.py): its worker containers, the volumes they mount or a restore
# makes, and reads. No exec (the database is dumped over the network), no pull, no network.
BACKUP_ROUTES = [
    _route("GET HEAD", r"/_ping"),
    _route("GET", r"/version"),
    _route("GET", r"/containers/json"),
    _route("GET", C + r"/json"),
    _route("POST", r"/containers/create", "json", check_body=lambda p, b: check_backup_worker_create(p, b)),
    _route("POST", C + r"/(?:start|wait)", owned="container"),
    _route("GET", C + r"/logs", owned="container"),
    _route("DELETE", C, owned="container"),
    _route("GET HEAD", C + r"/archive", owned="container"),
    _route("PUT", C + r"/archive", "stream", owned="container"),
    _route("GET", r"/volumes"),
    _route("GET", r"/volumes/[^/]+"),
    _route("POST", r"/volumes/create", "json", check_body=lambda p, b: check_volume_create(b)),
]

S = r"/services/[^/]+"
# The swarm hub's calls (--for swarm, compose.swarm.yml): read in swarm.py, dockerspawner's
# SwarmSpawner, boot_file.boot_config, image_pull.py and host_checks.py. Users' servers are
# services (created, inspected, their tasks listed, their logs read, removed: never updated);
# the boot step is a config; the image is pulled on the manager and its digest read; the
# nodes are only looked at. SITE_RESOURCES_DIR is asked of the manager's engine at the hub's
# start with a container that never runs, as on one host.
SWARM_ROUTES = [
    _route("GET HEAD", r"/_ping"),
    _route("GET", r"/version"),
    _route("GET", r"/images/json"),
    _route("GET", r"/images/.+/json"),
    _route("POST", r"/images/create", check_query=_check_pull),
    _route("GET", r"/configs"),
    _route("POST", r"/configs/create", "json", check_body=lambda p, b: check_config_create(p, b)),
    _route("POST", r"/services/create", "json", check_body=lambda p, b: check_service_create(p, b)),
    # Only its own services, even to look: a service's spec shows its environment, which
    # another stack may not keep as free of secrets as this one.
    _route("GET DELETE", S, owned="service"),
    _route("GET", S + r"/logs", owned="service"),
    _route("GET", r"/tasks", check_query=lambda p, q: tasks_service(q), owned="tasks"),
    _route("GET", r"/nodes/[^/]+"),
    _route("GET", C + r"/json"),
    _route("POST", r"/containers/create", "json", check_body=lambda p, b: check_container_create(p, b)),
    _route("DELETE", C, owned="container"),
]

# Why a call the hub never makes is refused, for the ones worth naming.
NEVER = [
    (r"/(?:exec/|containers/[^/]+/exec)", "running commands in containers (exec): the hub never does"),
    (r"/containers/[^/]+/attach", "attaching to a container: the hub never does"),
    (r"/containers/[^/]+/update", "changing a container's limits: the hub never does"),
    (r"/(?:build|session)\b", "building images: the hub never does"),
    (r"/commit\b", "making an image of a container: the hub never does"),
    (r"/images/.+/(?:tag|push)", "tagging or pushing images: the hub never does"),
    (r"/(?:images/load|images/get)\b", "loading or saving images: the hub never does"),
    (r"/plugins\b", "Docker plugins: the hub never uses them"),
    (r"/(?:containers|images|volumes|networks|build)/prune", "pruning: the hub never prunes"),
]
ONE_HOST = [(r"/(?:swarm|nodes|services|tasks|secrets|configs)\b", "swarm: the guard serves a hub on one host")]
SWARM_NEVER = [
    (S + r"/update", "changing a service: the hub never does (a server's service is removed and made anew)"),
    (r"/services\Z", "listing services: the hub never does (it asks for its users' by name)"),
    (r"/secrets\b", "swarm secrets: the hub never reads, makes or mounts one"),
    (r"/configs/", "changing or removing configs: the hub never does (the boot step's never changes)"),
    (r"/(?:swarm|nodes)\b", "the swarm's settings and nodes: the hub only looks at a node"),
]
# Each role's calls, and the reasons for the ones it never makes.
ROLES = {
    "hub": (ROUTES, NEVER + ONE_HOST),
    "backup": (BACKUP_ROUTES, NEVER + ONE_HOST),
    "swarm": (SWARM_ROUTES, SWARM_NEVER + NEVER),
}


def find_route(policy: Policy, method: str, path: str, query: Mapping[str, list[str]] | None = None) -> Route:
    """The route of a request, checked as far as its method, path and query go; Refused
    with the reason if the hub never makes it.

    path: as received, with or without the API version (/v1.41/containers/create); query:
    each parameter's values.
    """
    path = api_path(path)
    container = re.match(r"/containers/([^/]+)", path)
    if method not in ("GET", "HEAD") and container and names_own_container(policy, container[1]):
        raise Refused("the guard's own container is out of the hub's reach")
    routes, never = ROLES[policy.role]
    for route in routes:
        if route.pattern.match(path) and method in route.methods:
            if route.check_query:
                route.check_query(policy, query or {})
            return route
    for pattern, reason in never:
        if re.match(pattern, path):
            raise Refused(reason.replace("the hub", f"the {policy.who}"))
    raise Refused(f"not a call the {policy.who} makes")


def check_request(
    policy: Policy, method: str, path: str, query: Mapping[str, list[str]] | None = None, body: object = None
) -> Route:
    """The whole check of one request (body: the parsed JSON of a route that reads it)."""
    route = find_route(policy, method, path, query)
    if route.check_body:
        route.check_body(policy, body)
    return route


def api_path(path: str) -> str:
    """The path without its API version; Refused for versions before 1.24 and odd paths."""
    found = re.match(r"/v(\d+)\.(\d+)(/.*)\Z", path)
    if found:
        if (int(found[1]), int(found[2])) < MIN_API_VERSION:
            raise Refused(f"API version {found[1]}.{found[2]}: the guard speaks 1.24 and later")
        path = found[3]
    if not path.startswith("/") or any(s in ("", ".", "..") for s in path[1:].split("/")):
        raise Refused(f"the path {path!r} is not one of the Docker API's")
    return path


def names_own_container(policy: Policy, name: str) -> bool:
    """Whether Docker would take `name` for the guard's container (its name, id or id prefix)."""
    if not name or not policy.own_container:
        return False
    name = name.lstrip("/")
    return name == (policy.own_name or "").lstrip("/") or (
        re.fullmatch(r"[0-9a-f]+", name) is not None and policy.own_container.startswith(name)
    )


def repository(reference: str) -> str:
    """An image reference's repository as Docker names it: 'postgres:17' -> 'docker.io/library/postgres'."""
    name = reference.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + ("library/" + name if "/" not in name else name)
    if name.startswith("index.docker.io/"):
        name = "docker.io/" + name[len("index.docker.io/") :]
    return name.lower()


# The engine decodes bodies with Go's encoding/json, which matches field names without
# regard to case: {"privileged": true} sets Privileged. So fields are checked by their
# folded names, two spellings of one field are refused, and so are non-ASCII names (Go
# folds e.g. U+212A KELVIN SIGN to k).
def fields(value: object, where: str) -> dict[str, object]:
    """An object's fields by lower-case name; Refused if it is no object or names one twice."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Refused(f"{where} is not an object")
    found: dict[str, object] = {}
    for key, item in value.items():
        if not key.isascii():
            raise Refused(f"{where} has a field with a non-ASCII name ({key!r})")
        if key.lower() in found:
            raise Refused(f"{where} names the field {key} twice")
        found[key.lower()] = item
    return found


def empty(value: object) -> bool:
    """Unset as Docker reads it: null, false, 0, "", or a list or object of such."""
    if isinstance(value, dict):
        return all(empty(v) for v in value.values())
    if isinstance(value, list):
        return not value
    return not value


def _only(found: dict[str, object], allowed: set[str], where: str, why: str) -> None:
    for key, value in found.items():
        if key not in allowed and not empty(value):
            raise Refused(f"{where}.{key} is set: {why}")


# The fields of a container's create that are no HostConfig (Docker's container.Config).
# Any other top-level field is refused: the engine reads HostConfig's fields at the top
# level too when the body has no HostConfig (the API's deprecated form).
CONTAINER_CONFIG = {
    "hostname",
    "domainname",
    "user",
    "attachstdin",
    "attachstdout",
    "attachstderr",
    "exposedports",
    "tty",
    "openstdin",
    "stdinonce",
    "env",
    "cmd",
    "healthcheck",
    "argsescaped",
    "image",
    "volumes",
    "workingdir",
    "entrypoint",
    "networkdisabled",
    "macaddress",
    "onbuild",
    "labels",
    "stopsignal",
    "stoptimeout",
    "shell",
    "hostconfig",
    "networkingconfig",
}
# HostConfig fields the hub sets or that give nothing of the host: any value passes. Every
# other field must be unset, except those checked in check_host_config.
HOST_CONFIG_FREE = {
    "memory",
    "memoryswap",
    "memoryreservation",
    "nanocpus",
    "cpuquota",
    "cpuperiod",
    "cpushares",
    "cpusetcpus",
    "cpusetmems",
    "pidslimit",
    "autoremove",
    "capdrop",
    "restartpolicy",
    "init",
    "shmsize",
    "readonlyrootfs",
    "dns",
    "dnsoptions",
    "dnssearch",
    "extrahosts",
}
HOST_CONFIG_CHECKED = {
    "privileged",
    "capadd",
    "devices",
    "devicerequests",
    "devicecgrouprules",
    "networkmode",
    "pidmode",
    "ipcmode",
    "utsmode",
    "usernsmode",
    "cgroupnsmode",
    "securityopt",
    "storageopt",
    "binds",
    "mounts",
    "volumesfrom",
    "maskedpaths",
    "readonlypaths",
    "links",
}
NO_NEW_PRIVILEGES = {"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"}
VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]+")


def check_container_create(policy: Policy, body: object) -> None:
    """A container the hub would create: no privilege, capability, device, host namespace,
    weakened confinement, or host path but the allowed ones read-only. Refused otherwise."""
    config = fields(body, "the container")
    for key, value in body.items():  # by the names as sent, for the refusal's words
        # Refused even when empty: "MaskedPaths": [] at the top is what
        # `--security-opt systempaths=unconfined` sends (a writable /proc/sys). Only null is
        # unset to the engine (docker-py sends no null at the top).
        if key.lower() not in CONTAINER_CONFIG and value is not None:
            raise Refused(
                f"{key} at the top of a container's create: a field the guard does not know, or the "
                "API's deprecated form of a HostConfig field (the hub sends those in HostConfig)"
            )
    check_labels(policy, config.get("labels"))
    check_host_config(policy, fields(config.get("hostconfig"), "HostConfig"))
    endpoints = fields(
        fields(config.get("networkingconfig"), "NetworkingConfig").get("endpointsconfig"),
        "NetworkingConfig.EndpointsConfig",
    )
    for network in endpoints:
        _check_network_name(network)


def _check_network_name(network: str) -> None:
    if network in ("host", "none") or ":" in network:
        raise Refused(f"the network {network!r}: the host's or another container's network")


def check_host_config(policy: Policy, hc: dict[str, object]) -> None:
    where = "HostConfig"
    if hc.get("privileged"):
        raise Refused("a privileged container (HostConfig.Privileged) is root on the host")
    if not empty(hc.get("capadd")):
        raise Refused(f"adding capabilities (HostConfig.CapAdd {hc['capadd']}): the hub's containers drop them")
    for key in ("devices", "devicerequests", "devicecgrouprules"):
        if not empty(hc.get(key)):
            raise Refused(f"host devices (HostConfig.{key}): the hub's containers use none")
    network = hc.get("networkmode") or ""
    if not isinstance(network, str) or network == "host" or ":" in network:
        raise Refused(f"HostConfig.NetworkMode {network!r}: the host's or another container's network")
    for key, allowed in (
        ("pidmode", {""}),
        ("ipcmode", {"", "private", "none", "shareable"}),
        ("utsmode", {""}),
        ("usernsmode", {""}),
        ("cgroupnsmode", {"", "private"}),
    ):
        if (hc.get(key) or "") not in allowed:
            raise Refused(f"HostConfig.{key} {hc[key]!r}: a namespace of the host or of another container")
    for option in hc.get("securityopt") or []:
        if not isinstance(option, str) or option.replace(" ", "") not in NO_NEW_PRIVILEGES:
            raise Refused(
                f"HostConfig.SecurityOpt {option!r}: only no-new-privileges may be set "
                "(seccomp, AppArmor and SELinux stay as the engine confines containers)"
            )
    for key in ("maskedpaths", "readonlypaths"):
        if hc.get(key) is not None:
            raise Refused(f"HostConfig.{key}: the engine's defaults keep /proc's host files masked")
    if not empty(hc.get("volumesfrom")):
        raise Refused("HostConfig.VolumesFrom: the hub mounts volumes by name")
    if not empty(hc.get("links")):
        raise Refused(
            "HostConfig.Links: a legacy link names another container (the guard's own, even); "
            "the hub's containers find each other on networks"
        )
    storage = fields(hc.get("storageopt") or {}, "HostConfig.StorageOpt")
    # size is the writable layer's limit (SERVER_DISK_LIMIT); the drivers' other options
    # (e.g. devicemapper's) are nothing the hub sets.
    if set(storage) - {"size"} or not re.fullmatch(r"\d+[kmgtKMGT]?[bB]?", str(storage.get("size", "0"))):
        raise Refused(f"HostConfig.StorageOpt {hc.get('storageopt')!r}: the hub sets only a size")
    for bind in hc.get("binds") or []:
        check_bind(policy, bind)
    for mount in hc.get("mounts") or []:
        check_mount(policy, fields(mount, "a mount"))
    for key, value in hc.items():
        # Fail closed: a field the guard does not know may be one a newer engine reads as a
        # way to the host. Only null is unset to the engine.
        if key not in HOST_CONFIG_FREE | HOST_CONFIG_CHECKED and value is not None:
            raise Refused(f"{where}.{key} is set: a field the guard does not know, and the hub never sets it")


def check_host_bind(policy: Policy, source: object, writable: bool, made_if_missing: bool, mode: str) -> None:
    """A bind of a host path: one the policy's rules allow, writable only if its rule says so.

    made_if_missing: a HostConfig.Binds string, whose source the engine makes (as root) if it is
    missing. Shapes are for mounts only: a bind mount of a missing path fails, so a home is
    always the quota service's subvolume, never a directory the engine made without a limit.
    mode: how the bind asked, for the refusal's words.
    """
    normal = isinstance(source, str) and posixpath.normpath(source) == source
    rule = next(
        (r for r in policy.binds if normal and r.matches(source) and not (made_if_missing and r.leaf is not None)),
        None,
    )
    if rule is None:
        raise _host_path_refused(policy, str(source))
    if writable and not rule.writable:
        raise Refused(f"binding {source} {mode}: only read-only")


def nfs_options(policy: Policy, volume: object) -> dict[str, str] | None:
    """The local driver's options the swarm hub gives the NFS volume of that name, or None."""
    if not policy.nfs or not isinstance(volume, str) or not VOLUME_NAME.fullmatch(volume) or ".." in volume:
        return None
    from ..storage import nfs_volume_options  # not at the top, which the healthcheck imports

    return nfs_volume_options(*policy.nfs, volume)


def _is_nfs_volume(policy: Policy, volume: object, options: dict[str, object]) -> bool:
    """A volume mount's DriverConfig exactly as swarm.py gives a user's NFS volume (SWARM_NFS_SERVER)."""
    expected = nfs_options(policy, volume)
    driver = fields(options.get("driverconfig"), "VolumeOptions.DriverConfig")
    return expected is not None and driver == {"name": "local", "options": expected}


def _host_path_refused(policy: Policy, source: str) -> Refused:
    if policy.role == "backup":
        return Refused(
            f"binding the host path {source}: the backup's workers mount named volumes, and host "
            "directories only as backup.env names them to the backup guard (RESTIC_REPOSITORY, a "
            "local one; BACKUP_SSH_DIR, read-only) and, with STORAGE_QUOTA_ROOT in .env, the quota's "
            "homes <root>/<name>/home and group folders <root>/_groups/<name>/folder"
        )
    if policy.role == "swarm":
        return Refused(
            f"binding the host path {source}: users' servers mount named volumes, and host directories "
            "only if the hub's configuration names them (SITE_RESOURCES_DIR, read-only; a user's own "
            "directory <SWARM_SHARED_PATH>/<volume name>)"
        )
    return Refused(
        f"binding the host path {source}: containers mount named volumes, and host directories "
        "only if the hub's configuration names them (SITE_RESOURCES_DIR), read-only"
    )


def check_bind(policy: Policy, bind: object) -> None:
    """A HostConfig.Binds entry: 'volume:/path[:rw|ro|nocopy]', or an allowed path ':ro'."""
    if not isinstance(bind, str):
        raise Refused("HostConfig.Binds holds something else than 'source:target[:mode]'")
    parts = bind.split(":")
    if len(parts) not in (2, 3):
        raise Refused(f"HostConfig.Binds {bind!r} is not 'source:target[:mode]'")
    source, modes = parts[0], set(parts[2].split(",")) if len(parts) == 3 else set()
    if VOLUME_NAME.fullmatch(source):
        if not modes <= {"rw", "ro", "nocopy"}:
            raise Refused(f"HostConfig.Binds {bind!r}: a volume's mode is rw, ro or nocopy")
        return
    mode = parts[2] if len(parts) == 3 else "rw"
    check_host_bind(policy, source, modes != {"ro"}, made_if_missing=True, mode=f"with mode {mode}")
    if not modes <= {"rw", "ro"}:
        raise Refused(f"binding {source} with mode {mode}: a host path's mode is rw or ro")


def check_mount(policy: Policy, mount: dict[str, object]) -> None:
    """A HostConfig.Mounts entry: a volume without driver options, or an allowed path read-only."""
    kind = mount.get("type")
    if kind == "volume":
        if not VOLUME_NAME.fullmatch(mount.get("source") or "an anonymous volume"):
            raise Refused(f"a volume mount of {mount.get('source')!r}, which is no volume's name")
        options = fields(mount.get("volumeoptions"), "a mount's VolumeOptions")
        if not empty(options.get("driverconfig")) and not _is_nfs_volume(policy, mount.get("source"), options):
            raise Refused(
                "a volume mount with a driver configuration (it can bind any host path, "
                "type=none,o=bind,device=/): the hub's volumes use the local driver's defaults"
            )
        _only(options, {"nocopy", "labels", "driverconfig"}, "VolumeOptions", "the hub never sets it")
    elif kind == "bind":
        writable = mount.get("readonly") is not True
        check_host_bind(policy, mount.get("source"), writable, made_if_missing=False, mode="writable")
        if not empty(mount.get("bindoptions")):
            raise Refused("a bind mount's BindOptions (propagation): the hub never sets them")
    else:
        raise Refused(f"a mount of type {kind!r}: the hub mounts volumes and SITE_RESOURCES_DIR")
    _only(
        mount,
        {"type", "source", "target", "readonly", "consistency", "volumeoptions", "bindoptions"},
        "a mount",
        "the hub never sets it",
    )


def check_volume_create(body: object) -> None:
    """A volume of the local driver without options (options can bind a host path)."""
    volume = fields(body, "the volume")
    if (volume.get("driver") or "local") != "local":
        raise Refused(f"the volume driver {volume['driver']!r}: the hub's volumes are local")
    if not empty(volume.get("driveropts")):
        raise Refused(
            "volume driver options (type=none,o=bind,device=/ would bind the host's /): the hub's volumes have none"
        )
    _only(volume, {"name", "driver", "labels"}, "the volume", "the hub never sets it")


def check_network_create(policy: Policy, body: object) -> None:
    """A bridge network without options, on the engine's address pools or a subnet of the
    hub's pool (users' networks, user_networks.py)."""
    network = fields(body, "the network")
    if (network.get("driver") or "bridge") != "bridge":
        raise Refused(f"the network driver {network['driver']!r}: the hub makes bridge networks only")
    ipam = fields(network.get("ipam"), "IPAM")
    if (ipam.get("driver") or "default") != "default" or not empty(ipam.get("options")):
        raise Refused("an IPAM driver or its options: the hub's networks use the engine's own IPAM")
    configs = ipam.get("config") or []
    if not isinstance(configs, list) or len(configs) > 1:
        raise Refused("IPAM.Config holds more than one subnet: a user's network has one")
    for config in configs:
        check_network_subnet(policy, fields(config, "IPAM.Config"))
    _only(ipam, {"driver", "options", "config"}, "IPAM", "the hub never sets it")
    _only(
        network,
        {"name", "checkduplicate", "driver", "labels", "internal", "attachable", "ipam"},
        "the network",
        "the hub never sets it",
    )
    check_labels(policy, network.get("labels"), "network")


def check_network_subnet(policy: Policy, config: dict[str, object]) -> None:
    """One subnet of USER_NETWORKS_POOL with its gateway in it, and nothing else of IPAM."""
    try:
        subnet = ip_network(str(config.get("subnet") or ""))
    except ValueError:
        raise Refused(f"IPAM subnet {config.get('subnet')!r} is not a network's address") from None
    if subnet.version != 4 or not subnet.subnet_of(policy.network_pool):
        raise Refused(
            f"IPAM subnet {subnet}: users' networks take theirs from USER_NETWORKS_POOL={policy.network_pool} "
            "(a bridge on another subnet could take the host's route to a network of the site)"
        )
    gateway = config.get("gateway")
    if gateway is not None:
        try:
            inside = ip_address(str(gateway)) in subnet
        except ValueError:
            inside = False
        if not inside:
            raise Refused(f"IPAM gateway {gateway!r} is not an address of the subnet {subnet}")
    _only(config, {"subnet", "gateway"}, "IPAM.Config", "the hub never sets it")


def check_network_member(policy: Policy, body: object) -> None:
    member = fields(body, "the request")
    container = member.get("container")
    if not isinstance(container, str) or not container:
        raise Refused("a network connect names one container (Container)")
    if names_own_container(policy, container):
        raise Refused("the guard's own container is out of the hub's reach")
    _only(member, {"container", "endpointconfig", "force"}, "the request", "the hub never sets it")


# --- The swarm hub's services and configs (--for swarm) ---------------------------------------

# A service's ContainerSpec fields that give nothing of the host: any value passes (the
# command, the environment, limits of its own). Every other field must be unset, except
# those checked in check_container_spec.
CONTAINER_SPEC_FREE = {
    "image",
    "labels",
    "command",
    "args",
    "hostname",
    "env",
    "dir",
    "user",
    "groups",
    "tty",
    "openstdin",
    "readonly",
    "stopsignal",
    "stopgraceperiod",
    "healthcheck",
    "hosts",
    "dnsconfig",
    "init",
    "capabilitydrop",
}
CONTAINER_SPEC_CHECKED = {"privileges", "capabilityadd", "isolation", "mounts", "configs"}
# The boot step's config as the hub made it before the guard labelled configs (boot_file.py).
BOOT_CONFIG_LABEL = "org.pyiron-hub.boot"


def check_service_create(policy: Policy, body: object) -> None:
    """A user's server as the swarm hub creates it (swarm.py): one task of a container that may be
    what the hub's containers may be on one host (check_mount's rules for its mounts), on
    DOCKER_NETWORK_NAME only, publishing no port. Refused otherwise."""
    spec = fields(body, "the service")
    check_labels(policy, spec.get("labels"), "service")
    mode = fields(spec.get("mode"), "Mode")
    replicas = fields(mode.get("replicated"), "Mode.Replicated").get("replicas")
    # {"Global": {}} is a mode however empty: only null is unset.
    if any(value is not None for key, value in mode.items() if key != "replicated") or replicas not in (None, 0, 1):
        raise Refused(f"Mode {spec.get('mode')!r}: a server is one task, never one on every node or many")
    endpoint = fields(spec.get("endpointspec"), "EndpointSpec")
    if not empty(endpoint.get("ports")):
        raise Refused(
            f"EndpointSpec.Ports {endpoint['ports']!r}: a published port opens the server on every node; "
            "the hub reaches servers over DOCKER_NETWORK_NAME"
        )
    if (endpoint.get("mode") or "vip") not in ("vip", "dnsrr"):
        raise Refused(f"EndpointSpec.Mode {endpoint['mode']!r} is no endpoint mode of Docker's")
    _only(endpoint, {"mode", "ports"}, "EndpointSpec", "the hub never sets it")
    for network in spec.get("networks") or []:
        check_service_network(policy, network)
    _only(
        spec,
        {"name", "labels", "tasktemplate", "mode", "networks", "endpointspec"},
        "the service",
        "the hub never sets it (a field the guard does not know is refused too)",
    )
    task = fields(spec.get("tasktemplate"), "TaskTemplate")
    for key in ("pluginspec", "networkattachmentspec"):
        if not empty(task.get(key)):
            raise Refused(f"TaskTemplate.{key}: the hub's services run containers, not plugins")
    if (task.get("runtime") or "container") != "container":
        raise Refused(f"TaskTemplate.Runtime {task['runtime']!r}: the hub's services run containers")
    if not empty(task.get("logdriver")):
        raise Refused("TaskTemplate.LogDriver: the hub's services log as the engine does (its options reach the host)")
    for network in task.get("networks") or []:
        check_service_network(policy, network)
    _only(
        fields(task.get("resources"), "TaskTemplate.Resources"),
        {"limits", "reservations"},
        "Resources",
        "the hub never sets it",
    )
    _only(
        task,
        {"containerspec", "resources", "restartpolicy", "placement", "networks", "forceupdate", "runtime"},
        "TaskTemplate",
        "the hub never sets it (a field the guard does not know is refused too)",
    )
    check_container_spec(policy, fields(task.get("containerspec"), "ContainerSpec"))


def check_container_spec(policy: Policy, container: dict[str, object]) -> None:
    """A service's ContainerSpec: no privilege, capability, secret, host path but those a
    container of the hub's may bind (check_mount), configs only as references."""
    where = "ContainerSpec"
    check_labels(policy, container.get("labels"))
    privileges = fields(container.get("privileges"), f"{where}.Privileges")
    if privileges.get("nonewprivileges") in (True, None):
        privileges.pop("nonewprivileges", None)
    _only(
        privileges,
        set(),
        f"{where}.Privileges",
        "the hub's services keep the engine's confinement (seccomp, AppArmor, SELinux, credentials)",
    )
    if not empty(container.get("capabilityadd")):
        raise Refused(
            f"adding capabilities ({where}.CapabilityAdd {container['capabilityadd']}): the hub's services drop them"
        )
    if (container.get("isolation") or "default") != "default":
        raise Refused(f"{where}.Isolation {container['isolation']!r}: the hub's services use the engine's")
    for mount in container.get("mounts") or []:
        check_mount(policy, fields(mount, "a mount"))
    for reference in container.get("configs") or []:
        config = fields(reference, "a config reference")
        if not empty(config.get("runtime")):
            raise Refused("a config as a runtime's credential spec: the hub mounts its config as a file")
        _only(
            fields(config.get("file"), "a config's File"),
            {"name", "uid", "gid", "mode"},
            "a config's File",
            "the hub never sets it",
        )
        _only(config, {"configid", "configname", "file"}, "a config reference", "the hub never sets it")
    for key, value in container.items():
        # Fail closed, as for HostConfig: secrets, sysctls, ulimits, and what a newer engine adds.
        if key not in CONTAINER_SPEC_FREE | CONTAINER_SPEC_CHECKED and not empty(value):
            raise Refused(
                f"{where}.{key} is set: "
                + (
                    "the hub's services mount no swarm secret (the hub's own, the database's)"
                    if key == "secrets"
                    else "a field the guard does not know, and the hub never sets it"
                )
            )


def check_service_network(policy: Policy, network: object) -> None:
    """A service's network: DOCKER_NETWORK_NAME by that name, and no other (the database's, the
    guard's, the host's or the ingress would be reachable from users' servers)."""
    attachment = fields(network, "a network attachment")
    target = attachment.get("target")
    if not policy.users_network or target != policy.users_network:
        raise Refused(
            f"the network {target!r}: users' servers join {policy.users_network or 'DOCKER_NETWORK_NAME'} "
            "(DOCKER_NETWORK_NAME) by its name, and no other network"
        )
    _only(attachment, {"target", "aliases"}, "a network attachment", "the hub never sets it")


async def check_service_configs(policy: Policy, body: dict, inspect: Callable[[str, str], object]) -> None:
    """The configs a service mounts, asked of the engine: only those the hub made (its boot step's)."""
    container = fields(
        fields(fields(body, "the service").get("tasktemplate"), "TaskTemplate").get("containerspec"), "ContainerSpec"
    )
    for reference in container.get("configs") or []:
        config = fields(reference, "a config reference")
        name = config.get("configid") or config.get("configname")
        found = await inspect("config", name) if isinstance(name, str) and name else None
        labels = ((found or {}).get("Spec") or {}).get("Labels") or {}
        if found is None or not (is_owned(policy, found) or labels.get(BOOT_CONFIG_LABEL)):
            raise Refused(
                f"the config {name!r} was not made by the hub: users' servers mount the boot step's "
                "config and no other (another stack's could say what only it should know)"
            )


def check_config_create(policy: Policy, body: object) -> None:
    """A config of plain data (the boot step, boot_file.py): no templating, which can expand secrets."""
    config = fields(body, "the config")
    if not empty(config.get("templating")):
        raise Refused("a config's Templating: a template can expand the swarm's secrets into it")
    check_labels(policy, config.get("labels"), "config")
    _only(config, {"name", "data", "labels", "templating"}, "the config", "the hub never sets it")


# --- What the hub made: the guard's label, set by the guard alone ----------------------------

# Set by the guard on every container and network it lets the hub create, and refused in a
# create's own labels: nothing made through the guard can pass for something of the hub's
# but what the hub made; whatever else runs on the engine (the database, Keycloak, the
# backup service, the guard) was made without the guard and never carries it.
OWNER_LABEL = "org.pyiron-hub.guard.owner"
# Users' networks made by the hub before the guard labelled them (user_networks.py).
LEGACY_NETWORK_LABEL = "org.pyiron-hub.user-network"


def check_labels(policy: Policy, labels: object, what: str = "container") -> None:
    if labels is None:
        return
    if not isinstance(labels, dict):
        raise Refused(f"the {what}'s Labels is not an object")
    if any(not isinstance(k, str) or k.strip().lower() == OWNER_LABEL for k in labels):
        raise Refused(f"the label {OWNER_LABEL} on a {what}'s create: only the guard sets it, on what the hub makes")


def mark_owned(policy: Policy, body: dict) -> dict:
    """The create's body with the guard's label added (under the Labels key the body spells)."""
    key = next((k for k in body if k.lower() == "labels"), "Labels")
    return {**body, key: {**(body.get(key) or {}), OWNER_LABEL: policy.owner}}


def is_owned(policy: Policy, found: Mapping) -> bool:
    """Whether an inspected container, network, service or config carries the guard's label for this policy."""
    # A container's labels are in Config, a service's and a config's in Spec, a network's at the top.
    holder = found.get("Config") if "Config" in found else found.get("Spec") if "Spec" in found else found
    return ((holder or {}).get("Labels") or {}).get(OWNER_LABEL) == policy.owner


def tasks_service(query: Mapping[str, list[str]]) -> str:
    """The one service a task list asks for (filters={"service": [name]}, as SwarmSpawner asks);
    Refused for any other list: a task's spec shows its service's environment."""
    try:
        filters = json.loads((query.get("filters") or ["{}"])[0])
    except ValueError:
        filters = None
    services = filters.get("service") if isinstance(filters, dict) else None
    if isinstance(services, dict):  # the API's older form: {"name": true}
        services = [name for name, on in services.items() if on]
    if (
        len(query.get("filters") or []) != 1
        or not isinstance(services, list)
        or len(services) != 1
        or not isinstance(services[0], str)
        or not services[0]
        or set(filters) - {"service", "desired-state"}
    ):
        raise Refused("a task list names one service of the hub's (filters service, desired-state), as the hub asks")
    return services[0]


async def check_owned(
    policy: Policy,
    route: Route,
    path: str,
    body: object,
    inspect: Callable[[str, str], object],
    query: Mapping[str, list[str]] | None = None,
) -> str:
    """That what a request touches is the hub's own; Refused otherwise. Returns the path with
    the container or network named by its full id, so that what the engine acts on is what
    was checked (a name could be taken by another in between).

    inspect: an async function (kind, name) -> the engine's inspect of a "container",
    "network" or "volume", None if there is none (the engine then answers 404 itself).
    """
    path = api_path(path)
    if route.owned == "container":
        name = path.split("/")[2]
        found = await inspect("container", name)
        if found is None:
            return path
        if not is_owned(policy, found):
            raise Refused(
                f"the container {found.get('Name', name).lstrip('/')} was not made by the {policy.who}: "
                f"the {policy.who} starts, stops, removes, reads and writes only its own containers "
                + ("(its workers)" if policy.role == "backup" else "(users' servers, its volume writers)")
            )
        return "/containers/" + found["Id"] + path[len("/containers/" + name) :]
    if route.owned in ("service", "tasks"):
        name = path.split("/")[2] if route.owned == "service" else tasks_service(query or {})
        found = await inspect("service", name)
        if found is None:
            return path
        if not is_owned(policy, found):
            raise Refused(
                f"the service {(found.get('Spec') or {}).get('Name', name)} was not made by the hub: the hub "
                "looks at, reads the tasks and logs of, and removes only its own services (users' servers)"
            )
        if route.owned == "tasks":
            return path  # the filter names the service as checked; its tasks are the hub's
        return "/services/" + found["ID"] + path[len("/services/" + name) :]
    if route.owned == "network":
        name = path.split("/")[2]
        found = await inspect("network", name)
        if found is None:
            return path
        labels = found.get("Labels") or {}
        if not is_owned(policy, found) and not labels.get(LEGACY_NETWORK_LABEL):
            raise Refused(
                f"the network {found.get('Name', name)} was not made by the hub: the hub joins "
                "containers only to users' networks it made, and removes only those"
            )
        if path.endswith("/connect"):
            member = fields(body, "the request")["container"]
            container = await inspect("container", member)
            if (
                container is not None
                and not is_owned(policy, container)
                and not (
                    policy.users_network
                    and policy.users_network in ((container.get("NetworkSettings") or {}).get("Networks") or {})
                )
            ):
                raise Refused(
                    f"joining the container {container.get('Name', member).lstrip('/')} to a network: "
                    f"the hub joins only its own containers and members of {policy.users_network} "
                    "(DOCKER_NETWORK_NAME)"
                )
        return "/networks/" + found["Id"] + path[len("/networks/" + name) :]
    return path


async def check_volumes(policy: Policy, body: dict, inspect: Callable[[str, str], object]) -> None:
    """A create's named volumes, asked of the engine: none may be one that binds a host path
    (`docker volume create --opt type=none --opt o=bind --opt device=/etc`), whoever made it."""
    config = fields(body, "the container")
    hc = fields(config.get("hostconfig"), "HostConfig")
    names = [b.split(":")[0] for b in hc.get("binds") or [] if VOLUME_NAME.fullmatch(b.split(":")[0])]
    await check_volume_mounts(policy, names, hc.get("mounts"), inspect)


# Labels docker compose and docker stack deploy set on the volumes they make (values: the
# project's or stack's name); the hub's own volumes come from the engine at a create, unlabelled.
DEPLOYED_VOLUME_LABELS = ("com.docker.compose.project", "com.docker.stack.namespace")


async def check_volume_mounts(
    policy: Policy, names: list[str], mounts: object, inspect: Callable[[str, str], object]
) -> None:
    """The named volumes (names, and those of the Mounts list, a container's or a service's),
    asked of this engine (check_volumes). On a swarm that is the manager's: a worker's own
    volumes are out of the guard's sight."""
    names = names + [
        m["source"]
        for m in (fields(m, "a mount") for m in mounts or [])
        if m.get("type") == "volume" and m.get("source")
    ]
    for name in names:
        volume = await inspect("volume", name)
        if volume is None:
            continue  # the engine makes it, of the local driver without options
        project = next((v for k, v in (volume.get("Labels") or {}).items() if k in DEPLOYED_VOLUME_LABELS), None)
        if project is not None and policy.role != "backup":
            # The deployment's own volumes (the database's files, the hub's data) and any other
            # compose project's or stack's: a server mounting one reads and writes them.
            raise Refused(
                f"mounting the volume {name} of the compose project or stack {project}: the "
                f"{policy.who}'s servers mount the volumes the engine makes for them, never a deployment's"
            )
        if (volume.get("Driver") or "local") == "local" and (
            empty(volume.get("Options")) or volume.get("Options") == nfs_options(policy, name)
        ):
            continue
        raise Refused(
            f"the volume {name} has driver {volume.get('Driver')!r} with options "
            f"{volume.get('Options')}: a volume with options can bind a host path; "
            "the hub's volumes use the local driver's defaults"
        )


# --- Settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuardSettings:
    """What the guard takes of the hub's settings (pyiron.env): the host path servers mount,
    the pool users' networks take their subnets from."""

    bind_paths: frozenset[str] = field(default_factory=frozenset)
    quota_root: str | None = None
    network_pool: IPv4Network = IPv4Network(DEFAULT_POOL)
    writable_bind_paths: frozenset[str] = field(default_factory=frozenset)
    shared_path: str | None = None
    nfs: tuple[str, str] | None = None

    def bind_rules(self) -> tuple[BindRule, ...]:
        """The host paths containers may bind, as the Policy carries them: bind_paths read-only,
        writable_bind_paths writable, and under quota_root (STORAGE_QUOTA_ROOT) users' limited
        homes <root>/<name>/home and group folders <root>/_groups/<name>/folder, writable; on a
        swarm users' directories under shared_path (SWARM_SHARED_PATH), writable."""
        rules = [BindRule(p) for p in sorted(self.bind_paths)]
        rules += [BindRule(p, writable=True) for p in sorted(self.writable_bind_paths)]
        if self.quota_root:
            rules += [
                BindRule(self.quota_root, "home", writable=True),
                BindRule(posixpath.join(self.quota_root, "_groups"), "folder", writable=True),
            ]
        if self.shared_path:  # the swarm's: users' directories <SWARM_SHARED_PATH>/<volume name> (swarm.py)
            rules.append(BindRule(self.shared_path, "", writable=True))
        return tuple(rules)


def load_swarm_guard_settings(environ: Mapping[str, str]) -> GuardSettings:
    """The hub's (load_guard_settings) and where users' files are on a swarm: SWARM_SHARED_PATH
    (its users' directories may be bound, writable) or SWARM_NFS_SERVER and SWARM_NFS_EXPORT."""
    problems, swarm = [], {}
    try:
        settings = load_guard_settings(environ)
    except ConfigError as err:
        problems, settings = list(err.problems), None
    shared = (environ.get("SWARM_SHARED_PATH") or "").strip()
    if shared and (not shared.startswith("/") or posixpath.normpath(shared) == "/"):
        problems.append(
            Problem("SWARM_SHARED_PATH", "must be an absolute path every node mounts", "/srv/pyiron-hub-users")
        )
    elif shared:
        swarm["shared_path"] = posixpath.normpath(shared)
    server, export = ((environ.get(k) or "").strip() for k in ("SWARM_NFS_SERVER", "SWARM_NFS_EXPORT"))
    if server and export:
        swarm["nfs"] = (server, export)
    if problems:
        raise ConfigError(problems)
    return GuardSettings(**{**settings.__dict__, **swarm})


def guard_settings(role: str, env_file: Mapping[str, str], environ: Mapping[str, str]) -> GuardSettings:
    """The settings of the guard for role ("hub", "backup" or "swarm"), of its env file (pyiron.env, or
    backup.env for the backup) and its environment: STORAGE_QUOTA_ROOT there wins over the file's,
    as compose.quota.yml (compose.backup.yml for the backup's) passes it from .env, to the hub
    and the quota service too."""
    root = (environ.get("STORAGE_QUOTA_ROOT") or "").strip()
    read = {**env_file, "STORAGE_QUOTA_ROOT": root} if root else env_file
    load = {"backup": load_backup_guard_settings, "swarm": load_swarm_guard_settings}.get(role, load_guard_settings)
    return load(read)


def load_guard_settings(environ: Mapping[str, str]) -> GuardSettings:
    """SITE_RESOURCES_DIR is the host directory containers may bind (read-only);
    USER_NETWORKS_POOL the range users' networks take their subnets from."""
    problems, settings = [], {}
    site = (environ.get("SITE_RESOURCES_DIR") or "").strip()
    if site and not site.startswith("/"):
        problems.append(
            Problem("SITE_RESOURCES_DIR", "must be an absolute path on the Docker host", "/srv/pyiron/resources")
        )
    elif site:
        settings["bind_paths"] = frozenset({posixpath.normpath(site)})
    if (environ.get("STORAGE_QUOTA") or "").strip():
        settings["quota_root"] = _quota_root(environ.get("STORAGE_QUOTA_ROOT") or "/srv/pyiron-hub/quota", problems)
    pool = (environ.get("USER_NETWORKS_POOL") or "").strip()
    if pool:
        from ..values import parse_address_pool  # pydantic's: not at the top, which the healthcheck imports

        try:
            settings["network_pool"] = parse_address_pool(pool)
        except ValueError as err:
            problems.append(Problem("USER_NETWORKS_POOL", str(err), DEFAULT_POOL))
    if problems:
        raise ConfigError(problems)
    return GuardSettings(**settings)


def _quota_root(value: str, problems: list[Problem]) -> str | None:
    root = value.strip()
    if not root.startswith("/") or posixpath.normpath(root) == "/":
        problems.append(
            Problem("STORAGE_QUOTA_ROOT", "must be an absolute path on the Docker host", "/srv/pyiron-hub/quota")
        )
        return None
    return posixpath.normpath(root)


def load_backup_guard_settings(environ: Mapping[str, str]) -> GuardSettings:
    """What the backup guard takes of backup.env: the local restic repository (RESTIC_REPOSITORY,
    bound read-write) and BACKUP_SSH_DIR (read-only); no secret. And STORAGE_QUOTA_ROOT, which
    compose.backup.yml passes from .env when the quota is on (compose.quota.yml needs it there):
    the homes and group folders under it, which the backup reads and a restore writes."""
    problems, writable, readable = [], set(), set()
    quota_root = _quota_root(environ["STORAGE_QUOTA_ROOT"], problems) if environ.get("STORAGE_QUOTA_ROOT") else None
    repository_path = (environ.get("RESTIC_REPOSITORY") or "").strip()
    repository_path = repository_path[len("local:") :] if repository_path.startswith("local:") else repository_path
    if repository_path.startswith("/"):
        writable.add(posixpath.normpath(repository_path))
    ssh_dir = (environ.get("BACKUP_SSH_DIR") or "").strip()
    if ssh_dir and not ssh_dir.startswith("/"):
        problems.append(Problem("BACKUP_SSH_DIR", "must be an absolute path on the Docker host", "/root/.ssh-backup"))
    elif ssh_dir:
        readable.add(posixpath.normpath(ssh_dir))
    if problems:
        raise ConfigError(problems)
    return GuardSettings(bind_paths=frozenset(readable), writable_bind_paths=frozenset(writable), quota_root=quota_root)


# --- The server ----------------------------------------------------------------------------

# Hop-by-hop headers, and those aiohttp sets for the body it sends.
_NOT_FORWARDED = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "expect",
}


def refusal(method: str, path: str, reason: str):
    from aiohttp import web

    log.warning("refused %s %s: %s", method, path, reason)
    return web.json_response({"message": f"docker-guard refused {method} {path}: {reason}"}, status=403)


class EngineError(Exception):
    """The engine did not answer an inspect the guard asked to check a request."""


async def inspect_upstream(session, kind: str, name: str) -> dict | None:
    """The engine's inspect of a container, network or volume; None if it has none of that name."""
    import aiohttp
    from yarl import URL

    path = {
        "container": "/containers/{}/json",
        "network": "/networks/{}",
        "volume": "/volumes/{}",
        "image": "/images/{}/json",
        "service": "/services/{}",
        "config": "/configs/{}",
    }[kind]
    url = URL("http://docker" + path.format(quote(name, safe="")), encoded=True)
    try:
        async with session.get(url) as answer:
            if answer.status == 404:
                return None
            if answer.status != 200:
                raise EngineError(f"inspect of the {kind} {name}: {answer.status} {await answer.text()}")
            return await answer.json()
    except aiohttp.ClientError as err:
        raise EngineError(str(err)) from None


def make_app(policy: Policy, upstream: str):
    """The aiohttp application that checks each request and passes it on to `upstream` (a socket)."""
    import aiohttp
    from aiohttp import web
    from yarl import URL

    async def session_context(app):
        connector = aiohttp.UnixConnector(path=upstream, limit=64)
        # No total timeout: a pull or a container's wait lasts as long as it lasts.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
            app["session"] = session
            yield

    async def forward(request: web.Request):
        method, path = request.method, request.path
        if request.headers.get("Upgrade"):
            return refusal(method, path, "upgraded (hijacked) connections: no call of the hub uses one")
        query = {k: request.query.getall(k) for k in set(request.query)}
        raw_path = request.raw_path
        try:
            route = find_route(policy, method, path, query)  # refused before any body is read
            data, headers = None, {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
            body = None
            if route.body == "json":
                try:
                    body = json.loads(await request.read() or b"null")
                except web.HTTPRequestEntityTooLarge:
                    raise Refused("a body this large is no create the hub makes") from None
                except ValueError:
                    raise Refused("the body is not JSON") from None
                route.check_body(policy, body)
            elif route.body == "none" and request.body_exists and await request.read():
                raise Refused("a body where the hub sends none")
            inspect = lambda kind, name: inspect_upstream(request.app["session"], kind, name)  # noqa: E731
            if route.owned:
                checked = await check_owned(policy, route, path, body, inspect, query)
                version = re.match(r"/v\d+\.\d+", path)
                # The query as sent, still encoded (query_string is decoded: a task list's
                # JSON filters would reach the engine as no URL at all).
                raw_query = request.raw_path.partition("?")[2]
                raw_path = (version[0] if version else "") + quote(checked) + ("?" + raw_query if raw_query else "")
            if route.body == "json":
                created = api_path(path)
                if created == "/containers/create":
                    await check_volumes(policy, body, inspect)
                    if policy.role == "backup":
                        await check_worker_image(policy, body, lambda name: inspect("image", name))
                if created == "/services/create":
                    container = fields(fields(body, "").get("tasktemplate"), "").get("containerspec")
                    await check_volume_mounts(policy, [], fields(container, "").get("mounts"), inspect)
                    await check_service_configs(policy, body, inspect)
                if created in ("/containers/create", "/networks/create", "/services/create", "/configs/create"):
                    body = mark_owned(policy, body)
                # What the engine gets is exactly what was checked (and the guard's label).
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            elif route.body == "stream":
                data = request.content
                # A tar, whatever it says: the engine would read a form's body as parameters.
                headers["Content-Type"] = "application/x-tar"
                if request.content_length is not None:
                    headers["Content-Length"] = str(request.content_length)
        except Refused as refused:
            return refusal(method, path, str(refused))
        except EngineError as err:
            log.error("the engine at %s does not answer: %s", upstream, err)
            return web.json_response(
                {"message": f"docker-guard: the Docker engine does not answer ({err})"}, status=502
            )
        log.debug("%s %s", method, request.path_qs)
        url = URL("http://docker" + raw_path, encoded=True)
        try:
            answer = await request.app["session"].request(
                method, url, data=data, headers=headers, allow_redirects=False
            )
        except aiohttp.ClientError as err:
            log.error("the engine at %s does not answer: %s", upstream, err)
            return web.json_response(
                {"message": f"docker-guard: the Docker engine does not answer ({err})"}, status=502
            )
        async with answer:
            response = web.StreamResponse(status=answer.status, reason=answer.reason)
            for key, value in answer.headers.items():
                if key.lower() not in _NOT_FORWARDED:
                    response.headers.add(key, value)
            if answer.content_length is not None:
                response.content_length = answer.content_length
            elif method != "HEAD" and answer.status not in (204, 304):
                response.enable_chunked_encoding()  # a stream: each piece goes on as it comes
            await response.prepare(request)
            if method != "HEAD":
                async for chunk in answer.content.iter_any():
                    await response.write(chunk)
            await response.write_eof()
            return response

    app = web.Application(client_max_size=MAX_CHECKED_BODY)
    app.cleanup_ctx.append(session_context)
    app.router.add_route("*", "/{path:.*}", forward)
    return app


def own_container_id(mountinfo: str = "/proc/self/mountinfo") -> str:
    """This container's id: the engine bind-mounts /etc/hostname from its directory, named for
    the id (a `hostname:` set in compose changes the host name, not that); else the host name."""
    try:
        with open(mountinfo) as lines:
            found = re.search(r"/containers/([0-9a-f]{64})/", lines.read())
    except OSError:
        found = None
    return found[1] if found else socket.gethostname()


def own_identity(upstream: str) -> dict:
    """The guard's container (id, name) and image repositories, asked of the engine; {} outside a container."""
    import docker

    client = docker.APIClient(base_url=f"unix://{upstream}", version="auto", timeout=30)
    try:
        me = client.inspect_container(own_container_id())
    except docker.errors.NotFound:
        return {}
    references = {me["Config"]["Image"]}
    try:
        references |= set(client.inspect_image(me["Image"]).get("RepoTags") or [])
    except docker.errors.NotFound:
        pass
    return {
        "own_container": me["Id"],
        "own_name": me["Name"],
        "own_repositories": frozenset(repository(r) for r in references),
        "own_image": me["Image"],
    }


def ping(listen: str) -> int:
    """The healthcheck: 0 if the guard answers /_ping with the engine's 200."""
    import http.client

    port = int(listen.rsplit(":", 1)[1])
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=4)
        connection.request("GET", "/_ping")
        return 0 if connection.getresponse().status == 200 else 1
    except OSError as err:
        print(f"unhealthy: {err}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pyiron_hub_config.docker_guard", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        help="the hub's pyiron.env, read for SITE_RESOURCES_DIR, STORAGE_QUOTA(_ROOT) and USER_NETWORKS_POOL only (default: the environment)",
    )
    parser.add_argument("--listen", default=LISTEN, help=f"address:port to serve the hub on (default {LISTEN})")
    parser.add_argument("--upstream", default=UPSTREAM, help=f"the engine's socket (default {UPSTREAM})")
    parser.add_argument("--ping", action="store_true", help="ask a running guard whether it answers (healthcheck)")
    parser.add_argument("--verbose", action="store_true", help="log every request let through")
    parser.add_argument(
        "--for",
        dest="role",
        choices=("hub", "backup", "swarm"),
        default="hub",
        help="whom the guard serves: the hub (default), the backup service (compose.backup.yml; "
        "--env-file is then backup.env), or the hub on a swarm (compose.swarm.yml; its users' servers "
        "are services)",
    )
    args = parser.parse_args(argv)
    if args.ping:
        return ping(args.listen)
    from ..envfiles import parse_env_file  # not at the top: the healthcheck (--ping) imports this module often

    try:
        settings = guard_settings(args.role, parse_env_file(args.env_file) if args.env_file else environ, environ)
    except OSError as err:
        print(f"docker-guard: cannot read --env-file: {err}", file=sys.stderr)
        return 1
    except ConfigError as err:
        print(err.report(), file=sys.stderr)
        return 1
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s docker-guard %(levelname)s %(message)s",
    )
    try:
        # DOCKER_NETWORK_NAME is compose's (the hub's environment), not pyiron.env's.
        users_network = (environ.get("DOCKER_NETWORK_NAME") or "").strip() or None
        policy = Policy(
            binds=settings.bind_rules(),
            network_pool=settings.network_pool,
            users_network=users_network,
            role=args.role,
            # The swarm's hub is the hub: one label for what a hub made, whichever guard let it.
            owner="hub" if args.role == "swarm" else args.role,
            nfs=settings.nfs,
            **own_identity(args.upstream),
        )
    except Exception as err:  # docker-py's errors, or no socket at all: the restart policy tries again
        print(f"docker-guard: cannot ask the Docker engine at {args.upstream} who the guard is: {err}", file=sys.stderr)
        return 1
    if policy.own_container is None:
        log.warning("not in a container of this engine: nothing of the guard itself to protect")
    log.info(
        "serving %s for the %s at %s; host paths containers may bind: %s; users' networks' subnets in %s; "
        "DOCKER_NETWORK_NAME %s (its members may join the hub's networks; the backup's workers' and users' "
        "services' one network); NFS volumes of %s",
        args.listen,
        args.role,
        args.upstream,
        ", ".join(map(str, policy.binds)) or "none",
        policy.network_pool,
        policy.users_network or "no network",
        ":".join(policy.nfs) if policy.nfs else "no server (no SWARM_NFS_SERVER)",
    )
    from aiohttp import web

    host, port = args.listen.rsplit(":", 1)
    web.run_app(make_app(policy, args.upstream), host=host, port=int(port), print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
