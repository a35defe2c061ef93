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


def ensure_user(root: str, name: str, limit: int) -> dict:
    """The user's subvolume, made with limit if missing (an existing one keeps its limit)."""
    path = os.path.join(root, btrfs.check_name(name))
    created = False
    if not os.path.lexists(path):
        staging = f".new-{name}"
        staging_path = os.path.join(root, staging)
        if not btrfs.is_subvolume(staging_path):  # else left by a start that failed half-way
            btrfs.create_subvolume(root, staging)
        # Limited and owned before it gets its final name: a home under that name is complete.
        # The subvolume stays the service's (it opens it to read and set the limit, without
        # CAP_DAC_READ_SEARCH); the user's is the home in it, which servers mount.
        btrfs.set_limit(root, staging_path, limit)
        os.chmod(staging_path, 0o711)
        home = os.path.join(staging_path, HOME_DIR)
        if not os.path.isdir(home):
            os.mkdir(home)
        if os.stat(home).st_uid != USER_UID:  # also when a start failed between mkdir and chown
            os.chmod(home, 0o700)  # before the chown: the service has no CAP_FOWNER
            os.chown(home, USER_UID, USER_GID)
        os.rename(staging_path, path)
        created = True
    elif not btrfs.is_subvolume(path):
        raise QuotaError(f"{path} exists but is no subvolume: its size cannot be limited")
    return {**_usage_json(root, path), "created": created}


def ensure_group(root: str, name: str, limit: int) -> dict:
    """The group's subvolume <root>/_groups/<name>, made with limit if missing, with the
    folder in it that members' servers mount (jovyan's, 2775)."""
    groups = os.path.join(root, GROUPS_DIR)
    if not os.path.isdir(groups):
        os.makedirs(groups, exist_ok=True)
        os.chmod(groups, 0o711)
    path = os.path.join(groups, btrfs.check_name(name))
    created = False
    if not os.path.lexists(path):
        staging = f".new-{name}"
        staging_path = os.path.join(groups, staging)
        if not btrfs.is_subvolume(staging_path):
            btrfs.create_subvolume(groups, staging)
        btrfs.set_limit(root, staging_path, limit)
        os.chmod(staging_path, 0o711)
        folder = os.path.join(staging_path, FOLDER_DIR)
        if not os.path.isdir(folder):
            os.mkdir(folder)
        if os.stat(folder).st_uid != USER_UID:
            # chmod while still ours (no CAP_FOWNER after); a directory keeps setgid on chown.
            os.chmod(folder, FOLDER_MODE)
            os.chown(folder, USER_UID, USER_GID)
        os.rename(staging_path, path)
        created = True
    elif not btrfs.is_subvolume(path):
        raise QuotaError(f"{path} exists but is no subvolume: its size cannot be limited")
    return {**_usage_json(root, path), "created": created}


def set_group_limit(root: str, name: str, limit: int) -> dict:
    path = os.path.join(root, GROUPS_DIR, btrfs.check_name(name))
    if not btrfs.is_subvolume(path):
        raise QuotaError(f"the group folder {name} does not exist yet (it is made at a member's start)")
    btrfs.set_limit(root, path, limit)
    return _usage_json(root, path)


def all_groups(root: str) -> dict[str, dict]:
    groups = os.path.join(root, GROUPS_DIR)
    if not os.path.isdir(groups):
        return {}
    found = {}
    for entry in sorted(os.listdir(groups)):
        path = os.path.join(groups, entry)
        if not entry.startswith(".") and btrfs.NAME.fullmatch(entry) and btrfs.is_subvolume(path):
            found[entry] = _usage_json(root, path)
    return found


def set_user_limit(root: str, name: str, limit: int) -> dict:
    path = os.path.join(root, btrfs.check_name(name))
    if not btrfs.is_subvolume(path):
        raise QuotaError(f"{name} has no home under {root} yet (it is made at their first start)")
    btrfs.set_limit(root, path, limit)
    return _usage_json(root, path)


def all_users(root: str) -> dict[str, dict]:
    found = {}
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        if not entry.startswith(".") and btrfs.NAME.fullmatch(entry) and btrfs.is_subvolume(path):
            found[entry] = _usage_json(root, path)
    return found


def _limit_from(body: object) -> int:
    limit = body.get("limit") if isinstance(body, dict) else None
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < MIN_LIMIT:
        raise QuotaError(f"limit must be a number of bytes, at least {MIN_LIMIT}")
    return limit


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

    async def check(request):
        try:
            btrfs.check_root(root)
        except QuotaError as err:
            return web.json_response({"ok": False, "message": str(err)}, status=503)
        return web.json_response({"ok": True, "root": root})

    async def users(request):
        return answer(all_users, root)

    async def ensure(request):
        try:
            limit = _limit_from(await request.json())
        except (ValueError, QuotaError) as err:
            return web.json_response({"message": str(err)}, status=400)
        return answer(ensure_user, root, request.match_info["name"], limit)

    async def set_limit(request):
        try:
            limit = _limit_from(await request.json())
        except (ValueError, QuotaError) as err:
            return web.json_response({"message": str(err)}, status=400)
        log.info("limit of %s set to %d bytes", request.match_info["name"], limit)
        return answer(set_user_limit, root, request.match_info["name"], limit)

    async def groups(request):
        return answer(all_groups, root)

    async def ensure_group_folder(request):
        try:
            limit = _limit_from(await request.json())
        except (ValueError, QuotaError) as err:
            return web.json_response({"message": str(err)}, status=400)
        return answer(ensure_group, root, request.match_info["name"], limit)

    async def set_group_folder_limit(request):
        try:
            limit = _limit_from(await request.json())
        except (ValueError, QuotaError) as err:
            return web.json_response({"message": str(err)}, status=400)
        log.info("limit of group folder %s set to %d bytes", request.match_info["name"], limit)
        return answer(set_group_limit, root, request.match_info["name"], limit)

    app = web.Application(client_max_size=4096)
    app.router.add_get("/ping", lambda request: web.json_response({}))
    app.router.add_get("/check", check)
    app.router.add_get("/users", users)
    app.router.add_put("/users/{name}", ensure)
    app.router.add_put("/users/{name}/limit", set_limit)
    app.router.add_get("/groups", groups)
    app.router.add_put("/groups/{name}", ensure_group_folder)
    app.router.add_put("/groups/{name}/limit", set_group_folder_limit)
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
