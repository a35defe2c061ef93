"""The quota service's HTTP side (see __init__.py for where it runs and why)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import urllib.request

from . import btrfs
from .btrfs import QuotaError

log = logging.getLogger("quota-service")

LISTEN = "0.0.0.0:8099"
USER_UID = USER_GID = 1000  # jovyan in the pyiron images, as storage.py says
HOME_DIR = "home"  # <root>/<user>/home: what the user's server mounts at /home/jovyan
# Group folders (GROUP_FOLDERS): <root>/_groups/<group>/folder, mounted at ~/groups/<group>.
# '_' never starts a user's storage name (btrfs.NAME): no user's home can be this directory.
GROUPS_DIR = "_groups"
FOLDER_DIR = "folder"
FOLDER_MODE = 0o2775  # setgid, writable by every member (all run as jovyan), as group_folders.py makes volumes
# A limit below this would stop a server's own start (Jupyter's settings, pyiron's database).
MIN_LIMIT = 1 << 20


def _usage_json(root: str, path: str) -> dict:
    u = btrfs.usage(root, path)
    return {"used": u.used, "limit": u.limit}


def _ensure_subvolume(root: str, parent: str, name: str, limit: int, inner: str, mode: int) -> dict:
    """<parent>/<name>, a subvolume made with limit if missing (an existing one keeps its limit),
    holding the directory inner that servers mount (jovyan's, with mode)."""
    path = os.path.join(parent, btrfs.check_name(name))
    created = False
    if not os.path.lexists(path):
        staging = f".new-{name}"
        staging_path = os.path.join(parent, staging)
        if not btrfs.is_subvolume(staging_path):  # else left by a start that failed half-way
            btrfs.create_subvolume(parent, staging)
        # Limited and owned before it gets its final name: a home under that name is complete.
        # The subvolume stays the service's (it opens it to read and set the limit, without
        # CAP_DAC_READ_SEARCH); the user's is the directory in it, which servers mount.
        btrfs.set_limit(root, staging_path, limit)
        os.chmod(staging_path, 0o711)
        directory = os.path.join(staging_path, inner)
        if not os.path.isdir(directory):
            os.mkdir(directory)
        if os.stat(directory).st_uid != USER_UID:  # also when a start failed between mkdir and chown
            # chmod while still ours: the service has no CAP_FOWNER (a directory keeps setgid on chown).
            os.chmod(directory, mode)
            os.chown(directory, USER_UID, USER_GID)
        os.rename(staging_path, path)
        created = True
    elif not btrfs.is_subvolume(path):
        raise QuotaError(f"{path} exists but is no subvolume: its size cannot be limited")
    return {**_usage_json(root, path), "created": created}


def ensure_user(root: str, name: str, limit: int) -> dict:
    """The user's subvolume <root>/<name>, made with limit if missing, with the home in it (0700)."""
    return _ensure_subvolume(root, root, name, limit, HOME_DIR, 0o700)


def ensure_group(root: str, name: str, limit: int) -> dict:
    """The group's subvolume <root>/_groups/<name>, made with limit if missing, with the
    folder in it that members' servers mount (jovyan's, 2775)."""
    groups = os.path.join(root, GROUPS_DIR)
    if not os.path.isdir(groups):
        os.makedirs(groups, exist_ok=True)
        os.chmod(groups, 0o711)
    return _ensure_subvolume(root, groups, name, limit, FOLDER_DIR, FOLDER_MODE)


def _limit_from(body: object) -> int:
    limit = body.get("limit") if isinstance(body, dict) else None
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < MIN_LIMIT:
        raise QuotaError(f"limit must be a number of bytes, at least {MIN_LIMIT}")
    return limit


# Users' homes are <root>/<name>, group folders <root>/_groups/<name>: the same calls for each
# kind (made, limit set, all listed), told apart by the directory and the words of a refusal.
KIND_DIRS = {"users": "", "groups": GROUPS_DIR}
ENSURE = {"users": ensure_user, "groups": ensure_group}
MISSING = {
    "users": "{name} has no home under {root} yet (it is made at their first start)",
    "groups": "the group folder {name} does not exist yet (it is made at a member's start)",
}


def set_limit(root: str, kind: str, name: str, limit: int) -> dict:
    """A new limit for a subvolume of kind that exists; its usage after."""
    path = os.path.join(root, KIND_DIRS[kind], btrfs.check_name(name))
    if not btrfs.is_subvolume(path):
        raise QuotaError(MISSING[kind].format(name=name, root=root))
    btrfs.set_limit(root, path, limit)
    return _usage_json(root, path)


def all_of(root: str, kind: str) -> dict[str, dict]:
    """Every subvolume of kind by name, with its usage."""
    where = os.path.join(root, KIND_DIRS[kind])
    # _groups is made at the first group folder's start; a missing root is an error (500).
    if KIND_DIRS[kind] and not os.path.isdir(where):
        return {}
    found = {}
    for entry in sorted(os.listdir(where)):
        path = os.path.join(where, entry)
        if not entry.startswith(".") and btrfs.NAME.fullmatch(entry) and btrfs.is_subvolume(path):
            found[entry] = _usage_json(root, path)
    return found


def make_app(root: str):
    from aiohttp import web

    def answer(call, *args):
        try:
            return web.json_response(call(*args))
        except QuotaError as err:
            return web.json_response({"message": str(err)}, status=400)
        except OSError as err:
            log.warning("%s failed: %s", call.__name__, err)
            return web.json_response({"message": f"{err.strerror or err} ({err.filename or root})"}, status=500)

    async def ping(request):
        return web.json_response({})

    async def check(request):
        try:
            btrfs.check_root(root)
        except QuotaError as err:
            return web.json_response({"ok": False, "message": str(err)}, status=503)
        return web.json_response({"ok": True, "root": root})

    async def limit_or_refusal(request):
        """The body's limit, or the 400 answer that refuses it."""
        try:
            return _limit_from(await request.json()), None
        except (ValueError, QuotaError) as err:
            return None, web.json_response({"message": str(err)}, status=400)

    def add_kind(kind: str, called: str) -> None:
        """/<kind> lists them, PUT /<kind>/<name> makes one, PUT /<kind>/<name>/limit limits one."""

        async def listed(request):
            return answer(all_of, root, kind)

        async def ensured(request):
            limit, refusal = await limit_or_refusal(request)
            if refusal is not None:
                return refusal
            return answer(ENSURE[kind], root, request.match_info["name"], limit)

        async def limited(request):
            limit, refusal = await limit_or_refusal(request)
            if refusal is not None:
                return refusal
            log.info("limit of %s%s set to %d bytes", called, request.match_info["name"], limit)
            return answer(set_limit, root, kind, request.match_info["name"], limit)

        app.router.add_get(f"/{kind}", listed)
        app.router.add_put(f"/{kind}/{{name}}", ensured)
        app.router.add_put(f"/{kind}/{{name}}/limit", limited)

    app = web.Application(client_max_size=4096)
    app.router.add_get("/ping", ping)
    app.router.add_get("/check", check)
    add_kind("users", "")
    add_kind("groups", "group folder ")
    return app


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyiron_hub_config.quota_service")
    parser.add_argument("--root", default=os.environ.get("STORAGE_QUOTA_ROOT", "/srv/pyiron-hub/quota"))
    parser.add_argument("--listen", default=LISTEN)
    parser.add_argument("--ping", action="store_true", help="exit 0 if the service answers (healthcheck)")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if args.ping:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as r:
                return 0 if r.status == 200 else 1
        except OSError:
            return 1
    from aiohttp import web

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s quota-service %(message)s")
    try:
        btrfs.check_root(args.root)
        log.info("users' homes in %s, limits enforced by btrfs qgroups", args.root)
    except QuotaError as err:  # reported to the hub by /check, which refuses to start on it
        log.error("NO QUOTA CAN BE ENFORCED: %s", err)
    web.run_app(make_app(args.root), host=host, port=int(port), print=None)
    return 0
