"""`pyiron-hub`: the admin's command line (check, init, pull, serve, usage, move-to-shared, backup, restore, snapshots)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import envfiles
from .catalogue import load_catalogue
from .database import database_url, wait_for_database
from .host_checks import missing_images_report, site_resources_problems_here, site_resources_problems_via_engine
from .hub_config import HubConfig, load_hub_config
from .problems import ConfigError, Problem
from .provider import provider_problems
from .settings import IMAGE_VARIABLES
from .storage import GROUP_VOLUME
from .swarm_secrets import SECRETS_DIR, SWARM_SECRETS, split_secrets
from .values import check_image, format_memory, pull_arguments

DEFAULT_HUB_CONFIG = "/srv/jupyterhub/jupyterhub_config.py"
BACKUP_ENV = "backup.env"  # compose.backup.yml's env_file: restic's repository and passphrase


def _environ(env_files: Sequence[str] | None) -> Mapping[str, str]:
    # With --env-file the files are what the hub container will see; the shell's own
    # environment would only blur that.
    if not env_files:
        return os.environ
    merged: dict[str, str] = {}
    for name in env_files:
        try:
            merged.update(envfiles.parse_env_file(Path(name)))
        except OSError as err:  # a mistyped --env-file: a problem report, not a traceback
            raise ConfigError([Problem(f"--env-file {name}", f"cannot read it: {err.strerror}")]) from None
    return merged


def summary(hub: HubConfig) -> str:
    s = hub.settings
    admitted = [
        f"{kind} {', '.join(names)}"
        for kind, names in (("groups", s.allowed_groups), ("users", s.allowed_users))
        if names
    ]
    who = "every user of the realm" if s.allow_all else ", ".join(admitted) or "admins only"
    lines = [
        "Configuration is valid.",
        f"  Keycloak:      {s.issuer_url or s.authorize_url} (client {s.client_id})"
        if s.authenticator == "keycloak"
        else "  Login:         DUMMY authenticator (shared password): for tests only",
        f"  Who may log in: {who}; admins: {', '.join(s.admin_users + s.admin_groups) or 'none'}",
        f"  Database:      {s.postgres_user}@{s.postgres_host}:{s.postgres_port}/{s.database}",
        "  Environments:",
    ]
    for env in hub.environments:
        mark = " (default)" if env.default else " (retired)" if env.retired else ""
        lines.append(
            f"    {env.name:<22} {env.image:<40} {format_memory(env.mem_limit):>6} {env.cpu_limit:g} CPU{mark}"
        )
    if hub.left_out:
        lines.append("  Not offered (no image; set its variable to offer it):")
        for env in hub.left_out:
            lines.append(
                f"    {env.name:<22} {IMAGE_VARIABLES.get(env.name, 'image in the catalogue')}"
                + (" (retired)" if env.retired else "")
            )
    if hub.clusters:
        lines.append("  Clusters:")
        for c in hub.clusters:
            queues = ", ".join(q.name + (" (default)" if q.name == c.primary_queue else "") for q in c.queues)
            lines.append(f"    {c.name:<22} {c.host}:{c.port:<5} account {c.user!s:<14} queues {queues}")
    return "\n".join(lines)


def host_problems(path: Path, on_docker_host: bool) -> list[Problem]:
    """SITE_RESOURCES_DIR is on the Docker host: looked at directly there, else asked of the engine."""
    if on_docker_host:
        return site_resources_problems_here(path)
    import docker

    try:
        client = docker.from_env(timeout=10)
    except docker.errors.DockerException as err:  # no engine here: the spawn would fail too
        return [Problem("SITE_RESOURCES_DIR", f"cannot ask the Docker engine whether it exists: {err}")]
    return site_resources_problems_via_engine(path, client)


def checked_hub_config(environ: Mapping[str, str], on_docker_host: bool) -> HubConfig:
    """load_hub_config plus the checks on the Docker host, all problems in one report."""
    problems, hub = [], None
    try:
        hub = load_hub_config(environ, check_paths=not on_docker_host)
    except ConfigError as err:
        problems += err.problems
    site = (environ.get("SITE_RESOURCES_DIR") or "").strip()
    if site and not any(p.where == "SITE_RESOURCES_DIR" for p in problems):
        problems += host_problems(Path(site), on_docker_host)
    if hub is not None and hub.settings.storage_quota is not None and not on_docker_host:
        from .quota import quota_problems

        # Asked of the quota service, which sees the directory (the hub does not).
        problems += quota_problems(hub.settings.quota_service_url, hub.settings.storage_quota_root)
    if problems:
        raise ConfigError(problems)
    return hub


def cmd_check(args) -> int:
    try:
        environ = _environ(args.env_file)
        hub = checked_hub_config(environ, on_docker_host=bool(args.env_file))
        if args.online:
            problems = provider_problems(hub.settings)
            if problems:
                raise ConfigError(problems)
    except ConfigError as err:
        print(err.report(), file=sys.stderr)
        return 1
    print(summary(hub))
    if hub.settings.spawner == "docker":  # on a swarm the images are on the workers, not here
        print("\n".join(missing_images_report(env.image for env in hub.environments)))
    if args.online and hub.settings.authenticator == "keycloak":
        print("  Keycloak accepted the realm URL and the client's credentials.")
    if args.env_file:
        print("  (paths are inside the hub container and were not checked here)")
        if hub.settings.storage_quota is not None:
            print("  (whether STORAGE_QUOTA can be enforced is asked of the quota service at the hub's start)")
    for warning in check_warnings(environ, args.env_file):
        print(f"  WARNING: {warning}")
    return 0


def check_warnings(environ: Mapping[str, str], env_files: Sequence[str] | None) -> list[str]:
    """Unsafe but valid: the Docker socket in the hub, demo secrets, http:// Keycloak, ADMIN_ACCESS."""
    from . import safety

    warnings = safety.setting_warnings(environ)
    if env_files:  # the project directory holds the env files, .env and the compose files
        warnings += safety.compose_socket_warnings(Path(env_files[0]).parent)
    else:
        warnings += safety.running_hub_warnings()
    return warnings


def _secret_files(directory: Path) -> dict[str, str]:
    """The secret files an earlier `init --swarm` wrote (secret name -> text)."""
    found, problems = {}, []
    for secret in SWARM_SECRETS:
        path = directory / SECRETS_DIR / secret.name
        try:
            found[secret.name] = path.read_text()
        except FileNotFoundError:
            pass
        except OSError as err:
            problems.append(Problem(str(path), f"cannot read it: {err.strerror}"))
        except UnicodeDecodeError:  # never echo a secret's bytes
            problems.append(Problem(str(path), "is not UTF-8 text", "a file holding only the secret"))
    if problems:
        raise ConfigError(problems)
    return found


def _interactive(args) -> bool:
    """A person at a terminal is asked; a script (no TTY, or --no-input) is not."""
    return not (args.no_input or args.swarm or args.seed) and sys.stdin.isatty()


def cmd_init(args) -> int:
    from . import init_setup as setup

    seed = Path(args.seed) if args.seed else None
    directory = Path(args.dir) if args.dir else (seed.parent if seed else Path.cwd())
    plan = None
    flags = setup.flags_to_values(args)
    backups, backup_values, todo = False, {}, []
    try:
        values: dict[str, str] = {}
        # An earlier version's build.env first: .env, its new name, wins over it.
        for name in (envfiles.LEGACY_BUILD_ENV, *envfiles.ENV_FILES):
            if (directory / name).exists():
                values.update(envfiles.parse_env_file(directory / name))
        if (directory / BACKUP_ENV).exists():
            backup_values = envfiles.parse_env_file(directory / BACKUP_ENV)
        existing_stack = values.get("COMPOSE_FILE")
        if seed:
            values.update(envfiles.read_seed(seed))
            if not any(values.get(k) for k in ("OAUTH2_ALLOWED_GROUPS", "ALLOWED_USERS", "OAUTH2_ALLOW_ALL")):
                # The old deployment let every user of the realm in; keep that, visibly.
                values["OAUTH2_ALLOW_ALL"] = "true"
        problems = list(flags.problems)
        if _interactive(args):
            import getpass

            print(f"Writing the set-up in {directory.resolve()}; Enter keeps the value in brackets.")
            given = set(flags.values) | set(flags.backup)
            for name, flagged in (
                ("HUB_URL", "OAUTH_CALLBACK_URL" in flags.values),
                ("TLS", flags.choice.tls is not None),
                ("BACKUPS", flags.choice.backups is not None),
            ):
                if flagged:
                    given.add(name)
            answers = setup.ask(
                setup.QUESTIONS, {**values, **backup_values, **flags.values}, given, input, getpass.getpass
            )
            problems += setup.answers_to_flags(answers, flags)
        values.update(flags.values)
        keycloak = values.get("AUTHENTICATOR", "keycloak") == "keycloak"
        # (An old deployment's config.json named its client: a missing one there is a mistake to report.)
        if keycloak and not seed and (values.get("OAUTH2_ISSUER_URL") or values.get("OAUTH2_AUTHORIZE_URL")):
            values.setdefault("CLIENT_ID", "pyiron-hub")
            if not (values.get("CLIENT_SECRET") or values.get("CLIENT_SECRET_FILE")):
                # `pyiron-hub keycloak-client` gives this one to Keycloak.
                values["CLIENT_SECRET"] = envfiles.new_secret()
        if not args.swarm:
            for key, value in {**setup.COMPOSE_DEFAULTS, "COMPOSE_PROJECT_NAME": setup.DEFAULT_PROJECT}.items():
                values.setdefault(key, value)
            values["COMPOSE_FILE"] = setup.compose_file(
                existing_stack, flags.choice, values, (directory / "clusters.toml").exists()
            )
            backups = setup.BACKUP_FILE in setup.split_compose_file(values["COMPOSE_FILE"])
        if backups:
            backup_values.update(flags.backup)
            if not backup_values.get("RESTIC_REPOSITORY"):
                problems.append(
                    Problem(
                        "--backup-repository",
                        "is required with --backups: where restic keeps them",
                        "/srv/backups/pyiron-hub (a path on this host, on a second disk)",
                    )
                )
            if not (backup_values.get("RESTIC_PASSWORD") or backup_values.get("RESTIC_PASSWORD_FILE")):
                backup_values["RESTIC_PASSWORD"] = envfiles.new_secret()
            # Nightly, not at once: the first backup is Next's `backup --init`, which makes the repository.
            backup_values.setdefault("BACKUP_AT", "03:00")
        if args.swarm:
            # On a swarm a service's environment is public to every manager: each secret
            # leaves the env files for secrets/, which compose.swarm.yml makes swarm secrets of.
            plan = split_secrets(values, _secret_files(directory))
            values = plan.env
        elif not (values.get("POSTGRES_PASSWORD") or values.get("POSTGRES_PASSWORD_FILE")):
            values["POSTGRES_PASSWORD"] = envfiles.new_secret()
        problems += (plan.problems if plan else []) + envfiles.unsafe_value_problems(values, quoted=not args.swarm)
        problems += envfiles.unsafe_value_problems(backup_values)
        try:
            load_hub_config(values, check_paths=False)
        except ConfigError as err:
            for problem in err.problems:
                # A value given now must be right: refuse it. One not given yet is still to do.
                if seed or problem.where in flags.values:
                    problems.append(problem)
                else:
                    todo.append(problem)
        if problems:
            raise ConfigError(problems)
    except ConfigError as err:
        print(err.report("No file was written."), file=sys.stderr)
        return 1
    by_file: dict[str, dict[str, str]] = {name: {} for name in envfiles.ENV_FILES}
    for key, value in values.items():
        by_file[envfiles.home_file(key)][key] = value
    if args.swarm:
        # `docker stack deploy` reads no env file: the README sources build.env into the shell,
        # and compose's .env (with COMPOSE_FILE) has no part in a swarm.
        by_file[envfiles.LEGACY_BUILD_ENV] = by_file.pop(envfiles.COMPOSE_ENV)
    directory.mkdir(parents=True, exist_ok=True)
    if plan:  # first: env files that name a secret file never exist without it
        (directory / SECRETS_DIR).mkdir(mode=0o700, exist_ok=True)
        for name, secret in plan.new_files.items():
            envfiles.write_private(directory / SECRETS_DIR / name, secret)
            print(f"wrote {directory / SECRETS_DIR / name} (mode 0600)")
        if plan.kept:
            print(f"kept {', '.join(plan.kept)} in {directory / SECRETS_DIR}")
    if backups:
        by_file[BACKUP_ENV] = backup_values
    for name, file_values in by_file.items():
        envfiles.write_private(directory / name, envfiles.format_env_file(file_values, quoted=not args.swarm))
        print(f"wrote {directory / name} ({len(file_values)} variables, mode 0600)")
    if not args.swarm and (directory / envfiles.LEGACY_BUILD_ENV).exists():
        print(
            f"{envfiles.LEGACY_BUILD_ENV}: its values are now in .env, which docker compose reads by itself; "
            f"remove {envfiles.LEGACY_BUILD_ENV} and drop `--env-file {envfiles.LEGACY_BUILD_ENV}` and `-f` from your "
            "commands"
        )
    if not args.swarm:
        print(
            f"The stack: {' + '.join(setup.split_compose_file(values['COMPOSE_FILE']))} "
            f"(COMPOSE_FILE in .env, project {values['COMPOSE_PROJECT_NAME']})"
        )
        if backups:
            print(f"Keep a copy of RESTIC_PASSWORD ({BACKUP_ENV}) off this host: without it no backup can be read.")
        print("\n".join(setup.next_steps(values, todo, backups)))
    if plan and plan.missing:
        moves = ", ".join(
            f"{s.variable} into {directory / SECRETS_DIR / s.name}" for s in SWARM_SECRETS if s.variable in plan.missing
        )
        print(f"Then run `pyiron-hub init --swarm` again: it moves {moves}.")
    elif plan:
        print(
            'Deploy from that directory (README "Running on a swarm"): set -a; . ./build.env; set +a; '
            "docker stack deploy -c compose.swarm.yml -c compose.swarm-encrypted.yml pyiron-hub"
        )
    return 0


def cmd_keycloak_client(args) -> int:
    """Print the Keycloak client the hub needs; with --apply, create or update it in Keycloak."""
    from . import keycloak_client as kc
    from .init_setup import hub_url_of

    try:
        values = dict(_environ(args.env_file))
        realm = kc.Realm.from_settings(values, args.keycloak_url)
        hub_url = args.hub_url or hub_url_of(values)
        if not hub_url:
            raise ConfigError(
                [
                    Problem(
                        "--hub-url",
                        "the hub's public URL is needed for the redirect URI (or OAUTH_CALLBACK_URL in pyiron.env)",
                        "https://hub.example.org",
                    )
                ]
            )
        client = kc.client_representation(values, hub_url)
        if args.json:
            print(json.dumps(client, indent=2))
            return 0
        if args.apply:
            password = os.environ.get("KEYCLOAK_ADMIN_PASSWORD")
            if password is None and sys.stdin.isatty():
                import getpass

                password = getpass.getpass(f"Password of Keycloak's admin {args.admin_user}: ")
            if not password:
                raise ConfigError(
                    [
                        Problem(
                            "KEYCLOAK_ADMIN_PASSWORD",
                            "--apply needs the Keycloak admin's password in this variable (or at a terminal)",
                            "docker run -e KEYCLOAK_ADMIN_PASSWORD ...",
                        )
                    ]
                )
            admin = kc.KeycloakAdmin(realm, args.admin_user, password, args.admin_realm)
            done = admin.apply(client)
            print(f"{done} client {client['clientId']} in realm {realm.name} at {realm.base}:")
    except ConfigError as err:
        print(err.report(), file=sys.stderr)
        return 1
    except urllib.error.HTTPError as err:
        print(f"Keycloak refused: HTTP {err.code} {err.reason}: {err.read()[:300]!r}", file=sys.stderr)
        return 1
    print("\n".join(kc.summary(realm, client)))
    if not args.apply:
        print(
            "Set these in Keycloak's console, or import the client (Clients > Import client) from the output of "
            "`pyiron-hub keycloak-client --json`, or let this command do it: --apply (as a Keycloak admin, "
            "password in KEYCLOAK_ADMIN_PASSWORD)."
        )
    return 0


def images_to_pull(environ: Mapping[str, str]) -> list[str]:
    """Every catalogue image, with the PYIRON_* overrides applied; validated, never shell-quoted."""
    problems = []
    try:
        catalogue = load_catalogue(environ.get("ENVIRONMENTS_FILE") or None)
    except ConfigError as err:
        problems += err.problems
        catalogue = []
    images = {env.name: env.image for env in catalogue}
    for name, var in IMAGE_VARIABLES.items():
        if environ.get(var):
            try:
                images[name] = check_image(environ[var])
            except ValueError as err:
                problems.append(Problem(var, str(err)))
    if problems:
        raise ConfigError(problems)
    return sorted({image for image in images.values() if image})  # entries without one are not offered


def cmd_pull(args) -> int:
    import docker  # only this command needs the Docker API
    from tqdm import tqdm

    try:
        images = images_to_pull(_environ(args.env_file))
    except ConfigError as err:
        print(err.report(), file=sys.stderr)
        return 1
    from .host_checks import images_missing, no_engine_hint

    try:
        client = docker.from_env()
        if args.missing:
            images = images_missing(client, images)
            print(f"{len(images)} image(s) not on this host: {', '.join(images) or 'none'}")
    except docker.errors.DockerException as err:
        print(no_engine_hint(err, "nothing was pulled", ""), file=sys.stderr)
        return 1
    failed = []
    for image in images:
        repository, tag = pull_arguments(image)
        bars: dict[str, tqdm] = {}
        try:
            # The Docker API takes the name as data: no shell ever sees it.
            for event in client.api.pull(repository, tag=tag, stream=True, decode=True):
                layer, detail = event.get("id"), event.get("progressDetail") or {}
                if layer and detail.get("total"):
                    bar = bars.setdefault(
                        layer,
                        tqdm(total=detail["total"], desc=f"{image} {layer}", unit="B", unit_scale=True, leave=False),
                    )
                    bar.n = detail.get("current", 0)
                    bar.refresh()
                if "error" in event:
                    raise RuntimeError(event["error"])
            print(f"pulled {image}")
        except Exception as err:  # report each image and carry on with the others
            failed.append(image)
            # The engine's own words (e.g. "... no such host"), not the HTTP wrapper around them.
            print(f"could not pull {image}: {getattr(err, 'explanation', None) or err}", file=sys.stderr)
        finally:
            for bar in bars.values():
                bar.close()
    if failed:
        print("\n".join(pull_failure_report(failed, images_missing(client, failed))), file=sys.stderr)
    return 1 if failed else 0


def pull_failure_report(failed: Sequence[str], missing: Sequence[str]) -> list[str]:
    """After failed pulls (offline, a registry down): what the hub can still start, and what to run."""
    present = [image for image in failed if image not in missing]
    lines = [f"{len(failed)} image(s) could not be pulled."]
    if present:
        lines.append(f"  On this host already (users can start them as they are): {', '.join(present)}")
    if missing:
        lines.append(f"  Not on this host (starting them fails until they are pulled): {', '.join(missing)}")
        lines.append("`pyiron-hub pull --missing` pulls only those, once the registry answers.")
    else:
        lines.append(
            "Every image is on this host: nothing is missing. `pyiron-hub pull --missing` pulls only "
            "what is not here (nothing now); plain `pull` looks for newer versions."
        )
    return lines


def cmd_serve(args) -> int:
    try:
        hub = checked_hub_config(os.environ, on_docker_host=False)
    except ConfigError as err:
        print(err.report(), file=sys.stderr)
        return 1
    if not wait_for_database(
        database_url(hub.settings), hub.settings.db_wait_timeout, log=lambda m: print(m, file=sys.stderr, flush=True)
    ):
        return 1
    # Keycloak may be down only for now: say plainly what is wrong, but start anyway.
    for problem in provider_problems(hub.settings):
        print(f"pyiron-hub: WARNING: {problem}", file=sys.stderr, flush=True)
    for warning in check_warnings(os.environ, None):
        print(f"pyiron-hub: WARNING: {warning}", file=sys.stderr, flush=True)
    if hub.settings.spawner == "docker":
        for line in missing_images_report(env.image for env in hub.environments):
            print(f"pyiron-hub: {line.strip()}", file=sys.stderr, flush=True)
    from .apply import PROXY_PID_FILE  # imports JupyterHub: only the commands that need it

    # After a kill, the container keeps the old proxy's pid file. JupyterHub would take
    # whatever process now has that pid for the proxy and signal it (in tests: itself).
    Path(PROXY_PID_FILE).unlink(missing_ok=True)
    config = os.environ.get("JUPYTERHUB_CONFIG", DEFAULT_HUB_CONFIG)
    os.execvp("jupyterhub", ["jupyterhub", "-f", config, *args.jupyterhub_args])
    return 1  # not reached


def cmd_health(args) -> int:
    """Does /hub/health answer on this container's port? (The image's probe, probes/health.py.)

    --hub-api asks the hub's own port, not the proxy's: on a swarm the proxy reaches the hub
    by a service name that exists only once the task is healthy (compose.swarm.yml).
    """
    import subprocess

    # Run, not imported: the probe is in probes/, which hub modules never import.
    command = [sys.executable, "-m", f"{__package__}.probes.health", *(["--hub-api"] if args.hub_api else [])]
    return subprocess.call(command)


def usage_table(usage, soft_limit: int | None) -> str:
    from .usage import format_bytes

    lines = [f"{'user':<24} {'home':>10} {'work':>10} {'disk':>10} {'memory / limit':>22} {'CPU / limit':>14}"]
    for u in sorted(usage.users.values(), key=lambda u: (-u.storage, u.name)):
        mem = f"{format_bytes(u.memory)} / {format_bytes(u.memory_limit)}" if u.memory is not None else "not running"
        cpu = f"{u.cpu:g} / {u.cpu_limit if u.cpu_limit else '-'}" if u.cpu is not None else "-"
        mark = "  above the soft limit" if soft_limit and u.storage > soft_limit else ""
        lines.append(
            f"{u.name:<24} {format_bytes(u.home):>10} {format_bytes(u.work):>10} "
            f"{format_bytes(u.storage):>10} {mem:>22} {cpu:>14}{mark}"
        )
    lines.append(
        f"stale image volumes: {len(usage.stale_image_volumes)}, {format_bytes(usage.stale_total)}"
        + (f" ({', '.join(sorted(usage.stale_image_volumes))})" if usage.stale_image_volumes else "")
    )
    lines.append(f"(measured in {usage.seconds:.1f} s)")
    return "\n".join(lines)


def cmd_usage(args) -> int:
    """Each user's disk, memory and CPU; --remove-stale removes image volumes nothing uses or needs."""
    import docker

    from .storage import container_prefix
    from .usage import measure, remove_stale_image_volumes

    try:
        hub = load_hub_config(os.environ, check_paths=False)
    except ConfigError as err:
        print(err.report(), file=sys.stderr)
        return 1
    s = hub.settings
    client = docker.from_env(timeout=300)
    usage = measure(
        client, s.deployment_name, [env.image for env in hub.environments], container_prefix(s.deployment_name)
    )
    print(usage_table(usage, s.storage_soft_limit))
    if args.remove_stale:
        removed = remove_stale_image_volumes(client, usage)
        print(f"removed {len(removed)} stale image volume(s): {', '.join(removed) or 'none'}")
    return 0


def cmd_move_to_shared(args) -> int:
    """Copy users' node-local volumes into the shared path (shared_move.py)."""
    from .shared_move import move_to_shared

    source, target = Path(args.source), Path(args.to)
    problems = [
        f"{flag}: no such directory: {path}"
        for flag, path in (("--from", source), ("--to", target))
        if not path.is_dir()
    ]
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    lines = move_to_shared(source, str(target))
    print("\n".join(lines) if lines else f"no users' volumes (jupyterhub-home-*, jupyterhub-user-*) in {source}")
    return 0


# `quota set` and `quota set-group` differ only in these: the quota service's kind, what the
# name is called, an example name and size, and how the answer names it.
_QUOTA_SETS = {
    "set": ("users", "user", "alice", "20G", ""),
    "set-group": ("groups", "group", "lab", "50G", "group "),
}


def _set_quota(s, action: str, name: str | None, size: str | None) -> int:
    """One home's or group folder's new limit, set and printed with its usage; ConfigError if
    the name or size is missing or the size unreadable."""
    from . import quota
    from .values import parse_size

    kind, called, example_name, example_size, shown = _QUOTA_SETS[action]
    where = f"quota {action}"
    if not name or not size:
        raise ConfigError(
            [Problem(where, f"needs a {called} and a size", f"pyiron-hub {where} {example_name} {example_size}")]
        )
    try:
        limit = parse_size(size)
    except ValueError as err:
        raise ConfigError([Problem(where, str(err), example_size)]) from None
    got = quota.set_quota(s.quota_service_url, kind, quota.storage_name_of(kind, name), limit)
    print(f"{shown}{name}: {format_memory(got.used)} used of {format_memory(got.limit or 0)}")
    return 0


def cmd_quota(args) -> int:
    """Show each user's and group folder's usage and quota, or set one's (their files stay)."""
    from . import quota

    try:
        s = load_hub_config(os.environ, check_paths=False).settings
        if s.storage_quota is None:
            raise ConfigError([Problem("STORAGE_QUOTA", "is not set: there is no quota to show or set", "10G")])
        if args.action in _QUOTA_SETS:
            return _set_quota(s, args.action, args.user, args.size)
        rows = quota.usage_of(s.quota_service_url, "users")
        groups = quota.usage_of(s.quota_service_url, "groups")
    except ConfigError as err:
        print(err.report(), file=sys.stderr)
        return 1
    except quota.QuotaServiceError as err:
        print(f"pyiron-hub quota: {err}", file=sys.stderr)
        return 1
    print(f"{'home':<24} {'used':>10} {'quota':>10}")
    for name, u in rows.items():
        print(f"{name:<24} {format_memory(u.used):>10} {format_memory(u.limit) if u.limit else 'none':>10}")
    for name, u in groups.items():
        shown = "group " + name.removeprefix(GROUP_VOLUME)
        print(f"{shown:<24} {format_memory(u.used):>10} {format_memory(u.limit) if u.limit else 'none':>10}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyiron-hub", description="Configure and run the pyiron JupyterHub.")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="validate the configuration, print every problem")
    check.add_argument("--env-file", action="append", help="check these env files instead of the environment")
    check.add_argument(
        "--online",
        action="store_true",
        help="also ask Keycloak: realm reachable, issuer as configured, client id and secret accepted",
    )
    check.set_defaults(func=cmd_check)

    init = sub.add_parser(
        "init",
        help="write pyiron.env, shared.env and .env (and backup.env): asks at a terminal, flags for scripts",
        description="Write a working set-up: pyiron.env (the hub), shared.env (hub and Postgres), .env (read by "
        "docker compose itself: images, port, and COMPOSE_FILE, the stack's files) and, with backups, "
        "backup.env; mode 0600, secrets generated. Values already written are kept unless a flag or "
        "an answer changes them.",
    )
    init.add_argument("--from", dest="seed", metavar="CONFIG_JSON", help="the old deployment's config.json")
    init.add_argument("--dir", help="where to write (default: beside CONFIG_JSON, else here)")
    init.add_argument(
        "--swarm",
        action="store_true",
        help="for `docker stack deploy`: values unquoted (it reads env files literally), and every "
        "secret moved into secrets/<name> (compose.swarm.yml makes swarm secrets of them), "
        "the hub's own generated there",
    )
    init.add_argument("--no-input", action="store_true", help="ask nothing, even at a terminal")
    login = init.add_argument_group("login (Keycloak)")
    login.add_argument(
        "--issuer-url", metavar="URL", help="the realm URL, e.g. https://keycloak.example.org/realms/pyiron"
    )
    login.add_argument("--client-id", help="the hub's client id (default pyiron-hub)")
    login.add_argument(
        "--client-secret", help="its secret (default: generated; `keycloak-client` gives it to Keycloak)"
    )
    login.add_argument(
        "--hub-url",
        metavar="URL",
        help="the hub's public URL, e.g. https://hub.example.org (OAUTH_CALLBACK_URL is derived from it)",
    )
    login.add_argument("--allowed-group", metavar="GROUPS", help="Keycloak groups whose members may log in")
    login.add_argument("--allow-all", action="store_true", help="let every user of the realm log in")
    login.add_argument("--admin-group", metavar="GROUPS", help="Keycloak groups of the hub's admins")
    login.add_argument("--admins", metavar="USERS", help="admins by user name (comma-separated)")
    stack = init.add_argument_group("the stack (written to .env)")
    stack.add_argument(
        "--image",
        action="append",
        metavar="ENVIRONMENT=IMAGE",
        help="an environment's image, e.g. pyiron_base=pyiron/base:2025-01 (repeatable)",
    )
    stack.add_argument("--hub-image", help="the hub's image (default pyiron-hub:latest)")
    stack.add_argument("--postgres-image", help="Postgres' image (default postgres:17)")
    stack.add_argument("--hub-port", help="the hub's port on this host (default 8000)")
    stack.add_argument("--hub-bind", help="the address it is published on (default 127.0.0.1)")
    stack.add_argument(
        "--tls",
        choices=("none", "cert", "nginx"),
        help="none: plain http on HUB_BIND:HUB_PORT; cert: the hub serves HTTPS with --cert/--key "
        "(compose.tls.yml); nginx: behind nginx on --nginx-network (compose.nginx.yml)",
    )
    stack.add_argument("--cert", help="the certificate file on this host (--tls cert)")
    stack.add_argument("--key", help="its private key file on this host (--tls cert)")
    stack.add_argument("--https-port", help="the HTTPS port (--tls cert, default 443)")
    stack.add_argument("--nginx-network", help="nginx's Docker network (--tls nginx)")
    stack.add_argument(
        "--backups",
        action=argparse.BooleanOptionalAction,
        help="nightly backups with restic (compose.backup.yml, backup.env)",
    )
    stack.add_argument("--backup-repository", metavar="REPO", help="restic's repository: a host path, sftp:..., s3:...")
    stack.add_argument(
        "--clusters",
        action=argparse.BooleanOptionalAction,
        help="HPC clusters from clusters.toml (compose.clusters.yml); default: if clusters.toml exists",
    )
    stack.add_argument(
        "--project-name", help="compose's project name (default pyiron-hub; the volumes are named after it)"
    )
    stack.add_argument("--users-network", help="the Docker network of users' servers (default pyiron-hub-users)")
    stack.add_argument("--deployment-name", help="prefix of users' container and volume names (DEPLOYMENT_NAME)")
    stack.add_argument("--set", action="append", metavar="VARIABLE=VALUE", help="any other variable (repeatable)")
    init.set_defaults(func=cmd_init)

    kc = sub.add_parser(
        "keycloak-client",
        help="print (or --apply) the Keycloak client the hub needs",
        description="The client settings the hub needs in Keycloak: confidential, redirect URI "
        "<hub>/hub/oauth_callback, post-logout redirect, scopes, the groups mapper.",
    )
    kc.add_argument(
        "--env-file",
        action="append",
        help="read OAUTH2_ISSUER_URL, CLIENT_ID, CLIENT_SECRET, "
        "OAUTH_CALLBACK_URL from these files instead of the environment",
    )
    kc.add_argument("--hub-url", help="the hub's public URL (default: from OAUTH_CALLBACK_URL)")
    kc.add_argument("--keycloak-url", help="Keycloak's root URL as this machine reaches it (default: from the issuer)")
    kc.add_argument(
        "--json", action="store_true", help='print only the client, as Keycloak\'s "Import client" takes it'
    )
    kc.add_argument(
        "--apply",
        action="store_true",
        help="create or update the client through Keycloak's admin API (password in KEYCLOAK_ADMIN_PASSWORD)",
    )
    kc.add_argument("--admin-user", default="admin", help="a Keycloak admin (default admin)")
    kc.add_argument("--admin-realm", default="master", help="the admin's realm (default master)")
    kc.set_defaults(func=cmd_keycloak_client)

    pull = sub.add_parser("pull", help="pull every environment's image (newer versions too)")
    pull.add_argument("--env-file", action="append")
    pull.add_argument("--missing", action="store_true", help="only the images not on this host yet")
    pull.set_defaults(func=cmd_pull)

    health = sub.add_parser("health", help="exit 0 if this container's hub answers /hub/health")
    health.add_argument("--hub-api", action="store_true", help="ask the hub's API port instead of the proxy's")
    health.set_defaults(func=cmd_health)

    usage = sub.add_parser("usage", help="each user's disk, memory and CPU; stale image volumes")
    usage.add_argument(
        "--remove-stale",
        action="store_true",
        help="remove pyiron-hub-image-* volumes no container uses and no environment needs",
    )
    usage.set_defaults(func=cmd_usage)

    quota = sub.add_parser(
        "quota",
        help="users' and group folders' disk quotas (STORAGE_QUOTA): show them, or `quota set <user> 20G` "
        "(`quota set-group <group> 50G`) to change one",
    )
    quota.add_argument("action", choices=("show", "set", "set-group"))
    quota.add_argument("user", nargs="?", help="the hub's user name (set), or the group's name (set-group)")
    quota.add_argument("size", nargs="?", help="the new quota, like 20G (set); their files stay")
    quota.set_defaults(func=cmd_quota)

    move = sub.add_parser("move-to-shared", help="copy users' node-local volumes into SWARM_SHARED_PATH (idempotent)")
    move.add_argument(
        "--from",
        dest="source",
        required=True,
        help="a node's volumes: /var/lib/docker/volumes mounted, or a folder of <volume name> folders",
    )
    move.add_argument("--to", required=True, help="the shared path, as every node mounts it")
    move.set_defaults(func=cmd_move_to_shared)

    from .backup import add_commands

    add_commands(sub)

    serve = sub.add_parser("serve", help="check, wait for the database, then run JupyterHub (the image's command)")
    serve.add_argument("jupyterhub_args", nargs=argparse.REMAINDER)
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
