"""The environment contract: a default and an override for every variable, and every rejection."""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path

import pytest
from pydantic import SecretStr

from pyiron_hub_config.problems import ConfigError
from pyiron_hub_config.settings import Settings, load_settings, variable_names

from .helpers import GIB, MIB, MINIMAL_ENV, with_env

ALIAS_TO_FIELD = {field.alias: name for name, field in Settings.model_fields.items()}
ENDPOINTS = {
    "OAUTH2_AUTHORIZE_URL": "https://kc.example.org/realms/p/protocol/openid-connect/auth",
    "OAUTH2_TOKEN_URL": "https://kc.example.org/realms/p/protocol/openid-connect/token",
    "OAUTH2_USERDATA_URL": "https://kc.example.org/realms/p/protocol/openid-connect/userinfo",
}
HEX_A = "ab" * 32
HEX_B = "cd" * 32


def value_of(settings: Settings, variable: str):
    value = getattr(settings, ALIAS_TO_FIELD[variable])
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def problems_of(env: dict[str, str], check_paths: bool = False) -> list:
    with pytest.raises(ConfigError) as info:
        load_settings(env, check_paths=check_paths)
    return info.value.problems


# --- defaults: variable unset -> (expected value, other changes the environment needs) ----
REQUIRED = {"POSTGRES_PASSWORD"}
# Required with the default AUTHENTICATOR=keycloak only.
KEYCLOAK_REQUIRED = {"CLIENT_ID", "CLIENT_SECRET"}
DUMMY_MODE = {"AUTHENTICATOR": "dummy", "DUMMY_PASSWORD": "trial-password"}
DEFAULTS = {
    "AUTHENTICATOR": ("keycloak", {}),
    "DUMMY_PASSWORD": (None, {}),
    "CLIENT_ID": (None, DUMMY_MODE),
    "CLIENT_SECRET": (None, DUMMY_MODE),
    "OAUTH2_ISSUER_URL": (None, ENDPOINTS),
    "OAUTH2_AUTHORIZE_URL": (None, {}),
    "OAUTH2_TOKEN_URL": (None, {}),
    "OAUTH2_USERDATA_URL": (None, {}),
    "OAUTH2_LOGOUT_URL": (None, {}),
    "OAUTH_CALLBACK_URL": (None, {}),
    "OAUTH2_SCOPES": (["openid", "profile", "email"], {}),
    "OAUTH2_USERNAME_CLAIM": ("preferred_username", {}),
    "OAUTH2_GROUPS_CLAIM": ("groups", {}),
    "OAUTH2_ALLOWED_GROUPS": ([], {}),
    "OAUTH2_ADMIN_GROUPS": ([], {}),
    "ALLOWED_USERS": ([], {}),
    "ADMIN_USER": ([], {}),
    "OAUTH2_ALLOW_ALL": (False, {"ALLOWED_USERS": "alice"}),
    "OAUTH2_CA_BUNDLE": (None, {}),
    "PASS_ACCESS_TOKEN": (False, {}),
    "SITE_NAME": ("pyiron hub", {}),
    "SITE_LOGO": (None, {}),
    "HELP_URL": (None, {}),
    "HELP_CONTACT": (None, {}),
    "PYIRON_BASE": (None, {}),
    "PYIRON_ATOMISTIC": (None, {}),
    "PYIRON_CONTINUUM": (None, {}),
    "PYIRON_MD": (None, {}),
    "PYIRON_WORKFLOW": (None, {}),
    "PYIRON_EXPERIMENTAL": (None, {}),
    "ENVIRONMENTS_FILE": (None, {}),
    "ENVIRONMENT_GROUPS": ({}, {}),
    "CLUSTERS_FILE": (None, {}),
    "SITE_RESOURCES_DIR": (None, {}),
    "DEPLOYMENT_NAME": (None, {}),
    "MEM_LIMIT": (2 * GIB, {}),
    "CPU_LIMIT": (1.0, {}),
    "MAX_MEM_LIMIT": (None, {}),
    "MAX_CPU_LIMIT": (None, {}),
    "PIDS_LIMIT": (4096, {}),
    "ISOLATE_USERS": (True, {}),
    "NAMED_SERVER_LIMIT": (0, {}),
    "USERS_REACH": ([], {}),
    "USER_NETWORKS_POOL": (IPv4Network("172.16.0.0/16"), {}),
    "USER_NETWORKS_PREFIX": (28, {}),
    "ADMIN_ACCESS": (False, {}),
    "SERVER_SHARING": (False, {}),
    "GROUP_FOLDERS": ([], {}),
    "DOCKER_NETWORK_NAME": ("pyiron-hub-users", {}),
    "HUB_CONNECT_HOST": ("hub", {}),
    "SPAWNER": ("docker", {}),
    "SWARM_CONSTRAINTS": (["node.role==worker"], {}),
    "SWARM_NFS_SERVER": (None, {}),
    "SWARM_NFS_EXPORT": (None, {}),
    "SWARM_SHARED_PATH": (None, {}),
    "SPAWN_TIMEOUT": (120, {}),
    "PULL_STALL_TIMEOUT": (120, {}),
    "AUTH_REFRESH_AGE": (300, {}),
    "ACCESS_WITHDRAWN_GRACE": (300, {}),
    "CONCURRENT_SPAWN_LIMIT": (64, {}),
    "STARTS_AT_ONCE": (None, {}),
    "SERVER_CPU_SHARES": (512, {}),
    "KEEP_SERVERS_ON_HUB_STOP": (False, {}),
    "STORAGE_SOFT_LIMIT": (None, {}),
    "STORAGE_QUOTA": (None, {}),
    "STORAGE_QUOTA_ROOT": ("/srv/pyiron-hub/quota", {}),
    "GROUP_FOLDER_QUOTA": (None, {}),
    "QUOTA_SERVICE_URL": ("http://quota-service:8099", {}),
    "SERVER_DISK_LIMIT": (None, {}),
    "USAGE_REFRESH_SECONDS": (300, {}),
    "IDLE_TIMEOUT": (3600, {}),
    "IDLE_CULL_EVERY": (None, {}),
    "MAX_SERVER_AGE": (0, {}),
    "POSTGRES_HOST": ("hub-db", {}),
    "POSTGRES_PORT": (5432, {}),
    "POSTGRES_USER": ("postgres", {}),
    "POSTGRES_DB": (None, {}),
    "POSTGRES_WAIT_TIMEOUT": (60, {}),
    "DATA_DIR": (Path("/srv/jupyterhub/data"), {}),
    "JUPYTERHUB_COOKIE_SECRET": (None, {}),
    "JUPYTERHUB_CRYPT_KEY": (None, {}),
    "CONFIGPROXY_AUTH_TOKEN": (None, {}),
    "METRICS_API_TOKEN": (None, {}),
    "KEY_SYNC_API_TOKEN": (None, {}),
    "SUBDOMAIN_HOST": (None, {}),
    "TLS_CERT_FILE": (None, {}),
    "TLS_KEY_FILE": (None, {}),
}

# --- overrides: variable -> (value set, expected value, other changes the environment needs) ----
OVERRIDES = {
    "AUTHENTICATOR": ("dummy", "dummy", {"DUMMY_PASSWORD": "trial-password"}),
    "DUMMY_PASSWORD": ("trial-password", "trial-password", {"AUTHENTICATOR": "dummy"}),
    "OAUTH2_ISSUER_URL": ("https://login.example.org/realms/other/", "https://login.example.org/realms/other", {}),
    "OAUTH2_AUTHORIZE_URL": (ENDPOINTS["OAUTH2_AUTHORIZE_URL"], ENDPOINTS["OAUTH2_AUTHORIZE_URL"], {}),
    "OAUTH2_TOKEN_URL": (ENDPOINTS["OAUTH2_TOKEN_URL"], ENDPOINTS["OAUTH2_TOKEN_URL"], {}),
    "OAUTH2_USERDATA_URL": (ENDPOINTS["OAUTH2_USERDATA_URL"], ENDPOINTS["OAUTH2_USERDATA_URL"], {}),
    "OAUTH2_LOGOUT_URL": ("https://kc.example.org/logout/", "https://kc.example.org/logout", {}),
    "OAUTH_CALLBACK_URL": (
        "https://hub.example.org/hub/oauth_callback",
        "https://hub.example.org/hub/oauth_callback",
        {},
    ),
    "CLIENT_ID": ("other-client", "other-client", {}),
    "CLIENT_SECRET": ("another-client-secret", "another-client-secret", {}),
    "OAUTH2_SCOPES": ("profile email groups", ["openid", "profile", "email", "groups"], {}),
    "OAUTH2_USERNAME_CLAIM": ("email", "email", {}),
    "OAUTH2_GROUPS_CLAIM": ("roles", "roles", {}),
    "OAUTH2_ALLOWED_GROUPS": ("pyiron-users, /staff", ["pyiron-users", "/staff"], {}),
    "OAUTH2_ADMIN_GROUPS": ("pyiron-admins", ["pyiron-admins"], {}),
    "ALLOWED_USERS": ("alice,bob", ["alice", "bob"], {}),
    "ADMIN_USER": ("alice bob", ["alice", "bob"], {}),
    "OAUTH2_ALLOW_ALL": ("TRUE", True, {}),
    "OAUTH2_CA_BUNDLE": ("/etc/ssl/keycloak-ca.pem", Path("/etc/ssl/keycloak-ca.pem"), {}),
    "PASS_ACCESS_TOKEN": ("true", True, {}),
    "SITE_NAME": ("  pyiron hub of <CM> & friends ", "pyiron hub of <CM> & friends", {}),
    "SITE_LOGO": ("/srv/jupyterhub/branding/Logo.SVG", Path("/srv/jupyterhub/branding/Logo.SVG"), {}),
    "HELP_URL": ("mailto:pyiron-hub@example.org", "mailto:pyiron-hub@example.org", {}),
    "HELP_CONTACT": ("the pyiron team, room 1.23", "the pyiron team, room 1.23", {}),
    "PYIRON_BASE": (
        "registry.example.org:5000/pyiron/base:2024-06",
        "registry.example.org:5000/pyiron/base:2024-06",
        {},
    ),
    "PYIRON_ATOMISTIC": ("pyiron/pyiron@sha256:" + "a" * 64, "pyiron/pyiron@sha256:" + "a" * 64, {}),
    "PYIRON_CONTINUUM": ("localhost/continuum:dev", "localhost/continuum:dev", {}),
    "PYIRON_MD": ("pyiron/md:2026-11-30", "pyiron/md:2026-11-30", {}),
    "PYIRON_WORKFLOW": ("registry.example.org/pyiron-workflow:1", "registry.example.org/pyiron-workflow:1", {}),
    "PYIRON_EXPERIMENTAL": ("pyiron/experimental:1.0", "pyiron/experimental:1.0", {}),
    "ENVIRONMENTS_FILE": ("/srv/jupyterhub/my-environments.toml", Path("/srv/jupyterhub/my-environments.toml"), {}),
    "ENVIRONMENT_GROUPS": (
        "pyiron_md=/pyiron-research, teachers; pyiron_base=teaching",
        {"pyiron_md": ["pyiron-research", "teachers"], "pyiron_base": ["teaching"]},
        {},
    ),
    "CLUSTERS_FILE": ("/srv/jupyterhub/clusters.toml", Path("/srv/jupyterhub/clusters.toml"), {}),
    "SITE_RESOURCES_DIR": ("/srv/pyiron/resources", Path("/srv/pyiron/resources"), {}),
    "DEPLOYMENT_NAME": ("staging", "staging", {}),
    "MEM_LIMIT": ("4G", 4 * GIB, {}),
    "CPU_LIMIT": ("2.5", 2.5, {}),
    "MAX_MEM_LIMIT": ("8G", 8 * GIB, {}),
    "MAX_CPU_LIMIT": ("4", 4.0, {}),
    "PIDS_LIMIT": ("16384", 16384, {}),
    "ISOLATE_USERS": ("false", False, {}),
    "NAMED_SERVER_LIMIT": ("2", 2, {}),
    "USERS_REACH": ("cluster-ssh, licenses", ["cluster-ssh", "licenses"], {}),
    "USER_NETWORKS_POOL": (" 10.213.0.0/16 ", IPv4Network("10.213.0.0/16"), {}),
    "USER_NETWORKS_PREFIX": ("24", 24, {}),
    "ADMIN_ACCESS": ("true", True, {}),
    "SERVER_SHARING": ("true", True, {}),
    "GROUP_FOLDERS": ("pyiron-research, lab-*", ["pyiron-research", "lab-*"], {}),
    "DOCKER_NETWORK_NAME": ("my_users.net-1", "my_users.net-1", {}),
    "HUB_CONNECT_HOST": ("jupyterhub", "jupyterhub", {}),
    "SPAWNER": ("swarm", "swarm", {}),
    "SWARM_CONSTRAINTS": (
        "node.role == worker, node.labels.pyiron-users==true",
        ["node.role==worker", "node.labels.pyiron-users==true"],
        {},
    ),
    "SWARM_NFS_SERVER": ("10.0.0.5", "10.0.0.5", {"SPAWNER": "swarm", "SWARM_NFS_EXPORT": "/export/hub"}),
    "SWARM_NFS_EXPORT": ("/export/hub", "/export/hub", {"SPAWNER": "swarm", "SWARM_NFS_SERVER": "nfs"}),
    "SWARM_SHARED_PATH": ("/srv/pyiron-hub-users/", Path("/srv/pyiron-hub-users"), {"SPAWNER": "swarm"}),
    "SPAWN_TIMEOUT": ("300", 300, {}),
    "PULL_STALL_TIMEOUT": ("15", 15, {}),
    "AUTH_REFRESH_AGE": ("60", 60, {}),
    "ACCESS_WITHDRAWN_GRACE": ("0", 0, {}),
    "CONCURRENT_SPAWN_LIMIT": ("8", 8, {}),
    "STARTS_AT_ONCE": ("3", 3, {}),
    "SERVER_CPU_SHARES": ("256", 256, {}),
    "KEEP_SERVERS_ON_HUB_STOP": ("true", True, {}),
    "STORAGE_SOFT_LIMIT": ("10G", 10 * 1024**3, {}),
    "STORAGE_QUOTA": ("10G", 10 * 1024**3, {"SERVER_DISK_LIMIT": "20G"}),
    "STORAGE_QUOTA_ROOT": ("/srv/q", "/srv/q", {}),
    "GROUP_FOLDER_QUOTA": ("50G", 50 * 1024**3, {"STORAGE_QUOTA": "10G", "SERVER_DISK_LIMIT": "20G"}),
    "QUOTA_SERVICE_URL": ("http://q:1", "http://q:1", {}),
    "SERVER_DISK_LIMIT": ("unbounded", "unbounded", {}),
    "USAGE_REFRESH_SECONDS": ("60", 60, {}),
    "IDLE_TIMEOUT": ("0", 0, {}),
    "IDLE_CULL_EVERY": ("30", 30, {}),
    "MAX_SERVER_AGE": ("28800", 28800, {}),
    "POSTGRES_HOST": ("db.internal", "db.internal", {}),
    "POSTGRES_PORT": ("5433", 5433, {}),
    "POSTGRES_USER": ("hub", "hub", {}),
    "POSTGRES_DB": ("jupyterhub", "jupyterhub", {}),
    "POSTGRES_PASSWORD": ("another-db-password", "another-db-password", {}),
    "POSTGRES_WAIT_TIMEOUT": ("5", 5, {}),
    "DATA_DIR": ("/data", Path("/data"), {}),
    "JUPYTERHUB_COOKIE_SECRET": (HEX_A, HEX_A, {}),
    "JUPYTERHUB_CRYPT_KEY": (f"{HEX_A};{HEX_B}", f"{HEX_A};{HEX_B}", {}),
    "CONFIGPROXY_AUTH_TOKEN": ("t" * 40, "t" * 40, {}),
    "METRICS_API_TOKEN": ("m" * 40, "m" * 40, {}),
    "KEY_SYNC_API_TOKEN": ("k" * 40, "k" * 40, {}),
    "SUBDOMAIN_HOST": ("https://hub.example.org/", "https://hub.example.org", {}),
    "TLS_CERT_FILE": (
        "/srv/jupyterhub/secrets/hub.crt",
        Path("/srv/jupyterhub/secrets/hub.crt"),
        {"TLS_KEY_FILE": "/srv/jupyterhub/secrets/hub.key"},
    ),
    "TLS_KEY_FILE": (
        "/srv/jupyterhub/secrets/hub.key",
        Path("/srv/jupyterhub/secrets/hub.key"),
        {"TLS_CERT_FILE": "/srv/jupyterhub/secrets/hub.crt"},
    ),
}


def test_every_variable_has_a_default_case():
    assert set(DEFAULTS) | REQUIRED == set(variable_names())


def test_every_variable_has_an_override_case():
    assert set(OVERRIDES) == set(variable_names())


@pytest.mark.parametrize("variable", sorted(DEFAULTS))
def test_default_when_unset(variable):
    expected, changes = DEFAULTS[variable]
    env = with_env(MINIMAL_ENV, **{variable: None}, **changes)
    assert value_of(load_settings(env, check_paths=False), variable) == expected


@pytest.mark.parametrize("variable", sorted(OVERRIDES))
def test_override_when_set(variable):
    raw, expected, changes = OVERRIDES[variable]
    env = with_env(MINIMAL_ENV, **{variable: raw}, **changes)
    assert value_of(load_settings(env, check_paths=False), variable) == expected


@pytest.mark.parametrize("variable", sorted(REQUIRED | KEYCLOAK_REQUIRED))
def test_required_variable_missing(variable):
    problems = problems_of(with_env(MINIMAL_ENV, **{variable: None}))
    assert [(p.where, p.message) for p in problems] == [(variable, "is required but not set")]


@pytest.mark.parametrize("variable", sorted(REQUIRED | KEYCLOAK_REQUIRED))
@pytest.mark.parametrize("blank", ["", "   "])
def test_required_variable_empty(variable, blank):
    problems = problems_of(with_env(MINIMAL_ENV, **{variable: blank}))
    assert [(p.where, p.message) for p in problems] == [(variable, "is set but empty")]


def test_empty_optional_variable_means_unset():
    settings = load_settings(with_env(MINIMAL_ENV, MEM_LIMIT="", PYIRON_BASE=""), check_paths=False)
    assert (settings.mem_limit, settings.pyiron_base) == (2 * GIB, None)


def test_unrelated_variables_are_ignored():
    settings = load_settings(with_env(MINIMAL_ENV, PATH="/usr/bin", HOME="/root"), check_paths=False)
    assert settings.client_id == "pyiron-hub"


def test_database_defaults_to_user_name():
    settings = load_settings(with_env(MINIMAL_ENV, POSTGRES_USER="hub"), check_paths=False)
    assert settings.database == "hub"


def test_openid_scope_is_added_once_and_first():
    settings = load_settings(with_env(MINIMAL_ENV, OAUTH2_SCOPES="profile openid email"), check_paths=False)
    assert settings.scopes == ["openid", "profile", "email"]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("512M", 512 * MIB),
        ("2g", 2 * GIB),
        ("1.5G", 1536 * MIB),
        ("2048MiB", 2 * GIB),
        ("3GB", 3 * GIB),
        (str(GIB), GIB),
        ("1T", 1024 * GIB),
    ],
)
def test_mem_limit_formats(raw, expected):
    assert load_settings(with_env(MINIMAL_ENV, MEM_LIMIT=raw), check_paths=False).mem_limit == expected


@pytest.mark.parametrize("raw, expected", [("yes", True), ("1", True), ("false", False), ("0", False), ("off", False)])
def test_boolean_spellings(raw, expected):
    assert load_settings(with_env(MINIMAL_ENV, PASS_ACCESS_TOKEN=raw), check_paths=False).pass_access_token is expected


def test_image_overrides_lists_only_the_set_variables():
    env = with_env(MINIMAL_ENV, PYIRON_BASE="pyiron/base:1", PYIRON_CONTINUUM="pyiron/continuum:2")
    settings = load_settings(env, check_paths=False)
    assert settings.image_overrides() == {"pyiron_base": "pyiron/base:1", "pyiron_continuum": "pyiron/continuum:2"}


# --- rejections: (changes, the variable named, words the message contains) ---------------
REJECTIONS = {
    "issuer not a URL": ({"OAUTH2_ISSUER_URL": "keycloak.example.org"}, "OAUTH2_ISSUER_URL", "is not an http(s) URL"),
    "issuer ftp": ({"OAUTH2_ISSUER_URL": "ftp://keycloak.example.org/realms/p"}, "OAUTH2_ISSUER_URL", "http(s)"),
    "issuer javascript": ({"OAUTH2_ISSUER_URL": "javascript:alert(1)"}, "OAUTH2_ISSUER_URL", "http(s)"),
    "issuer with space": (
        {"OAUTH2_ISSUER_URL": "https://kc.example.org/realms/my realm"},
        "OAUTH2_ISSUER_URL",
        "http(s)",
    ),
    "token url no host": ({"OAUTH2_TOKEN_URL": "https:///token"}, "OAUTH2_TOKEN_URL", "http(s)"),
    "callback not a URL": ({"OAUTH_CALLBACK_URL": "/hub/oauth_callback"}, "OAUTH_CALLBACK_URL", "http(s)"),
    "logout not a URL": ({"OAUTH2_LOGOUT_URL": "logout"}, "OAUTH2_LOGOUT_URL", "http(s)"),
    "mem malformed": ({"MEM_LIMIT": "lots"}, "MEM_LIMIT", "is not a size"),
    "mem negative": ({"MEM_LIMIT": "-2G"}, "MEM_LIMIT", "is not a size"),
    "mem unknown unit": ({"MEM_LIMIT": "2X"}, "MEM_LIMIT", "is not a size"),
    "mem too small": ({"MEM_LIMIT": "1M"}, "MEM_LIMIT", "too small"),
    "mem zero": ({"MEM_LIMIT": "0"}, "MEM_LIMIT", "too small"),
    "mem absurdly long": ({"MEM_LIMIT": "9" * 400}, "MEM_LIMIT", "too large"),
    "deployment name with space": ({"DEPLOYMENT_NAME": "my hub"}, "DEPLOYMENT_NAME", "may hold only"),
    "site resources relative": ({"SITE_RESOURCES_DIR": "resources"}, "SITE_RESOURCES_DIR", "not an absolute directory"),
    "site resources root": ({"SITE_RESOURCES_DIR": "/"}, "SITE_RESOURCES_DIR", "not an absolute directory"),
    "max mem malformed": ({"MAX_MEM_LIMIT": "8 gigs"}, "MAX_MEM_LIMIT", "is not a size"),
    "cpu zero": ({"CPU_LIMIT": "0"}, "CPU_LIMIT", "out of range"),
    "cpu negative": ({"CPU_LIMIT": "-1"}, "CPU_LIMIT", "out of range"),
    "cpu non-numeric": ({"CPU_LIMIT": "two"}, "CPU_LIMIT", "use a number"),
    "cpu nan": ({"CPU_LIMIT": "nan"}, "CPU_LIMIT", "out of range"),
    "cpu inf": ({"CPU_LIMIT": "inf"}, "CPU_LIMIT", "out of range"),
    "cpu absurd": ({"CPU_LIMIT": "100000"}, "CPU_LIMIT", "out of range"),
    "max cpu zero": ({"MAX_CPU_LIMIT": "0"}, "MAX_CPU_LIMIT", "out of range"),
    "pids limit too low": ({"PIDS_LIMIT": "10"}, "PIDS_LIMIT", "must be 64 or more"),
    "pids limit zero (no limit)": ({"PIDS_LIMIT": "0"}, "PIDS_LIMIT", "must be 64 or more"),
    "pool not a range": ({"USER_NETWORKS_POOL": "lots"}, "USER_NETWORKS_POOL", "use CIDR notation like 172.16.0.0/16"),
    "pool without a prefix": ({"USER_NETWORKS_POOL": "172.16.0.0"}, "USER_NETWORKS_POOL", "use CIDR notation"),
    "pool bad prefix": ({"USER_NETWORKS_POOL": "172.16.0.0/33"}, "USER_NETWORKS_POOL", "use CIDR notation"),
    "pool host bits": (
        {"USER_NETWORKS_POOL": "172.16.5.1/16"},
        "USER_NETWORKS_POOL",
        "the range is written 172.16.0.0/16",
    ),
    "pool ipv6": ({"USER_NETWORKS_POOL": "fd00:1::/48"}, "USER_NETWORKS_POOL", "IPv6 range"),
    "pool loopback": ({"USER_NETWORKS_POOL": "127.0.0.0/16"}, "USER_NETWORKS_POOL", "overlaps 127.0.0.0/8"),
    "pool link-local": ({"USER_NETWORKS_POOL": "169.254.0.0/16"}, "USER_NETWORKS_POOL", "not for containers"),
    "pool multicast": ({"USER_NETWORKS_POOL": "239.0.0.0/16"}, "USER_NETWORKS_POOL", "overlaps 224.0.0.0/3"),
    "pool everything": ({"USER_NETWORKS_POOL": "0.0.0.0/0"}, "USER_NETWORKS_POOL", "overlaps 0.0.0.0/8"),
    "pool holds no network": (
        {"USER_NETWORKS_POOL": "10.9.0.0/29"},
        "USER_NETWORKS_POOL",
        "10.9.0.0/29 cannot hold one network of /28 (USER_NETWORKS_PREFIX)",
    ),
    "pool holds no network of the prefix": (
        {"USER_NETWORKS_POOL": "10.9.0.0/24", "USER_NETWORKS_PREFIX": "20"},
        "USER_NETWORKS_POOL",
        "use a range of /20 or larger",
    ),
    "network prefix too long": ({"USER_NETWORKS_PREFIX": "30"}, "USER_NETWORKS_PREFIX", "must be 29 or less"),
    "network prefix too short": ({"USER_NETWORKS_PREFIX": "8"}, "USER_NETWORKS_PREFIX", "must be 16 or more"),
    "image with space": ({"PYIRON_BASE": "pyiron/base latest"}, "PYIRON_BASE", "not a valid image reference"),
    "image with ;": ({"PYIRON_ATOMISTIC": "pyiron/pyiron;rm -rf /"}, "PYIRON_ATOMISTIC", "not a valid image reference"),
    "image with $(": ({"PYIRON_CONTINUUM": "pyiron/$(reboot)"}, "PYIRON_CONTINUUM", "not a valid image reference"),
    "image with backtick": (
        {"PYIRON_EXPERIMENTAL": "pyiron/`id`:1"},
        "PYIRON_EXPERIMENTAL",
        "not a valid image reference",
    ),
    "image with pipe": ({"PYIRON_BASE": "pyiron/base|sh"}, "PYIRON_BASE", "not a valid image reference"),
    "image with &&": ({"PYIRON_BASE": "pyiron/base&&id"}, "PYIRON_BASE", "not a valid image reference"),
    "image upper case": ({"PYIRON_BASE": "Pyiron/Base:latest"}, "PYIRON_BASE", "lower-case"),
    "image option-like": ({"PYIRON_BASE": "--privileged"}, "PYIRON_BASE", "not a valid image reference"),
    "unknown spawner": ({"SPAWNER": "kubernetes"}, "SPAWNER", "docker"),
    "constraint without operator": (
        {"SWARM_CONSTRAINTS": "node.role"},
        "SWARM_CONSTRAINTS",
        "not a placement constraint",
    ),
    "constraint injection": (
        {"SWARM_CONSTRAINTS": "node.role==worker;rm"},
        "SWARM_CONSTRAINTS",
        "not a placement constraint",
    ),
    "nfs server alone": ({"SPAWNER": "swarm", "SWARM_NFS_SERVER": "nfs"}, "SWARM_NFS_SERVER", "set together"),
    "nfs without swarm": (
        {"SWARM_NFS_SERVER": "nfs", "SWARM_NFS_EXPORT": "/e"},
        "SWARM_NFS_SERVER",
        "only with SPAWNER=swarm",
    ),
    "shared path relative": (
        {"SPAWNER": "swarm", "SWARM_SHARED_PATH": "users"},
        "SWARM_SHARED_PATH",
        "not an absolute directory",
    ),
    "shared path root": (
        {"SPAWNER": "swarm", "SWARM_SHARED_PATH": "/"},
        "SWARM_SHARED_PATH",
        "not an absolute directory",
    ),
    "shared path climbing": ({"SPAWNER": "swarm", "SWARM_SHARED_PATH": "/srv/../etc"}, "SWARM_SHARED_PATH", "no '..'"),
    "shared path with a comma": (
        {"SPAWNER": "swarm", "SWARM_SHARED_PATH": "/srv/a,readonly"},
        "SWARM_SHARED_PATH",
        "may hold only",
    ),
    "shared path without swarm": ({"SWARM_SHARED_PATH": "/srv/users"}, "SWARM_SHARED_PATH", "only with SPAWNER=swarm"),
    "shared path and nfs": (
        {"SPAWNER": "swarm", "SWARM_SHARED_PATH": "/srv/users", "SWARM_NFS_SERVER": "nfs", "SWARM_NFS_EXPORT": "/e"},
        "SWARM_SHARED_PATH",
        "set one of them",
    ),
    "bad boolean allow all": ({"OAUTH2_ALLOW_ALL": "maybe"}, "OAUTH2_ALLOW_ALL", "use true or false"),
    "bad boolean token": ({"PASS_ACCESS_TOKEN": "yes please"}, "PASS_ACCESS_TOKEN", "use true or false"),
    "bad int timeout": ({"SPAWN_TIMEOUT": "2min"}, "SPAWN_TIMEOUT", "use a whole number"),
    "zero timeout": ({"SPAWN_TIMEOUT": "0"}, "SPAWN_TIMEOUT", "greater than 0"),
    "zero pull stall timeout": ({"PULL_STALL_TIMEOUT": "0"}, "PULL_STALL_TIMEOUT", "greater than 0"),
    "refresh never": ({"AUTH_REFRESH_AGE": "0"}, "AUTH_REFRESH_AGE", "greater than 0"),
    "refresh too rare": ({"AUTH_REFRESH_AGE": "86400"}, "AUTH_REFRESH_AGE", "3600 or less"),
    "negative grace": ({"ACCESS_WITHDRAWN_GRACE": "-1"}, "ACCESS_WITHDRAWN_GRACE", "must be 0 or more"),
    "negative idle": ({"IDLE_TIMEOUT": "-1"}, "IDLE_TIMEOUT", "0 or more"),
    "negative max age": ({"MAX_SERVER_AGE": "-1"}, "MAX_SERVER_AGE", "0 or more"),
    "zero cull interval": ({"IDLE_CULL_EVERY": "0"}, "IDLE_CULL_EVERY", "greater than 0"),
    "cull interval without culling": (
        {"IDLE_CULL_EVERY": "60", "IDLE_TIMEOUT": "0"},
        "IDLE_CULL_EVERY",
        "used only when IDLE_TIMEOUT or MAX_SERVER_AGE",
    ),
    "float port": ({"POSTGRES_PORT": "54.32"}, "POSTGRES_PORT", "use a whole number"),
    "port too big": ({"POSTGRES_PORT": "70000"}, "POSTGRES_PORT", "less than 65536"),
    "bad wait": ({"POSTGRES_WAIT_TIMEOUT": "soon"}, "POSTGRES_WAIT_TIMEOUT", "use a whole number"),
    "network name": ({"DOCKER_NETWORK_NAME": "users; rm"}, "DOCKER_NETWORK_NAME", "letters, digits"),
    "hub host": ({"HUB_CONNECT_HOST": "hub/evil"}, "HUB_CONNECT_HOST", "letters, digits"),
    "cookie not hex": ({"JUPYTERHUB_COOKIE_SECRET": "z" * 64}, "JUPYTERHUB_COOKIE_SECRET", "64 hexadecimal"),
    "cookie too short": ({"JUPYTERHUB_COOKIE_SECRET": "ab"}, "JUPYTERHUB_COOKIE_SECRET", "64 hexadecimal"),
    # JupyterHub has one cookie secret; only crypt keys rotate with ';'.
    "cookie two keys": ({"JUPYTERHUB_COOKIE_SECRET": f"{HEX_A};{HEX_B}"}, "JUPYTERHUB_COOKIE_SECRET", "64 hexadecimal"),
    "crypt key not hex": ({"JUPYTERHUB_CRYPT_KEY": f"{HEX_A};nothex"}, "JUPYTERHUB_CRYPT_KEY", "64 hexadecimal"),
    "proxy token short": ({"CONFIGPROXY_AUTH_TOKEN": "short"}, "CONFIGPROXY_AUTH_TOKEN", "too short"),
    "metrics token short": ({"METRICS_API_TOKEN": "short"}, "METRICS_API_TOKEN", "too short"),
    "key sync token short": ({"KEY_SYNC_API_TOKEN": "short"}, "KEY_SYNC_API_TOKEN", "too short"),
    "subdomain host with a path": (
        {"SUBDOMAIN_HOST": "https://hub.example.org/hub"},
        "SUBDOMAIN_HOST",
        "only scheme://host",
    ),
    "subdomain host an address": ({"SUBDOMAIN_HOST": "https://10.0.0.5"}, "SUBDOMAIN_HOST", "needs a domain name"),
    "subdomain host no scheme": ({"SUBDOMAIN_HOST": "hub.example.org"}, "SUBDOMAIN_HOST", "is not an http(s) URL"),
    "negative spawn limit": ({"CONCURRENT_SPAWN_LIMIT": "-1"}, "CONCURRENT_SPAWN_LIMIT", "0 or more"),
    "negative starts at once": ({"STARTS_AT_ONCE": "-1"}, "STARTS_AT_ONCE", "0 or more"),
    "cpu shares below Docker's minimum": ({"SERVER_CPU_SHARES": "1"}, "SERVER_CPU_SHARES", "2 or more"),
    "mem above max": ({"MEM_LIMIT": "4G", "MAX_MEM_LIMIT": "2G"}, "MEM_LIMIT", "above MAX_MEM_LIMIT=2G"),
    "cpu above max": ({"CPU_LIMIT": "4", "MAX_CPU_LIMIT": "2"}, "CPU_LIMIT", "above MAX_CPU_LIMIT=2"),
    "cert without key": ({"TLS_CERT_FILE": "/certs/hub.crt"}, "TLS_CERT_FILE", "must be set together"),
    "key without cert": ({"TLS_KEY_FILE": "/certs/hub.key"}, "TLS_CERT_FILE", "must be set together"),
    "no issuer, no endpoints": ({"OAUTH2_ISSUER_URL": None}, "OAUTH2_ISSUER_URL", "all three endpoint URLs"),
    "no issuer, one endpoint": (
        {"OAUTH2_ISSUER_URL": None, "OAUTH2_TOKEN_URL": ENDPOINTS["OAUTH2_TOKEN_URL"]},
        "OAUTH2_ISSUER_URL",
        "neither are OAUTH2_AUTHORIZE_URL, OAUTH2_USERDATA_URL",
    ),
    "no access policy": ({"OAUTH2_ALLOW_ALL": None}, "OAUTH2_ALLOWED_GROUPS", "nobody but admins could log in"),
    "unknown authenticator": ({"AUTHENTICATOR": "ldap"}, "AUTHENTICATOR", "'keycloak' or 'dummy'"),
    "dummy without password": ({"AUTHENTICATOR": "dummy"}, "DUMMY_PASSWORD", "is required but not set"),
    "dummy empty password": ({"AUTHENTICATOR": "dummy", "DUMMY_PASSWORD": ""}, "DUMMY_PASSWORD", "is set but empty"),
    "dummy short password": ({"AUTHENTICATOR": "dummy", "DUMMY_PASSWORD": "short"}, "DUMMY_PASSWORD", "too short"),
    "site name two lines": ({"SITE_NAME": "pyiron\nhub"}, "SITE_NAME", "one line of text"),
    "site name too long": ({"SITE_NAME": "x" * 81}, "SITE_NAME", "at most 80"),
    "help contact with a tab": ({"HELP_CONTACT": "a\tb"}, "HELP_CONTACT", "one line of text"),
    "logo not an image": ({"SITE_LOGO": "/srv/jupyterhub/logo.html"}, "SITE_LOGO", "must be an image file"),
    "help url javascript": ({"HELP_URL": "javascript:alert(1)"}, "HELP_URL", "neither an http(s) URL nor a mailto:"),
    "help url data": ({"HELP_URL": "data:text/html,<b>x</b>"}, "HELP_URL", "neither an http(s) URL nor a mailto:"),
    "help url bare address": ({"HELP_URL": "help@example.org"}, "HELP_URL", "neither an http(s) URL nor a mailto:"),
    "help mailto without address": ({"HELP_URL": "mailto:nobody"}, "HELP_URL", "not a mailto: address"),
    "help mailto with markup": ({"HELP_URL": 'mailto:a@b.org"><script>'}, "HELP_URL", "not a mailto: address"),
    "only admins named": (
        {"OAUTH2_ALLOW_ALL": None, "ADMIN_USER": "alice"},
        "OAUTH2_ALLOWED_GROUPS",
        "nobody but admins",
    ),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_rejected(case):
    changes, variable, words = REJECTIONS[case]
    problems = problems_of(with_env(MINIMAL_ENV, **changes))
    assert [p.where for p in problems] == [variable]
    assert words in problems[0].message


def test_dummy_mode_needs_no_keycloak_variables():
    env = {"POSTGRES_PASSWORD": "pw", "OAUTH2_ALLOW_ALL": "true", **DUMMY_MODE}
    assert load_settings(env, check_paths=False).authenticator == "dummy"


def test_no_issuer_but_all_three_endpoints_is_accepted():
    settings = load_settings(with_env(MINIMAL_ENV, OAUTH2_ISSUER_URL=None, **ENDPOINTS), check_paths=False)
    assert settings.token_url == ENDPOINTS["OAUTH2_TOKEN_URL"]


@pytest.mark.parametrize("policy", [{"OAUTH2_ALLOWED_GROUPS": "pyiron-users"}, {"ALLOWED_USERS": "alice"}])
def test_an_allow_list_is_an_access_policy(policy):
    settings = load_settings(with_env(MINIMAL_ENV, OAUTH2_ALLOW_ALL=None, **policy), check_paths=False)
    assert settings.allow_all is False


def test_problem_messages_carry_an_example():
    problems = problems_of(with_env(MINIMAL_ENV, MEM_LIMIT="lots"))
    assert "(example: 2G)" in str(problems[0])


def test_one_error_lists_every_problem():
    env = with_env(
        MINIMAL_ENV, CLIENT_ID="", POSTGRES_PASSWORD=None, MEM_LIMIT="lots", CPU_LIMIT="0", PYIRON_BASE="bad image"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(env, check_paths=False)
    problems = info.value.problems
    assert sorted(p.where for p in problems) == sorted(
        ["CLIENT_ID", "POSTGRES_PASSWORD", "MEM_LIMIT", "CPU_LIMIT", "PYIRON_BASE"]
    )
    report = info.value.report()
    assert report.startswith("pyiron-hub: 5 configuration problems:")
    assert all(f"  - {p.where}: " in report for p in problems)


def test_presence_and_value_problems_are_reported_together():
    env = with_env(MINIMAL_ENV, OAUTH2_ISSUER_URL=None, OAUTH2_ALLOW_ALL=None, CPU_LIMIT="x", TLS_KEY_FILE="/k")
    problems = problems_of(env)
    assert sorted(p.where for p in problems) == [
        "CPU_LIMIT",
        "OAUTH2_ALLOWED_GROUPS",
        "OAUTH2_ISSUER_URL",
        "TLS_CERT_FILE",
    ]


def test_report_says_how_to_go_on():
    with pytest.raises(ConfigError) as info:
        load_settings(with_env(MINIMAL_ENV, CLIENT_ID=None), check_paths=False)
    assert info.value.report().splitlines()[-1] == "Nothing was started. See the configuration reference in README.md."
    assert info.value.report().splitlines()[0] == "pyiron-hub: 1 configuration problem:"


# --- secrets ---------------------------------------------------------------------------
SECRET_VALUES = {
    "CLIENT_SECRET": "client-secret-never-shown",
    "POSTGRES_PASSWORD": "db-password-never-shown",
    "CONFIGPROXY_AUTH_TOKEN": "proxy-tok-never-shown",  # too short: rejected
    "DUMMY_PASSWORD": "dummy",  # too short: rejected
    "JUPYTERHUB_CRYPT_KEY": "crypt-key-never-shown",  # not hex: rejected
    "JUPYTERHUB_COOKIE_SECRET": "cookie-never-shown",  # not hex: rejected
}


def test_no_secret_appears_in_the_report():
    env = with_env(MINIMAL_ENV, **SECRET_VALUES, MEM_LIMIT="lots", CLIENT_ID="")
    with pytest.raises(ConfigError) as info:
        load_settings(env, check_paths=False)
    report = info.value.report()
    assert {p.where for p in info.value.problems} == {
        "CONFIGPROXY_AUTH_TOKEN",
        "JUPYTERHUB_CRYPT_KEY",
        "JUPYTERHUB_COOKIE_SECRET",
        "DUMMY_PASSWORD",
        "MEM_LIMIT",
        "CLIENT_ID",
    }
    assert [secret for secret in SECRET_VALUES.values() if secret in report + str(info.value)] == []


def test_no_secret_appears_in_repr_of_settings():
    env = with_env(
        MINIMAL_ENV,
        CLIENT_SECRET="client-secret-never-shown",
        POSTGRES_PASSWORD="db-password-never-shown",
        JUPYTERHUB_COOKIE_SECRET=HEX_A,
        JUPYTERHUB_CRYPT_KEY=HEX_B,
        CONFIGPROXY_AUTH_TOKEN="proxy-token-never-shown-xxxxxxxxxx",
        DUMMY_PASSWORD="dummy-password-never-shown",
    )
    settings = load_settings(env, check_paths=False)
    shown = repr(settings) + str(settings)
    secrets = [
        "client-secret-never-shown",
        "db-password-never-shown",
        HEX_A,
        HEX_B,
        "proxy-token-never-shown",
        "dummy-password-never-shown",
    ]
    assert [secret for secret in secrets if secret in shown] == []


def test_secret_read_from_file(tmp_path):
    (tmp_path / "client_secret").write_text("secret-from-file\n")
    env = with_env(MINIMAL_ENV, CLIENT_SECRET=None, CLIENT_SECRET_FILE=str(tmp_path / "client_secret"))
    assert load_settings(env, check_paths=True).client_secret.get_secret_value() == "secret-from-file"


@pytest.mark.parametrize(
    "variable",
    [
        "POSTGRES_PASSWORD",
        "JUPYTERHUB_COOKIE_SECRET",
        "JUPYTERHUB_CRYPT_KEY",
        "CONFIGPROXY_AUTH_TOKEN",
        "METRICS_API_TOKEN",
    ],
)
def test_each_secret_variable_has_a_file_form(tmp_path, variable):
    (tmp_path / "secret").write_text(HEX_A + "\n")
    env = with_env(MINIMAL_ENV, **{variable: None, f"{variable}_FILE": str(tmp_path / "secret")})
    assert value_of(load_settings(env, check_paths=True), variable) == HEX_A


def test_secret_and_secret_file_both_set(tmp_path):
    (tmp_path / "pw").write_text("from-file")
    problems = problems_of(with_env(MINIMAL_ENV, POSTGRES_PASSWORD_FILE=str(tmp_path / "pw")))
    assert [(p.where, p.message) for p in problems] == [
        ("POSTGRES_PASSWORD_FILE", "both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set: keep one")
    ]


def test_every_secret_given_twice_is_refused_at_once_with_an_example(tmp_path):
    # Ambiguous (which one wins?), so refused, with the other problems, naming each variable.
    (tmp_path / "s").write_text("from-file")
    env = with_env(
        MINIMAL_ENV,
        POSTGRES_PASSWORD_FILE=str(tmp_path / "s"),
        CLIENT_SECRET_FILE=str(tmp_path / "s"),
        JUPYTERHUB_CRYPT_KEY=HEX_A,
        JUPYTERHUB_CRYPT_KEY_FILE=str(tmp_path / "s"),
        MEM_LIMIT="lots",
    )
    problems = {p.where: p for p in problems_of(env, check_paths=True)}
    assert set(problems) == {"POSTGRES_PASSWORD_FILE", "CLIENT_SECRET_FILE", "JUPYTERHUB_CRYPT_KEY_FILE", "MEM_LIMIT"}
    assert str(problems["CLIENT_SECRET_FILE"]) == (
        "CLIENT_SECRET_FILE: both CLIENT_SECRET and CLIENT_SECRET_FILE are set: keep one "
        "(example: CLIENT_SECRET_FILE=/run/secrets/client_secret and no CLIENT_SECRET)"
    )
    assert problems["JUPYTERHUB_CRYPT_KEY_FILE"].example == (
        "JUPYTERHUB_CRYPT_KEY_FILE=/run/secrets/crypt_key and no JUPYTERHUB_CRYPT_KEY"
    )
    assert HEX_A not in str(problems) and "from-file" not in str(problems)


@pytest.mark.parametrize("make_path", [lambda tmp: tmp / "missing", lambda tmp: tmp])
def test_unreadable_secret_file(tmp_path, make_path):
    env = with_env(MINIMAL_ENV, CLIENT_SECRET=None, CLIENT_SECRET_FILE=str(make_path(tmp_path)))
    problems = {p.where: p.message for p in problems_of(env, check_paths=True)}
    assert problems["CLIENT_SECRET_FILE"].startswith(f"cannot read {make_path(tmp_path)}")


def test_empty_secret_file_is_empty_secret(tmp_path):
    (tmp_path / "pw").write_text("\n")
    env = with_env(MINIMAL_ENV, POSTGRES_PASSWORD=None, POSTGRES_PASSWORD_FILE=str(tmp_path / "pw"))
    problems = problems_of(env, check_paths=True)
    assert [(p.where, p.message) for p in problems] == [("POSTGRES_PASSWORD", "is set but empty")]


def test_bad_secret_in_file_is_not_echoed(tmp_path):
    (tmp_path / "token").write_text("short-file-token")
    problems = problems_of(with_env(MINIMAL_ENV, CONFIGPROXY_AUTH_TOKEN_FILE=str(tmp_path / "token")), check_paths=True)
    assert [p.where for p in problems] == ["CONFIGPROXY_AUTH_TOKEN"]
    assert "short-file-token" not in str(problems[0])


# --- files named by variables (checked only inside the hub container) ---------------------
def test_missing_ca_bundle_is_a_problem_when_paths_are_checked(tmp_path):
    problems = problems_of(with_env(MINIMAL_ENV, OAUTH2_CA_BUNDLE=str(tmp_path / "absent")), check_paths=True)
    assert [(p.where, p.message) for p in problems] == [("OAUTH2_CA_BUNDLE", f"no such file: {tmp_path / 'absent'}")]


def test_missing_logo_is_a_problem_when_paths_are_checked(tmp_path):
    problems = problems_of(with_env(MINIMAL_ENV, SITE_LOGO=str(tmp_path / "logo.png")), check_paths=True)
    assert [(p.where, p.message) for p in problems] == [("SITE_LOGO", f"no such file: {tmp_path / 'logo.png'}")]


def test_a_logo_that_is_there_is_accepted(tmp_path):
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n")
    settings = load_settings(with_env(MINIMAL_ENV, SITE_LOGO=str(tmp_path / "logo.png")), check_paths=True)
    assert settings.site_logo == tmp_path / "logo.png"


def test_missing_catalogue_is_reported_once(tmp_path):
    from pyiron_hub_config.hub_config import load_hub_config

    with pytest.raises(ConfigError) as err:
        load_hub_config(with_env(MINIMAL_ENV, ENVIRONMENTS_FILE=str(tmp_path / "absent")))
    assert len(err.value.problems) == 1
    assert err.value.problems[0].where.startswith("ENVIRONMENTS_FILE")


def test_allow_all_false_is_no_access_policy():
    env = {k: v for k, v in MINIMAL_ENV.items() if k != "OAUTH2_ALLOW_ALL"}
    problems = problems_of({**env, "OAUTH2_ALLOW_ALL": "false"})
    assert [p.where for p in problems] == ["OAUTH2_ALLOWED_GROUPS"]


def test_unreadable_secret_file_is_reported_once(tmp_path):
    env = {k: v for k, v in MINIMAL_ENV.items() if k not in ("CLIENT_SECRET", "POSTGRES_PASSWORD")}
    env.update(CLIENT_SECRET_FILE=str(tmp_path / "a"), POSTGRES_PASSWORD_FILE=str(tmp_path / "b"))
    assert [p.where for p in problems_of(env, check_paths=True)] == ["CLIENT_SECRET_FILE", "POSTGRES_PASSWORD_FILE"]


def test_missing_tls_files_are_problems_when_paths_are_checked(tmp_path):
    env = with_env(MINIMAL_ENV, TLS_CERT_FILE=str(tmp_path / "c"), TLS_KEY_FILE=str(tmp_path / "k"))
    assert [p.where for p in problems_of(env, check_paths=True)] == ["TLS_CERT_FILE", "TLS_KEY_FILE"]


def test_existing_files_pass_the_path_check(tmp_path):
    for name in ("ca.pem", "c", "k"):
        (tmp_path / name).write_text("x")
    env = with_env(
        MINIMAL_ENV,
        OAUTH2_CA_BUNDLE=str(tmp_path / "ca.pem"),
        TLS_CERT_FILE=str(tmp_path / "c"),
        TLS_KEY_FILE=str(tmp_path / "k"),
    )
    assert load_settings(env, check_paths=True).tls_key == tmp_path / "k"


def test_paths_are_not_checked_on_request(tmp_path):
    env = with_env(MINIMAL_ENV, OAUTH2_CA_BUNDLE=str(tmp_path / "absent"))
    assert load_settings(env, check_paths=False).ca_bundle == tmp_path / "absent"


def test_secret_files_are_not_read_on_the_host():
    # check_paths=False: the path names a file inside the hub container (a Docker secret).
    env = with_env(
        MINIMAL_ENV,
        POSTGRES_PASSWORD=None,
        POSTGRES_PASSWORD_FILE="/run/secrets/postgres_password",
        CLIENT_SECRET=None,
        CLIENT_SECRET_FILE="/run/secrets/client_secret",
    )
    assert load_settings(env, check_paths=False).client_id == "pyiron-hub"


def test_secret_files_are_read_in_the_container():
    env = with_env(MINIMAL_ENV, POSTGRES_PASSWORD=None, POSTGRES_PASSWORD_FILE="/nonexistent/postgres_password")
    assert "POSTGRES_PASSWORD_FILE" in {p.where for p in problems_of(env, check_paths=True)}


def test_both_secret_and_file_is_a_problem_on_the_host_too():
    env = with_env(MINIMAL_ENV, POSTGRES_PASSWORD_FILE="/run/secrets/postgres_password")
    assert [p.where for p in problems_of(env, check_paths=False)] == ["POSTGRES_PASSWORD_FILE"]


def test_the_shared_path_must_be_mounted_in_the_hub(tmp_path):
    # The hub makes users' directories there: missing in the hub container, nothing starts.
    env = with_env(MINIMAL_ENV, SPAWNER="swarm", SWARM_SHARED_PATH=str(tmp_path / "not-mounted"))
    problems = problems_of(env, check_paths=True)
    found = [p for p in problems if p.where == "SWARM_SHARED_PATH"]
    assert found and "no such directory in the hub container" in found[0].message, problems
    assert "compose.swarm-shared.yml" in found[0].example
    (tmp_path / "not-mounted").mkdir()
    assert load_settings(env, check_paths=True).swarm_shared_path == tmp_path / "not-mounted"
