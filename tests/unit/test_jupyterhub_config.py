"""jupyterhub_config.py as JupyterHub loads it: traitlets' own PyFileConfigLoader, os.environ."""

from __future__ import annotations

import pytest
from sqlalchemy import make_url
from traitlets.config.loader import PyFileConfigLoader

from pyiron_hub_config.authenticator import KeycloakOAuthenticator
from pyiron_hub_config.spawner import PyironSpawner

from .helpers import GIB, REPO


def load():
    return PyFileConfigLoader("jupyterhub_config.py", path=str(REPO)).load_config()


def test_the_file_only_calls_the_package():
    code = [
        line
        for line in (REPO / "jupyterhub_config.py").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert len(code) <= 3 and any(line.startswith("configure(c)") for line in code)


def test_valid_environment(hub_environ):
    c = load()
    assert (c.JupyterHub.authenticator_class, c.JupyterHub.spawner_class) == (KeycloakOAuthenticator, PyironSpawner)
    assert c.KeycloakOAuthenticator.realm_url == "https://keycloak.example.org/realms/pyiron"
    assert make_url(c.JupyterHub.db_url).password == "postgres-password-value"


def test_environment_is_read_when_the_file_is_loaded(hub_environ):
    assert load().PyironSpawner.mem_limit == 2 * GIB
    hub_environ.setenv("MEM_LIMIT", "3G")
    assert load().PyironSpawner.mem_limit == 3 * GIB


def test_legacy_variables_reach_the_spawner(hub_environ):
    hub_environ.setenv("PYIRON_ATOMISTIC", "registry.example.org/pyiron:1")
    hub_environ.setenv("CPU_LIMIT", "2")
    c = load()
    assert (c.PyironSpawner.image, c.PyironSpawner.cpu_limit) == ("registry.example.org/pyiron:1", 2.0)


def test_secrets_persist_across_loads(hub_environ, tmp_path):
    first, second = load(), load()
    assert (first.JupyterHub.cookie_secret, (tmp_path / "data" / "cookie_secret").exists()) == (
        second.JupyterHub.cookie_secret,
        True,
    )


def test_dummy_mode(hub_environ):
    for name in ("CLIENT_ID", "CLIENT_SECRET", "OAUTH2_ISSUER_URL"):
        hub_environ.delenv(name)
    hub_environ.setenv("AUTHENTICATOR", "dummy")
    hub_environ.setenv("DUMMY_PASSWORD", "trial-password")
    assert load().JupyterHub.authenticator_class == "dummy"


INVALID = {
    "nothing set": (
        {},
        ["CLIENT_ID", "CLIENT_SECRET", "POSTGRES_PASSWORD", "OAUTH2_ISSUER_URL", "OAUTH2_ALLOWED_GROUPS"],
    ),
    "bad values": (
        {"MEM_LIMIT": "lots", "CPU_LIMIT": "0", "PYIRON_BASE": "x;y", "OAUTH2_ISSUER_URL": "ftp://kc"},
        ["MEM_LIMIT", "CPU_LIMIT", "PYIRON_BASE", "OAUTH2_ISSUER_URL"],
    ),
    "missing catalogue": ({"ENVIRONMENTS_FILE": "/nonexistent/environments.toml"}, ["ENVIRONMENTS_FILE"]),
    "secret file unreadable": ({"CLIENT_SECRET_FILE": "/nonexistent/secret"}, ["CLIENT_SECRET_FILE"]),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_environment_exits_1_with_a_report(hub_environ, capsys, case):
    changes, variables = INVALID[case]
    if case == "nothing set":
        for name in ("OAUTH2_ISSUER_URL", "CLIENT_ID", "CLIENT_SECRET", "POSTGRES_PASSWORD", "OAUTH2_ALLOW_ALL"):
            hub_environ.delenv(name)
    for name, value in changes.items():
        hub_environ.setenv(name, value)
    if "CLIENT_SECRET_FILE" in changes:
        hub_environ.delenv("CLIENT_SECRET")
    with pytest.raises(SystemExit) as info:
        load()
    err = capsys.readouterr().err
    assert info.value.code == 1
    assert [v for v in variables if f"  - {v}" not in err] == []
    assert "Traceback" not in err
    assert err.rstrip().endswith("Nothing was started. See the configuration reference in README.md.")


def test_invalid_environment_shows_no_secret(hub_environ, capsys):
    hub_environ.setenv("CLIENT_SECRET", "client-secret-never-shown")
    hub_environ.setenv("CONFIGPROXY_AUTH_TOKEN", "proxy-secret")  # too short
    with pytest.raises(SystemExit):
        load()
    captured = capsys.readouterr()
    assert (
        "CONFIGPROXY_AUTH_TOKEN" in captured.err,
        "proxy-secret" in captured.err + captured.out,
        "client-secret-never-shown" in captured.err + captured.out,
    ) == (True, False, False)
