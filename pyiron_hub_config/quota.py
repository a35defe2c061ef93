"""The hub's side of STORAGE_QUOTA: it asks the quota service (quota_service/, a container of
its own with the one privilege needed) over HTTP, and mounts the user's subvolume.

Plain urllib: four JSON calls on an internal network; the spawner runs them in a thread.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Literal

from .problems import Problem
from .storage import GROUPS_DIR, HOME, group_folder, group_volume

TIMEOUT = 30


class QuotaServiceError(Exception):
    """The quota service refused or did not answer; the message says why."""


@dataclass(frozen=True)
class QuotaUsage:
    used: int
    limit: int | None


def _call(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as err:
        try:
            message = json.load(err).get("message") or str(err)
        except ValueError:
            message = str(err)
        raise QuotaServiceError(message) from None
    except (OSError, ValueError) as err:
        raise QuotaServiceError(f"the quota service at {url} does not answer: {err}") from None


# The service keeps users' homes and group folders apart, under these two kinds of path:
# /users/<name> and /groups/<name>; each kind has the same calls (made, limit set, all listed).
Kind = Literal["users", "groups"]


def _usage(got: dict) -> QuotaUsage:
    return QuotaUsage(got["used"], got["limit"])


def _ensure(service_url: str, kind: Kind, name: str, limit: int) -> QuotaUsage:
    return _usage(_call(f"{service_url.rstrip('/')}/{kind}/{name}", "PUT", {"limit": limit}))


def ensure_home(service_url: str, name: str, limit: int) -> QuotaUsage:
    """The user's limited home (made at the first start with limit; kept as it is after)."""
    return _ensure(service_url, "users", name, limit)


def ensure_group(service_url: str, name: str, limit: int) -> QuotaUsage:
    """A group folder's limited subvolume (made at a member's start with limit; kept after)."""
    return _ensure(service_url, "groups", name, limit)


def set_quota(service_url: str, kind: Kind, name: str, limit: int) -> QuotaUsage:
    """A new limit for one home or group folder (by storage name) that exists; its files stay."""
    return _usage(_call(f"{service_url.rstrip('/')}/{kind}/{name}/limit", "PUT", {"limit": limit}))


def usage_of(service_url: str, kind: Kind) -> dict[str, QuotaUsage]:
    """Storage name (the spawner's escaped user name, or group_storage_name) -> its usage and limit."""
    return {name: _usage(u) for name, u in _call(f"{service_url.rstrip('/')}/{kind}").items()}


def quota_problems(service_url: str, root: str) -> list[Problem]:
    """A quota that the host cannot enforce, as a configuration problem (never ignored)."""
    try:
        got = _call(f"{service_url.rstrip('/')}/check")
    except QuotaServiceError as err:
        return [
            Problem(
                "STORAGE_QUOTA",
                f"is set but cannot be enforced: {err}",
                "a STORAGE_QUOTA_ROOT on btrfs with `btrfs quota enable`, and compose.quota.yml (docs: Disk quotas)",
            )
        ]
    if got.get("root", "").rstrip("/") != root.rstrip("/"):
        return [
            Problem(
                "STORAGE_QUOTA_ROOT",
                f"is {root} here, but the quota service makes homes in {got.get('root')}",
                "the same path in pyiron.env and .env (compose.quota.yml reads it from .env)",
            )
        ]
    return []


def storage_name(username: str) -> str:
    """The name of a user's home under STORAGE_QUOTA_ROOT: the spawner's escaped name."""
    from dockerspawner import DockerSpawner

    return DockerSpawner._escape(username)


def storage_name_of(kind: Kind, name: str) -> str:
    """The storage name of a user's home ("users") or of a group's folder ("groups")."""
    return storage_name(name) if kind == "users" else group_storage_name(name)


def home_path(root: str, name: str) -> str:
    """The user's home on the host: <root>/<escaped name>/home, in their subvolume <root>/<escaped name>."""
    return f"{root.rstrip('/')}/{name}/home"


def home_mount(root: str, name: str) -> dict:
    """The user's home as a bind mount (docker.types.Mount keyword arguments); the guard lets
    through exactly such binds of <STORAGE_QUOTA_ROOT>/<name>/home."""
    return {"type": "bind", "source": home_path(root, name), "target": HOME, "read_only": False}


# Group folders live apart from users' homes: in <root>/_groups, a name no user's storage can
# have ('_' never starts dockerspawner's escaped names), so no user can be given a group's.
GROUPS_SUBDIR = "_groups"


def group_storage_name(group: str) -> str:
    """A group folder's subvolume name: its volume's name without DEPLOYMENT_NAME's prefix,
    '.' escaped too ('..' is no path component the service or the guard accepts)."""
    return group_volume(group, None).replace(".", "_2e")


def group_path(root: str, name: str) -> str:
    """<root>/_groups/<name>/folder: the group's folder, in its subvolume <root>/_groups/<name>."""
    return f"{root.rstrip('/')}/{GROUPS_SUBDIR}/{name}/folder"


def group_folder_mount(root: str, name: str, group: str) -> dict:
    """The group's limited folder at ~/groups/<group> (docker.types.Mount keyword arguments);
    the guard lets through exactly such binds of <STORAGE_QUOTA_ROOT>/_groups/<name>/folder."""
    return {
        "type": "bind",
        "source": group_path(root, name),
        "target": f"{GROUPS_DIR}/{group_folder(group)}",
        "read_only": False,
    }
