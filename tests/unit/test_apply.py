"""configure(Config(), environ): one override, one trait; plus the secrets kept in DATA_DIR."""

from __future__ import annotations

import stat
import sys
from types import SimpleNamespace

import pytest
from jupyterhub.app import JupyterHub
from jupyterhub.auth import Authenticator, DummyAuthenticator
from jupyterhub.crypto import CryptKeeper
from jupyterhub.proxy import ConfigurableHTTPProxy
from sqlalchemy import make_url
from traitlets.config import Config

from pyiron_hub_config import HubConfig, configure
from pyiron_hub_config.apply import HUB_API_PORT
from pyiron_hub_config.authenticator import KeycloakOAuthenticator
from pyiron_hub_config.spawner import PyironSpawner, pass_access_token

from .helpers import GIB, OFFERED_BY_DEFAULT, with_env

HEX_A = "ab" * 32
HEX_B = "cd" * 32
CULLER_SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]


@pytest.fixture
def configured(minimal_env):
    """configured(**changes) -> the Config that configure() fills from minimal_env plus changes."""

    def run(**changes) -> Config:
        c = Config()
        configure(c, with_env(minimal_env, **changes))
        return c

    return run


def spawner_from(c: Config) -> PyironSpawner:
    return PyironSpawner(config=c, user=SimpleNamespace(name="alice"))


# --- every trait set exists -----------------------------------------------------------------
SECTIONS = {
    "JupyterHub": JupyterHub,
    "Authenticator": Authenticator,
    "KeycloakOAuthenticator": KeycloakOAuthenticator,
    "DummyAuthenticator": DummyAuthenticator,
    "PyironSpawner": PyironSpawner,
    "CryptKeeper": CryptKeeper,
    "ConfigurableHTTPProxy": ConfigurableHTTPProxy,
}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"AUTHENTICATOR": "dummy", "DUMMY_PASSWORD": "trial-password"},
        {
            "PASS_ACCESS_TOKEN": "true",
            "MAX_MEM_LIMIT": "8G",
            "MAX_CPU_LIMIT": "4",
            "OAUTH_CALLBACK_URL": "https://h/cb",
            "OAUTH2_LOGOUT_URL": "https://kc/logout",
            **{k: f"https://kc/{k}" for k in ("OAUTH2_AUTHORIZE_URL", "OAUTH2_TOKEN_URL", "OAUTH2_USERDATA_URL")},
        },
    ],
    ids=["keycloak", "dummy", "everything"],
)
def test_every_configured_trait_exists(configured, changes):
    # traitlets only logs a warning for an unknown name; a typo would be silently ignored.
    c = configured(**changes)
    assert set(c) <= set(SECTIONS)
    unknown = {
        f"{section}.{name}"
        for section in c
        for name in c[section]
        if name not in SECTIONS[section].class_traits(config=True)
    }
    assert unknown == set()


def test_configure_returns_the_hub_config(minimal_env):
    hub = configure(Config(), minimal_env)
    assert isinstance(hub, HubConfig) and [e.name for e in hub.environments] == list(OFFERED_BY_DEFAULT)
    assert [e.name for e in hub.left_out] == ["pyiron_workflow", "pyiron_continuum", "pyiron_experimental"]


def test_configure_reports_and_exits_without_touching_anything(minimal_env, tmp_path, capsys):
    c = Config()
    with pytest.raises(SystemExit) as info:
        configure(c, with_env(minimal_env, CLIENT_ID=None, MEM_LIMIT="lots"))
    err = capsys.readouterr().err
    assert (info.value.code, "CLIENT_ID: is required" in err, "MEM_LIMIT: 'lots'" in err) == (1, True, True)
    assert (c, (tmp_path / "data").exists()) == (Config(), False)


# --- authenticator ---------------------------------------------------------------------------
def test_authenticator_class(configured):
    assert configured().JupyterHub.authenticator_class is KeycloakOAuthenticator


def test_realm_url_from_issuer(configured):
    assert (
        configured(OAUTH2_ISSUER_URL="https://kc.example.org/realms/p/").KeycloakOAuthenticator.realm_url
        == "https://kc.example.org/realms/p"
    )


def test_endpoints_derived_in_the_built_authenticator(configured):
    a = KeycloakOAuthenticator(config=configured())
    assert a.token_url == "https://keycloak.example.org/realms/pyiron/protocol/openid-connect/token"


@pytest.mark.parametrize(
    "variable, trait",
    [
        ("OAUTH2_AUTHORIZE_URL", "authorize_url"),
        ("OAUTH2_TOKEN_URL", "token_url"),
        ("OAUTH2_USERDATA_URL", "userdata_url"),
        ("OAUTH2_LOGOUT_URL", "end_session_url"),
        ("OAUTH_CALLBACK_URL", "oauth_callback_url"),
    ],
)
def test_explicit_url_default_and_override(configured, variable, trait):
    assert trait not in configured().KeycloakOAuthenticator
    a = KeycloakOAuthenticator(config=configured(**{variable: "https://other.example.org/x"}))
    assert getattr(a, trait) == "https://other.example.org/x"


def test_endpoints_without_issuer(configured):
    urls = {
        v: f"https://kc.example.org/{v.lower()}"
        for v in ("OAUTH2_AUTHORIZE_URL", "OAUTH2_TOKEN_URL", "OAUTH2_USERDATA_URL")
    }
    c = configured(OAUTH2_ISSUER_URL=None, **urls)
    assert ("realm_url" in c.KeycloakOAuthenticator, c.KeycloakOAuthenticator.userdata_url) == (
        False,
        "https://kc.example.org/oauth2_userdata_url",
    )


def test_client_credentials(configured):
    auth = configured(CLIENT_ID="my-hub", CLIENT_SECRET="my-secret").KeycloakOAuthenticator
    assert (auth.client_id, auth.client_secret) == ("my-hub", "my-secret")


def test_scope_default(configured):
    assert configured().KeycloakOAuthenticator.scope == ["openid", "profile", "email"]


def test_scope_override_keeps_openid(configured):
    assert configured(OAUTH2_SCOPES="profile roles").KeycloakOAuthenticator.scope == ["openid", "profile", "roles"]


def test_username_claim_default(configured):
    assert configured().KeycloakOAuthenticator.username_claim == "preferred_username"


def test_username_claim_override(configured):
    assert configured(OAUTH2_USERNAME_CLAIM="email").KeycloakOAuthenticator.username_claim == "email"


def test_groups_claim_default(configured):
    assert configured().KeycloakOAuthenticator.groups_claim == "groups"


def test_groups_claim_override(configured):
    assert configured(OAUTH2_GROUPS_CLAIM="roles").KeycloakOAuthenticator.groups_claim == "roles"


@pytest.mark.parametrize("trait", ["enable_pkce", "enable_auth_state", "manage_groups"])
def test_always_on(configured, trait):
    assert configured().KeycloakOAuthenticator[trait] is True


def test_allowed_groups_default(configured):
    assert configured().KeycloakOAuthenticator.allowed_groups == set()


def test_allowed_groups_override_strips_keycloak_paths(configured):
    c = configured(OAUTH2_ALLOWED_GROUPS="/pyiron-users, staff")
    assert c.KeycloakOAuthenticator.allowed_groups == {"pyiron-users", "staff"}


def test_admin_groups_default(configured):
    assert configured().KeycloakOAuthenticator.admin_groups == set()


def test_admin_groups_override(configured):
    # (with ADMIN_ACCESS: without it, admins hold the hub-admin role instead, see below)
    c = configured(OAUTH2_ADMIN_GROUPS="/pyiron-admins", ADMIN_ACCESS="true")
    assert c.KeycloakOAuthenticator.admin_groups == {"pyiron-admins"}


def test_allowed_users_default(configured):
    assert KeycloakOAuthenticator(config=configured()).allowed_users == set()


def test_allowed_users_override(configured):
    assert KeycloakOAuthenticator(config=configured(ALLOWED_USERS="alice,bob")).allowed_users == {"alice", "bob"}


def test_admin_users_default(configured):
    assert KeycloakOAuthenticator(config=configured()).admin_users == set()


def test_admin_users_override(configured):
    assert KeycloakOAuthenticator(config=configured(ADMIN_USER="alice", ADMIN_ACCESS="true")).admin_users == {"alice"}


def test_allow_all_default(configured):
    c = configured(OAUTH2_ALLOW_ALL=None, OAUTH2_ALLOWED_GROUPS="pyiron-users")
    assert KeycloakOAuthenticator(config=c).allow_all is False


def test_allow_all_override(configured):
    assert KeycloakOAuthenticator(config=configured(OAUTH2_ALLOW_ALL="true")).allow_all is True


def test_ca_bundle_default(configured):
    assert "http_request_kwargs" not in configured().KeycloakOAuthenticator


def test_ca_bundle_override(configured, tmp_path):
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    c = configured(OAUTH2_CA_BUNDLE=str(tmp_path / "ca.pem"))
    assert c.KeycloakOAuthenticator.http_request_kwargs == {"ca_certs": str(tmp_path / "ca.pem")}


def test_dummy_authenticator(configured):
    c = configured(AUTHENTICATOR="dummy", DUMMY_PASSWORD="trial-password", CLIENT_ID=None, CLIENT_SECRET=None)
    assert (c.JupyterHub.authenticator_class, c.DummyAuthenticator.password) == ("dummy", "trial-password")
    assert "KeycloakOAuthenticator" not in c


def test_dummy_authenticator_resolves_and_keeps_the_access_policy(configured):
    c = configured(AUTHENTICATOR="dummy", DUMMY_PASSWORD="trial-password", OAUTH2_ALLOW_ALL=None, ALLOWED_USERS="alice")
    assert JupyterHub(config=c).authenticator_class is DummyAuthenticator
    assert DummyAuthenticator(config=c).allowed_users == {"alice"}


# --- spawner ---------------------------------------------------------------------------------
def test_spawner_class(configured):
    assert configured().JupyterHub.spawner_class is PyironSpawner


def test_spawner_offers_the_catalogue(configured):
    assert [env.name for env in spawner_from(configured()).environments] == list(OFFERED_BY_DEFAULT)


def test_spawner_knows_what_is_not_offered(configured):
    spawner = spawner_from(configured(PYIRON_CONTINUUM="pyiron/continuum:latest"))
    assert [env.name for env in spawner.environments] == [*OFFERED_BY_DEFAULT, "pyiron_continuum"]
    assert [env.name for env in spawner.left_out_environments] == ["pyiron_workflow", "pyiron_experimental"]


def test_default_image_is_the_default_environment(configured):
    assert spawner_from(configured()).image == "pyiron/pyiron:latest"


def test_default_image_override(configured):
    assert spawner_from(configured(PYIRON_ATOMISTIC="pyiron/pyiron:2024")).image == "pyiron/pyiron:2024"


def test_mem_limit_default(configured):
    assert spawner_from(configured()).mem_limit == 2 * GIB


def test_mem_limit_override(configured):
    assert spawner_from(configured(MEM_LIMIT="3G")).mem_limit == 3 * GIB


def test_cpu_limit_default(configured):
    assert spawner_from(configured()).cpu_limit == 1.0


def test_cpu_limit_override(configured):
    assert spawner_from(configured(CPU_LIMIT="2")).cpu_limit == 2.0


def test_max_limits_default(configured):
    sp = spawner_from(configured())
    assert (sp.max_mem_limit, sp.max_cpu_limit) == (None, None)


def test_max_limits_override(configured):
    sp = spawner_from(configured(MAX_MEM_LIMIT="8G", MAX_CPU_LIMIT="4"))
    assert (sp.max_mem_limit, sp.max_cpu_limit) == (8 * GIB, 4.0)


def test_network_name_default(configured):
    assert spawner_from(configured()).network_name == "pyiron-hub-users"


def test_network_name_override(configured):
    assert spawner_from(configured(DOCKER_NETWORK_NAME="my-users")).network_name == "my-users"


def test_servers_are_reached_on_the_internal_network(configured):
    assert spawner_from(configured()).use_internal_ip is True


def test_containers_are_removed_so_images_can_switch(configured):
    assert spawner_from(configured()).remove is True


def test_the_whole_home_persists_and_the_old_work_volume_stays_at_work(configured):
    assert spawner_from(configured()).volumes == {
        "jupyterhub-home-{username}": "/home/jovyan",
        "jupyterhub-user-{username}": "/home/jovyan/work",
    }


def test_users_containers_are_named_as_before_by_default(configured):
    assert spawner_from(configured()).prefix == "jupyter"


def test_a_deployment_name_prefixes_users_containers_and_volumes(configured):
    sp = spawner_from(configured(DEPLOYMENT_NAME="staging"))
    assert sp.prefix == "staging-jupyter"
    assert sp.volumes == {
        "staging-jupyterhub-home-{username}": "/home/jovyan",
        "staging-jupyterhub-user-{username}": "/home/jovyan/work",
    }


def test_no_site_resources_by_default(configured):
    assert spawner_from(configured()).site_resources is None


def test_site_resources_directory_is_given_to_the_spawner(configured):
    assert (
        spawner_from(configured(SITE_RESOURCES_DIR="/srv/pyiron/resources")).site_resources == "/srv/pyiron/resources"
    )


def test_notebook_dir_is_home(configured):
    assert spawner_from(configured()).notebook_dir == "/home/jovyan"


def test_single_user_command_runs_the_boot_step_then_the_server(configured):
    # The boot step is a file mounted read-only (boot_file.py), no longer its source as `python -c`.
    cmd = spawner_from(configured()).cmd
    assert cmd == ["python", "/opt/pyiron-hub/boot/boot.py", "jupyterhub-singleuser"]


def test_timeouts_default(configured):
    sp = spawner_from(configured())
    assert (sp.start_timeout, sp.http_timeout) == (120, 120)


def test_timeouts_override(configured):
    sp = spawner_from(configured(SPAWN_TIMEOUT="300"))
    assert (sp.start_timeout, sp.http_timeout) == (300, 300)


def test_pull_stall_timeout_default_and_override(configured):
    assert spawner_from(configured()).pull_stall_timeout == 120
    assert spawner_from(configured(PULL_STALL_TIMEOUT="15")).pull_stall_timeout == 15


def test_access_token_not_passed_by_default(configured):
    assert "auth_state_hook" not in configured().PyironSpawner


def test_access_token_passed_on_request(configured):
    assert spawner_from(configured(PASS_ACCESS_TOKEN="true")).auth_state_hook is pass_access_token


# --- network and TLS -------------------------------------------------------------------------
def test_hub_listens_on_all_interfaces(configured):
    app = JupyterHub(config=configured())
    assert (app.hub_ip, app.hub_port) == ("0.0.0.0", 8081)


def test_hub_connect_ip_default(configured):
    assert configured().JupyterHub.hub_connect_ip == "hub"


def test_hub_connect_ip_override(configured):
    assert configured(HUB_CONNECT_HOST="jupyterhub").JupyterHub.hub_connect_ip == "jupyterhub"


def test_plain_http_by_default(configured):
    c = configured()
    assert (c.JupyterHub.bind_url, "ssl_cert" in c.JupyterHub, "ssl_key" in c.JupyterHub) == (
        "http://:8000",
        False,
        False,
    )


def test_tls_when_cert_and_key_given(configured, tmp_path):
    for name in ("hub.crt", "hub.key"):
        (tmp_path / name).write_text("pem")
    c = configured(TLS_CERT_FILE=str(tmp_path / "hub.crt"), TLS_KEY_FILE=str(tmp_path / "hub.key"))
    assert (c.JupyterHub.bind_url, c.JupyterHub.ssl_cert, c.JupyterHub.ssl_key) == (
        "https://:8000",
        str(tmp_path / "hub.crt"),
        str(tmp_path / "hub.key"),
    )


# --- database --------------------------------------------------------------------------------
def test_db_url_round_trips_a_hostile_password(configured):
    url = make_url(configured(POSTGRES_PASSWORD="p@ss:w/rd#%").JupyterHub.db_url)
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql+psycopg2",
        "postgres",
        "p@ss:w/rd#%",
        "hub-db",
        5432,
        "postgres",
    )


def test_db_url_override(configured):
    url = make_url(
        configured(POSTGRES_HOST="db", POSTGRES_PORT="5433", POSTGRES_USER="hub", POSTGRES_DB="hubdb").JupyterHub.db_url
    )
    assert (url.username, url.host, url.port, url.database) == ("hub", "db", 5433, "hubdb")


def test_database_is_upgraded_at_start(configured):
    assert configured().JupyterHub.upgrade_db is True


# --- services: idle culler and metrics reader --------------------------------------------------
def by_name(entries: list[dict]) -> dict[str, dict]:
    return {entry["name"]: entry for entry in entries}


def test_idle_culler_service(configured):
    assert by_name(configured().JupyterHub.services)["idle-culler"] == {
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", "--timeout=3600"],
    }


def test_idle_culler_role_has_exactly_the_culler_scopes(configured):
    role = by_name(configured().JupyterHub.load_roles)["idle-culler"]
    assert (sorted(role["scopes"]), role["services"]) == (sorted(CULLER_SCOPES), ["idle-culler"])


def test_idle_timeout_override(configured):
    assert by_name(configured(IDLE_TIMEOUT="600").JupyterHub.services)["idle-culler"]["command"][-1] == "--timeout=600"


def test_idle_timeout_zero_disables_the_culler(configured):
    c = configured(IDLE_TIMEOUT="0")
    assert [list(by_name(c.JupyterHub.services)), list(by_name(c.JupyterHub.load_roles))] == [
        ["metrics"],
        ["admin", "hub-admin", "metrics"],
    ]


def test_configs_share_nothing(configured):
    first = configured()
    by_name(first.JupyterHub.load_roles)["idle-culler"]["scopes"].append("admin:users")
    by_name(first.JupyterHub.services)["idle-culler"]["command"].append("--cull-users")
    second = configured()
    assert (
        by_name(second.JupyterHub.load_roles)["idle-culler"]["scopes"],
        by_name(second.JupyterHub.services)["idle-culler"]["command"][-1],
    ) == (CULLER_SCOPES, "--timeout=3600")


def test_metrics_service_role_reads_metrics_and_nothing_else(configured):
    role = by_name(configured().JupyterHub.load_roles)["metrics"]
    assert (role["scopes"], role["services"]) == (["read:metrics"], ["metrics"])


def test_metrics_token_is_generated_and_stored_privately(configured, tmp_path):
    token = by_name(configured().JupyterHub.services)["metrics"]["api_token"]
    stored = tmp_path / "data" / "metrics_token"
    assert (len(token), stored.read_text().strip(), stat.S_IMODE(stored.stat().st_mode)) == (64, token, 0o600)


def test_metrics_token_is_reused_on_restart(configured):
    first, second = (by_name(configured().JupyterHub.services)["metrics"]["api_token"] for _ in range(2))
    assert first == second


def test_given_metrics_token_wins_and_is_not_stored(configured, tmp_path):
    c = configured(METRICS_API_TOKEN="m" * 40)
    assert by_name(c.JupyterHub.services)["metrics"]["api_token"] == "m" * 40
    assert not (tmp_path / "data" / "metrics_token").exists()


def test_metrics_token_from_a_file(configured, tmp_path):
    (tmp_path / "metrics").write_text("f" * 40 + "\n")
    c = configured(METRICS_API_TOKEN_FILE=str(tmp_path / "metrics"))
    assert by_name(c.JupyterHub.services)["metrics"]["api_token"] == "f" * 40


# --- performance ------------------------------------------------------------------------------
def test_concurrent_spawn_limit_default_and_override(configured):
    assert (
        configured().JupyterHub.concurrent_spawn_limit,
        configured(CONCURRENT_SPAWN_LIMIT="10").JupyterHub.concurrent_spawn_limit,
    ) == (64, 10)


def test_concurrent_spawn_limit_zero_means_none(configured):
    assert configured(CONCURRENT_SPAWN_LIMIT="0").JupyterHub.concurrent_spawn_limit == 0


def test_servers_weigh_less_than_the_hub_on_a_busy_cpu(configured):
    assert spawner_from(configured()).extra_host_config["cpu_shares"] == 512  # Docker's default: 1024
    assert spawner_from(configured(SERVER_CPU_SHARES="256")).extra_host_config["cpu_shares"] == 256


def test_starts_at_once_defaults_to_the_hosts_cores(configured, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    assert spawner_from(configured()).starts_at_once == 6
    assert spawner_from(configured(STARTS_AT_ONCE="2")).starts_at_once == 2
    assert spawner_from(configured(STARTS_AT_ONCE="0")).starts_at_once == 0


def test_a_stopping_hub_stops_users_servers_as_jupyterhub_does(configured):
    assert "cleanup_servers" not in configured().JupyterHub


def test_servers_may_outlive_the_hub(configured):
    assert configured(KEEP_SERVERS_ON_HUB_STOP="true").JupyterHub.cleanup_servers is False


# --- secrets ---------------------------------------------------------------------------------
SECRET_FILES = ("cookie_secret", "crypt_key", "proxy_token")


def secrets_of(c: Config) -> tuple:
    return c.JupyterHub.cookie_secret, list(c.CryptKeeper["keys"]), c.ConfigurableHTTPProxy.auth_token


def test_generated_secrets_have_the_right_form(configured):
    cookie, keys, token = secrets_of(configured())
    assert (type(cookie), len(cookie), [len(k) for k in keys], len(token)) == (bytes, 32, [64], 64)


def test_generated_secrets_are_stored_in_data_dir(configured, tmp_path):
    cookie, keys, token = secrets_of(configured())
    stored = {name: (tmp_path / "data" / name).read_text().strip() for name in SECRET_FILES}
    assert stored == {"cookie_secret": cookie.hex(), "crypt_key": keys[0], "proxy_token": token}


def test_stored_secrets_are_private(configured, tmp_path):
    configured()
    modes = {name: stat.S_IMODE((tmp_path / "data" / name).stat().st_mode) for name in SECRET_FILES}
    assert modes == dict.fromkeys(SECRET_FILES, 0o600)


def test_data_dir_is_private(configured, tmp_path):
    configured()
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700


def test_secrets_are_reused_on_restart(configured):
    assert secrets_of(configured()) == secrets_of(configured())


def test_secrets_differ_between_deployments(minimal_env, tmp_path):
    first, second = Config(), Config()
    configure(first, with_env(minimal_env, DATA_DIR=str(tmp_path / "one")))
    configure(second, with_env(minimal_env, DATA_DIR=str(tmp_path / "two")))
    assert [a != b for a, b in zip(secrets_of(first), secrets_of(second), strict=False)] == [True, True, True]


def test_given_secrets_win(configured, tmp_path):
    c = configured(JUPYTERHUB_COOKIE_SECRET=HEX_A, JUPYTERHUB_CRYPT_KEY=HEX_B, CONFIGPROXY_AUTH_TOKEN="t" * 40)
    assert secrets_of(c) == (bytes.fromhex(HEX_A), [HEX_B], "t" * 40)
    assert [name for name in SECRET_FILES if (tmp_path / "data" / name).exists()] == []


def test_given_secrets_win_over_stored_ones(configured):
    configured()
    assert secrets_of(configured(JUPYTERHUB_COOKIE_SECRET=HEX_A))[0] == bytes.fromhex(HEX_A)


def test_secret_files_win(configured, tmp_path):
    (tmp_path / "cookie").write_text(HEX_A + "\n")
    (tmp_path / "crypt").write_text(f"{HEX_A};{HEX_B}\n")
    (tmp_path / "token").write_text("x" * 48)
    c = configured(
        JUPYTERHUB_COOKIE_SECRET_FILE=str(tmp_path / "cookie"),
        JUPYTERHUB_CRYPT_KEY_FILE=str(tmp_path / "crypt"),
        CONFIGPROXY_AUTH_TOKEN_FILE=str(tmp_path / "token"),
    )
    assert secrets_of(c) == (bytes.fromhex(HEX_A), [HEX_A, HEX_B], "x" * 48)


def test_crypt_keys_rotate(configured):
    assert secrets_of(configured(JUPYTERHUB_CRYPT_KEY=f"{HEX_A};{HEX_B}"))[1] == [HEX_A, HEX_B]


def test_secrets_are_accepted_by_jupyterhub(configured):
    c = configured()
    assert (len(JupyterHub(config=c).cookie_secret), len(CryptKeeper(config=c).keys)) == (32, 1)


def test_auth_refresh_age_default_is_five_minutes(configured):
    assert configured().KeycloakOAuthenticator.auth_refresh_age == 300


def test_auth_refresh_age_override(configured):
    assert configured(AUTH_REFRESH_AGE="30").KeycloakOAuthenticator.auth_refresh_age == 30


def test_servers_of_users_keycloak_no_longer_admits_stop_after_a_grace(configured):
    assert configured().KeycloakOAuthenticator.withdrawn_grace == 300
    assert configured(ACCESS_WITHDRAWN_GRACE="20").KeycloakOAuthenticator.withdrawn_grace == 20


def test_users_already_in_the_database_are_not_admitted_for_that_alone(configured):
    # Else, with ALLOWED_USERS set, leaving the Keycloak group would never take effect.
    assert configured(ALLOWED_USERS="carol").KeycloakOAuthenticator.allow_existing_users is False


def test_one_origin_for_all_by_default(configured):
    assert "subdomain_host" not in configured().JupyterHub


def test_subdomain_host_gives_each_user_an_origin(configured):
    assert configured(SUBDOMAIN_HOST="https://hub.example.org").JupyterHub.subdomain_host == "https://hub.example.org"


def test_host_prefixed_cookies_with_subdomains_over_https(configured):
    # A user's subdomain cannot set a __Host- cookie for the hub (issue 29).
    assert configured(SUBDOMAIN_HOST="https://hub.example.org").JupyterHub.cookie_host_prefix_enabled is True


def test_no_host_prefixed_cookies_on_one_origin_or_over_plain_http(configured):
    # One origin: Path=/ would hand the hub's cookie to every server; HTTP: browsers refuse them.
    assert "cookie_host_prefix_enabled" not in configured().JupyterHub
    assert "cookie_host_prefix_enabled" not in configured(SUBDOMAIN_HOST="http://hub.example.org").JupyterHub


# --- users cannot reach each other; admins stay out (issue 16) -------------------------------


def test_users_networks_are_joined_by_the_hub_and_what_the_admin_names(configured):
    assert spawner_from(configured()).joined_names == ["hub"]
    assert spawner_from(configured(USERS_REACH="cluster-ssh,licenses")).joined_names == [
        "hub",
        "cluster-ssh",
        "licenses",
    ]


def test_users_servers_are_labelled_and_isolated_by_default(configured):
    spawner = spawner_from(configured(DOCKER_NETWORK_NAME="my-users"))
    assert spawner.extra_create_kwargs == {"labels": {"org.pyiron-hub.server": "true"}}
    assert (spawner.isolate_users, spawner.users_network, spawner.network_name) == (True, "my-users", "my-users")
    assert spawner.user_network == "my-users-jupyter-alice"  # after the users' network, which keeps the hub's route


def test_users_networks_take_subnets_from_the_hubs_pool(configured):
    spawner = spawner_from(configured())
    assert (spawner.subnet_pool, spawner.subnet_prefix) == ("172.16.0.0/16", 28)
    spawner = spawner_from(configured(USER_NETWORKS_POOL="10.213.0.0/16", USER_NETWORKS_PREFIX="27"))
    assert (spawner.subnet_pool, spawner.subnet_prefix) == ("10.213.0.0/16", 27)


def test_isolate_users_off(configured):
    assert spawner_from(configured(ISOLATE_USERS="false")).isolate_users is False


ACCESS_SCOPES = {"access:servers", "tokens", "shares"}


def test_admins_cannot_open_users_servers_by_default(configured):
    from jupyterhub.roles import get_default_roles

    roles = by_name(configured(ADMIN_USER="alice,bob", OAUTH2_ADMIN_GROUPS="/pyiron-admins").JupyterHub.load_roles)
    jupyterhub_admin = by_name(get_default_roles())["admin"]["scopes"]
    # JupyterHub's admin role (which cannot be narrowed) has no members...
    assert roles["admin"] == {"name": "admin", "users": []}
    # ...the admins hold everything it holds but what opens a server (or lets them grant it to themselves).
    hub_admin = roles["hub-admin"]
    assert set(hub_admin["scopes"]) == set(jupyterhub_admin) - ACCESS_SCOPES
    assert (hub_admin["users"], hub_admin["groups"]) == (["alice", "bob"], ["pyiron-admins"])


def test_admins_are_not_jupyterhub_admins_by_default(configured):
    c = configured(ADMIN_USER="alice", OAUTH2_ADMIN_GROUPS="pyiron-admins")
    assert (c.Authenticator.admin_users, c.KeycloakOAuthenticator.admin_groups) == (set(), set())


def test_admin_access_restores_jupyterhubs_admin_role(configured):
    c = configured(ADMIN_ACCESS="true", ADMIN_USER="alice", OAUTH2_ADMIN_GROUPS="pyiron-admins")
    assert not {"admin", "hub-admin"} & set(by_name(c.JupyterHub.load_roles))
    assert (c.Authenticator.admin_users, c.KeycloakOAuthenticator.admin_groups) == ({"alice"}, {"pyiron-admins"})


def test_the_proxy_sends_what_has_no_route_to_the_hub(configured):
    # Before the hub adds its own route ("/"), the proxy would answer 404 and log an error.
    command = configured().ConfigurableHTTPProxy.command
    assert command == ["configurable-http-proxy", f"--default-target=http://127.0.0.1:{HUB_API_PORT}"]
