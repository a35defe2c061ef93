"""btrfs subvolumes with qgroup limits, by the kernel's own ioctls (standard library only).

Runs in the quota service (see __init__.py), as root with CAP_SYS_ADMIN. Written by hand
rather than by calling btrfs-progs: the service needs four calls, the hub image it runs from
has no btrfs-progs, and the ioctls are a stable kernel ABI (linux/btrfs.h).
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
from dataclasses import dataclass

_BTRFS = 0x94
_PATH_MAX = 4087  # btrfs_ioctl_vol_args: __s64 fd; char name[4088] (4096 bytes)
_FIRST_FREE_OBJECTID = 256  # the root directory's inode of every subvolume
_LIMIT_MAX_RFER = 1  # BTRFS_QGROUP_LIMIT_MAX_RFER


def _ioc(direction: int, number: int, size: int) -> int:
    return direction << 30 | size << 16 | _BTRFS << 8 | number


_WRITE, _READ = 1, 2
SUBVOL_CREATE = _ioc(_WRITE, 14, 4096)
INO_LOOKUP = _ioc(_READ | _WRITE, 18, 4096)
FS_INFO = _ioc(_READ, 31, 1024)
QGROUP_LIMIT = _ioc(_READ, 43, 48)

# One path component, the way the hub names users' storage (dockerspawner's escaped names:
# lower-case letters, digits and '-' escapes, which may come first: 'Ann' is '-41nn').
NAME = re.compile(r"[A-Za-z0-9-][A-Za-z0-9_.-]{0,200}")


class QuotaError(Exception):
    """Why a quota cannot be enforced or set, in words for an admin."""


@dataclass(frozen=True)
class Usage:
    used: int  # bytes referenced by the subvolume (what its qgroup counts)
    limit: int | None  # bytes; None: no limit set


def check_name(name: str) -> str:
    if not NAME.fullmatch(name) or ".." in name:
        raise QuotaError(f"{name!r} is no user's storage name")
    return name


def filesystem_id(path: str) -> str:
    """The btrfs file system's UUID (as /sys/fs/btrfs names it); QuotaError if it is no btrfs."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        buffer = bytearray(1024)
        try:
            fcntl.ioctl(fd, FS_INFO, buffer)
        except OSError as err:
            raise QuotaError(
                f"{path} is not on a btrfs file system ({err.strerror}): per-user quotas need btrfs with "
                "quotas enabled there (docs: Disk quotas)"
            ) from None
    finally:
        os.close(fd)
    raw = bytes(buffer[16:32])
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _qgroups_dir(root: str) -> str:
    return f"/sys/fs/btrfs/{filesystem_id(root)}/qgroups"


def check_root(root: str) -> None:
    """QuotaError unless root is a directory on btrfs with quotas enabled."""
    if not os.path.isdir(root):
        raise QuotaError(f"no such directory: {root}")
    qgroups = _qgroups_dir(root)
    if not os.path.isdir(qgroups):
        raise QuotaError(
            f"quotas are not enabled on the btrfs file system of {root}: run `btrfs quota enable {root}` "
            "on the host (a limit would not be enforced)"
        )


def subvolume_id(path: str) -> int:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        args = bytearray(struct.pack("=QQ", 0, _FIRST_FREE_OBJECTID) + bytes(4080))
        fcntl.ioctl(fd, INO_LOOKUP, args)
        return struct.unpack_from("=Q", args)[0]
    finally:
        os.close(fd)


def is_subvolume(path: str) -> bool:
    return os.path.isdir(path) and os.stat(path).st_ino == _FIRST_FREE_OBJECTID


def create_subvolume(root: str, name: str) -> str:
    """Make <root>/<name> a subvolume (name: one path component); its path."""
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise QuotaError(f"{name!r} is not one directory's name")
    encoded = name.encode()
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        args = bytearray(struct.pack("=q", 0) + encoded + bytes(_PATH_MAX + 1 - len(encoded)))
        fcntl.ioctl(fd, SUBVOL_CREATE, args)
    finally:
        os.close(fd)
    return os.path.join(root, name)


def set_limit(root: str, path: str, limit: int | None) -> None:
    """Limit what the subvolume at path (under root) references to limit bytes (None: no limit)."""
    qgroup = subvolume_id(path)
    # Asked through root, not through the subvolume: the kernel charges the call's own
    # transaction to the subvolume the descriptor is in, and a full one refuses it (EDQUOT),
    # so a full quota could not be raised.
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        args = struct.pack("=QQQQQQ", qgroup, _LIMIT_MAX_RFER, limit or 0, 0, 0, 0)
        fcntl.ioctl(fd, QGROUP_LIMIT, bytearray(args))
    finally:
        os.close(fd)


def usage(root: str, path: str) -> Usage:
    """What the subvolume at path uses and may use, as the kernel counts it (sysfs)."""
    group = f"{_qgroups_dir(root)}/0_{subvolume_id(path)}"

    def read(name: str) -> int:
        with open(f"{group}/{name}") as f:
            return int(f.read().strip() or 0)

    limit = read("max_referenced")
    return Usage(read("referenced"), limit or None)
