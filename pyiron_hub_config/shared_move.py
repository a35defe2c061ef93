"""`pyiron-hub move-to-shared`: users' node-local volumes into the swarm's shared path.

Before SWARM_SHARED_PATH, a user's home and work were Docker volumes on the node of their
first start (swarm.py pins them there). The admin runs this once on each node that holds
such volumes, with the node's volume directory and the shared path mounted (README "Running
on a swarm"); each volume's files are copied to <shared path>/<volume name>, and the user's
next start finds them there and may land on any node.

Idempotent: a volume already on the shared path is left as it is (never overwritten, so a
run after the user has worked there loses nothing); a copy interrupted half-way stays under
a temporary name, which the next run removes and makes again. Work volumes go before home
volumes because the hub takes a user's home directory on the shared path as the sign that
the move is done (swarm.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from .storage import USER_GID, USER_UID, shared_directory

# <deployment>-jupyterhub-home-<user> / -user-<user> (storage.user_volumes).
VOLUME_NAME = re.compile(r"^(?:[a-z0-9][a-z0-9_.-]*-)?jupyterhub-(home|user)-.+$")


def user_volumes_in(source: Path) -> dict[str, Path]:
    """Volume name -> its files: <source>/<name>, or <name>/_data as in /var/lib/docker/volumes."""
    found = {}
    for entry in sorted(source.iterdir()):
        if entry.is_dir() and VOLUME_NAME.match(entry.name):
            found[entry.name] = entry / "_data" if (entry / "_data").is_dir() else entry
    # Work before home: the home directory's arrival says the move is complete.
    return dict(sorted(found.items(), key=lambda item: VOLUME_NAME.match(item[0]).group(1) == "home"))


def move_volume(files: Path, shared_path: str, name: str) -> str:
    """Copy one volume's files to the shared path; say what was done."""
    final = Path(shared_directory(shared_path, name))
    if final.exists():
        return f"{name}: already on the shared path, left as it is"
    staging = Path(shared_directory(shared_path, f".moving-{name}"))
    if staging.exists():  # an earlier run stopped half-way
        shutil.rmtree(staging)
    t0 = time.monotonic()
    # cp -a: owners, modes, times, links and special files exactly as in the volume.
    subprocess.run(["cp", "-a", "--no-target-directory", str(files), str(staging)], check=True)
    shutil.chown(staging, USER_UID, USER_GID)
    staging.chmod(0o700)
    staging.rename(final)
    count = sum(1 for _ in final.rglob("*"))
    return f"{name}: moved, {count} files and folders in {time.monotonic() - t0:.1f} s"


def move_to_shared(source: Path, shared_path: str) -> list[str]:
    return [move_volume(files, shared_path, name) for name, files in user_volumes_in(source).items()]
