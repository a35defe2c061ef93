"""Pure functions that set traits on a traitlets Config from a HubConfig.

As in the-littlest-jupyterhub's configurer: each function owns one area and only *sets*
traits on the Config it is given; nothing is appended to or read back.
"""

from __future__ import annotations

import os
import sys
from http import HTTPStatus
from pathlib import Path

from traitlets.config import Config

from .authenticator import KeycloakOAuthenticator, strip_group_path
from .boot_file import boot_command
from .database import database_url
from .error_words import template_functions
from .hub_config import HubConfig
from .server_stops import MEMORY_KILLS_FILE, server_notice
from .sharing import USER_ROLE_WITH_SHARING, sharing_handlers
from .spawner import PyironSpawner, pass_access_token
from .ssh_keys import KEY_SYNC_SCOPE, ssh_key_handlers
from .storage import HOME, container_prefix, user_volumes
from .swarm import PyironSwarmSpawner
from .user_networks import SERVER_LABEL

SPAWNERS = {"docker": PyironSpawner, "swarm": PyironSwarmSpawner}

HUB_PORT = 8000
HUB_API_PORT = 8081
# The proxy runs inside the hub's container, so it never outlives a restart of that
# container; `pyiron-hub serve` removes a stale file here before starting the hub.
PROXY_PID_FILE = "/tmp/jupyterhub-proxy.pid"
# The service whose token Prometheus scrapes /hub/metrics with.
METRICS_SERVICE = "metrics"
# The service whose token a cluster's key sync (key_sync.py) reads users' public keys with.
KEY_SYNC_SERVICE = "cluster-key-sync"
# Our pages extend JupyterHub's ({% extends "templates/page.html" %}); they are found first.
HUB_TEMPLATES = Path(__file__).parent / "templates" / "hub"
# Pieces those pages include (not pages themselves).
PARTIAL_TEMPLATES = Path(__file__).parent / "templates" / "partials"


def apply_access(c: Config, hub: HubConfig) -> None:
    """Who may log in and who is admin, whichever authenticator."""
    s = hub.settings
    c.Authenticator.allowed_users = set(s.allowed_users)
    # Without ADMIN_ACCESS the hub's admins are not JupyterHub admins (whose role cannot be
    # narrowed) but holders of the "hub-admin" role (admin_roles).
    c.Authenticator.admin_users = set(s.admin_users) if s.admin_access else set()
    c.Authenticator.allow_all = s.allow_all


def apply_authenticator(c: Config, hub: HubConfig) -> None:
    s = hub.settings
    if s.authenticator == "dummy":
        # For tests and trials without an identity provider; the hub logs a warning.
        c.JupyterHub.authenticator_class = "dummy"
        c.DummyAuthenticator.password = s.dummy_password.get_secret_value()
        return
    c.JupyterHub.authenticator_class = KeycloakOAuthenticator
    auth = c.KeycloakOAuthenticator
    if s.issuer_url:
        auth.realm_url = s.issuer_url
    # The old deployment's explicit URLs win over derived ones.
    for trait, value in (
        ("authorize_url", s.authorize_url),
        ("token_url", s.token_url),
        ("userdata_url", s.userdata_url),
        ("end_session_url", s.logout_url),
        ("oauth_callback_url", s.callback_url),
    ):
        if value:
            auth[trait] = value
    auth.client_id = s.client_id
    auth.client_secret = s.client_secret.get_secret_value()
    auth.scope = list(s.scopes)
    auth.username_claim = s.username_claim
    auth.groups_claim = s.groups_claim
    auth.enable_pkce = True
    auth.enable_auth_state = True
    auth.manage_groups = True
    auth.allowed_groups = {strip_group_path(g) for g in s.allowed_groups}
    auth.admin_groups = {strip_group_path(g) for g in s.admin_groups} if s.admin_access else set()
    # Keycloak is asked again at this age (authenticator.refresh_user), so that access taken
    # away there takes effect without a logout.
    auth.auth_refresh_age = s.auth_refresh_age
    auth.withdrawn_grace = float(s.access_withdrawn_grace)
    # Who may log in is the configuration and Keycloak's groups, nothing else: JupyterHub
    # would otherwise admit every user already in its database whenever ALLOWED_USERS is
    # set, so that removing someone from the group could never take effect.
    auth.allow_existing_users = False
    if s.ca_bundle:
        # Verification stays on; the bundle only adds the internal CA.
        auth.http_request_kwargs = {"ca_certs": str(s.ca_bundle)}


def spawner_section(c: Config, hub: HubConfig) -> Config:
    """The Config section of the spawner SPAWNER selects (their traits are set by class name)."""
    return c[SPAWNERS[hub.settings.spawner].__name__]


def apply_spawner(c: Config, hub: HubConfig) -> None:
    s = hub.settings
    spawner = SPAWNERS[s.spawner]
    c.JupyterHub.spawner_class = spawner
    sp = spawner_section(c, hub)
    sp.environments = list(hub.environments)
    sp.left_out_environments = list(hub.left_out)
    sp.max_mem_limit = s.max_mem_limit
    sp.max_cpu_limit = s.max_cpu_limit
    default = next(env for env in hub.environments if env.default)
    sp.image = default.image
    sp.mem_limit = default.mem_limit
    sp.cpu_limit = default.cpu_limit
    sp.network_name = s.docker_network
    sp.use_internal_ip = True
    sp.prefix = container_prefix(s.deployment_name)
    # Every server of a user mounts the same home: volume names follow the user, not the server.
    sp.volumes = user_volumes(s.deployment_name)
    # Named servers (NAMED_SERVER_LIMIT): each is a spawner of its own, so its container
    # (DockerSpawner's "{prefix}-{username}--{servername}"), network, limits and culling are its own.
    c.JupyterHub.allow_named_servers = s.named_server_limit > 0
    c.JupyterHub.named_server_limit_per_user = s.named_server_limit
    sp.site_resources = str(s.site_resources_dir) if s.site_resources_dir else None
    sp.notebook_dir = HOME
    sp.cmd = boot_command()
    sp.start_timeout = s.start_timeout
    sp.http_timeout = s.start_timeout
    if s.pass_access_token:
        sp.auth_state_hook = pass_access_token
    if spawner is PyironSpawner:
        # A fresh container per start, so switching environments switches images; the
        # user's files are in their volumes, not the container (storage.py). (A service
        # is always removed at stop: SwarmSpawner has no such option.)
        sp.remove = True
        sp.pull_stall_timeout = s.pull_stall_timeout
        sp.extra_host_config = {
            # Nothing in a user's server may gain privileges (setuid binaries, sudo), and it
            # needs no capability: the images' start.sh runs as jovyan (uid 1000), Jupyter
            # binds a port above 1024, and Docker itself fills volumes from the image.
            "security_opt": ["no-new-privileges:true"],
            "cap_drop": ["ALL"],
            # A fork bomb stays in its container: the host's process table is shared.
            "pids_limit": s.pids_limit,
            # Below the hub's weight (4096, docker-compose.yml): booting servers never starve it.
            "cpu_shares": s.server_cpu_shares,
            # remove=True would have the engine delete a server that ends by itself at once
            # (AutoRemove), and with it the State that says why (OOMKilled). DockerSpawner
            # merges this over its own setting; remove=True still removes the container at the
            # hub's stop, which follows the poll that reads why it ended (spawner.py).
            "auto_remove": False,
        }
        if isinstance(s.server_disk_limit, int):
            # The writable layer (/tmp, caches outside the home), limited by the engine.
            sp.extra_host_config["storage_opt"] = {"size": str(s.server_disk_limit)}
        if s.storage_quota is not None:
            # The home is the user's limited subvolume (quota.py), ~/work a directory in it.
            sp.volumes = {}
            sp.storage_quota = s.storage_quota
            sp.quota_root = s.storage_quota_root.rstrip("/")
            sp.quota_service_url = s.quota_service_url
            sp.group_folder_quota = s.group_folder_quota if s.group_folder_quota is not None else s.storage_quota
        sp.starts_at_once = starts_at_once(s.starts_at_once, os.cpu_count())
        # Marks users' servers, which never join another user's network (user_networks.py).
        sp.extra_create_kwargs = {"labels": {SERVER_LABEL: "true"}}
        sp.isolate_users = s.isolate_users
        sp.users_network = s.docker_network
        sp.joined_names = [s.hub_connect_host, *s.users_reach]
        sp.subnet_pool = str(s.user_networks_pool)
        sp.subnet_prefix = s.user_networks_prefix
        sp.group_folders = list(s.group_folders)
        sp.deployment_name = s.deployment_name or ""
    else:
        sp.mem_guarantee = default.mem_limit
        sp.cpu_guarantee = default.cpu_limit
        sp.constraints = list(s.swarm_constraints)
        sp.nfs_server = s.swarm_nfs_server
        sp.nfs_export = s.swarm_nfs_export
        sp.shared_path = str(s.swarm_shared_path) if s.swarm_shared_path else None


def starts_at_once(configured: int | None, cores: int | None) -> int:
    """STARTS_AT_ONCE, by default one booting server per core of the host (the hub's container sees them all).

    A booting Jupyter server keeps about one core busy for seconds; more at once than cores
    only makes each slower and takes the CPU from the hub (benchmarks/README.md, "Load").
    """
    return configured if configured is not None else max(1, cores or 1)


def apply_clusters(c: Config, hub: HubConfig) -> None:
    """HPC clusters: each server gets their pysqa configuration; users get the SSH key page."""
    spawner_section(c, hub).clusters = list(hub.clusters)  # both spawners have the picker's trait
    # The pages' templates are with the others (apply_templates); page.html links them.
    c.JupyterHub.extra_handlers = (
        (ssh_key_handlers(hub.clusters) if hub.clusters else [])
        + usage_handlers(hub)
        + (sharing_handlers() if hub.settings.server_sharing else [])
    )


def hub_usage_cache(hub: HubConfig):
    """The hub's usage measurement (cached, measured in a thread): for pages, metrics and warnings."""
    from .usage_pages import usage_cache

    s = hub.settings
    images = [env.image for env in hub.environments]
    return usage_cache(s.deployment_name, images, container_prefix(s.deployment_name), s.usage_refresh_seconds)


def usage_handlers(hub: HubConfig) -> list[tuple]:
    """/hub/usage for admins (Docker only: a swarm's volumes are on other nodes' engines)."""
    if hub.settings.spawner != "docker":
        return []
    from .usage_pages import UsageHandler, quota_cache

    return [
        (
            r"/usage",
            UsageHandler,
            {
                "cache": hub_usage_cache(hub),
                "soft_limit": hub.settings.storage_soft_limit,
                "memory_kills_file": str(hub.settings.data_dir / MEMORY_KILLS_FILE),
                "quotas": quota_cache(hub.settings.quota_service_url, hub.settings.usage_refresh_seconds)
                if hub.settings.storage_quota is not None
                else None,
            },
        )
    ]


def apply_network(c: Config, hub: HubConfig) -> None:
    s = hub.settings
    c.JupyterHub.hub_ip = "0.0.0.0"
    c.JupyterHub.hub_port = HUB_API_PORT
    c.JupyterHub.hub_connect_ip = s.hub_connect_host
    c.ConfigurableHTTPProxy.pid_file = PROXY_PID_FILE
    # As zero-to-jupyterhub's proxy: what has no route goes to the hub. The hub adds that very
    # route ("/", all hosts) only after its API listens and its services started; until then
    # the proxy answered the image's health probe 404 and logged it as an error.
    c.ConfigurableHTTPProxy.command = ["configurable-http-proxy", f"--default-target=http://127.0.0.1:{HUB_API_PORT}"]
    scheme = "https" if s.tls_cert else "http"
    c.JupyterHub.bind_url = f"{scheme}://:{HUB_PORT}"
    if s.tls_cert:
        c.JupyterHub.ssl_cert = str(s.tls_cert)
        c.JupyterHub.ssl_key = str(s.tls_key)
    if s.subdomain_host:
        # Each user's server on <user>.<host>: the proxy routes by host name, and the hub's
        # cookies and pages stay on the hub's own origin, out of the servers' reach.
        c.JupyterHub.subdomain_host = s.subdomain_host
        if s.subdomain_host.startswith("https://"):
            # The hub's login cookie as __Host-jupyterhub-hub-login: a browser takes such a
            # cookie only from the hub's own origin (Secure, no Domain, Path=/), so a page on
            # <user>.<host> cannot plant one for the hub (cookie tossing). Path=/ shares it
            # with the servers' paths, harmless here: they live on other origins. Over plain
            # HTTP a browser refuses __Host- cookies altogether, so only with https.
            c.JupyterHub.cookie_host_prefix_enabled = True


def apply_database(c: Config, hub: HubConfig) -> None:
    c.JupyterHub.db_url = database_url(hub.settings)
    c.JupyterHub.upgrade_db = True


def apply_secrets(c: Config, cookie_secret: str, crypt_keys: str, proxy_token: str) -> None:
    c.JupyterHub.cookie_secret = bytes.fromhex(cookie_secret)
    c.CryptKeeper.keys = crypt_keys.split(";")
    c.ConfigurableHTTPProxy.auth_token = proxy_token


def culler_arguments(hub: HubConfig) -> list[str]:
    """jupyterhub-idle-culler's options from IDLE_TIMEOUT, IDLE_CULL_EVERY and MAX_SERVER_AGE; [] for no culler."""
    s = hub.settings
    timeout, max_age = s.idle_timeout, s.max_server_age
    if not (timeout or max_age):
        return []
    # The culler always stops what has been inactive for --timeout (0 would stop every server):
    # with only a maximum age, a timeout of that age stops nothing the age would not.
    arguments = [f"--timeout={timeout or max_age}"]
    every = s.idle_cull_every or (None if timeout else min(600, max(1, max_age // 2)))
    if every:
        arguments.append(f"--cull-every={every}")
    if max_age:
        arguments.append(f"--max-age={max_age}")
    return arguments


def activity_every(hub: HubConfig) -> int:
    """Seconds between the checks for work in a server (boot.py's watcher): six per idle timeout, from
    5 s up to jupyterhub-singleuser's own 300 s, so that work reported keeps the server well inside it."""
    timeout = hub.settings.idle_timeout
    return min(300, max(5, timeout // 6)) if timeout else 300


def apply_culling(c: Config, hub: HubConfig) -> None:
    """What users' servers need for culling: how often they report work, the maximum age, where kills are counted."""
    s = hub.settings
    sp = spawner_section(c, hub)
    sp.activity_every = activity_every(hub)
    sp.max_age = s.max_server_age
    sp.memory_kills_file = str(s.data_dir / MEMORY_KILLS_FILE)


def culler_service(hub: HubConfig) -> tuple[list[dict], list[dict]]:
    """The idle culler as a service with exactly the scopes it needs; none if IDLE_TIMEOUT=0 and no MAX_SERVER_AGE."""
    arguments = culler_arguments(hub)
    if not arguments:
        return [], []
    service = {"name": "idle-culler", "command": [sys.executable, "-m", "jupyterhub_idle_culler", *arguments]}
    role = {
        "name": "idle-culler",
        "description": "Stop idle servers (and nothing else)",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
    return [service], [role]


def metrics_service(token: str) -> tuple[list[dict], list[dict]]:
    """A service whose token reads /hub/metrics and nothing else (for Prometheus)."""
    service = {"name": METRICS_SERVICE, "api_token": token}
    role = {
        "name": METRICS_SERVICE,
        "description": "Read the hub's Prometheus metrics (and nothing else)",
        "scopes": ["read:metrics"],
        "services": [METRICS_SERVICE],
    }
    return [service], [role]


def key_sync_service(token: str | None) -> tuple[list[dict], list[dict]]:
    """A service whose token reads the users' public keys per cluster account and nothing else.

    The key sync runs as root on a cluster (key_sync.py); an admin's token there would be
    the whole hub. None without clusters (token None).
    """
    if token is None:
        return [], []
    service = {"name": KEY_SYNC_SERVICE, "api_token": token}
    role = {
        "name": KEY_SYNC_SERVICE,
        "description": "Read users' SSH public keys per cluster account (and nothing else)",
        "scopes": [KEY_SYNC_SCOPE],
        "services": [KEY_SYNC_SERVICE],
    }
    return [service], [role]


# What JupyterHub's admin role holds (jupyterhub.roles.get_default_roles), less what opens
# a user's server: access:servers (their files, terminals and kernels, so their ~/.ssh keys
# and HPC accounts), and tokens and shares, with which an admin could let themselves in (a
# token made as the user; a share of the user's server).
ADMIN_SCOPES_WITHOUT_ACCESS = [
    "admin-ui",
    "admin:users",
    "admin:servers",
    # Services made at run time get no scope their maker lacks (JupyterHub checks).
    "admin:services",
    "admin:groups",
    "read:roles",
    "read:hub",
    "proxy",
    "shutdown",
    "access:services",
    "read:metrics",
    "list:services",
    "read:services",
]
HUB_ADMIN_ROLE = "hub-admin"


def admin_roles(hub: HubConfig) -> list[dict]:
    """Admins without access to users' servers, unless ADMIN_ACCESS=true (JupyterHub's admin role).

    JupyterHub refuses to narrow its admin role, and an admin could make a token as any user,
    so the admins (ADMIN_USER, and members of OAUTH2_ADMIN_GROUPS, whose Keycloak groups the
    hub keeps as its groups) hold a role of their own, and the admin role has no members.
    """
    s = hub.settings
    if s.admin_access:
        return []
    return [
        {"name": "admin", "users": []},  # exactly no one (JupyterHub clears the admin flags too)
        {
            "name": HUB_ADMIN_ROLE,
            "description": "Manage users and start or stop their servers, without opening them (ADMIN_ACCESS)",
            "scopes": list(ADMIN_SCOPES_WITHOUT_ACCESS),
            "users": sorted(s.admin_users),
            "groups": sorted({strip_group_path(g) for g in s.admin_groups}) if s.authenticator == "keycloak" else [],
        },
    ]


def apply_services(c: Config, hub: HubConfig, metrics_token: str, key_sync_token: str | None = None) -> None:
    """Every service the hub runs or admits, with its role, and the admins' role; set once, as a whole."""
    services, roles = [], admin_roles(hub)
    if hub.settings.server_sharing:
        roles.append(dict(USER_ROLE_WITH_SHARING))
    for more_services, more_roles in (
        culler_service(hub),
        metrics_service(metrics_token),
        key_sync_service(key_sync_token),
    ):
        services += more_services
        roles += more_roles
    c.JupyterHub.services = services
    c.JupyterHub.load_roles = roles
    c.JupyterHub.custom_scopes = {KEY_SYNC_SCOPE: {"description": "Read users' SSH public keys per cluster account"}}


def apply_performance(c: Config, hub: HubConfig) -> None:
    """How many spawns at once, and how they reach Docker (measured: benchmarks/README.md)."""
    c.JupyterHub.concurrent_spawn_limit = hub.settings.concurrent_spawn_limit
    # By default a stopping hub stops users' servers (JupyterHub's default), so that
    # `compose down` and the swarm's stack removal leave nothing behind; a killed hub still
    # finds its servers again. Kept, a `docker restart` of the hub costs users nothing (the
    # benchmark's P3), but the admin stops servers before taking the stack down.
    if hub.settings.keep_servers_on_hub_stop:
        c.JupyterHub.cleanup_servers = False


def apply_templates(c: Config, hub: HubConfig) -> None:
    """What the hub's pages say: the site's name, logo and help, and who may log in."""
    s = hub.settings
    c.JupyterHub.template_paths = [str(HUB_TEMPLATES), str(PARTIAL_TEMPLATES)]
    keycloak = s.authenticator == "keycloak"
    template_vars = {
        "site_name": s.site_name,
        "help_url": s.help_url,
        "help_contact": s.help_contact,
        # The refusal page names the groups that would admit the user.
        "allowed_groups": sorted(strip_group_path(g) for g in s.allowed_groups) if keycloak else [],
        "admits_named_users": bool(s.allowed_users),
        "http_phrases": {status.value: status.phrase for status in HTTPStatus},
        # Plain words for JupyterHub's scope jargon on the error pages.
        "error_words": template_functions,
        # The top bar links the SSH key pages when there are clusters to use them with.
        "ssh_key_page": bool(hub.clusters),
        # ... and the Share page with SERVER_SHARING.
        "share_page": s.server_sharing,
        # Called with the page's user: why their server last stopped with work in it, and when
        # the running one will be stopped (MAX_SERVER_AGE).
        "server_notice": server_notice(s.max_server_age),
    }
    if s.storage_soft_limit and s.spawner == "docker":
        from .usage_pages import storage_warning

        # Called with the page's user: reads the cached sizes, never waits for Docker.
        template_vars["storage_warning"] = storage_warning(hub_usage_cache(hub), s.storage_soft_limit)
    if s.storage_quota is not None and s.spawner == "docker":
        from .usage_pages import quota_cache, storage_quota

        template_vars["storage_quota"] = storage_quota(quota_cache(s.quota_service_url, s.usage_refresh_seconds))
    c.JupyterHub.template_vars = template_vars
    if s.site_logo:
        # JupyterHub serves it at /hub/logo, which every page's header shows.
        c.JupyterHub.logo_file = str(s.site_logo)


def apply_all(c: Config, hub: HubConfig) -> None:
    """Everything but the secrets and the services (a token), which need the data volume (see configure())."""
    apply_access(c, hub)
    apply_authenticator(c, hub)
    apply_spawner(c, hub)
    apply_culling(c, hub)
    apply_clusters(c, hub)
    apply_network(c, hub)
    apply_database(c, hub)
    apply_performance(c, hub)
    apply_templates(c, hub)
