"""Checks that need the Docker host: paths there are not visible inside the hub's container.

SITE_RESOURCES_DIR names a directory on the Docker host. Inside the hub it does not exist,
so the hub asks the engine to create (never start) a container that bind-mounts it: Docker
refuses a missing source at once, with its own reason, and nothing is left behind.
"""

from __future__ import annotations

import os
from pathlib import Path

from .problems import Problem
from .storage import SITE_RESOURCES_MOUNT

EXAMPLE = "/srv/pyiron/resources"


def site_resources_problems_here(path: Path | None) -> list[Problem]:
    """On the Docker host itself (pyiron-hub check --env-file): look at the directory."""
    if path is None or path.is_dir():
        return []
    return [Problem("SITE_RESOURCES_DIR", f"no such directory on this host: {path}", EXAMPLE)]


def site_resources_problems_via_engine(path: Path | None, client) -> list[Problem]:
    """From inside the hub's container: ask the Docker engine whether it can mount the path."""
    if path is None:
        return []
    from docker.errors import APIError
    from docker.types import Mount

    try:
        # The hub's own image is certainly on this host; the container never runs.
        image = client.api.inspect_container(os.uname().nodename)["Image"]
    except APIError:
        images = client.api.images(quiet=True)
        if not images:
            return []
        image = images[0]
    mount = Mount(target=SITE_RESOURCES_MOUNT, source=str(path), type="bind", read_only=True)
    try:
        created = client.api.create_container(
            image, command=["true"], host_config=client.api.create_host_config(mounts=[mount])
        )
    except APIError as err:
        reason = err.explanation or str(err)
        return [Problem("SITE_RESOURCES_DIR", f"the Docker host cannot mount {path}: {reason}", EXAMPLE)]
    client.api.remove_container(created["Id"], v=True, force=True)  # v: the image's VOLUMEs too
    return []


def images_missing(client, images) -> list[str]:
    """The images of `images` the engine does not have (a user's first start of one pulls it)."""
    from docker.errors import ImageNotFound

    missing = []
    for image in sorted(set(images)):
        try:
            client.images.get(image)
        except ImageNotFound:
            missing.append(image)
    return missing


def missing_images_report(images) -> list[str]:
    """Lines for an admin: which catalogue images are not on this Docker host, and what to do."""
    import docker

    try:
        client = docker.from_env(timeout=10)
        missing = images_missing(client, images)
    except docker.errors.DockerException as err:
        return [f"  {no_engine_hint(err)}"]
    if not missing:
        return ["  Every environment's image is on this host."]
    return [
        f"  Not on this host yet (`pyiron-hub pull` fetches them; else each one's first start waits for "
        f"its pull): {', '.join(missing)}"
    ]


def no_engine_hint(
    err: Exception,
    outcome: str = "the images on the host were not listed",
    elsewhere: str = ", or run it in the hub: `docker compose exec hub pyiron-hub check`",
) -> str:
    """Why the Docker engine did not answer, and how to give this command one."""
    text = str(err)
    if "FileNotFoundError" in text or "No such file" in text or "Connection refused" in text:
        where = os.environ.get("DOCKER_HOST") or "/var/run/docker.sock"
        return (
            f"No Docker engine answers here ({where}), so {outcome}: give this command the socket, "
            f"`docker run -v /var/run/docker.sock:/var/run/docker.sock ...`{elsewhere}."
        )
    return f"Could not ask the Docker engine which images it has: {text}"
