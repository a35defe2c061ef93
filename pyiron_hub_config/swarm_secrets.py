"""The swarm keeps its secrets: out of the env files, into swarm secrets.

On a swarm every value of a service's env files is part of the service's spec, which
`docker service inspect` shows on any manager. So `pyiron-hub init --swarm` moves each
secret out of pyiron.env and shared.env into a file of its own, ``secrets/<name>`` beside
them (mode 0600), and leaves ``<VARIABLE>_FILE=/run/secrets/<name>`` in their place;
compose.swarm.yml declares those files as swarm secrets (kept encrypted in the managers'
raft, mounted in memory at /run/secrets/<name> in only the services that need them), and
the hub reads every ``*_FILE`` through settings.py (Postgres' image reads
POSTGRES_PASSWORD_FILE itself). The hub's own secrets, which a single host generates into
its data volume, are generated here instead, so that nothing secret is anywhere but in the
swarm's secrets.

Pure: ``split_secrets`` takes the env files' values and the secret files already there,
and returns what to write; the CLI reads and writes the files.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .problems import Problem

SECRETS_DIR = "secrets"  # beside the env files and compose.swarm.yml, which names it
RUN_SECRETS = "/run/secrets"  # where a swarm mounts a service's secrets


@dataclass(frozen=True)
class SwarmSecret:
    variable: str  # what the hub (and Postgres) read, as <variable>_FILE
    name: str  # the file in secrets/, the swarm secret's key in compose.swarm.yml, its mount
    generated: bool  # made here when not given; else the admin must give it

    @property
    def file_variable(self) -> str:
        return f"{self.variable}_FILE"

    @property
    def mount(self) -> str:
        return f"{RUN_SECRETS}/{self.name}"


# Every secret of settings.SECRET_VARIABLES (tests/unit/test_swarm_secrets.py keeps them in
# step, and with compose.swarm.yml).
SWARM_SECRETS = (
    SwarmSecret("CLIENT_SECRET", "client_secret", generated=False),
    SwarmSecret("POSTGRES_PASSWORD", "postgres_password", generated=True),
    SwarmSecret("JUPYTERHUB_COOKIE_SECRET", "cookie_secret", generated=True),
    SwarmSecret("JUPYTERHUB_CRYPT_KEY", "crypt_key", generated=True),
    SwarmSecret("CONFIGPROXY_AUTH_TOKEN", "proxy_token", generated=True),
    SwarmSecret("METRICS_API_TOKEN", "metrics_token", generated=True),
    SwarmSecret("KEY_SYNC_API_TOKEN", "key_sync_token", generated=True),
)


def new_secret() -> str:
    # 64 hex characters: what the cookie secret and crypt key must be, and long enough for every token.
    return secrets.token_hex(32)


@dataclass
class SecretsPlan:
    """What `init --swarm` writes: the env files' values and the new secret files."""

    env: dict[str, str]  # the env files' values: no secret left, <VARIABLE>_FILE instead
    new_files: dict[str, str] = field(default_factory=dict)  # secret name -> value, not there yet
    kept: list[str] = field(default_factory=list)  # secret names whose file is already there
    missing: list[str] = field(default_factory=list)  # variables the admin still has to give
    problems: list[Problem] = field(default_factory=list)


def split_secrets(
    values: Mapping[str, str], existing: Mapping[str, str], make_secret: Callable[[], str] = new_secret
) -> SecretsPlan:
    """Move each secret of values into a secret file; existing: secret name -> a file's text.

    A secret given in the env files and, differently, in its file is ambiguous and refused,
    like VAR and VAR_FILE together (settings.py): nothing is overwritten.
    """
    plan = SecretsPlan(env={k: v for k, v in values.items()})
    dummy_login = (values.get("AUTHENTICATOR") or "").strip() == "dummy"
    for s in SWARM_SECRETS:
        given = plan.env.pop(s.variable, "")
        file_value = plan.env.pop(s.file_variable, "")
        stored = existing.get(s.name)
        where = f"{SECRETS_DIR}/{s.name}"
        if file_value and file_value != s.mount:
            plan.problems.append(
                Problem(
                    s.file_variable,
                    f"names {file_value}, but on a swarm compose.swarm.yml mounts this secret at "
                    f"{s.mount}: put the secret itself in {where} (or as {s.variable} in the env file, which "
                    f"init --swarm moves there) and remove {s.file_variable}",
                    f"{s.file_variable}={s.mount}",
                )
            )
            continue
        if stored is not None and not stored.strip():
            plan.problems.append(Problem(where, "is empty", f"delete it, or write the {s.variable} into it"))
            continue
        if given:
            if given != given.strip():
                # The hub strips a secret file, Postgres' image only its final line breaks.
                plan.problems.append(
                    Problem(
                        s.variable,
                        "starts or ends with a space, which the hub and Postgres would read differently from a file",
                        "a value without spaces at its ends",
                    )
                )
                continue
            if stored is not None and stored.strip() != given:
                plan.problems.append(
                    Problem(
                        s.variable,
                        f"is set in the env file and differs from {where}: keep one (delete the file to "
                        f"replace the secret; a swarm secret cannot change, so then `docker stack rm` and deploy again)",
                        f"{s.variable} only in {where}",
                    )
                )
                continue
        if stored is not None:
            plan.kept.append(s.name)
        elif given:
            plan.new_files[s.name] = given
        elif s.generated or dummy_login:
            # The dummy login never uses the client secret, but the stack file mounts one.
            plan.new_files[s.name] = make_secret()
        else:
            plan.missing.append(s.variable)
            continue
        plan.env[s.file_variable] = s.mount
    return plan
