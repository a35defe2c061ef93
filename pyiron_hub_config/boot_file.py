"""How the boot step (boot.py) reaches a user's container: as a read-only file the image's
own python runs, so any image works unchanged.

The hub may itself run in a container beside the users' (it drives the host's engine
through the socket), so no path of its own file system can be bind-mounted into theirs.
The engine keeps the file instead, under a name made of its content's hash: a new version
of the package brings a new file, and a running server keeps the one it started with.
- One host: a volume ``pyiron-hub-boot-<hash>``, written through a container that is
  created and never started (the engine writes into a created container's volumes too),
  mounted read-only at /opt/pyiron-hub/boot. Docker's own cp, not a helper image.
- A swarm: a config of the same name, mounted as /opt/pyiron-hub/boot/boot.py. A config
  reaches whichever node runs the task; a volume on the manager would not.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from functools import lru_cache
from importlib.resources import files

from docker.errors import NotFound
from docker.types import ConfigReference, Mount

BOOT_DIR = "/opt/pyiron-hub/boot"
BOOT_PATH = f"{BOOT_DIR}/boot.py"
NAME_PREFIX = "pyiron-hub-boot-"
LABEL = "org.pyiron-hub.boot"

# The engines on which this hub process has checked the boot volume's content (once: a
# volume's content is checked by reading it back through a container, which costs more
# than the volume's inspect that every spawn makes). One lock: spawns run on a pool of
# threads (docker_pool.py).
_checked: set[tuple[str, str]] = set()
_lock = threading.Lock()


@lru_cache(maxsize=1)
def boot_source() -> bytes:
    return files(__package__).joinpath("in_user_container/boot.py").read_bytes()


def boot_name(source: bytes) -> str:
    """'pyiron-hub-boot-' and the first 12 hex digits of the source's sha256."""
    return NAME_PREFIX + hashlib.sha256(source).hexdigest()[:12]


def boot_command(server: str = "jupyterhub-singleuser") -> list[str]:
    """The container's command: the boot step with the image's python, then the server."""
    return ["python", BOOT_PATH, server]


def boot_volume_mount(client, image: str) -> dict:
    """The boot file's read-only volume (storage.server_mounts' form), written if need be.

    Blocking Docker calls: run it on the spawner's executor. `image` is any image on the
    engine (the server's own): the container made from it only lends its mount point.
    """
    source = boot_source()
    return written_volume_mount(client, image, boot_name(source), BOOT_DIR, "boot.py", source, lambda: _tar(source))


def written_volume_mount(
    client, image: str, name: str, directory: str, marker: str, marker_content: bytes, archive
) -> dict:
    """A read-only mount at `directory` of the volume `name`, written once on this engine.

    The volume counts as written when its file `marker` holds `marker_content`; else the tar
    that archive() returns (the marker last in it) is unpacked into it. Shared by the boot
    file and the hub's packages (hub_packages.py).
    """
    with _lock:
        try:
            client.inspect_volume(name)
        except NotFound:  # never made here, or removed since (`docker volume prune` of an unused one)
            _checked.discard((client.base_url, name))
        if (client.base_url, name) not in _checked:
            _write_volume(client, name, image, directory, f"{directory}/{marker}", marker_content, archive)
            _checked.add((client.base_url, name))
    return {"type": "volume", "source": name, "target": directory, "read_only": True}


def _write_volume(client, name: str, image: str, directory: str, marker: str, marker_content: bytes, archive) -> None:
    client.create_volume(name, labels={LABEL: "1"})  # returns the volume if it exists
    writer = client.create_container(
        image,
        command=["true"],
        labels={LABEL: "writer"},
        network_disabled=True,
        host_config=client.create_host_config(mounts=[Mount(directory, name)]),
    )["Id"]
    try:
        if _read(client, writer, marker) != marker_content:  # empty, or a write that was cut short
            client.put_archive(writer, directory, archive())
    finally:
        client.remove_container(writer, v=True, force=True)  # v: the image's VOLUMEs too


def _read(client, container: str, path: str) -> bytes | None:
    try:
        stream, _ = client.get_archive(container, path)
    except NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile(tar.next())
        return member.read() if member else None


def _tar(source: bytes) -> bytes:
    info = tarfile.TarInfo("boot.py")
    info.size, info.mode = len(source), 0o444
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.addfile(info, io.BytesIO(source))
    return out.getvalue()


def boot_config(client) -> ConfigReference:
    """The boot file as a swarm config (made on this manager if need be), for a ContainerSpec."""
    source = boot_source()
    name = boot_name(source)
    with _lock:
        found = [c["ID"] for c in client.configs(filters={"name": name}) if c["Spec"]["Name"] == name]
        # A config never changes, and its name says what it holds: one found is the right one.
        config_id = found[0] if found else client.create_config(name, source, labels={LABEL: "1"})["ID"]
    return ConfigReference(config_id, name, filename=BOOT_PATH, mode=0o444)
