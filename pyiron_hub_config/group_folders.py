"""Group folders: a volume per Keycloak group that GROUP_FOLDERS names, in its members' servers.

Each member's server mounts the group's volume at ~/groups/<group>, read-write; nobody
else's server has it. Membership is what Keycloak said at the user's last login or refresh
(JupyterHub keeps it as the user's groups, authenticator.manage_groups), read at each
start: someone removed from the group loses the folder at their next start, and the files
stay in the volume for the others. Every user's server runs as the same uid (jovyan,
1000), so the mount is the boundary, not file permissions; the volume's root is made
jovyan's, group users (100) and setgid (2775) once, as the images' own home is.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from docker.errors import NotFound
from docker.types import Mount

from .boot_shared import GROUP_QUOTAS_VARIABLE
from .quota import group_folder_mount, group_storage_name
from .storage import GROUP_VOLUME, GROUPS_DIR, USER_GID, USER_UID, group_folder, group_volume
from .values import format_memory

LABEL = "org.pyiron-hub.group-folder"
MODE = 0o2775
WRITER_MOUNT = "/group"  # where the writer container has the volume
_prepared: set[tuple[str, str]] = set()  # (engine, volume) made jovyan's by this hub process
_lock = threading.Lock()


def folder_groups(patterns, user_groups) -> list[str]:
    """The user's groups that GROUP_FOLDERS names (a name, or a pattern such as 'lab-*'), sorted."""
    return sorted({g for g in user_groups if any(fnmatchcase(g, p) for p in patterns)})


def group_mounts(groups, deployment: str | None) -> dict[str, dict]:
    """DockerSpawner.volumes entries: each group's volume at ~/groups/<group>, read-write."""
    return {group_volume(g, deployment): {"bind": f"{GROUPS_DIR}/{group_folder(g)}", "mode": "rw"} for g in groups}


@dataclass(frozen=True)
class GroupFolderMounts:
    """What one start gives the server for its owner's group folders."""

    volumes: dict[str, dict]  # DockerSpawner.volumes: the others kept, no group's but these
    mounts: list[dict] = field(default_factory=list)  # limited folders (docker.types.Mount keyword arguments)
    environment: dict[str, str] = field(default_factory=dict)  # added to the server's


def group_folder_mounts(
    volumes: Mapping[str, dict],
    groups: list[str],
    deployment: str | None,
    quota_root: str | None = None,
    limits: Mapping[str, int | None] | None = None,
) -> GroupFolderMounts:
    """The folders of groups (the owner's now, no others: earlier starts' are dropped from volumes).
    With STORAGE_QUOTA (quota_root) each is its limited subvolume, bound, and the server is
    told the limits (group -> the quota service's answer) to show; else each is a volume."""
    kept = {name: v for name, v in volumes.items() if GROUP_VOLUME not in name}
    if quota_root is None:
        return GroupFolderMounts({**kept, **group_mounts(groups, deployment)})
    limits = limits or {}
    shown = {group_folder(g): format_memory(limits[g]) for g in groups if limits.get(g)}
    return GroupFolderMounts(
        kept,
        [group_folder_mount(quota_root, group_storage_name(g), g) for g in groups],
        {GROUP_QUOTAS_VARIABLE: json.dumps(shown)},
    )


def _root_entry() -> bytes:
    info = tarfile.TarInfo(WRITER_MOUNT.lstrip("/"))
    info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, MODE, USER_UID, USER_GID
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.addfile(info)
    return out.getvalue()


def prepare_group_volume(client, image: str, name: str, group: str) -> None:
    """Make the volume (if new) and its root jovyan's, setgid, through a container that is
    created and never started (as boot_file.py writes its volume): no helper image, no root
    process. Blocking Docker calls: run it on the spawner's executor."""
    with _lock:
        if (client.base_url, name) in _prepared:
            return
        try:
            client.inspect_volume(name)
        except NotFound:
            client.create_volume(name, labels={LABEL: group})
        writer = client.create_container(
            image,
            command=["true"],
            labels={LABEL: "writer"},
            network_disabled=True,
            host_config=client.create_host_config(mounts=[Mount(WRITER_MOUNT, name)]),
        )["Id"]
        try:
            # The mount point's own entry, unpacked at "/", sets the owner and mode of the
            # volume's root (an entry "." unpacked into it does not); files in it are untouched.
            client.put_archive(writer, "/", _root_entry())
        finally:
            client.remove_container(writer, v=True, force=True)
        _prepared.add((client.base_url, name))
