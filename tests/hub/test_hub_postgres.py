"""JupyterHub itself (pytest-jupyterhub's in-process hub, a real proxy) with this package's
configuration, loaded from the real jupyterhub_config.py, against a real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg2
import pytest
from jupyterhub.tests.utils import add_user, api_request, auth_header
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from pyiron_hub_config.authenticator import KeycloakOAuthenticator
from pyiron_hub_config.spawner import PyironSpawner

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def hub_config(fresh_database, tmp_path, monkeypatch) -> Config:
    """jupyterhub_config.py as JupyterHub would load it, under a test environment."""
    pg = fresh_database
    env = {
        "OAUTH2_ISSUER_URL": "http://127.0.0.1:9/realms/pyiron",  # never contacted here
        "CLIENT_ID": "pyiron-hub",
        "CLIENT_SECRET": "not-used-in-this-test",
        "OAUTH2_ALLOWED_GROUPS": "pyiron-users",
        "ADMIN_USER": "admin",
        "OAUTH2_ADMIN_GROUPS": "/pyiron-admins",
        "POSTGRES_HOST": pg["host"],
        "POSTGRES_PORT": str(pg["port"]),
        "POSTGRES_USER": pg["user"],
        "POSTGRES_PASSWORD": pg["password"],
        "POSTGRES_DB": pg["db"],
        "DATA_DIR": str(tmp_path / "data"),
        "IDLE_TIMEOUT": "0",  # the culler is a subprocess this fixture could not stop
        "MAX_MEM_LIMIT": "4G",
        "MAX_CPU_LIMIT": "2",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = PyFileConfigLoader("jupyterhub_config.py", path=str(REPO)).load_config()
    # MockHub swaps db_url for this variable: point it at the very URL our config built.
    monkeypatch.setenv("JUPYTERHUB_TEST_DB_URL", config.JupyterHub.db_url)
    # MockHub picks free loopback ports; the container's fixed ports would clash here.
    for trait in ("bind_url", "hub_ip", "hub_port", "hub_connect_ip"):
        config.JupyterHub.pop(trait, None)
    # Set explicitly: MockHub would otherwise allow everyone and tests pass for the wrong reason.
    config.Authenticator.allow_all = False
    config.Authenticator.allowed_users = {"alice"}
    return config


def _tables(pg) -> set[str]:
    with (
        psycopg2.connect(
            host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"], dbname=pg["db"]
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        return {row[0] for row in cur.fetchall()}


async def test_hub_creates_its_tables_in_postgres(hub_app, hub_config, fresh_database):
    assert "users" not in _tables(fresh_database)
    app = await hub_app(hub_config)
    assert app.db_url.startswith("postgresql+psycopg2://hub:p%40ss%3Aw%2Frd%23%25@")
    assert isinstance(app.authenticator, KeycloakOAuthenticator)
    assert app.spawner_class is PyironSpawner
    add_user(app.db, app, name="alice")
    tables = _tables(fresh_database)
    assert {"users", "spawners", "api_tokens", "alembic_version", "roles"} <= tables
    with (
        psycopg2.connect(
            host=fresh_database["host"],
            port=fresh_database["port"],
            user="hub",
            password=fresh_database["password"],
            dbname="jupyterhub",
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT name FROM users ORDER BY name")
        # admin from ADMIN_USER, alice added here, "user" is MockHub's own
        assert [r[0] for r in cur.fetchall()] == ["admin", "alice", "user"]


async def test_admins_hold_the_hub_admin_role_and_not_jupyterhubs(hub_app, hub_config):
    """JupyterHub accepts the roles as configured (ADMIN_ACCESS off): the admin role empty, the
    admins' own role on ADMIN_USER and on the Keycloak admin group, made here before anyone logs in."""
    from jupyterhub import orm
    from jupyterhub.scopes import get_scopes_for

    app = await hub_app(hub_config)
    admin = orm.User.find(app.db, "admin")
    assert admin.admin is False and [r.name for r in admin.roles] == ["user", "hub-admin"]
    group = orm.Group.find(app.db, "pyiron-admins")
    assert group is not None and [r.name for r in group.roles] == ["hub-admin"]
    assert orm.Role.find(app.db, "admin").users == []
    scopes = get_scopes_for(admin)
    assert "admin:servers" in scopes and "admin-ui" in scopes
    assert not {"access:servers", "tokens", "shares"} & scopes


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"environment": "no-such-env"}, "No such environment"),
        ({"image": "evil/miner:latest"}, "Unknown option 'image'"),
        ({"environment": "pyiron_base", "mem_limit": "64G"}, "above the maximum"),
        ({"environment": "pyiron_base", "cpu_limit": "-1"}, "must be at least 0.01"),
        ({"environment": "pyiron_base", "privileged": True}, "Unknown option 'privileged'"),
    ],
)
async def test_forged_spawn_request_is_refused(hub_app, hub_config, options, expected):
    app = await hub_app(hub_config)
    add_user(app.db, app, name="alice")
    # Through the real proxy, with alice's own token, as a script of hers would send it.
    r = await api_request(
        app, "users/alice/server", method="post", data=json.dumps(options), headers=auth_header(app.db, "alice")
    )
    assert r.status_code == 400, r.text
    assert expected in r.json()["message"]
    user = app.users["alice"]
    assert not user.spawner.active
    assert not user.spawner.object_id  # no container was ever created


async def test_forged_form_post_is_refused(hub_app, hub_config):
    """The options form as a browser posts it, with a value the form never offered."""
    from jupyterhub.tests.utils import async_requests, public_host
    from jupyterhub.utils import url_path_join
    from tornado.httputil import url_concat

    # Keycloak is not part of this test: a password login gives alice a real cookie session.
    hub_config.JupyterHub.authenticator_class = "dummy"
    app = await hub_app(hub_config)
    cookies = await app.login_user("alice")
    url = public_host(app) + url_path_join(app.hub.base_url, "spawn", "alice")
    page = await async_requests.get(url, cookies=cookies)
    assert page.status_code == 200 and page.url == url
    assert 'name="environment"' in page.text and 'value="pyiron_atomistics"' in page.text
    forged = {"environment": "<script>x</script>"}
    r = await async_requests.post(
        url_concat(url, {"_xsrf": cookies["_xsrf"]}), cookies=cookies, data=forged, allow_redirects=False
    )
    assert r.status_code == 400
    assert "No such environment" in r.text
    assert "<script>x</script>" not in r.text  # echoed escaped, never as markup
    # In plain words, with the environments' display names.
    assert "Options include: pyiron atomistics, pyiron md, pyiron base" in r.text and "Bad Request (" not in r.text
    assert not app.users["alice"].spawner.active


async def test_the_hubs_own_pages_say_whose_hub_it_is(hub_app, hub_config):
    """template_paths and template_vars as the real hub loads them: our pages over JupyterHub's."""
    from bs4 import BeautifulSoup
    from jupyterhub.tests.utils import async_requests, public_host
    from jupyterhub.utils import url_path_join

    hub_config.JupyterHub.template_vars = {**hub_config.JupyterHub.template_vars, "site_name": "CM <hub>"}
    app = await hub_app(hub_config)
    login = await async_requests.get(public_host(app) + url_path_join(app.hub.base_url, "login"))
    soup = BeautifulSoup(login.text, "html.parser")
    assert login.status_code == 200
    assert soup.title.get_text(strip=True) == "CM <hub>"  # escaped in the markup, shown as text
    assert soup.find(id="pyiron-welcome").h1.get_text(strip=True) == "CM <hub>"
    missing = await async_requests.get(public_host(app) + url_path_join(app.hub.base_url, "no-such-page"))
    soup = BeautifulSoup(missing.text, "html.parser")
    assert missing.status_code == 404
    assert [h.get_text(strip=True) for h in soup.find_all("h1")] == ["404: Not Found"]
