"""Constants and small helpers shared by the unit tests (fixtures are in conftest.py)."""

from __future__ import annotations

import contextlib
import sqlite3
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


# pyiron's job table as pyiron_base makes it in its SQLite database (what the boot step and
# the culling read).
JOBS_SCHEMA = """CREATE TABLE jobs_pyiron (id INTEGER PRIMARY KEY, parentid INTEGER, masterid INTEGER,
    projectpath VARCHAR, project VARCHAR, job VARCHAR, subjob VARCHAR, chemicalformula VARCHAR, status VARCHAR,
    hamilton VARCHAR, hamversion VARCHAR, username VARCHAR, computer VARCHAR, timestart DATETIME,
    timestop DATETIME, totalcputime FLOAT)"""


def pyiron_job_table(path: Path, rows: list[tuple]) -> tuple[str, str]:
    """A SQLite database at path with pyiron's job table holding rows of (id, project, job,
    status, computer); returns (its path, the table's name), as the boot step finds them."""
    with sqlite3.connect(path) as db:
        db.execute(JOBS_SCHEMA)
        db.executemany("INSERT INTO jobs_pyiron (id, project, job, status, computer) VALUES (?, ?, ?, ?, ?)", rows)
    db.close()  # the context manager commits but does not close
    return str(path), "jobs_pyiron"


@contextlib.asynccontextmanager
async def guard_before_engine(tmp_path: Path, policy, engine):
    """The Docker API guard serving `policy` on tmp_path/guard.sock, in front of a stand-in
    engine on tmp_path/engine.sock (`engine`: an aiohttp handler for every request); yields an
    aiohttp client session to the guard (requests to http://guard/...)."""
    from aiohttp import ClientSession, UnixConnector, web

    from pyiron_hub_config.docker_guard.guard import make_app

    engine_app = web.Application()
    engine_app.router.add_route("*", "/{path:.*}", engine)
    runners = []
    try:
        for app, socket in (
            (engine_app, "engine.sock"),
            (make_app(policy, str(tmp_path / "engine.sock")), "guard.sock"),
        ):
            runners.append(web.AppRunner(app))
            await runners[-1].setup()
            await web.UnixSite(runners[-1], str(tmp_path / socket)).start()
        async with ClientSession(connector=UnixConnector(path=str(tmp_path / "guard.sock"))) as client:
            yield client
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
