"""What `pyiron-hub backup`, `restore` and `snapshots` read from their environment (backup.env).

restic's own variables (RESTIC_REPOSITORY, RESTIC_PASSWORD, AWS_* ...) keep restic's names,
so that an admin who knows restic needs nothing new; the BACKUP_* ones are ours.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from .problems import ConfigError, Problem
from .settings import _var

# Passed on to the container that runs restic: restic's own settings and its back ends'.
PASSED_TO_RESTIC = re.compile(r"^(RESTIC_|AWS_|B2_|AZURE_|GOOGLE_|OS_|ST_|RCLONE_)")
# Never passed on: a file name here is a path in this container, not in restic's.
NOT_PASSED = {"RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND", "RESTIC_CACHE_DIR"}

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class BackupSettings(BaseModel):
    """The backup's configuration; loaded with load_backup_settings(environ)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=False, validate_default=True)

    repository: str = _var(
        "RESTIC_REPOSITORY",
        "restic repository: a path on the Docker host, sftp:user@host:/path, or s3:https://host/bucket/path.",
        "/srv/backups/pyiron-hub",
    )
    password: SecretStr = _var(
        "RESTIC_PASSWORD",
        "Passphrase of the repository (or RESTIC_PASSWORD_FILE); keep a copy off this host.",
        "output of: openssl rand -base64 32",
    )
    keep_daily: int = _var(
        "BACKUP_KEEP_DAILY", "Daily snapshots kept (restic forget --keep-daily).", "7", default=7, ge=0
    )
    keep_weekly: int = _var("BACKUP_KEEP_WEEKLY", "Weekly snapshots kept.", "4", default=4, ge=0)
    keep_monthly: int = _var("BACKUP_KEEP_MONTHLY", "Monthly snapshots kept.", "6", default=6, ge=0)
    ssh_dir: Path | None = _var(
        "BACKUP_SSH_DIR",
        "Directory on the Docker host with the SSH key (id_ed25519) and known_hosts of an sftp: repository; "
        "mounted read-only as restic's ~/.ssh.",
        "/root/.ssh-backup",
        default=None,
    )
    every: int = _var(
        "BACKUP_EVERY", "How often the scheduled backup runs (compose.backup.yml): s, m, h or d.", "24h", default="24h"
    )
    at: time | None = _var(
        "BACKUP_AT", "Time of day (UTC, HH:MM) of the first scheduled run; unset: at once.", "03:00", default=None
    )
    image: str | None = _var(
        "BACKUP_IMAGE",
        "Image of the container that runs restic; unset: the image running the command.",
        "pyiron-hub:latest",
        default=None,
    )

    @field_validator("every", mode="before")
    @classmethod
    def _duration(cls, value):
        if isinstance(value, int):
            return value
        m = _DURATION.match(str(value))
        if not m or int(m.group(1)) == 0:
            raise ValueError("a positive duration with a unit: s, m, h or d")
        return int(m.group(1)) * _UNIT[m.group(2)]

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str):
        value = value.strip()
        if value.startswith("local:"):
            value = value[len("local:") :]
        if ":" not in value.split("/", 1)[0] and not value.startswith("/"):
            raise ValueError("a local repository is an absolute path on the Docker host")
        return value

    @property
    def local_path(self) -> str | None:
        """The repository's host path if it is a local one, else None."""
        return self.repository if self.repository.startswith("/") else None

    def forget_args(self) -> list[str]:
        """restic forget's policy; empty if every keep is 0 (nothing is ever forgotten then)."""
        keep = [
            ("--keep-daily", self.keep_daily),
            ("--keep-weekly", self.keep_weekly),
            ("--keep-monthly", self.keep_monthly),
        ]
        args = [f"{flag}={n}" for flag, n in keep if n]
        return args and [*args, "--prune"]


# Errors name the alias (the variable); both keys find its example.
_EXAMPLE = {
    key: (field.alias, (field.json_schema_extra or {}).get("example"))
    for name, field in BackupSettings.model_fields.items()
    for key in (name, field.alias)
}


def backup_variable_names() -> list[str]:
    return [field.alias for field in BackupSettings.model_fields.values()]


def load_backup_settings(environ: Mapping[str, str]) -> BackupSettings:
    """Typed settings, or ConfigError naming every bad or missing variable with an example."""
    values = {k: v for k, v in environ.items() if v != ""}
    problems = []
    if "RESTIC_PASSWORD" not in values and values.get("RESTIC_PASSWORD_FILE"):
        try:
            values["RESTIC_PASSWORD"] = Path(values["RESTIC_PASSWORD_FILE"]).read_text().rstrip("\n")
        except OSError as err:
            problems.append(Problem("RESTIC_PASSWORD_FILE", f"cannot read it: {err.strerror}"))
    try:
        settings = BackupSettings.model_validate(values)
    except ValidationError as err:
        for e in err.errors():
            name = e["loc"][0]
            alias, example = _EXAMPLE.get(name, (name, None))
            message = "is not set" if e["type"] == "missing" else e["msg"].removeprefix("Value error, ")
            if alias == "RESTIC_PASSWORD" and any(p.where == "RESTIC_PASSWORD_FILE" for p in problems):
                continue
            problems.append(Problem(alias, message, example))
    if problems:
        raise ConfigError(problems)
    return settings


def restic_environment(environ: Mapping[str, str], settings: BackupSettings) -> dict[str, str]:
    """The environment of the container that runs restic."""
    env = {k: v for k, v in environ.items() if PASSED_TO_RESTIC.match(k) and k not in NOT_PASSED}
    env["RESTIC_REPOSITORY"] = settings.repository
    env["RESTIC_PASSWORD"] = settings.password.get_secret_value()
    return env
