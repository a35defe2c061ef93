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

BUILTIN_ENVIRONMENTS = ("pyiron_atomistics", "pyiron_base", "pyiron_continuum", "pyiron_experimental")

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
