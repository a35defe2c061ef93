"""`pyiron-hub`: the admin's command line (check, init, pull, serve, usage, move-to-shared, backup, restore, snapshots)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Mapping, Sequence

from . import envfiles
from .catalogue import load_catalogue
from .database import database_url, wait_for_database
from .host_checks import missing_images_report, site_resources_problems_here, site_resources_problems_via_engine
from .hub_config import HubConfig, load_hub_config
from .problems import ConfigError, Problem
from .provider import provider_problems
from .settings import IMAGE_VARIABLES
from .swarm_secrets import SECRETS_DIR, SWARM_SECRETS, split_secrets
from .values import check_image, format_memory, pull_arguments

DEFAULT_HUB_CONFIG = "/srv/jupyterhub/jupyterhub_config.py"


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
    admitted = [f"{kind} {', '.join(names)}" for kind, names in
                (("groups", s.allowed_groups), ("users", s.allowed_users)) if names]
    who = "every user of the realm" if s.allow_all else ", ".join(admitted) or "admins only"
    lines = [
        "Configuration is valid.",
        f"  Keycloak:      {s.issuer_url or s.authorize_url} (client {s.client_id})" if s.authenticator == "keycloak"
        else "  Login:         DUMMY authenticator (shared password): for tests only",
        f"  Who may log in: {who}; admins: {', '.join(s.admin_users + s.admin_groups) or 'none'}",
        f"  Database:      {s.postgres_user}@{s.postgres_host}:{s.postgres_port}/{s.database}",
        "  Environments:",
    ]
    for env in hub.environments:
        mark = " (default)" if env.default else " (retired)" if env.retired else ""
        lines.append(f"    {env.name:<22} {env.image:<40} {format_memory(env.mem_limit):>6} {env.cpu_limit:g} CPU{mark}")
    if hub.left_out:
        lines.append("  Not offered (no image; set its variable to offer it):")
        for env in hub.left_out:
            lines.append(f"    {env.name:<22} {IMAGE_VARIABLES.get(env.name, 'image in the catalogue')}"
                         + (" (retired)" if env.retired else ""))
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
    if problems:
        raise ConfigError(problems)
    return hub


def cmd_check(args) -> int:
    try:
        hub = checked_hub_config(_environ(args.env_file), on_docker_host=bool(args.env_file))
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
    return 0


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


def cmd_init(args) -> int:
    seed = Path(args.seed) if args.seed else None
    directory = Path(args.dir) if args.dir else (seed.parent if seed else Path.cwd())
    plan = None
    try:
        values: dict[str, str] = {}
        for name in envfiles.ENV_FILES:
            if (directory / name).exists():
                values.update(envfiles.parse_env_file(directory / name))
        if seed:
            values.update(envfiles.read_seed(seed))
            if not any(values.get(k) for k in ("OAUTH2_ALLOWED_GROUPS", "ALLOWED_USERS", "OAUTH2_ALLOW_ALL")):
                # The old deployment let every user of the realm in; keep that, visibly.
                values["OAUTH2_ALLOW_ALL"] = "true"
        if args.swarm:
            # On a swarm a service's environment is public to every manager: each secret
            # leaves the env files for secrets/, which compose.swarm.yml makes swarm secrets of.
            plan = split_secrets(values, _secret_files(directory))
            values = plan.env
        elif not (values.get("POSTGRES_PASSWORD") or values.get("POSTGRES_PASSWORD_FILE")):
            values["POSTGRES_PASSWORD"] = envfiles.new_secret()
        problems = (plan.problems if plan else []) + envfiles.unsafe_value_problems(values, quoted=not args.swarm)
        if problems:
            raise ConfigError(problems)
        if seed:
            load_hub_config(values, check_paths=False)  # refuse to write a configuration the hub would reject
    except ConfigError as err:
        print(err.report("No file was written."), file=sys.stderr)
        return 1
    by_file: dict[str, dict[str, str]] = {name: {} for name in envfiles.ENV_FILES}
    for key, value in values.items():
        by_file[envfiles.home_file(key)][key] = value
    directory.mkdir(parents=True, exist_ok=True)
    if plan:  # first: env files that name a secret file never exist without it
        (directory / SECRETS_DIR).mkdir(mode=0o700, exist_ok=True)
        for name, secret in plan.new_files.items():
            envfiles.write_private(directory / SECRETS_DIR / name, secret)
            print(f"wrote {directory / SECRETS_DIR / name} (mode 0600)")
        if plan.kept:
            print(f"kept {', '.join(plan.kept)} in {directory / SECRETS_DIR}")
    for name, file_values in by_file.items():
        envfiles.write_private(directory / name, envfiles.format_env_file(file_values, quoted=not args.swarm))
        print(f"wrote {directory / name} ({len(file_values)} variables, mode 0600)")
    if not seed:
        print("Next: set OAUTH2_ISSUER_URL, CLIENT_ID, CLIENT_SECRET and OAUTH2_ALLOWED_GROUPS in pyiron.env,\n"
              f"then run: pyiron-hub check --env-file {directory / 'pyiron.env'} --env-file {directory / 'shared.env'}")
    if plan and plan.missing:
        moves = ", ".join(f"{s.variable} into {directory / SECRETS_DIR / s.name}" for s in SWARM_SECRETS
                          if s.variable in plan.missing)
        print(f"Then run `pyiron-hub init --swarm` again: it moves {moves}.")
    elif plan:
        print("Deploy from that directory (README \"Running on a swarm\"): set -a; . ./build.env; set +a; "
              "docker stack deploy -c compose.swarm.yml -c compose.swarm-encrypted.yml pyiron-hub")
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
    client = docker.from_env()
    if args.missing:
        from .host_checks import images_missing

        images = images_missing(client, images)
        print(f"{len(images)} image(s) not on this host: {', '.join(images) or 'none'}")
    failed = []
    for image in images:
        repository, tag = pull_arguments(image)
        bars: dict[str, tqdm] = {}
        try:
            # The Docker API takes the name as data: no shell ever sees it.
            for event in client.api.pull(repository, tag=tag, stream=True, decode=True):
                layer, detail = event.get("id"), event.get("progressDetail") or {}
                if layer and detail.get("total"):
                    bar = bars.setdefault(layer, tqdm(total=detail["total"], desc=f"{image} {layer}",
                                                      unit="B", unit_scale=True, leave=False))
                    bar.n = detail.get("current", 0)
                    bar.refresh()
                if "error" in event:
                    raise RuntimeError(event["error"])
            print(f"pulled {image}")
        except Exception as err:  # report each image and carry on with the others
            failed.append(image)
            print(f"could not pull {image}: {err}", file=sys.stderr)
        finally:
            for bar in bars.values():
                bar.close()
    return 1 if failed else 0


def cmd_serve(args) -> int:
    try:
        hub = checked_hub_config(os.environ, on_docker_host=False)
    except ConfigError as err:
        print(err.report(), file=sys.stderr)
        return 1
    if not wait_for_database(database_url(hub.settings), hub.settings.db_wait_timeout,
                             log=lambda m: print(m, file=sys.stderr, flush=True)):
        return 1
    # Keycloak may be down only for now: say plainly what is wrong, but start anyway.
    for problem in provider_problems(hub.settings):
        print(f"pyiron-hub: WARNING: {problem}", file=sys.stderr, flush=True)
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
        lines.append(f"{u.name:<24} {format_bytes(u.home):>10} {format_bytes(u.work):>10} "
                     f"{format_bytes(u.storage):>10} {mem:>22} {cpu:>14}{mark}")
    lines.append(f"stale image volumes: {len(usage.stale_image_volumes)}, {format_bytes(usage.stale_total)}"
                 + (f" ({', '.join(sorted(usage.stale_image_volumes))})" if usage.stale_image_volumes else ""))
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
    usage = measure(client, s.deployment_name, [env.image for env in hub.environments],
                    container_prefix(s.deployment_name))
    print(usage_table(usage, s.storage_soft_limit))
    if args.remove_stale:
        removed = remove_stale_image_volumes(client, usage)
        print(f"removed {len(removed)} stale image volume(s): {', '.join(removed) or 'none'}")
    return 0


def cmd_move_to_shared(args) -> int:
    """Copy users' node-local volumes into the shared path (shared_move.py)."""
    from .shared_move import move_to_shared

    source, target = Path(args.source), Path(args.to)
    problems = [f"{flag}: no such directory: {path}" for flag, path in (("--from", source), ("--to", target))
                if not path.is_dir()]
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    lines = move_to_shared(source, str(target))
    print("\n".join(lines) if lines else f"no users' volumes (jupyterhub-home-*, jupyterhub-user-*) in {source}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyiron-hub", description="Configure and run the pyiron JupyterHub.")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="validate the configuration, print every problem")
    check.add_argument("--env-file", action="append", help="check these env files instead of the environment")
    check.add_argument("--online", action="store_true",
                       help="also ask Keycloak: realm reachable, issuer as configured, client id and secret accepted")
    check.set_defaults(func=cmd_check)

    init = sub.add_parser("init", help="write pyiron.env, shared.env and build.env")
    init.add_argument("--from", dest="seed", metavar="CONFIG_JSON", help="the old deployment's config.json")
    init.add_argument("--dir", help="where to write (default: beside CONFIG_JSON, else here)")
    init.add_argument("--swarm", action="store_true",
                      help="for `docker stack deploy`: values unquoted (it reads env files literally), and every "
                           "secret moved into secrets/<name> (compose.swarm.yml makes swarm secrets of them), "
                           "the hub's own generated there")
    init.set_defaults(func=cmd_init)

    pull = sub.add_parser("pull", help="pull every environment's image (newer versions too)")
    pull.add_argument("--env-file", action="append")
    pull.add_argument("--missing", action="store_true", help="only the images not on this host yet")
    pull.set_defaults(func=cmd_pull)

    health = sub.add_parser("health", help="exit 0 if this container's hub answers /hub/health")
    health.add_argument("--hub-api", action="store_true", help="ask the hub's API port instead of the proxy's")
    health.set_defaults(func=cmd_health)

    usage = sub.add_parser("usage", help="each user's disk, memory and CPU; stale image volumes")
    usage.add_argument("--remove-stale", action="store_true",
                       help="remove pyiron-hub-image-* volumes no container uses and no environment needs")
    usage.set_defaults(func=cmd_usage)

    move = sub.add_parser("move-to-shared", help="copy users' node-local volumes into SWARM_SHARED_PATH (idempotent)")
    move.add_argument("--from", dest="source", required=True,
                      help="a node's volumes: /var/lib/docker/volumes mounted, or a folder of <volume name> folders")
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
