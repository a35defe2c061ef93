"""Secrets the hub keeps across restarts: taken from the environment, else made once.

A generated secret is written to the hub's data volume with mode 0600, so restarts keep
sessions, encrypted auth state and the proxy's routes; nothing secret is in the image.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr


def load_or_create_secret(given: SecretStr | None, path: Path) -> str:
    """The given secret, else the one stored at path, else a new one stored there."""
    if given is not None:
        return given.get_secret_value()
    try:
        value = path.read_text().strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    # O_EXCL: two hubs starting at once on one volume must not overwrite each other's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value
