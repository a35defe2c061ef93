"""Reading and writing the compose env files (pyiron.env, shared.env, .env).

The old deployment appended to these files on every run, so keys piled up. Here a file is
always rewritten whole from a dict: running twice gives byte-identical files.

The compose-level variables (images, ports, and COMPOSE_FILE, the stack's files) live in
`.env`, the one file both compose versions read by themselves: docker-compose 1.29 and
compose v2 read `.env` from the project directory unless `--env-file` names another file,
which then *replaces* it. Earlier versions called that file build.env and every command
had to say `--env-file build.env`; a command that forgot (the README's own upgrade and
backup commands did) ran without the overlays, so the hub came back holding the Docker
socket. With `.env` there is no flag to forget. An old build.env is still read by `init`.
"""

from __future__ import annotations

import io
import json
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

from .boot_shared import write_atomically
from .problems import ConfigError, Problem
from .settings import SECRET_VARIABLES, variable_names

# Where each variable lives: the database's variables are shared by hub and Postgres;
# compose-level variables (read by docker compose itself) go to .env.
SHARED_VARIABLES = ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "POSTGRES_PASSWORD_FILE")
BUILD_VARIABLES = (
    "HOST_KEY_PATH",
    "HOST_CERT_PATH",
    "NGINX_NETWORK",
    "HUB_IMAGE",
    "POSTGRES_IMAGE",
    "KEYCLOAK_IMAGE",
    "KEYCLOAK_PORT",
    "KEYCLOAK_ADMIN_PASSWORD",
    "HUB_BIND",
    "HUB_PORT",
    "HTTPS_BIND",
    "HTTPS_PORT",
    "CLUSTER_IMAGE",
    "CLUSTER_USERS",
    "COMPOSE_PROJECT_NAME",
    "DOCKER_NETWORK_NAME",
    "DOCKER_SOCKET",
    "REGISTRY_LOGIN_FILE",
    "SWARM_SHARED_PATH",  # the hub and the guard read it too: compose.swarm-shared.yml passes it on
    "STORAGE_QUOTA_ROOT",  # the hub and the guard read it too: compose.quota.yml passes it on
    # compose's own: which files make the stack, under which project name
    "COMPOSE_FILE",
    "COMPOSE_PATH_SEPARATOR",
    "COMPOSE_PROFILES",
)
COMPOSE_ENV = ".env"
ENV_FILES = ("pyiron.env", "shared.env", COMPOSE_ENV)
# What earlier versions named .env; init reads it (below .env) and says it is no longer used.
LEGACY_BUILD_ENV = "build.env"
_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")
HEADER = "# Written by `pyiron-hub init`. Edit freely: running init again keeps your values.\n"


def home_file(variable: str) -> str:
    if variable in SHARED_VARIABLES:
        return "shared.env"
    if variable in BUILD_VARIABLES:
        return COMPOSE_ENV
    return "pyiron.env"


def known_variables() -> set[str]:
    return (
        set(variable_names()) | {f"{v}_FILE" for v in SECRET_VARIABLES} | set(BUILD_VARIABLES) | set(SHARED_VARIABLES)
    )


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as compose reads them: with python-dotenv, the parser compose (v1)
    itself reads env files with. Not interpolated: what `init` writes is single-quoted,
    which compose never interpolates, and a check must not depend on the shell it runs in.
    A line without '=' (compose: "take it from my shell") is left out.
    """
    text = Path(path).read_text(encoding="utf-8-sig")  # an unreadable file is the caller's OSError
    return {k: v for k, v in dotenv_values(stream=io.StringIO(text), interpolate=False).items() if v is not None}


def format_env_file(values: Mapping[str, str], quoted: bool = True) -> str:
    """Single quotes: compose (v1 and v2) takes them literally, so '$', '#' and spaces are safe.

    quoted=False for `docker stack deploy`, whose env-file reader (the Docker CLI's) keeps
    quotes as part of the value and takes everything after '=' literally.
    """
    lines = [HEADER]
    for key in sorted(values):
        lines.append(f"{key}='{values[key]}'\n" if quoted else f"{key}={values[key]}\n")
    return "".join(lines)


def unsafe_value_problems(values: Mapping[str, str], quoted: bool = True) -> list[Problem]:
    problems = []
    for key, value in values.items():
        hint = f"put it in a file and set {key}_FILE to its path"
        if "'" in value or "\n" in value or "\r" in value:
            problems.append(Problem(key, "contains a quote or line break, which an env file cannot hold safely", hint))
        elif not quoted and (value != value.strip() or " #" in value or value.startswith('"')):
            # Unquoted, these would read differently in compose and in the Docker CLI.
            problems.append(
                Problem(
                    key,
                    "starts or ends with a space, or holds ' #' or a leading '\"', "
                    "which an unquoted env file cannot hold safely",
                    hint,
                )
            )
    return problems


def write_private(path: Path, text: str) -> None:
    """Replace path atomically with a file only its owner can read (mode 0600)."""
    write_atomically(str(path), text, 0o600)


def read_seed(path: Path) -> dict[str, str]:
    """The old deployment's config.json -> one flat dict of variables (type-checked)."""
    where = f"config file {path}"
    try:
        data = json.loads(Path(path).read_text())
    except OSError as err:
        raise ConfigError([Problem(where, f"cannot read it: {err.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem(where, "is not UTF-8 text", "save it as UTF-8")]) from None
    except json.JSONDecodeError as err:
        raise ConfigError(
            [
                Problem(
                    where,
                    f"is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})",
                    '{"pyiron": {"CLIENT_ID": "pyiron-hub"}, "shared": {"POSTGRES_PASSWORD": "..."}}',
                )
            ]
        ) from None
    if not isinstance(data, dict):
        raise ConfigError([Problem(where, "must be a JSON object with sections build, pyiron and shared")])
    problems, flat = [], {}
    known = known_variables()
    for section, entries in data.items():
        if section not in ("build", "pyiron", "shared"):
            problems.append(Problem(f"{where}: section {section!r}", "unknown section", "build, pyiron or shared"))
            continue
        if not isinstance(entries, dict):
            problems.append(Problem(f"{where}: section {section!r}", 'must be an object of "NAME": "value" pairs'))
            continue
        for key, value in entries.items():
            if not _KEY.match(key) or key not in known:
                problems.append(
                    Problem(
                        f"{where}: {section}.{key}", "unknown variable", "see the configuration reference in README.md"
                    )
                )
            elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
                problems.append(
                    Problem(
                        f"{where}: {section}.{key}",
                        f"must be a string, not {type(value).__name__}",
                        f'"{key}": "value"',
                    )
                )
            else:
                flat[key] = str(value)
    if problems:
        raise ConfigError(problems)
    return flat


def new_secret() -> str:
    return secrets.token_hex(32)
