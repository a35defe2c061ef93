"""Constants and small helpers shared by the unit tests (fixtures are in conftest.py)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# The smallest environment the hub accepts.
MINIMAL_ENV = {
    "OAUTH2_ISSUER_URL": "https://keycloak.example.org/realms/pyiron",
    "CLIENT_ID": "pyiron-hub",
    "CLIENT_SECRET": "client-secret-value",
    "POSTGRES_PASSWORD": "postgres-password-value",
    "OAUTH2_ALLOW_ALL": "true",
}

# The built-in catalogue in the picker's order (retired ones last), and what it offers when
# no PYIRON_* variable is set: the images pyiron builds; workflow and the retired ones
# need their variable.
BUILTIN_ENVIRONMENTS = (
    "pyiron_atomistics",
    "pyiron_md",
    "pyiron_base",
    "pyiron_workflow",
    "pyiron_continuum",
    "pyiron_experimental",
)
OFFERED_BY_DEFAULT = ("pyiron_atomistics", "pyiron_md", "pyiron_base")
# The variables that offer the rest, as an admin who keeps the retired images sets them.
ALL_IMAGES_ENV = {
    "PYIRON_WORKFLOW": "pyiron-hub/workflow:latest",
    "PYIRON_CONTINUUM": "pyiron/continuum:latest",
    "PYIRON_EXPERIMENTAL": "pyiron/experimental:latest",
}

GIB = 1024**3
MIB = 1024**2


def with_env(base: dict[str, str], **changes: str | None) -> dict[str, str]:
    """A copy of base with changes applied; None removes a variable."""
    env = dict(base)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def catalogue_entry(name: str, image: str = "pyiron/base:latest", **extra: object) -> str:
    """One [[environments]] TOML entry."""
    lines = ["[[environments]]", f'name = "{name}"', f'display_name = "{name} display"', f'image = "{image}"']
    for key, value in extra.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, (int, float)):
            lines.append(f"{key} = {value}")
        else:
            lines.append(f'{key} = "{value}"')
    return "\n".join(lines) + "\n\n"
