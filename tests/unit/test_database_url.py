"""The hub's database URL: every part escaped, so any password round-trips."""

from __future__ import annotations

import pytest
from sqlalchemy import make_url

from pyiron_hub_config.database import database_url, wait_for_database
from pyiron_hub_config.settings import load_settings

from .helpers import MINIMAL_ENV, with_env


def url_for(**changes):
    return make_url(database_url(load_settings(with_env(MINIMAL_ENV, **changes), check_paths=False)))


def test_defaults():
    url = url_for()
    assert (url.drivername, url.username, url.host, url.port, url.database) == (
        "postgresql+psycopg2",
        "postgres",
        "hub-db",
        5432,
        "postgres",
    )


def test_overrides():
    url = url_for(POSTGRES_HOST="db.internal", POSTGRES_PORT="6543", POSTGRES_USER="hub", POSTGRES_DB="jupyterhub")
    assert (url.username, url.host, url.port, url.database) == ("hub", "db.internal", 6543, "jupyterhub")


def test_database_name_defaults_to_the_user():
    assert url_for(POSTGRES_USER="hub").database == "hub"


@pytest.mark.parametrize(
    "password",
    [
        "p@ss:w/rd#%",
        "a?b&c=d",
        "%40%3A",
        "with space",
        "ünïcødé",
        "'\"\\",
        "[]{}",
        "+plus+",
        "x" * 200,
    ],
)
def test_password_round_trips(password):
    assert url_for(POSTGRES_PASSWORD=password).password == password


def test_user_name_round_trips():
    assert url_for(POSTGRES_USER="hub@org:x").username == "hub@org:x"


def test_url_carries_the_password_in_clear_for_the_hub():
    # JupyterHub connects with this string: a masked '***' password would lock it out.
    assert "***" not in database_url(load_settings(MINIMAL_ENV, check_paths=False))


def test_wait_gives_up_after_the_timeout():
    # Port 1 on the loopback refuses at once: no server, no network.
    said = []
    assert wait_for_database("postgresql+psycopg2://u:secret-pw@127.0.0.1:1/db", timeout=0, log=said.append) is False
    assert len(said) == 1 and said[0].startswith("pyiron-hub: database still unreachable after 0s")
    assert "secret-pw" not in said[0]
