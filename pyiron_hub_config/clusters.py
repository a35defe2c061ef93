"""HPC clusters as data: the catalogue an admin writes, and what each user's server gets.

load_clusters (TOML -> validated entries, every problem at once) -> cluster_files (one hub
user -> the files pyiron's queue adapter, pysqa, reads in REMOTE mode: a queue.yaml per
cluster and a known_hosts that pins each cluster's host keys).

pysqa's REMOTE adapter puts several values into shell commands on the cluster without
quoting (``mkdir -p <remote path>``, ``--queue <name>``), and user names come from the
identity provider. So every value that reaches the cluster is held to a strict character
set here, and a user whose cluster account name would not pass gets no configuration for
that cluster rather than a broken or dangerous one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import string
from importlib.resources import files as files_of
from pathlib import Path
from typing import Annotated

import yaml
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from .entries_file import EntriesFile, entry_label
from .problems import ConfigError
from .storage import HOME

# Where the files go, relative to the user's home. The resources folder is on pyiron's
# PYIRONRESOURCEPATHS (boot.py); known_hosts is the hub's, so the user's own
# ~/.ssh/known_hosts is never touched.
QUEUES_DIR = ".pyiron_hub/resources/queues"
KNOWN_HOSTS = ".pyiron_hub/ssh/known_hosts"
CLUSTER_EXAMPLE = "notebooks_hpc/submit_to_a_cluster.ipynb"
# The key boot.py makes once per user (PYIRON_HUB_SSH_KEY); a user may put their own there.
SSH_KEY = ".ssh/id_ed25519"
SSH_PUBLIC_KEY = SSH_KEY + ".pub"

# Key types OpenSSH and paramiko both accept as host and user keys.
KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)
_HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
# POSIX-portable account names, as useradd accepts them by default.
CLUSTER_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._+/-]*$")


def safe_path(path: str) -> bool:
    """An absolute path pysqa can pass to a shell unquoted: no spaces, quotes, globs or '..'."""
    return bool(_SAFE_PATH.match(path)) and "/../" not in path + "/"


_PLACEHOLDERS = {
    "user": {"username"},
    "remote_path": {"username", "cluster_user"},
    "key_help": {"username", "cluster_user"},
}
# Accounts no hub user is ever given, whatever the cluster list says: root, and the system
# accounts of Debian's base-passwd (present on Debian and Ubuntu clusters alike). A cluster's
# `reserved_accounts` adds its own (service accounts such as slurm or munge, admins' logins).
RESERVED_ACCOUNTS = frozenset(
    {
        "root",
        "daemon",
        "bin",
        "sys",
        "sync",
        "games",
        "man",
        "lp",
        "mail",
        "news",
        "uucp",
        "proxy",
        "www-data",
        "backup",
        "list",
        "irc",
        "gnats",
        "nobody",
        "_apt",
    }
)
EXAMPLE_ENTRY = """[[clusters]]
name = "mycluster"
host = "login.cluster.example.org"
host_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA..."]
remote_config_dir = "/etc/pyiron/resources/queues"
remote_path = "/scratch/{cluster_user}/pyiron"
[[clusters.queues]]
name = "short"
cores_max = 4"""


def parse_public_key(text: str) -> tuple[str, bytes, str]:
    """'<type> <base64> [comment]' -> (type, key blob, comment); ValueError if it is not one.

    The blob names its own type: checking that catches keys cut short or pasted into the
    wrong place. Also used on users' public keys, which come from their servers.
    """
    fields = text.strip().split(None, 2)
    if len(fields) < 2:
        raise ValueError("is not an SSH public key: expected '<type> <base64 key>'")
    kind, data = fields[0], fields[1]
    comment = fields[2] if len(fields) > 2 else ""
    if kind not in KEY_TYPES:
        raise ValueError(f"key type {kind[:40]!r} is not one of {', '.join(KEY_TYPES)}")
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the {kind} key is not valid base64") from None
    try:
        # cryptography reads the key as OpenSSH does: the type inside the data must be the
        # one named, the fields complete, the curve point or RSA numbers valid.
        serialization.load_ssh_public_key(f"{kind} {data}".encode())
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(f"the key data is not a {kind} key (cut short, or a different key type?)") from None
    if not re.fullmatch(r"[\x20-\x7e]{0,200}", comment):
        raise ValueError("the comment after the key may hold only printable ASCII (at most 200 characters)")
    return kind, blob, comment


def fingerprint(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint, as `ssh-keygen -l` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _host_key(value: str) -> str:
    # Accept `ssh-keyscan` output too: "<host> <type> <key>" -- the host field is dropped,
    # because the known_hosts we write names the host and port from this entry.
    fields = value.split()
    if len(fields) >= 3 and fields[0] not in KEY_TYPES and fields[1] in KEY_TYPES:
        fields = fields[1:]
    kind, blob, _ = parse_public_key(" ".join(fields[:2]))
    return f"{kind} {base64.b64encode(blob).decode()}"


HostKey = Annotated[str, AfterValidator(_host_key)]


def _account(value: str) -> str:
    if not CLUSTER_USER.match(value):
        raise ValueError(f"{value!r} is not a valid account name: lower case letters, digits, '_' and '-'")
    return value


def _safe_path(value: str, written: str | None = None) -> str:
    if not safe_path(value):
        raise ValueError(
            f"{written or repr(value)} must be an absolute path of letters, digits and ._+-/ (no spaces, no '..')"
        )
    return value


Account = Annotated[str, AfterValidator(_account)]
SafePath = Annotated[str, AfterValidator(_safe_path)]


def _placeholders(template: str, allowed: set[str], field: str) -> str:
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as err:
        raise ValueError(f"is not a valid template ({err}); write placeholders as {{username}}") from None
    unknown = used - allowed
    if unknown:
        raise ValueError(
            f"unknown placeholder {{{sorted(unknown)[0]}}}; {field} may use "
            + ", ".join(f"{{{name}}}" for name in sorted(allowed))
        )
    return template


class Queue(BaseModel):
    """One queue of a cluster, with the limits pysqa checks before it submits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The descriptions are the reference's (docs/reference/catalogue.md renders them).
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="The queue's name on the cluster.")
    cores_min: int | None = Field(default=None, ge=1, description="Fewest cores a job may ask for.")
    cores_max: int | None = Field(default=None, ge=1, description="Most cores a job may ask for.")
    run_time_max: int | None = Field(default=None, gt=0, description="Longest run time a job may ask for, in seconds.")
    # pysqa's own notation: a number with an optional unit; a bare number means megabytes.
    memory_max: str | None = Field(
        default=None,
        pattern=r"^[0-9]+[KMGTkmgt]?$",
        description="Most memory a job may ask for, e.g. 100G (a bare number means MB).",
    )
    default: bool = Field(default=False, description="The queue job.server.queue starts with.")

    @model_validator(mode="after")
    def _cores_in_order(self):
        if self.cores_min and self.cores_max and self.cores_min > self.cores_max:
            raise ValueError(f"cores_min ({self.cores_min}) is above cores_max ({self.cores_max})")
        return self

    def pysqa(self) -> dict:
        return {
            key: getattr(self, key)
            for key in ("cores_min", "cores_max", "run_time_max", "memory_max")
            if getattr(self, key) is not None
        }


class Cluster(BaseModel):
    """One SLURM (or other pysqa-supported) cluster users submit to over SSH."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The descriptions are the reference's (docs/reference/catalogue.md renders them).
    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="The cluster's name (pysqa's, and in the pages).",
    )
    display_name: str = Field(default="", max_length=100, description="What the pages show; else the name.")
    host: str = Field(description="The login node, as users' servers reach it.")
    port: int = Field(default=22, ge=1, le=65535, description="Its SSH port.")
    host_keys: list[HostKey] = Field(
        min_length=1,
        description="The login node's host keys (`ssh-keyscan` prints them; check them against "
        "what the cluster's admins publish): any other key is refused.",
    )
    user: str = Field(default="{username}", description="The cluster account of hub user {username}.")
    # Hub user -> cluster account, where the template above does not fit.
    users: dict[str, Account] = Field(default={}, description="Exceptions: hub user -> account.")
    # Accounts given to no hub user, beside RESERVED_ACCOUNTS.
    reserved_accounts: list[Account] = Field(
        default=[], description="Accounts no hub user is ever given, beside root and the system's."
    )
    remote_config_dir: SafePath = Field(description="The cluster's pysqa configuration directory.")
    remote_path: str = Field(description="Where jobs go; may use {cluster_user} and {username}.")
    queues: list[Queue] = Field(min_length=1, description="The queues users may pick, with pysqa's limits.")
    # Shown on the SSH key page above the command: how this site adds a key for its users,
    # where that is not (only) logging in to the cluster. Plain text, never markup.
    key_help: str = Field(
        default="",
        max_length=500,
        description="Shown on the SSH key page: how this site adds a key (plain text; may use the same placeholders).",
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not _HOST.match(value):
            raise ValueError(f"{value!r} is not a host name or IPv4 address")
        return value

    @field_validator("user")
    @classmethod
    def _user_template(cls, value: str) -> str:
        _placeholders(value, _PLACEHOLDERS["user"], "user")
        # With {username} in it the template gives each hub user an account of their own.
        if "{username}" not in value:
            raise ValueError(f"{value!r} has no {{username}}: every hub user would get the same account")
        return value

    @field_validator("remote_path")
    @classmethod
    def _remote_path(cls, value: str) -> str:
        _placeholders(value, _PLACEHOLDERS["remote_path"], "remote_path")
        _safe_path(value.format(username="u", cluster_user="u"), written=repr(value))
        return value

    @field_validator("key_help")
    @classmethod
    def _key_help(cls, value: str) -> str:
        return _placeholders(value, _PLACEHOLDERS["key_help"], "key_help")

    def key_help_for(self, hub_user: str) -> str:
        """key_help with the user's names filled in; "" when there is none or no valid account."""
        account = self.account(hub_user)
        if not self.key_help or account is None:
            return ""
        return self.key_help.format(username=hub_user, cluster_user=account)

    @model_validator(mode="after")
    def _one_hub_user_per_account(self):
        reserved = sorted(set(self.users.values()) & self.reserved)
        if reserved:
            raise ValueError(f"users: {reserved[0]!r} is a reserved account; no hub user may be given it")
        targets = list(self.users.values())
        shared = sorted({a for a in targets if targets.count(a) > 1})
        if shared:
            who = sorted(u for u, a in self.users.items() if a == shared[0])
            raise ValueError(
                f"users: {', '.join(map(repr, who))} all map to the account {shared[0]!r}; "
                "one cluster account belongs to one hub user"
            )
        return self

    @model_validator(mode="after")
    def _queues(self):
        names = [q.name for q in self.queues]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"queue {twice[0]!r} is listed twice")
        if sum(q.default for q in self.queues) > 1:
            raise ValueError("more than one queue has default = true")
        return self

    @property
    def label(self) -> str:
        return self.display_name or self.name

    @property
    def primary_queue(self) -> str:
        return next((q.name for q in self.queues if q.default), self.queues[0].name)

    @property
    def reserved(self) -> frozenset[str]:
        return RESERVED_ACCOUNTS | set(self.reserved_accounts)

    def account(self, hub_user: str) -> str | None:
        """The user's account name on this cluster, or None if they may not have one."""
        return self.account_or_reason(hub_user)[0]

    def account_or_reason(self, hub_user: str) -> tuple[str | None, str]:
        """(account, "") or (None, why this hub user gets no account on this cluster)."""
        if hub_user in self.users:
            return self.users[hub_user], ""  # checked at start: valid, not reserved, not shared
        account = self.user.format(username=hub_user)
        if not CLUSTER_USER.match(account):
            return None, f"'{account}' would not be a valid account name there (a-z, digits, '_', '-')"
        if account in self.reserved:
            return None, f"'{account}' is a reserved account there"
        if account in self.users.values():
            # e.g. `users = { "alice.smith" = "asmith" }` and a hub user named asmith:
            # the mapping names the account's owner; nobody else is given it.
            return None, f"'{account}' belongs to another hub user there (the cluster list maps them to it)"
        return account, ""

    def accounts_shared_with(self, hub_users) -> list[str]:
        """Named hub users (ALLOWED_USERS, ADMIN_USER) whose account a mapping gives someone else."""
        return sorted(
            u for u in hub_users if u not in self.users and self.user.format(username=u) in self.users.values()
        )

    def known_hosts_lines(self) -> list[str]:
        # OpenSSH and paramiko write a non-standard port as [host]:port.
        name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return [f"{name} {key}" for key in self.host_keys]

    def host_key_fingerprints(self) -> list[tuple[str, str]]:
        result = []
        for key in self.host_keys:
            kind, blob, _ = parse_public_key(key)
            result.append((kind, fingerprint(blob)))
        return result

    def queue_config(self, hub_user: str) -> dict | None:
        """pysqa's REMOTE configuration for one user, or None if they have no valid account name."""
        account = self.account(hub_user)
        if account is None:
            return None
        remote_path = self.remote_path.format(username=hub_user, cluster_user=account)
        if not safe_path(remote_path):
            return None
        return {
            "queue_type": "REMOTE",
            "queue_primary": self.primary_queue,
            "ssh_host": self.host,
            "ssh_port": self.port,
            "ssh_username": account,
            # Host keys are checked against this file alone: without it pysqa would accept
            # any host key on first use.
            "known_hosts": f"{HOME}/{KNOWN_HOSTS}",
            "ssh_key": f"{HOME}/{SSH_KEY}",
            "ssh_remote_config_dir": self.remote_config_dir,
            "ssh_remote_path": remote_path,
            # Jobs are copied to the same place below ssh_remote_path as below this folder,
            # so every project in the home (and in ~/work) can submit.
            "ssh_local_path": HOME,
            "queues": {q.name: q.pysqa() for q in self.queues},
        }


def load_clusters(path: Path | None) -> list[Cluster]:
    """Parse and validate CLUSTERS_FILE; [] when none is configured."""
    if path is None:
        return []
    source = Path(path)
    clusters = CLUSTERS_FILE.load(source)
    problems = CLUSTERS_FILE.duplicates([c.name for c in clusters], lambda name: f"cluster '{name}' in {source}")
    if problems:
        raise ConfigError(problems)
    return clusters


_FIELD_EXAMPLES = {
    "name": '"mycluster"',
    "host": '"login.cluster.example.org"',
    "port": "22",
    "host_keys": '["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA..."] (from ssh-keyscan, or the cluster\'s /etc/ssh/ssh_host_*_key.pub)',
    "user": '"{username}"',
    "users": '{ "alice.smith" = "asmith" }',
    "reserved_accounts": '["slurm", "munge"]',
    "remote_config_dir": '"/etc/pyiron/resources/queues"',
    "remote_path": '"/scratch/{cluster_user}/pyiron"',
    "queues": '[[clusters.queues]] name = "short"',
    "cores_min": "1",
    "cores_max": "4",
    "run_time_max": "3600 (seconds)",
    "memory_max": '"8G"',
}


def _message(error: dict) -> str | None:
    loc, kind = error["loc"], error["type"]
    if kind == "extra_forbidden" and len(loc) > 1:
        return "unknown key; valid keys are " + ", ".join((Queue if "queues" in loc[2:-1] else Cluster).model_fields)
    if kind == "string_pattern_mismatch" and loc[-1] == "name" and "queues" in loc:
        return "may hold only letters, digits, '.', '_' and '-'"
    if kind == "string_pattern_mismatch" and loc[-1] == "name":
        return "may hold only lower-case letters, digits, '_' and '-'"
    if kind == "string_pattern_mismatch" and loc[-1] == "memory_max":
        return "must be a number with an optional unit K, M, G or T, like 8G"
    return None


def _example(error: dict) -> str | None:
    loc = error["loc"]
    if loc[-1] == "name" and "queues" in loc:
        return '"short"'
    # A problem of a whole entry (its location ends in an index) has no one-field example.
    return _FIELD_EXAMPLES.get(loc[-1]) if isinstance(loc[-1], str) else None


def _field_path(cluster: object, loc: tuple) -> str:
    # A queue is named like a cluster: "queue 'short'.cores_max".
    if len(loc) >= 2 and loc[0] == "queues" and isinstance(loc[1], int):
        queues = cluster.get("queues") if isinstance(cluster, dict) else None
        return ".".join([entry_label("queue", queues, loc[1])] + [str(p) for p in loc[2:]])
    return ".".join(str(p) for p in loc)


CLUSTERS_FILE = EntriesFile(
    variable="CLUSTERS_FILE",
    table="clusters",
    noun="cluster",
    entry=Cluster,
    toml_example='host = "login.cluster.example.org" (quoted strings)',
    empty_example=EXAMPLE_ENTRY,
    distinct_hint="give each cluster its own name",
    message=_message,
    example=_example,
    field_path=_field_path,
)


_HEADER = """\
# Written by pyiron-hub at every start of your server from the hub's cluster list:
# edits here are lost. To use your own configuration, put it in a resource path of
# your own (see README "Connecting a cluster").
"""


def _yaml(data: dict) -> str:
    return _HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


# pysqa reads the queue configuration when pyiron_base is imported, and its REMOTE mode
# imports paramiko, which the conda-forge pysqa (and so the pyiron images) does not bring:
# written into an image without it, a queue.yaml would make `import pyiron_base` fail. The
# boot step leaves such files out and says why (boot.py, "requires").
NEEDS = ["paramiko"]


def _queue_file(path: str, data: dict) -> dict:
    return {"path": path, "content": _yaml(data), "mode": "0644", "requires": NEEDS}


def cluster_files(clusters: list[Cluster], hub_user: str) -> list[dict]:
    """The files one user's server gets, as boot.py's PYIRON_HUB_FILES entries.

    One cluster: queues/queue.yaml. Several: queues/clusters.yaml naming one
    queues/<name>.yaml each (pysqa's layout; pyiron switches with pr.switch_cluster()).
    Clusters the user has no valid account name for are left out.
    """
    configs = {c.name: c.queue_config(hub_user) for c in clusters}
    usable = [c for c in clusters if configs[c.name] is not None]
    if not usable:
        return []
    files = []
    if len(usable) == 1:
        files.append(_queue_file(f"{QUEUES_DIR}/queue.yaml", configs[usable[0].name]))
    else:
        index = {"cluster_primary": usable[0].name, "cluster": {c.name: f"{c.name}.yaml" for c in usable}}
        files.append(_queue_file(f"{QUEUES_DIR}/clusters.yaml", index))
        files += [_queue_file(f"{QUEUES_DIR}/{c.name}.yaml", configs[c.name]) for c in usable]
    known_hosts = "".join(line + "\n" for c in usable for line in c.known_hosts_lines())
    files.append({"path": KNOWN_HOSTS, "content": known_hosts, "mode": "0644"})
    # An example, written once: the user's to edit or delete, like the images' examples.
    files.append({"path": CLUSTER_EXAMPLE, "content": _example_notebook(), "mode": "0644", "once": True})
    files.append(
        {
            "path": NOTEBOOK_QUIET_PATH,
            "content": files_of(__package__).joinpath("in_user_container/notebook_quiet.py").read_text(),
            "mode": "0644",
        }
    )
    return files


def _example_notebook() -> str:
    return files_of(__package__).joinpath("examples/submit_to_a_cluster.ipynb").read_text()


# What cluster submission prints that is not news: pysqa's empty warnings (notebook_quiet.py)
# and its progress bars for the few files a job sends (tqdm draws none that end within this
# many seconds; a long transfer, or a user's own long loop, still shows one).
NOTEBOOK_QUIET_PATH = ".ipython/profile_default/startup/00-pyiron-hub-quiet-cluster-warnings.py"
QUIET_ENVIRONMENT = {"TQDM_DELAY": "2"}
