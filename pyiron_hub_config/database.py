"""The hub's Postgres database: its URL, and waiting until it answers."""

from __future__ import annotations

import time

from sqlalchemy import URL, create_engine, text
from sqlalchemy.exc import OperationalError

from .settings import Settings


def database_url(settings: Settings) -> str:
    """A SQLAlchemy URL with every part escaped (passwords may hold '@', ':', '/', '#', '%')."""
    url = URL.create(
        "postgresql+psycopg2",
        username=settings.postgres_user,
        password=settings.postgres_password.get_secret_value(),
        host=settings.postgres_host,
        port=settings.postgres_port,
        database=settings.database,
    )
    return url.render_as_string(hide_password=False)


def wait_for_database(url: str, timeout: float, log=print, interval: float = 1.0) -> bool:
    """Poll until the database accepts a connection; False after timeout seconds."""
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    deadline = time.monotonic() + timeout
    said = False
    try:
        while True:
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                return True
            except OperationalError as err:
                if time.monotonic() >= deadline:
                    log(f"pyiron-hub: database still unreachable after {timeout:g}s: {err.orig}".strip())
                    return False
                if not said:
                    log(f"pyiron-hub: waiting for the database at {engine.url.host}:{engine.url.port} ...")
                    said = True
                time.sleep(interval)
    finally:
        engine.dispose()
