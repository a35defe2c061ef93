"""Python packages the hub lends to users' servers: paramiko and its dependencies, and rfc3987.

pysqa's SSH (remote) mode imports paramiko, which conda-forge's pysqa does not depend on,
so the public pyiron images lack it. The hub image carries it instead (Dockerfile: one
tree of wheels for every CPython its manifest names; cryptography, bcrypt and PyNaCl are
abi3 wheels, only cffi's backend differs per version and is named for it), and each
server mounts it read-only at PACKAGES_MOUNT. The boot step puts it on the image's Python
path after the image's own site-packages (boot.py), so nothing of the image is shadowed.

rfc3987 is there for speed, not for a feature: jsonschema imports it in preference to
rfc3987_syntax, whose import (it builds its parsers) is most of a Jupyter server's start in
today's images (server-packages.lock).

The tree reaches the engine as a named volume, ``pyiron-hub-packages-<digest>``, written
once by the hub like the boot file's (boot_file.py): a new hub image with other packages
has another digest, so another volume.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

from .boot_file import written_volume_mount
from .boot_shared import PACKAGES_DIR as PACKAGES_MOUNT
from .boot_shared import PACKAGES_MANIFEST

# Where the hub image keeps the tree (Dockerfile).
PACKAGES_SOURCE = "/opt/pyiron-hub/packages"
VOLUME_PREFIX = "pyiron-hub-packages-"


def volume_name(source: str | os.PathLike) -> str | None:
    """The volume holding this tree: named for its manifest, which names every version in it."""
    path = Path(source) / PACKAGES_MANIFEST
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:
        return None
    return VOLUME_PREFIX + digest


def packages_volume_mount(client, image: str, source: str | os.PathLike) -> dict | None:
    """The packages' read-only volume (storage.server_mounts' form), written if need be; None
    when there is no tree (a hub run outside its image). Blocking Docker calls."""
    name = volume_name(source)
    if name is None:
        return None
    manifest_bytes = (Path(source) / PACKAGES_MANIFEST).read_bytes()
    return written_volume_mount(
        client, image, name, PACKAGES_MOUNT, PACKAGES_MANIFEST, manifest_bytes, lambda: tree_archive(source)
    )


def tree_archive(source: str | os.PathLike) -> bytes:
    """The tree as a tar for Docker's put_archive: files, not links, owned by root and not
    writable by users, the manifest last (the volume counts as written once it is there)."""

    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
        return info

    buffer = io.BytesIO()
    root = Path(source)
    # dereference: what the image shares with the hub's own packages is a link there.
    with tarfile.open(fileobj=buffer, mode="w", dereference=True) as tar:
        for entry in sorted(root.iterdir()):
            if entry.name != PACKAGES_MANIFEST:
                tar.add(entry, arcname=entry.name, filter=owned_by_root)
        tar.add(root / PACKAGES_MANIFEST, arcname=PACKAGES_MANIFEST, filter=owned_by_root)
    return buffer.getvalue()
