"""Where a user's files live, and what each server mounts.

- The whole home (/home/jovyan) is the user's volume ``jupyterhub-home-<name>``: notebooks
  saved at the file browser's root, pyiron's job database, ~/.ssh, ~/.pyiron and Jupyter's
  settings all survive, as the pyiron images' own README asks (``-v <path>:/home/jovyan``).
- ``jupyterhub-user-<name>``, the volume the earlier layout mounted at ~/work, stays at
  ~/work. An upgrade therefore needs no step at all: every existing file is where it was.
- The image's own home would be hidden by the home volume, so its example notebooks are
  reached through a read-only copy of it: a volume per image (``pyiron-hub-image-<id>``)
  that Docker fills from the image the first time it is mounted at /home. The same volume
  is mounted again at /opt/pyiron-hub/image, where it stays visible under the user's home;
  the boot step copies the examples from there (see boot.py). A new image version has a
  new id, hence a new volume with its new examples.
"""

from __future__ import annotations

import os
import secrets

HOME = "/home/jovyan"
WORK_DIR = f"{HOME}/work"
HOME_VOLUME = "jupyterhub-home-{username}"
WORK_VOLUME = "jupyterhub-user-{username}"
# A Keycloak group's folder (GROUP_FOLDERS), mounted at ~/groups/<group> in its members' servers.
GROUP_VOLUME = "jupyterhub-group-"
GROUPS_DIR = "/home/jovyan/groups"
# The user the pyiron images run as (jovyan); their files must be theirs on shared storage.
USER_UID = USER_GID = 1000
IMAGE_VOLUME_PREFIX = "pyiron-hub-image-"
IMAGE_HOME_MOUNT = "/opt/pyiron-hub/image"
SITE_RESOURCES_MOUNT = "/opt/pyiron-hub/site-resources"


def user_volumes(deployment: str | None = None) -> dict[str, str]:
    """Volume name template -> mount point, for DockerSpawner.volumes."""
    prefix = f"{deployment}-" if deployment else ""
    return {prefix + HOME_VOLUME: HOME, prefix + WORK_VOLUME: WORK_DIR}


def group_volume(group: str, deployment: str | None = None) -> str:
    """'pyiron-research' -> '<deployment>-jupyterhub-group-pyiron-research'.

    Docker's volume names allow [a-zA-Z0-9_.-]: any other character of a Keycloak group's
    name becomes '_' and its code point in hex, so that two groups never share a volume.
    """
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-.") else f"_{ord(c):x}" for c in group)
    return (f"{deployment}-" if deployment else "") + GROUP_VOLUME + safe


def group_folder(group: str) -> str:
    """The folder's name under ~/groups: the group's own name, a subgroup's path joined by '-'."""
    return group.strip("/").replace("/", "-")


def container_prefix(deployment: str | None = None) -> str:
    """DockerSpawner.prefix: users' containers are named <prefix>-<user>."""
    return f"{deployment}-jupyter" if deployment else "jupyter"


def image_volume(image_id: str) -> str:
    """'sha256:4f2a...' -> 'pyiron-hub-image-4f2a0c9e1b7d'."""
    return IMAGE_VOLUME_PREFIX + image_id.split(":", 1)[-1][:12]


def server_mounts(image_id: str, site_resources: str | None) -> list[dict]:
    """The read-only mounts of one server (docker.types.Mount keyword arguments)."""
    volume = image_volume(image_id)
    mounts = [
        # Mounted at /home only so that Docker copies the image's /home into it (it does so
        # for an empty volume at a path where the image has files); hidden by the home volume.
        {"type": "volume", "source": volume, "target": "/home", "read_only": True},
        {"type": "volume", "source": volume, "target": IMAGE_HOME_MOUNT, "read_only": True},
    ]
    if site_resources:
        # A bind mount given as a Mount, not a volume string: Docker then refuses a missing
        # directory instead of creating an empty one.
        mounts.append({"type": "bind", "source": site_resources, "target": SITE_RESOURCES_MOUNT, "read_only": True})
    return mounts


def nfs_volume_options(server: str, export: str, volume: str) -> dict[str, str]:
    """Local-driver options that make a named volume an NFS directory (the same on every node).

    Docker's own volume driver mounts it when a node first needs the volume; the directory
    ``<export>/<volume>`` must exist on the server (README "Running on a swarm").
    """
    return {"type": "nfs", "o": f"addr={server},rw,nfsvers=4", "device": f":{export.rstrip('/')}/{volume}"}


def shared_directory(shared_path: str, volume: str) -> str:
    """Where a user's volume lives on the swarm's shared file system: <path>/<volume name>."""
    return f"{shared_path.rstrip('/')}/{volume}"


def make_user_directories(shared_path: str, volumes: list[str]) -> list[str]:
    """Make the user's directories on the shared path that are missing; return those made.

    Each is made under a temporary name, given to uid 1000 with mode 0700 (the user's alone,
    never readable by other users' servers, which all run as uid 1000 too but see only
    their own directories), and only then renamed into place: a directory under its final
    name is always complete, so a start that fails half-way leaves nothing that a later
    start would take as made. An existing directory is left as it is.
    """
    made = []
    for volume in volumes:
        final = shared_directory(shared_path, volume)
        if os.path.isdir(final):
            continue
        staging = shared_directory(shared_path, f".new-{volume}-{secrets.token_hex(4)}")
        os.mkdir(staging, 0o700)
        try:
            os.chown(staging, USER_UID, USER_GID)
            os.chmod(staging, 0o700)  # mkdir's mode is reduced by the umask; this is exact
            os.rename(staging, final)
        except OSError:
            os.rmdir(staging)
            if not os.path.isdir(final):  # made meanwhile by someone else: theirs stands
                raise
        else:
            made.append(final)
    return made


def service_volume_mounts(
    volumes: dict[str, str], nfs: tuple[str, str] | None, shared_path: str | None = None
) -> list[dict]:
    """A swarm service's mounts for the user's volumes (name -> mount point), as real volumes.

    dockerspawner's SwarmSpawner turns ``volumes`` into bind mounts of host paths, which
    exist on one node only (jupyterhub/dockerspawner#536, #537); a volume mount is made on
    whichever node runs the task. With nfs=(server, export) every node sees the same files.
    With shared_path, a directory every node mounts at that path, they are bind mounts of
    <shared_path>/<volume name>: given as a Mount, so that a node lacking the directory
    refuses the task instead of creating an empty one.
    """
    mounts = []
    for name, target in volumes.items():
        if shared_path:
            mounts.append(
                {"type": "bind", "source": shared_directory(shared_path, name), "target": target, "read_only": False}
            )
            continue
        mount = {"type": "volume", "source": name, "target": target, "read_only": False}
        if nfs:
            mount["driver_config"] = {"name": "local", "options": nfs_volume_options(*nfs, name)}
        mounts.append(mount)
    return mounts
