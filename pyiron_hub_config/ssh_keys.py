"""Each user's SSH public key, shown on a hub page to register with a cluster.

The key pair is made inside the user's own container (boot.py, PYIRON_HUB_SSH_KEY), so the
private key never passes through the hub. The hub needs only the public half, and reads it
through the Docker engine it already drives: one file, ~/.ssh/id_ed25519.pub, out of the
user's running container. That needs no token minted in the user's name and no request
through the proxy to a server the user controls. Whatever the file holds is still the
user's data: it is shown only if it parses as an SSH public key (so a private key linked
there is never shown or stored) and only through autoescaped templates.

The public key is remembered in the spawner's state (the hub database; public keys are not
secret), so the page and the admins' list show it while the server is stopped.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from dataclasses import dataclass

from jupyterhub import orm
from jupyterhub.handlers import BaseHandler
from tornado import web

from .authenticator import access_withdrawn
from .clusters import HOME, SSH_PUBLIC_KEY, fingerprint, parse_public_key

PUBLIC_KEY_PATH = f"{HOME}/{SSH_PUBLIC_KEY}"
FILES_STATUS_PATH = f"{HOME}/.pyiron_hub/files.json"  # written by boot.py
WORK_STATUS_DIR = f"{HOME}/.pyiron_hub"  # boot.py's watcher writes boot_shared.work_status_name there
# What a cluster's key sync holds (apply.key_sync_service): /hub/ssh-keys?cluster= and nothing else.
KEY_SYNC_SCOPE = "custom:pyiron-hub:ssh-keys:read"
# A public key is well under 1 KiB (RSA 16384 bits: about 2.8 KiB); anything larger is not one.
MAX_KEY_BYTES = 16 * 1024


@dataclass(frozen=True)
class PublicKey:
    kind: str
    data: str  # base64, as in authorized_keys
    comment: str
    fingerprint: str

    @property
    def line(self) -> str:
        return f"{self.kind} {self.data} {self.comment}".rstrip()

    @property
    def bare(self) -> str:
        """Without the comment: only base64 characters, safe inside shell quotes."""
        return f"{self.kind} {self.data}"

    @classmethod
    def parse(cls, text: str | None) -> PublicKey | None:
        if not text:
            return None
        first = text.strip().splitlines()[0] if text.strip() else ""
        try:
            kind, blob, comment = parse_public_key(first)
        except ValueError:
            return None
        return cls(kind, first.split()[1], comment, fingerprint(blob))


class KeyFileProblem(Exception):
    """The key file is there but is not a public key (told to the user, never its content)."""


def file_from_archive(chunks, limit: int = MAX_KEY_BYTES) -> bytes | None:
    """The one regular file in Docker's get_archive tar stream; None if it is not one.

    A link is not followed: .pub could point at the private key.
    """
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > limit + 4096:  # the tar header and padding, then the file
            raise KeyFileProblem("larger than expected")
    with tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
        members = tar.getmembers()
        if len(members) != 1 or not members[0].isfile():
            return None
        return tar.extractfile(members[0]).read()


def public_key_from_archive(chunks) -> PublicKey | None:
    """The key in Docker's get_archive tar stream; None if there is no regular file."""
    try:
        content = file_from_archive(chunks)
    except KeyFileProblem:
        raise KeyFileProblem(f"~/{SSH_PUBLIC_KEY} is larger than any SSH public key") from None
    if content is None:
        return None
    try:
        key = PublicKey.parse(content.decode("ascii"))
    except UnicodeDecodeError:
        key = None
    if key is None:
        raise KeyFileProblem(f"~/{SSH_PUBLIC_KEY} in your server is not an SSH public key")
    return key


def skipped_from_archive(chunks) -> dict[str, str]:
    """What the boot step left out ({path: why}) from its ~/.pyiron_hub/files.json."""
    try:
        content = file_from_archive(chunks, limit=64 * 1024)
        status = json.loads(content) if content else {}
        skipped = status.get("skipped", {})
    except (KeyFileProblem, ValueError, AttributeError):
        return {}
    if not isinstance(skipped, dict):
        return {}
    return {str(k)[:200]: str(v)[:200] for k, v in list(skipped.items())[:20]}


def _running(spawner) -> bool:
    return bool(spawner.active and not spawner.pending and getattr(spawner, "container_id", ""))


async def current_public_key(spawner, db) -> tuple[PublicKey | None, str]:
    """(key, where it came from): read from the running server, else the remembered one.

    A key read from the server is remembered when it differs from the stored one.
    """
    problem = ""
    if _running(spawner):
        try:
            key = await spawner.read_public_key()
        except KeyFileProblem as err:
            key, problem = None, str(err)
        if key is not None:
            if key.line != spawner.ssh_public_key:
                spawner.ssh_public_key = key.line
                spawner.orm_spawner.state = spawner.get_state()
                db.commit()
            return key, "running"
    stored = PublicKey.parse(spawner.ssh_public_key)
    if problem:
        return stored, problem
    return stored, "stored" if stored else "none"


def cluster_rows(clusters, user_name: str) -> list[dict]:
    return [
        {
            "name": c.name,
            "label": c.label,
            "host": c.host,
            "port": c.port,
            "account": c.account(user_name),
            "account_problem": c.account_or_reason(user_name)[1],
            "queues": [q.name for q in c.queues],
            "host_keys": c.host_key_fingerprints(),
            "key_help": c.key_help_for(user_name),
        }
        for c in clusters
    ]


class _ClustersHandler(BaseHandler):
    def initialize(self, clusters=()):
        self.clusters = list(clusters)


class SSHKeyHandler(_ClustersHandler):
    """/hub/ssh-key: the user's own public key, with a copy button and how to register it."""

    @web.authenticated
    async def get(self):
        user = self.current_user
        spawner = user.spawner
        key, source = await current_public_key(spawner, self.db)
        skipped = await spawner.read_files_skipped() if _running(spawner) else {}
        html = await self.render_template(
            "pyiron_ssh_key.html",
            key=key,
            source=source,
            skipped=skipped,
            clusters=cluster_rows(self.clusters, user.name),
            server_active=spawner.active,
        )
        self.finish(html)


class SSHKeysAdminHandler(_ClustersHandler):
    """/hub/ssh-keys: every user's public key and cluster account, for admins who
    authorise keys on the cluster themselves. ?cluster=<name> gives plain text,
    one "<account> <key> pyiron-hub:<user>" line per user, for the key sync on the cluster,
    which reads it with a token of KEY_SYNC_SCOPE alone.
    """

    # JupyterHub's pages take only the browser's cookie; the key sync sends a token.
    _accept_token_auth = True

    @web.authenticated
    async def get(self):
        # needs_scope() cannot name a custom scope: those are defined when the hub starts.
        text = self.get_argument("cluster", None) is not None
        if "admin:users" not in self.expanded_scopes and not (text and KEY_SYNC_SCOPE in self.expanded_scopes):
            raise web.HTTPError(403, "Only admins, and the clusters' key sync for ?cluster=, may list users' keys")
        clusters = {c.name: c for c in self.clusters}
        rows = []
        for orm_user in self.db.query(orm.User).order_by(orm.User.name):
            user = self.users[orm_user]
            key, source = await current_public_key(user.spawner, self.db)
            rows.append(
                {
                    "name": user.name,
                    "key": key,
                    "source": source,
                    "withdrawn": access_withdrawn(await user.get_auth_state()),
                    "accounts": {name: c.account(user.name) for name, c in clusters.items()},
                }
            )
        wanted = self.get_argument("cluster", None)
        if wanted is not None:
            if wanted not in clusters:
                raise web.HTTPError(404, f"No such cluster: {wanted}. Clusters: {', '.join(clusters) or 'none'}")
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.write(key_list(rows, wanted))
            return
        html = await self.render_template("pyiron_ssh_keys.html", rows=rows, clusters=list(clusters.values()))
        self.finish(html)


def key_list(rows: list[dict], cluster: str) -> str:
    """The key sync's list for one cluster: '<account> <key> pyiron-hub:<user>' per user.

    Users whose access Keycloak has withdrawn are left out, so that the key sync removes the
    keys it installed for them (key_sync.py); a login lets them back in.
    """
    lines = []
    for row in rows:
        account = row["accounts"][cluster]
        if row["key"] is not None and account is not None and not row.get("withdrawn"):
            label = re.sub(r"[^\x21-\x7e]", "_", row["name"])
            lines.append(f"{account} {row['key'].bare} pyiron-hub:{label}\n")
    return "".join(lines)


def ssh_key_handlers(clusters) -> list[tuple]:
    """For c.JupyterHub.extra_handlers (paths below /hub/).

    extra_handlers is deprecated in favour of services, but these pages need the hub's own
    objects -- the user's spawner and its stored state -- which a service would have to
    rebuild with its own OAuth client, storage and Docker access.
    """
    return [
        (r"/ssh-key", SSHKeyHandler, {"clusters": clusters}),
        (r"/ssh-keys", SSHKeysAdminHandler, {"clusters": clusters}),
    ]


def work_from_archive(chunks) -> dict:
    """The work boot.py's watcher last saw in the server ({"jobs": [...], "busy_kernels": n, "host": ...})."""
    try:
        content = file_from_archive(chunks, limit=64 * 1024)
        work = json.loads(content) if content else {}
    except (KeyFileProblem, ValueError):
        return {}
    return work if isinstance(work, dict) else {}
