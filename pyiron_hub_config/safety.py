"""What `pyiron-hub check` warns about: settings that work but are unsafe in production.

Each is valid (the demo and the tests use some of them on purpose), so each is a warning,
never a refusal: the Docker socket in the hub (whoever takes the hub over is root on the
host), a demo-only secret (published in this repository), an http:// Keycloak off this
machine (tokens and the client secret in clear text), and admins' access to users' servers.

Whether the hub would hold the socket is read from the compose files the project's `.env`
names (COMPOSE_FILE), merged as compose merges a service's volumes: by their target.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import yaml

from .envfiles import COMPOSE_ENV, parse_env_file

DEMO_MARK = "demo-only-"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
URL_VARIABLES = (
    "OAUTH2_ISSUER_URL",
    "OAUTH2_AUTHORIZE_URL",
    "OAUTH2_TOKEN_URL",
    "OAUTH2_USERDATA_URL",
    "OAUTH2_LOGOUT_URL",
)
SOCKET = "/var/run/docker.sock"
GUARD_HINT = (
    'give Docker to the Docker API guard instead (README "Security notes"): no compose file of this '
    "repository mounts the socket into the hub"
)


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def setting_warnings(values: Mapping[str, str]) -> list[str]:
    """Warnings about the hub's own settings."""
    warnings = []
    for name in sorted(values):
        if DEMO_MARK in (values[name] or ""):
            warnings.append(
                f"{name} is a demo-only value, published in this repository: anyone can use it. "
                "Make a new one (for CLIENT_SECRET: in Keycloak, Clients > the hub's client > "
                "Credentials > Regenerate, or `pyiron-hub init` and `pyiron-hub keycloak-client --apply`)"
            )
    for name in URL_VARIABLES:
        url = urlparse(values.get(name) or "")
        if (
            url.scheme == "http"
            and (url.hostname or "") not in LOCAL_HOSTS
            and not (url.hostname or "").endswith(".localhost")
        ):
            warnings.append(
                f"{name} is http:// on {url.hostname}: logins, tokens and the client secret cross the "
                "network unencrypted; use Keycloak's https:// URL"
            )
    if _true(values.get("ADMIN_ACCESS")):
        warnings.append(
            "ADMIN_ACCESS is on: admins can open every user's server, their files, terminals and "
            "~/.ssh keys (to HPC clusters too); leave it off unless your users agreed"
        )
    return warnings


_VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|"
    r"(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $VAR (enough for volume strings)."""

    def one(m: re.Match) -> str:
        name = m.group("braced") or m.group("plain")
        value, op = env.get(name), m.group("op") or ""
        if op.endswith("-") and (value is None or (op == ":-" and value == "")):
            return m.group("arg")
        return value or ""

    return _VARIABLE.sub(one, text.replace("$$", "\0")).replace("\0", "$")


def _mounts(volumes, env: Mapping[str, str]) -> dict[str, str]:
    """target -> source of a service's volumes (short or long syntax)."""
    found = {}
    for entry in volumes or []:
        if isinstance(entry, dict):
            source, target = entry.get("source") or "", entry.get("target") or ""
        else:
            parts = interpolate(str(entry), env).split(":")
            if len(parts) < 2:
                continue
            source, target = parts[0], parts[1]
        found[interpolate(str(target), env)] = interpolate(str(source), env)
    return found


def compose_files(project: Path, env: Mapping[str, str]) -> list[Path]:
    """The files `docker compose` run in `project` uses: COMPOSE_FILE, else compose's defaults."""
    listed = env.get("COMPOSE_FILE")
    if listed:
        return [project / name for name in listed.split(env.get("COMPOSE_PATH_SEPARATOR") or ":") if name]
    return [p for p in (project / "docker-compose.yml", project / "docker-compose.override.yml") if p.exists()]


def hub_socket_mounts(project: Path, environ: Mapping[str, str] | None = None) -> tuple[list[Path], dict[str, str]]:
    """The compose files, and the hub's volumes whose source is a Docker socket (target -> source)."""
    env = dict(parse_env_file(project / COMPOSE_ENV)) if (project / COMPOSE_ENV).exists() else {}
    env.update(environ or {})  # the shell's variables win over .env, as in compose
    files = compose_files(project, env)
    mounts: dict[str, str] = {}
    for path in files:
        data = yaml.safe_load(path.read_text()) or {}
        hub = (data.get("services") or {}).get("hub") or {}
        mounts.update(_mounts(hub.get("volumes"), env))
    return files, {t: s for t, s in mounts.items() if s.endswith("docker.sock")}


def compose_socket_warnings(project: Path, environ: Mapping[str, str] | None = None) -> list[str]:
    """Would `docker compose up` in `project` give the hub the Docker socket?"""
    try:
        files, sockets = hub_socket_mounts(project, environ)
    except FileNotFoundError as err:
        return [
            f"no {Path(err.filename).name} beside the env files, so whether the hub would hold the Docker socket "
            "was not checked: run check in the checkout that holds docker-compose.yml and the env files"
        ]
    except (OSError, yaml.YAMLError) as err:
        return [
            f"could not read the compose files in {project} to see whether the hub would hold the Docker socket: {err}"
        ]
    if not files:
        return []
    return [
        f"the hub would hold the Docker socket ({source} at {target}, from "
        f"{' + '.join(p.name for p in files)}): whoever takes the hub over is root on this host; {GUARD_HINT}"
        for target, source in sorted(sockets.items())
    ]


def socket_here(path: str = SOCKET) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def running_hub_warnings() -> list[str]:
    """In the hub's own container (`docker compose exec hub pyiron-hub check`, and at every start)."""
    # Only inside a container: on a host of its own the socket is the admin's, not the hub's.
    if Path("/.dockerenv").exists() and socket_here():
        return [
            f"this hub holds the Docker socket ({SOCKET}): whoever takes it over is root on this host; {GUARD_HINT}"
        ]
    return []
