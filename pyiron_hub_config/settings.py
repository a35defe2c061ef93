"""The environment contract: every variable the hub reads, typed and validated once.

``load_settings(environ)`` is the only place that looks at the process environment.
Everything downstream receives a ``Settings`` object, so it can be tested with a dict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, TypeAdapter, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from .problems import ConfigError, Problem
from .subnets import DEFAULT_POOL, DEFAULT_PREFIX, LARGEST_PREFIX, SMALLEST_PREFIX, networks_in
from .swarm_secrets import SWARM_SECRETS
from .values import (
    AddressPool,
    ConstraintList,
    Cpus,
    EnvironmentGroups,
    HelpUrl,
    HttpUrlText,
    ImageRef,
    MemoryBytes,
    NameList,
    Origin,
    SizeBytes,
    format_memory,
)

# Secrets may come from VAR or from a file named by VAR_FILE (docker/compose secrets).
SECRET_VARIABLES = (
    "CLIENT_SECRET",
    "POSTGRES_PASSWORD",
    "JUPYTERHUB_COOKIE_SECRET",
    "JUPYTERHUB_CRYPT_KEY",
    "CONFIGPROXY_AUTH_TOKEN",
    "METRICS_API_TOKEN",
    "KEY_SYNC_API_TOKEN",
)

# The old deployment named one image variable per pyiron environment; keep them.
IMAGE_VARIABLES = {
    "pyiron_base": "PYIRON_BASE",
    "pyiron_md": "PYIRON_MD",
    "pyiron_atomistics": "PYIRON_ATOMISTIC",
    "pyiron_workflow": "PYIRON_WORKFLOW",
    "pyiron_continuum": "PYIRON_CONTINUUM",
    "pyiron_experimental": "PYIRON_EXPERIMENTAL",
}

ENDPOINT_VARIABLES = ("OAUTH2_AUTHORIZE_URL", "OAUTH2_TOKEN_URL", "OAUTH2_USERDATA_URL")

# The hub serves SITE_LOGO itself (JupyterHub's /hub/logo) with a type guessed from the name.
LOGO_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".gif", ".webp")


# Secrets a person types versus ones a machine generates.
_MINIMUM_LENGTH = {
    "dummy_password": (8, "characters"),
    "proxy_token": (32, "random characters"),
    "metrics_token": (32, "random characters"),
    "key_sync_token": (32, "random characters"),
}


def _var(name: str, description: str, example: str | None = None, **kw):
    extra = {"example": example} if example is not None else None
    return Field(alias=name, description=description, json_schema_extra=extra, **kw)


class Settings(BaseSettings):
    """All configuration the hub takes from its environment (load_settings reads it)."""

    model_config = SettingsConfigDict(
        extra="ignore",
        frozen=True,
        populate_by_name=False,
        validate_default=True,
        # Variable names exactly as the fields' aliases; "a,b" lists are split by our own
        # validators (NameList ...), not read as JSON; an empty variable counts as not set
        # (compose passes ${VAR} through as "").
        case_sensitive=True,
        enable_decoding=False,
        env_ignore_empty=True,
    )

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        # Only what load_settings passes in (read by EnvironSource from the mapping it is given):
        # never the process environment behind a test's back.
        return (init_settings,)

    # --- Keycloak / OpenID Connect -------------------------------------------------
    authenticator: Literal["keycloak", "dummy"] = _var(
        "AUTHENTICATOR",
        "'keycloak'; 'dummy' (any user name, one shared password) is for tests only.",
        "keycloak",
        default="keycloak",
    )
    dummy_password: SecretStr | None = _var(
        "DUMMY_PASSWORD",
        "The shared password of AUTHENTICATOR=dummy (at least 8 characters).",
        "a test password",
        default=None,
    )
    issuer_url: HttpUrlText | None = _var(
        "OAUTH2_ISSUER_URL",
        "Keycloak realm URL (the OpenID issuer). The three endpoint URLs below are derived from it unless set.",
        "https://keycloak.example.org/realms/pyiron",
        default=None,
    )
    authorize_url: HttpUrlText | None = _var(
        "OAUTH2_AUTHORIZE_URL",
        "Authorization endpoint (old deployment's name).",
        "https://keycloak.example.org/realms/pyiron/protocol/openid-connect/auth",
        default=None,
    )
    token_url: HttpUrlText | None = _var(
        "OAUTH2_TOKEN_URL",
        "Token endpoint.",
        "https://keycloak.example.org/realms/pyiron/protocol/openid-connect/token",
        default=None,
    )
    userdata_url: HttpUrlText | None = _var(
        "OAUTH2_USERDATA_URL",
        "Userinfo endpoint.",
        "https://keycloak.example.org/realms/pyiron/protocol/openid-connect/userinfo",
        default=None,
    )
    logout_url: HttpUrlText | None = _var(
        "OAUTH2_LOGOUT_URL",
        "Keycloak's end-session endpoint; derived from OAUTH2_ISSUER_URL unless set.",
        "https://keycloak.example.org/realms/pyiron/protocol/openid-connect/logout",
        default=None,
    )
    callback_url: HttpUrlText | None = _var(
        "OAUTH_CALLBACK_URL",
        "Where Keycloak sends the browser back; by default derived from the request's host.",
        "https://hub.example.org/hub/oauth_callback",
        default=None,
    )
    client_id: str | None = _var("CLIENT_ID", "The hub's client ID in Keycloak (required).", "pyiron-hub", default=None)
    client_secret: SecretStr | None = _var(
        "CLIENT_SECRET", "The client's secret, or CLIENT_SECRET_FILE (required).", "a long random string", default=None
    )
    scopes: NameList = _var(
        "OAUTH2_SCOPES",
        "Scopes requested at login; 'openid' is always added.",
        "openid profile email",
        default=["openid", "profile", "email"],
    )
    username_claim: str = _var(
        "OAUTH2_USERNAME_CLAIM",
        "Userinfo claim that becomes the hub user name.",
        "preferred_username",
        default="preferred_username",
        min_length=1,
    )
    groups_claim: str = _var(
        "OAUTH2_GROUPS_CLAIM",
        "Userinfo claim with the user's Keycloak groups.",
        "groups",
        default="groups",
        min_length=1,
    )
    allowed_groups: NameList = _var(
        "OAUTH2_ALLOWED_GROUPS",
        "Keycloak groups whose members may log in (comma-separated).",
        "pyiron-users",
        default=[],
    )
    admin_groups: NameList = _var(
        "OAUTH2_ADMIN_GROUPS", "Keycloak groups whose members are hub admins.", "pyiron-admins", default=[]
    )
    allowed_users: NameList = _var("ALLOWED_USERS", "User names that may log in.", "alice,bob", default=[])
    admin_users: NameList = _var("ADMIN_USER", "Hub admins (one or several user names).", "alice,bob", default=[])
    allow_all: bool = _var("OAUTH2_ALLOW_ALL", "Let every user of the realm log in.", "true", default=False)
    ca_bundle: Path | None = _var(
        "OAUTH2_CA_BUNDLE",
        "CA bundle (path inside the hub container) to verify an internal Keycloak's certificate.",
        "/srv/jupyterhub/keycloak-ca.pem",
        default=None,
    )
    auth_refresh_age: int = _var(
        "AUTH_REFRESH_AGE",
        "Seconds after which the hub asks Keycloak again whether a signed-in user may still use it "
        "(groups, admin rights, account enabled); someone removed from OAUTH2_ALLOWED_GROUPS or disabled "
        "loses access at their next request after this, without logging out.",
        "300",
        default=300,
        gt=0,
        le=3600,
    )
    access_withdrawn_grace: int = _var(
        "ACCESS_WITHDRAWN_GRACE",
        "Seconds a user's running server keeps running once Keycloak no longer lets them in (removed from "
        "OAUTH2_ALLOWED_GROUPS, account disabled), counted from the refresh that sees it (AUTH_REFRESH_AGE); "
        "then the hub stops it. Meanwhile their key is already off the clusters' key list. 0: at once.",
        "600",
        default=300,
        ge=0,
        le=7 * 86400,
    )
    pass_access_token: bool = _var(
        "PASS_ACCESS_TOKEN",
        "Give users' servers the Keycloak access token as $OAUTH_ACCESS_TOKEN.",
        "true",
        default=False,
    )

    # --- what the hub's pages say -------------------------------------------------------
    site_name: str = _var(
        "SITE_NAME",
        "Name of this hub, shown in every page's title and header.",
        "pyiron hub of the CM department",
        default="pyiron hub",
        min_length=1,
        max_length=80,
    )
    site_logo: Path | None = _var(
        "SITE_LOGO",
        "Logo in the header of every page: an image file (.png, .svg, .jpg, .gif, .webp) inside the hub "
        "container, served by the hub itself. JupyterHub's logo unless set.",
        "/srv/jupyterhub/branding/logo.png",
        default=None,
    )
    help_url: HelpUrl | None = _var(
        "HELP_URL",
        "Where users get help: a web page (http/https) or a mailto: address; linked on every page.",
        "mailto:pyiron-hub@example.org",
        default=None,
    )
    help_contact: str | None = _var(
        "HELP_CONTACT",
        "Who users ask for help or access, in words; shown on error and refusal pages.",
        "the pyiron team, room 1.23",
        default=None,
        max_length=200,
    )

    # --- pyiron environments ----------------------------------------------------------
    pyiron_base: ImageRef | None = _var(
        "PYIRON_BASE", "Image of the pyiron_base environment.", "pyiron/base:latest", default=None
    )
    pyiron_atomistics: ImageRef | None = _var(
        "PYIRON_ATOMISTIC", "Image of the pyiron_atomistics environment.", "pyiron/pyiron:latest", default=None
    )
    pyiron_md: ImageRef | None = _var(
        "PYIRON_MD", "Image of the pyiron_md environment.", "pyiron/md:latest", default=None
    )
    pyiron_workflow: ImageRef | None = _var(
        "PYIRON_WORKFLOW",
        "Image of the pyiron_workflow environment, offered only when set (README 'Environments').",
        "pyiron-hub/workflow:latest",
        default=None,
    )
    pyiron_continuum: ImageRef | None = _var(
        "PYIRON_CONTINUUM",
        "Image of the retired pyiron_continuum environment, offered only when set.",
        "pyiron/continuum:latest",
        default=None,
    )
    pyiron_experimental: ImageRef | None = _var(
        "PYIRON_EXPERIMENTAL",
        "Image of the retired pyiron_experimental environment, offered only when set.",
        "pyiron/experimental:latest",
        default=None,
    )
    environments_file: Path | None = _var(
        "ENVIRONMENTS_FILE",
        "Catalogue of environments (TOML); the one built into the image by default.",
        "/srv/jupyterhub/environments.toml",
        default=None,
    )
    environment_groups: EnvironmentGroups = _var(
        "ENVIRONMENT_GROUPS",
        "Environments only some Keycloak groups may start: environment=group[,group], entries separated by ';'. "
        "Replaces the catalogue entry's groups; the hub checks membership at every start (docs 'Working together').",
        "pyiron_md=pyiron-research,pyiron-admins; pyiron_base=teaching",
        default={},
    )
    clusters_file: Path | None = _var(
        "CLUSTERS_FILE",
        "HPC clusters users submit pyiron jobs to over SSH (TOML; README 'Connecting a cluster'). None by default.",
        "/srv/jupyterhub/clusters.toml",
        default=None,
    )
    site_resources_dir: Path | None = _var(
        "SITE_RESOURCES_DIR",
        "Directory on the Docker host (potentials, shared data, queue configurations) that every server "
        "mounts read-only at /opt/pyiron-hub/site-resources and adds to pyiron's resource paths.",
        "/srv/pyiron/resources",
        default=None,
    )
    mem_limit: MemoryBytes = _var("MEM_LIMIT", "Default memory limit of a user's server.", "2G", default="2G")
    cpu_limit: Cpus = _var("CPU_LIMIT", "Default CPU limit of a user's server.", "1", default=1.0)
    max_mem_limit: MemoryBytes | None = _var(
        "MAX_MEM_LIMIT", "If set, users may pick their memory up to this.", "8G", default=None
    )
    max_cpu_limit: Cpus | None = _var(
        "MAX_CPU_LIMIT", "If set, users may pick their CPUs up to this.", "4", default=None
    )
    pids_limit: int = _var(
        "PIDS_LIMIT",
        "Processes and threads one user's server may run at once (Docker's --pids-limit), so that a fork "
        "bomb stays in its container. The default leaves room for MPI runs and executors with many threads. "
        "SPAWNER=docker only.",
        "4096",
        default=4096,
        ge=64,
        le=4194304,
    )
    isolate_users: bool = _var(
        "ISOLATE_USERS",
        "Give each user's server a network of its own, which the hub (and what USERS_REACH names) "
        "joins, so that no user reaches another user's server; false: all servers share DOCKER_NETWORK_NAME and reach each other's ports "
        '(README "Security notes"). SPAWNER=docker only.',
        "true",
        default=True,
    )
    named_server_limit: int = _var(
        "NAMED_SERVER_LIMIT",
        "How many named servers each user may run besides their default one, e.g. 1 for two environments at "
        "once: each its own container, network and limits, all with the same home (docs 'Working together'). "
        "0 (the default, as in zero-to-jupyterhub): one server per user, as each more server is another claim "
        "on the host's memory. SPAWNER=docker only.",
        "1",
        default=0,
        ge=0,
        le=10,
    )
    users_reach: NameList = _var(
        "USERS_REACH",
        "Containers on DOCKER_NETWORK_NAME, by their name there (a compose service name or network alias), that "
        "join every user's network (ISOLATE_USERS), so that users' servers reach them by that name. The hub "
        "always does; nothing else does unless named here: Keycloak, the backup service and a cluster's login "
        "node are not. Name only what holds no shell for users (a login node would reach every user's server): "
        'for a login node run as a container, name an SSH relay to it (README "Security notes"). SPAWNER=docker only.',
        "cluster-ssh",
        default=[],
    )
    user_networks_pool: AddressPool = _var(
        "USER_NETWORKS_POOL",
        "The address range the hub takes each user's network from (ISOLATE_USERS), one subnet of "
        "USER_NETWORKS_PREFIX per running server, instead of Docker's default address pools (31 networks on an engine). "
        'Pick a range your site does not route (README "Security notes"). SPAWNER=docker only.',
        "10.213.0.0/16",
        default=DEFAULT_POOL,
    )
    user_networks_prefix: int = _var(
        "USER_NETWORKS_PREFIX",
        "Prefix length of each user's network in USER_NETWORKS_POOL: 28 is 16 addresses, room for the server, "
        "the hub and 11 more containers of DOCKER_NETWORK_NAME that join it (USERS_REACH).",
        "27",
        default=DEFAULT_PREFIX,
        ge=LARGEST_PREFIX,
        le=SMALLEST_PREFIX,
    )
    docker_network: str = _var(
        "DOCKER_NETWORK_NAME",
        "Docker network of users' servers (not the database's).",
        "pyiron-hub-users",
        default="pyiron-hub-users",
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$",
    )
    deployment_name: str | None = _var(
        "DEPLOYMENT_NAME",
        "Prefix of users' container and volume names, so that two hubs can share one Docker engine "
        "(the demo uses 'demo'); unset: jupyter-<user>, jupyterhub-home-<user>, jupyterhub-user-<user>.",
        "staging",
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,40}$",
    )
    hub_connect_host: str = _var(
        "HUB_CONNECT_HOST",
        "Name under which users' servers reach the hub.",
        "hub",
        default="hub",
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$",
    )
    spawner: Literal["docker", "swarm"] = _var(
        "SPAWNER",
        "'docker': users' servers are containers on the hub's Docker host; 'swarm': services on a "
        'Docker Swarm (README "Running on a swarm"; compose.swarm.yml sets it).',
        "swarm",
        default="docker",
    )
    swarm_constraints: ConstraintList = _var(
        "SWARM_CONSTRAINTS",
        "SPAWNER=swarm: placement constraints of users' services (comma-separated, Docker's syntax).",
        "node.role==worker,node.labels.pyiron-users==true",
        default=["node.role==worker"],
    )
    swarm_nfs_server: str | None = _var(
        "SWARM_NFS_SERVER",
        "SPAWNER=swarm: NFS server holding users' volumes, so that their files follow them to any node. "
        "Unset: a user's volumes stay on the node of their first start, and their server is always placed there.",
        "nfs.example.org",
        default=None,
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.:-]*$",
    )
    swarm_nfs_export: str | None = _var(
        "SWARM_NFS_EXPORT",
        "Exported directory on SWARM_NFS_SERVER; a user's volume is its subdirectory of the volume's name.",
        "/export/pyiron-hub",
        default=None,
        pattern=r"^/[a-zA-Z0-9_./-]*$",
    )
    swarm_shared_path: Path | None = _var(
        "SWARM_SHARED_PATH",
        "SPAWNER=swarm: a directory every node (the manager too) mounts at this same path (NFS, CephFS, GPFS, "
        "BeeGFS, Lustre); each user's home and work are its subdirectories <path>/<volume name>, made by the hub "
        'on first use, and a start may land on any worker (README "Running on a swarm"; compose.swarm-shared.yml).',
        "/srv/pyiron-hub-users",
        default=None,
    )
    start_timeout: int = _var("SPAWN_TIMEOUT", "Seconds a server may take to start.", "120", default=120, gt=0, le=3600)
    pull_stall_timeout: int = _var(
        "PULL_STALL_TIMEOUT",
        "Seconds the pull of a missing image may go without receiving anything before the user's start fails "
        "(a pull that advances may take as long as it needs; SPAWN_TIMEOUT counts from after it).",
        "120",
        default=120,
        gt=0,
        le=3600,
    )
    concurrent_spawn_limit: int = _var(
        "CONCURRENT_SPAWN_LIMIT",
        "Servers that may be starting at once; beyond it a start is refused with HTTP 429 and a Retry-After (0: no limit).",
        "64",
        default=64,
        ge=0,
    )
    starts_at_once: int | None = _var(
        "STARTS_AT_ONCE",
        "Servers that may boot at once; further starts wait in line, shown as waiting on the spawn page, and do "
        "not count against SPAWN_TIMEOUT while they wait (default: the host's CPU cores; 0: no line). "
        "CONCURRENT_SPAWN_LIMIT still caps starts waiting and booting together. SPAWNER=docker only (a swarm's "
        "servers boot on its workers).",
        "4",
        default=None,
        ge=0,
    )
    server_cpu_shares: int = _var(
        "SERVER_CPU_SHARES",
        "Users' servers' CPU weight against other containers when the host's CPUs are all busy (Docker's "
        "--cpu-shares; Docker's default is 1024, docker-compose.yml gives the hub 4096), so "
        "that starting servers never starve the hub and its proxy. SPAWNER=docker only.",
        "512",
        default=512,
        ge=2,
        le=262144,
    )
    admin_access: bool = _var(
        "ADMIN_ACCESS",
        "Let admins open users' servers: their files, terminals and kernels, hence e.g. their HPC keys "
        "in ~/.ssh (JupyterHub's access:servers, tokens and shares scopes on every user). Without it "
        "admins still start and stop servers and use the admin page.",
        "true",
        default=False,
    )
    group_folders: NameList = _var(
        "GROUP_FOLDERS",
        "Keycloak groups that get a shared folder, by name or pattern (comma-separated; * and ? match): each "
        "member's server has ~/groups/<group>, read-write, and nobody else's (docs 'Working together'). "
        "SPAWNER=docker only.",
        "pyiron-research,lab-*",
        default=[],
    )
    server_sharing: bool = _var(
        "SERVER_SHARING",
        "Let users share their running servers with other users and groups (JupyterHub's sharing, the hub's "
        "Share page; docs 'Working together'). Whoever a server is shared with works in it as its owner. "
        "Off by default, as in zero-to-jupyterhub. Admins get no access from it (ADMIN_ACCESS).",
        "true",
        default=False,
    )
    keep_servers_on_hub_stop: bool = _var(
        "KEEP_SERVERS_ON_HUB_STOP",
        "Leave users' servers running when the hub stops or restarts (as zero-to-jupyterhub does); "
        'then stop them yourself before `compose down` or `docker stack rm` (README "Upgrading").',
        "true",
        default=False,
    )
    storage_soft_limit: SizeBytes | None = _var(
        "STORAGE_SOFT_LIMIT",
        "A user whose home + work volumes exceed this sees a warning on the hub's home and spawn pages, and "
        "admins see who on /hub/usage; nothing is ever refused or deleted (unset: no warning).",
        "10G",
        default=None,
    )
    storage_quota: SizeBytes | None = _var(
        "STORAGE_QUOTA",
        "A hard limit on each user's files (their whole home, ~/work included), enforced by the file system: "
        "each user's home is a btrfs subvolume under STORAGE_QUOTA_ROOT with a qgroup limit, made and limited by "
        "the quota service (compose.quota.yml). A write past it fails with 'Disk quota exceeded'. Raise one "
        "user's with `pyiron-hub quota set <user> 20G` (docs: Disk quotas). Unset: no quota; homes are volumes.",
        "10G",
        default=None,
    )
    group_folder_quota: SizeBytes | None = _var(
        "GROUP_FOLDER_QUOTA",
        "With STORAGE_QUOTA, the hard limit on each group folder (GROUP_FOLDERS): the folder is a btrfs "
        "subvolume <STORAGE_QUOTA_ROOT>/_groups/<group> made by the quota service at a member's start; a write "
        "past it fails with 'Disk quota exceeded' for every member. Unset: the same as STORAGE_QUOTA.",
        "50G",
        default=None,
    )
    storage_quota_root: str = _var(
        "STORAGE_QUOTA_ROOT",
        "The directory on the Docker host, on btrfs with quotas enabled, that holds users' homes when "
        "STORAGE_QUOTA is set (one subvolume <root>/<user> each); the quota service and the Docker guard "
        "see it at the same path.",
        "/srv/pyiron-hub/quota",
        default="/srv/pyiron-hub/quota",
    )
    quota_service_url: str = _var(
        "QUOTA_SERVICE_URL",
        "Where the hub reaches the quota service (compose.quota.yml's quota-service, on an internal network).",
        "http://quota-service:8099",
        default="http://quota-service:8099",
    )
    server_disk_limit: int | Literal["unbounded"] | None = _var(
        "SERVER_DISK_LIMIT",
        "The most a server may write outside the home (/tmp, caches, packages installed into the image's "
        "environment): the container's writable layer, limited by the engine (`--storage-opt size`; needs "
        "Docker's btrfs storage driver, or overlay2 on XFS mounted with pquota). Required with STORAGE_QUOTA; "
        "`unbounded` says on purpose that the engine cannot limit it.",
        "20G",
        default=None,
    )
    usage_refresh_seconds: int = _var(
        "USAGE_REFRESH_SECONDS",
        "How old the disk, memory and CPU figures of /hub/usage and /hub/metrics may be before they are measured "
        "again (in the background, never while a page waits).",
        "300",
        default=300,
        ge=10,
    )
    idle_timeout: int = _var(
        "IDLE_TIMEOUT", "Stop servers idle for this many seconds (0: never).", "3600", default=3600, ge=0
    )
    idle_cull_every: int | None = _var(
        "IDLE_CULL_EVERY",
        "Seconds between the idle culler's checks (jupyterhub-idle-culler's --cull-every); a server is stopped "
        "up to this much after its time. Unset: half of IDLE_TIMEOUT (the culler's own default), or 600 when "
        "only MAX_SERVER_AGE is set.",
        "600",
        default=None,
        gt=0,
        le=86400,
    )
    max_server_age: int = _var(
        "MAX_SERVER_AGE",
        "Stop every server that has run this many seconds, even a busy one (jupyterhub-idle-culler's --max-age); "
        "users see the time left on the hub's home page and, in the last hour, in their notebooks "
        '(README "How culling decides"). 0: no limit.',
        "28800",
        default=0,
        ge=0,
    )

    # --- database -----------------------------------------------------------------------
    postgres_host: str = _var("POSTGRES_HOST", "Database host.", "hub-db", default="hub-db", min_length=1)
    postgres_port: int = _var("POSTGRES_PORT", "Database port.", "5432", default=5432, gt=0, lt=65536)
    postgres_user: str = _var("POSTGRES_USER", "Database user.", "postgres", default="postgres", min_length=1)
    postgres_db: str | None = _var(
        "POSTGRES_DB", "Database name (defaults to POSTGRES_USER, as in the postgres image).", "postgres", default=None
    )
    postgres_password: SecretStr = _var(
        "POSTGRES_PASSWORD", "Database password (or POSTGRES_PASSWORD_FILE).", "a long random string"
    )
    db_wait_timeout: int = _var(
        "POSTGRES_WAIT_TIMEOUT", "Seconds the hub waits for the database at start.", "60", default=60, ge=0
    )

    # --- secrets and state ----------------------------------------------------------
    data_dir: Path = _var(
        "DATA_DIR",
        "Hub's own volume: generated secrets live here.",
        "/srv/jupyterhub/data",
        default=Path("/srv/jupyterhub/data"),
    )
    cookie_secret: SecretStr | None = _var(
        "JUPYTERHUB_COOKIE_SECRET",
        "Cookie secret, 64 hex characters; generated in DATA_DIR unless given.",
        "output of: openssl rand -hex 32",
        default=None,
    )
    crypt_key: SecretStr | None = _var(
        "JUPYTERHUB_CRYPT_KEY",
        "Key that encrypts auth state, 64 hex characters; generated unless given.",
        "output of: openssl rand -hex 32",
        default=None,
    )
    proxy_token: SecretStr | None = _var(
        "CONFIGPROXY_AUTH_TOKEN",
        "Token between hub and proxy; generated unless given.",
        "output of: openssl rand -hex 32",
        default=None,
    )
    metrics_token: SecretStr | None = _var(
        "METRICS_API_TOKEN",
        "Token that may read /hub/metrics (Prometheus) and nothing else; generated in DATA_DIR unless given.",
        "output of: openssl rand -hex 32",
        default=None,
    )
    key_sync_token: SecretStr | None = _var(
        "KEY_SYNC_API_TOKEN",
        "Token that may read the users' SSH public keys per cluster account (/hub/ssh-keys?cluster=) and "
        'nothing else, for the key sync on a cluster (README "Registering the key"); generated in DATA_DIR '
        "unless given, only when there are clusters.",
        "output of: openssl rand -hex 32",
        default=None,
    )

    # --- TLS --------------------------------------------------------------------------
    tls_cert: Path | None = _var(
        "TLS_CERT_FILE",
        "Certificate the hub serves HTTPS with (path inside the container).",
        "/srv/jupyterhub/secrets/jupyterhub.crt",
        default=None,
    )
    tls_key: Path | None = _var(
        "TLS_KEY_FILE",
        "Key for TLS_CERT_FILE (path inside the container).",
        "/srv/jupyterhub/secrets/jupyterhub.key",
        default=None,
    )
    subdomain_host: Origin | None = _var(
        "SUBDOMAIN_HOST",
        "Serve each user's server from an origin of its own, <user>.<this host> (JupyterHub's subdomain_host), "
        "so that a page in one user's server cannot act on the hub as whoever opens it. Needs a wildcard DNS "
        'record and a certificate for both names (README "Per-user origins"). Unset: one origin for all.',
        "https://hub.example.org",
        default=None,
    )

    @field_validator("cookie_secret", "crypt_key", mode="before")
    @classmethod
    def _hex_key(cls, value: str, info) -> str:
        # JupyterHub takes several ';'-separated crypt keys for rotation; one for cookies.
        rotation = r"(;[0-9a-fA-F]{64})*" if info.field_name == "crypt_key" else ""
        if value is not None and not re.fullmatch(r"[0-9a-fA-F]{64}" + rotation, str(value)):
            raise ValueError("must be 64 hexadecimal characters (32 random bytes)")
        return value

    @field_validator("dummy_password", "proxy_token", "metrics_token", "key_sync_token", mode="before")
    @classmethod
    def _long_enough(cls, value: str, info) -> str:
        minimum, what = _MINIMUM_LENGTH[info.field_name]
        if value is not None and len(str(value)) < minimum:
            raise ValueError(f"is too short: use at least {minimum} {what}")
        return value

    @field_validator("site_resources_dir", "swarm_shared_path")
    @classmethod
    def _absolute_host_path(cls, path: Path | None) -> Path | None:
        # A relative path would be taken as a volume name by Docker, not as a directory.
        if path is not None and (not path.is_absolute() or path == Path("/")):
            raise ValueError(f"{str(path)!r} is not an absolute directory path on the Docker host")
        return path

    @field_validator("swarm_shared_path")
    @classmethod
    def _plain_path(cls, path: Path | None) -> Path | None:
        # Users' bind mounts are <path>/<volume name>: no '..' that could lead elsewhere, and
        # nothing (',' '=' spaces) that Docker's mount syntax could misread.
        if path is not None and (".." in path.parts or not re.fullmatch(r"[A-Za-z0-9_./@+-]+", str(path))):
            raise ValueError(f"{str(path)!r} may hold only letters, digits and _ . / @ + - (and no '..')")
        return path

    @field_validator("scopes")
    @classmethod
    def _openid_first(cls, scopes: list[str]) -> list[str]:
        # Keycloak refuses userinfo without the openid scope (the old deployment's bug).
        return ["openid"] + [s for s in scopes if s != "openid"]

    @field_validator("issuer_url", "logout_url")
    @classmethod
    def _no_trailing_slash(cls, url: str | None) -> str | None:
        return url.rstrip("/") if url else url

    @field_validator("site_name", "help_contact")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        # Shown in page titles and headers: one line of text (it is escaped, never markup).
        if value is not None and re.search(r"[\x00-\x1f\x7f]", value):
            raise ValueError("must be one line of text, without control characters")
        return value

    @field_validator("site_logo")
    @classmethod
    def _image_file(cls, path: Path | None) -> Path | None:
        if path is not None and path.suffix.lower() not in LOGO_SUFFIXES:
            raise ValueError(f"must be an image file ending in {', '.join(LOGO_SUFFIXES)}")
        return path

    @property
    def database(self) -> str:
        return self.postgres_db or self.postgres_user

    def image_overrides(self) -> dict[str, str]:
        """Environment name -> image, for the legacy PYIRON_* variables that are set."""
        return {name: getattr(self, name) for name in IMAGE_VARIABLES if getattr(self, name)}

    @field_validator("server_disk_limit", mode="before")
    @classmethod
    def _disk_limit(cls, value):
        if value is None or (isinstance(value, str) and value.strip().lower() == "unbounded"):
            return value and "unbounded"
        from .values import check_memory_max, parse_size

        return check_memory_max(parse_size(value))

    def consistency_problems(self) -> list[Problem]:
        """Problems that involve more than one (individually valid) variable."""
        problems = []
        for value, maximum, var, max_var in (
            (self.mem_limit, self.max_mem_limit, "MEM_LIMIT", "MAX_MEM_LIMIT"),
            (self.cpu_limit, self.max_cpu_limit, "CPU_LIMIT", "MAX_CPU_LIMIT"),
        ):
            if maximum is not None and value > maximum:
                shown = format_memory if var == "MEM_LIMIT" else str
                problems.append(
                    Problem(
                        var,
                        f"the default {shown(value)} is above {max_var}={shown(maximum)}",
                        f"at most {shown(maximum)}",
                    )
                )
        if not networks_in(self.user_networks_pool, self.user_networks_prefix):
            problems.append(
                Problem(
                    "USER_NETWORKS_POOL",
                    f"{self.user_networks_pool} cannot hold one network of "
                    f"/{self.user_networks_prefix} (USER_NETWORKS_PREFIX): use a range of /{self.user_networks_prefix} "
                    "or larger",
                    DEFAULT_POOL,
                )
            )
        if bool(self.swarm_nfs_server) != bool(self.swarm_nfs_export):
            problems.append(
                Problem(
                    "SWARM_NFS_SERVER",
                    "SWARM_NFS_SERVER and SWARM_NFS_EXPORT must be set together",
                    "SWARM_NFS_SERVER=nfs.example.org SWARM_NFS_EXPORT=/export/pyiron-hub",
                )
            )
        if self.swarm_nfs_server and self.spawner != "swarm":
            problems.append(Problem("SWARM_NFS_SERVER", "is used only with SPAWNER=swarm", "swarm"))
        if self.swarm_shared_path and self.spawner != "swarm":
            problems.append(Problem("SWARM_SHARED_PATH", "is used only with SPAWNER=swarm", "swarm"))
        if self.idle_cull_every and not (self.idle_timeout or self.max_server_age):
            problems.append(
                Problem(
                    "IDLE_CULL_EVERY",
                    "is used only when IDLE_TIMEOUT or MAX_SERVER_AGE is set (with both 0 no server is ever culled)",
                    "IDLE_TIMEOUT=3600",
                )
            )
        if self.group_folders and self.spawner == "swarm":
            problems.append(Problem("GROUP_FOLDERS", "is used only with SPAWNER=docker", "docker"))
        if self.named_server_limit and self.spawner == "swarm":
            # Two servers of one user write one SQLite job database: safe where its locks are
            # (one kernel, a local volume), not on a swarm's NFS home.
            problems.append(
                Problem(
                    "NAMED_SERVER_LIMIT",
                    "is used only with SPAWNER=docker (servers on several nodes would share pyiron's "
                    "SQLite job database over NFS, whose locks SQLite does not trust)",
                    "0",
                )
            )
        if self.storage_quota is not None and self.server_disk_limit is None:
            problems.append(
                Problem(
                    "SERVER_DISK_LIMIT",
                    "must be set with STORAGE_QUOTA: a server's own writable layer (/tmp, caches) would otherwise "
                    "fill the engine's disk, quota or not (set `unbounded` only if the engine cannot limit it)",
                    "20G",
                )
            )
        if self.storage_quota is not None and self.spawner != "docker":
            problems.append(
                Problem(
                    "STORAGE_QUOTA",
                    "is enforced with SPAWNER=docker only (on a swarm, limit users' directories on the shared "
                    "file system's server: docs, Disk quotas)",
                    "unset it",
                )
            )
        if self.group_folder_quota is not None and self.storage_quota is None:
            problems.append(
                Problem(
                    "GROUP_FOLDER_QUOTA",
                    "is used only with STORAGE_QUOTA (group folders are limited subvolumes beside users' homes)",
                    "STORAGE_QUOTA=10G",
                )
            )
        if self.storage_quota is not None and not self.storage_quota_root.startswith("/"):
            problems.append(
                Problem("STORAGE_QUOTA_ROOT", "must be an absolute path on the Docker host", "/srv/pyiron-hub/quota")
            )
        if self.swarm_shared_path and self.swarm_nfs_server:
            problems.append(
                Problem(
                    "SWARM_SHARED_PATH",
                    "and SWARM_NFS_SERVER name two places for users' files: set one of them",
                    "SWARM_SHARED_PATH=/srv/pyiron-hub-users",
                )
            )
        return problems

    def path_problems(self) -> list[Problem]:
        """Files named by variables that do not exist (inside the hub container)."""
        problems = []
        for path, var in (
            (self.ca_bundle, "OAUTH2_CA_BUNDLE"),
            (self.tls_cert, "TLS_CERT_FILE"),
            (self.tls_key, "TLS_KEY_FILE"),
            (self.site_logo, "SITE_LOGO"),
        ):
            try:
                missing = path is not None and not path.is_file()
            except OSError:  # is_file() raises on e.g. a name too long for the file system
                missing = True
            if missing:
                problems.append(Problem(var, f"no such file: {path}", "mount the file into the hub container"))
        # The hub makes each user's directories there (swarm.py), so it must see the path too.
        if self.swarm_shared_path is not None and not self.swarm_shared_path.is_dir():
            problems.append(
                Problem(
                    "SWARM_SHARED_PATH",
                    f"no such directory in the hub container: {self.swarm_shared_path}",
                    "deploy with the overlay compose.swarm-shared.yml, which mounts it",
                )
            )
        return problems


def variable_names() -> list[str]:
    """Every variable the settings read (for the README and the CLI)."""
    return list(_FIELDS)


_FIELDS = {f.alias: f for f in Settings.model_fields.values()}  # variable -> field


def _example(name: str) -> str | None:
    field = _FIELDS.get(name)
    return (field.json_schema_extra or {}).get("example") if field else None


# Where a swarm mounts each secret (swarm_secrets.py): the examples in problems name it.
SECRET_MOUNTS = {s.variable: s.mount for s in SWARM_SECRETS}

# On the host (check_paths=False) a VAR_FILE names a file inside the hub container: it only
# counts as set, with a stand-in value that passes every secret's format check.
_UNREAD_SECRET = "0" * 64


class EnvironSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping: values stripped, and each
    secret's VAR_FILE read into VAR (docker/compose secrets). What cannot be read is kept in
    ``problems``, to be reported with every other problem."""

    def __init__(self, environ: Mapping[str, str], read_files: bool = True):
        self.given, self.read_files, self.problems = environ, read_files, []
        super().__init__(Settings)

    def _load_env_vars(self) -> dict[str, str]:
        env = {k: v.strip() for k, v in self.given.items() if k in _FIELDS}
        env.update(self._secret_files())
        self.empty = {k for k, v in env.items() if v == ""}
        return {k: v for k, v in env.items() if v != ""}

    def _secret_files(self) -> dict[str, str]:
        env = {}
        for var in SECRET_VARIABLES:
            file_var = f"{var}_FILE"
            path = self.given.get(file_var)
            if not path:
                continue
            if self.given.get(var):
                # Which one would win is a guess (Postgres' image refuses both as well).
                self.problems.append(
                    Problem(
                        file_var,
                        f"both {var} and {file_var} are set: keep one",
                        f"{file_var}={SECRET_MOUNTS[var]} and no {var}",
                    )
                )
            elif not self.read_files:
                env[var] = _UNREAD_SECRET
            else:
                try:
                    env[var] = Path(path).read_text().strip()
                except OSError as err:
                    self.problems.append(Problem(file_var, f"cannot read {path}: {err.strerror}", SECRET_MOUNTS[var]))
                except UnicodeDecodeError:  # e.g. a binary file; never echo its bytes
                    self.problems.append(
                        Problem(file_var, f"{path} is not UTF-8 text", "a file holding only the secret")
                    )
        return env


def _required(env: Mapping[str, str], empty: set[str], *names: str, reported: set[str] = frozenset()) -> list[Problem]:
    return [
        Problem(name, "is set but empty" if name in empty else "is required but not set", _example(name))
        # A VAR_FILE that could not be read has been reported already.
        for name in names
        if not env.get(name) and name not in reported
    ]


def _admits_all(value: str | None) -> bool:
    """OAUTH2_ALLOW_ALL as pydantic reads a boolean; a malformed value is a problem of its own,
    so it does not also count as 'nobody may log in'."""
    if not value:
        return False
    try:
        return TypeAdapter(bool).validate_python(value)
    except ValidationError:
        return True


def _presence_problems(env: Mapping[str, str], empty: set[str], reported: set[str] = frozenset()) -> list[Problem]:
    """Checks on which variables are set together; they need no parsed values."""
    problems = []
    if env.get("AUTHENTICATOR") == "dummy":
        problems += _required(env, empty, "DUMMY_PASSWORD", reported=reported)
    else:
        problems += _required(env, empty, "CLIENT_ID", "CLIENT_SECRET", reported=reported)
        if not env.get("OAUTH2_ISSUER_URL"):
            missing = [v for v in ENDPOINT_VARIABLES if not env.get(v)]
            if missing:
                problems.append(
                    Problem(
                        "OAUTH2_ISSUER_URL",
                        f"not set, and neither are {', '.join(missing)}: give the realm URL, or all three endpoint URLs",
                        "https://keycloak.example.org/realms/pyiron",
                    )
                )
    # OAUTH2_ALLOW_ALL=false says nothing about who may log in.
    if not (env.get("OAUTH2_ALLOWED_GROUPS") or env.get("ALLOWED_USERS") or _admits_all(env.get("OAUTH2_ALLOW_ALL"))):
        problems.append(
            Problem(
                "OAUTH2_ALLOWED_GROUPS",
                "nobody but admins could log in: set OAUTH2_ALLOWED_GROUPS, ALLOWED_USERS, "
                "or OAUTH2_ALLOW_ALL=true to admit every user of the realm",
                "pyiron-users",
            )
        )
    if bool(env.get("TLS_CERT_FILE")) != bool(env.get("TLS_KEY_FILE")):
        problems.append(Problem("TLS_CERT_FILE", "TLS_CERT_FILE and TLS_KEY_FILE must be set together", None))
    return problems


def load_settings(environ: Mapping[str, str], check_paths: bool = True) -> Settings:
    """Read and validate the environment; raise ConfigError listing every problem."""
    source = EnvironSource(environ, read_files=check_paths)
    present, problems = source.env_vars, list(source.problems)
    unreadable = {p.where.removesuffix("_FILE") for p in problems}
    problems += _presence_problems(present, source.empty, unreadable)
    settings = None
    try:
        settings = Settings(**source())
    except ValidationError as err:
        problems += [p for p in _problems_from(err, source.empty) if p.where not in unreadable]
    if settings is not None:
        problems += settings.consistency_problems()
        if check_paths:
            problems += settings.path_problems()
    if problems:
        raise ConfigError(problems)
    return settings


# pydantic's wording for its built-in types, said the way an admin needs it.
_PLAIN_MESSAGES = {
    "bool_parsing": "use true or false",
    "int_parsing": "use a whole number",
    "float_parsing": "use a number",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be {ge} or more",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be {le} or less",
    "string_pattern_mismatch": "may hold only letters, digits, '.', '_' and '-'",
}


def _problems_from(err: ValidationError, empty: set[str]) -> list[Problem]:
    problems = []
    for e in err.errors():
        var = str(e["loc"][0])
        example = _example(var)
        if e["type"] == "missing":
            message = "is set but empty" if var in empty else "is required but not set"
        elif e["type"] in _PLAIN_MESSAGES:
            message = _PLAIN_MESSAGES[e["type"]].format(**e.get("ctx", {}))
        else:
            # Our own validators say what a valid value looks like, and never echo a secret.
            message = e["msg"].removeprefix("Value error, ")
        problems.append(Problem(var, message, example))
    return problems
