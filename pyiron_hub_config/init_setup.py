"""What `pyiron-hub init` decides for a new set-up: the stack's compose files (COMPOSE_FILE),
the values its flags and questions give, and the exact commands to run next.

Pure functions over dicts of variables; cli.py reads the files, asks, and writes them.
COMPOSE_FILE goes into `.env` (envfiles.py says why that file): then every plain
`docker compose ...` run in the project directory (up, run, logs, backup, upgrade) uses
the same files, and no command in the README repeats a `-f` list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .envfiles import known_variables
from .problems import Problem
from .settings import IMAGE_VARIABLES

BASE_FILE = "docker-compose.yml"
TLS_FILE = "compose.tls.yml"
NGINX_FILE = "compose.nginx.yml"
CLUSTERS_FILE = "compose.clusters.yml"
BACKUP_FILE = "compose.backup.yml"
# The order an admin would write them in: the base, how the hub is reached, then services.
OVERLAY_ORDER = (TLS_FILE, NGINX_FILE, CLUSTERS_FILE, BACKUP_FILE)
TLS_CHOICES = {"none": (), "cert": (TLS_FILE,), "nginx": (NGINX_FILE,)}
DEFAULT_PROJECT = "pyiron-hub"
DEFAULT_HUB_IMAGE = "pyiron-hub:latest"
# Defaults written into a new .env, so that the file shows them (compose's own defaults are the same).
COMPOSE_DEFAULTS = {"HUB_IMAGE": DEFAULT_HUB_IMAGE, "HUB_BIND": "127.0.0.1", "HUB_PORT": "8000"}
# compose (v1 and v2) names projects like this; the volumes are <project>_hub-db-data ...
_PROJECT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def split_compose_file(value: str | None) -> list[str]:
    return [f for f in (value or "").split(":") if f]


@dataclass
class StackChoice:
    """How the hub is reached and which optional services run; None: keep what .env says."""

    tls: str | None = None  # a key of TLS_CHOICES
    backups: bool | None = None
    clusters: bool | None = None


def compose_file(existing: str | None, choice: StackChoice, values: Mapping[str, str], have_clusters_toml: bool) -> str:
    """COMPOSE_FILE for .env: the overlays chosen now, else those already listed (or implied
    by the old build.env's HOST_CERT_PATH / NGINX_NETWORK); files an admin added by hand stay, last."""
    listed = split_compose_file(existing)
    if choice.tls is not None:
        tls = set(TLS_CHOICES[choice.tls])
    elif existing:
        tls = {f for f in listed if f in (TLS_FILE, NGINX_FILE)}
    else:
        tls = {f for f, var in ((TLS_FILE, "HOST_CERT_PATH"), (NGINX_FILE, "NGINX_NETWORK")) if values.get(var)}
    backups = choice.backups if choice.backups is not None else BACKUP_FILE in listed
    if choice.clusters is not None:
        clusters = choice.clusters
    else:  # a clusters.toml made after the first run changes nothing until asked (--clusters)
        clusters = CLUSTERS_FILE in listed if existing else have_clusters_toml
    chosen = tls | ({BACKUP_FILE} if backups else set()) | ({CLUSTERS_FILE} if clusters else set())
    # compose.guard.yml is gone: the guard is in docker-compose.yml itself.
    own = [f for f in listed if f not in (BASE_FILE, "compose.guard.yml", *OVERLAY_ORDER)]
    return ":".join([BASE_FILE, *(f for f in OVERLAY_ORDER if f in chosen), *own])


def tls_of(compose_files: str) -> str:
    files = set(split_compose_file(compose_files))
    return "cert" if TLS_FILE in files else "nginx" if NGINX_FILE in files else "none"


def callback_url(hub_url: str) -> str:
    return hub_url.rstrip("/") + "/hub/oauth_callback"


def hub_url_of(values: Mapping[str, str]) -> str | None:
    """The hub's public URL, as OAUTH_CALLBACK_URL names it."""
    url = values.get("OAUTH_CALLBACK_URL") or ""
    return url.removesuffix("/hub/oauth_callback") if url.endswith("/hub/oauth_callback") else None


@dataclass
class Flags:
    """init's flags for scripts, as variables (None: not given)."""

    values: dict[str, str] = field(default_factory=dict)  # variable -> value, any file
    backup: dict[str, str] = field(default_factory=dict)  # backup.env
    choice: StackChoice = field(default_factory=StackChoice)
    problems: list[Problem] = field(default_factory=list)


def flags_to_values(args) -> Flags:
    """argparse's namespace -> variables; a malformed flag is a problem, reported with the others."""
    out = Flags()
    direct = {
        "issuer_url": "OAUTH2_ISSUER_URL",
        "client_id": "CLIENT_ID",
        "client_secret": "CLIENT_SECRET",
        "admins": "ADMIN_USER",
        "admin_group": "OAUTH2_ADMIN_GROUPS",
        "allowed_group": "OAUTH2_ALLOWED_GROUPS",
        "hub_port": "HUB_PORT",
        "hub_bind": "HUB_BIND",
        "hub_image": "HUB_IMAGE",
        "postgres_image": "POSTGRES_IMAGE",
        "project_name": "COMPOSE_PROJECT_NAME",
        "users_network": "DOCKER_NETWORK_NAME",
        "deployment_name": "DEPLOYMENT_NAME",
        "cert": "HOST_CERT_PATH",
        "key": "HOST_KEY_PATH",
        "nginx_network": "NGINX_NETWORK",
        "https_port": "HTTPS_PORT",
    }
    for attr, var in direct.items():
        value = getattr(args, attr, None)
        if value is not None:
            out.values[var] = value
    if getattr(args, "hub_url", None):
        if not re.match(r"^https?://[^/\s]+/?$", args.hub_url):
            out.problems.append(
                Problem("--hub-url", "must be the hub's address without a path", "https://hub.example.org")
            )
        else:
            out.values["OAUTH_CALLBACK_URL"] = callback_url(args.hub_url)
    if getattr(args, "allow_all", False):
        out.values["OAUTH2_ALLOW_ALL"] = "true"
    for item in getattr(args, "image", None) or []:
        name, sep, image = item.partition("=")
        var = IMAGE_VARIABLES.get(name) or (name if name in IMAGE_VARIABLES.values() else None)
        if not sep or not var or not image:
            out.problems.append(
                Problem(
                    f"--image {item}",
                    f"use ENVIRONMENT=IMAGE with an environment of the catalogue ({', '.join(IMAGE_VARIABLES)})",
                    "pyiron_base=pyiron/base:2025-01",
                )
            )
        else:
            out.values[var] = image
    for item in getattr(args, "set", None) or []:
        name, sep, value = item.partition("=")
        if not sep or name not in known_variables():
            out.problems.append(
                Problem(
                    f"--set {item}",
                    "use VARIABLE=value with a variable of the configuration reference (README)",
                    "MEM_LIMIT=4G",
                )
            )
        else:
            out.values[name] = value
    if out.values.get("COMPOSE_PROJECT_NAME") is not None and not _PROJECT.match(out.values["COMPOSE_PROJECT_NAME"]):
        out.problems.append(
            Problem("--project-name", "may hold only lower-case letters, digits, '_' and '-'", DEFAULT_PROJECT)
        )
    out.choice.tls = getattr(args, "tls", None)
    out.choice.backups = getattr(args, "backups", None)
    out.choice.clusters = getattr(args, "clusters", None)
    if getattr(args, "backup_repository", None):
        out.backup["RESTIC_REPOSITORY"] = args.backup_repository
    return out


@dataclass
class Question:
    variable: str
    text: str
    default: Callable[[Mapping[str, str]], str | None] = lambda values: None
    secret: bool = False
    when: Callable[[Mapping[str, str]], bool] = lambda values: True


# What a person is asked, in this order, when no flag gave the answer. An empty answer keeps
# the default shown in brackets (the value already written, on a second run).
QUESTIONS = (
    Question("OAUTH2_ISSUER_URL", "Keycloak realm URL (browser and hub must both reach it)"),
    Question("CLIENT_ID", "The hub's client id in that realm", lambda v: "pyiron-hub"),
    Question(
        "CLIENT_SECRET",
        "The client's secret (empty: generate one; `pyiron-hub keycloak-client` gives it to Keycloak)",
        secret=True,
    ),
    Question("HUB_URL", "The hub's public URL (Keycloak sends the browser back there)", hub_url_of),
    Question("OAUTH2_ALLOWED_GROUPS", "Keycloak group whose members may log in", lambda v: "pyiron-users"),
    Question("OAUTH2_ADMIN_GROUPS", "Keycloak group of the hub's admins", lambda v: "pyiron-admins"),
    Question("ADMIN_USER", "Admins by user name too (comma-separated, may be empty)"),
    Question(
        "TLS",
        "TLS: 'none' (plain http on HUB_BIND:HUB_PORT), 'cert' (the hub serves HTTPS with a "
        "certificate on this host) or 'nginx' (behind nginx on its network)",
        lambda v: tls_of(v.get("COMPOSE_FILE", "")),
    ),
    Question("HOST_CERT_PATH", "Certificate file on this host (full chain)", when=lambda v: v.get("TLS") == "cert"),
    Question("HOST_KEY_PATH", "Its private key file on this host", when=lambda v: v.get("TLS") == "cert"),
    Question("NGINX_NETWORK", "nginx's Docker network", when=lambda v: v.get("TLS") == "nginx"),
    Question("HUB_PORT", "Port of the hub on this host", lambda v: "8000", when=lambda v: v.get("TLS") != "cert"),
    Question(
        "BACKUPS",
        "Back up every night with restic (yes/no)",
        lambda v: "yes" if BACKUP_FILE in split_compose_file(v.get("COMPOSE_FILE")) else "no",
    ),
    Question(
        "RESTIC_REPOSITORY",
        "Backup repository (a path on this host, on another disk; or sftp:..., s3:...)",
        when=lambda v: v.get("BACKUPS") == "yes",
    ),
)


def ask(
    questions: Sequence[Question], known: Mapping[str, str], given: set[str], prompt, secret_prompt
) -> dict[str, str]:
    """Ask each question no flag answered; returns variable -> answer (the default if left empty)."""
    answers: dict[str, str] = {}
    for q in questions:
        seen = {**known, **answers}
        if q.variable in given or not q.when(seen):
            continue
        default = seen.get(q.variable) or q.default(seen) or ""
        shown = ("(kept)" if default else "") if q.secret else default
        reply = (secret_prompt if q.secret else prompt)(f"{q.text} [{shown}]: ").strip()
        answers[q.variable] = reply or default
    return answers


def answers_to_flags(answers: Mapping[str, str], flags: Flags) -> list[Problem]:
    """Fold the person's answers into flags (answers use the same variables, plus TLS, BACKUPS, HUB_URL)."""
    problems = []
    for var, value in answers.items():
        if var == "TLS":
            if value not in TLS_CHOICES:
                problems.append(Problem("TLS", f"{value!r} is none of {', '.join(TLS_CHOICES)}", "cert"))
            else:
                flags.choice.tls = value
        elif var == "BACKUPS":
            flags.choice.backups = value.lower() in ("y", "yes", "true", "1")
        elif var == "HUB_URL":
            if value:
                flags.values["OAUTH_CALLBACK_URL"] = callback_url(value)
        elif var == "RESTIC_REPOSITORY":
            flags.backup[var] = value
        elif value:
            flags.values[var] = value
    return problems


def docker_run(image: str, *, socket: bool = False) -> str:
    """The command that runs the CLI from the hub image on the files of the current directory."""
    sock = "-v /var/run/docker.sock:/var/run/docker.sock " if socket else ""
    return f'docker run --rm {sock}-v "$PWD:/cfg" -w /cfg {image} pyiron-hub'


def next_steps(values: Mapping[str, str], todo: Sequence[Problem], backups: bool) -> list[str]:
    """The exact commands to run next, in the directory of the files (the checkout)."""
    image = values.get("HUB_IMAGE") or DEFAULT_HUB_IMAGE
    lines = []
    if todo:
        lines.append("First fill in pyiron.env (or run init again with its flags):")
        lines += [f"  {p.where}: {p.message}" for p in todo]
    lines.append("Next, in this directory (beside docker-compose.yml), run:")
    hub_url = "" if hub_url_of(values) else " --hub-url https://<your hub>"
    if values.get("AUTHENTICATOR", "keycloak") == "keycloak":
        lines.append(
            f"  {docker_run(image)} keycloak-client --env-file pyiron.env{hub_url}"
            "    # the client Keycloak needs; --apply creates it"
        )
    lines.append(f"  {docker_run(image)} check --env-file pyiron.env --env-file shared.env")
    lines.append(f"  {docker_run(image, socket=True)} pull --missing --env-file pyiron.env")
    lines.append("  docker compose up -d")
    if backups:  # with the hub's database running: the first backup dumps it
        lines.append("  docker compose run --rm backup pyiron-hub backup --init")
    return lines
