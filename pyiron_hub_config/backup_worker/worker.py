"""Inside the short-lived container that runs restic, with the volumes mounted under /data.

Layout of every snapshot (the same paths each time, so restic finds the parent snapshot
and reads only what changed):

    /data/volumes/<volume>/...        each volume's files, as they are
    /data/staging/postgres/hub.dump   the hub's database (pg_dump -Fc, one transaction)
    /data/staging/sqlite/<volume>/<path>  a consistent copy of each SQLite database
    /data/staging/config/...          pyiron.env, shared.env, build.env, clusters.toml
    /data/staging/manifest.json       which volumes, which project, when

A SQLite file (pyiron's job database) may be written while the backup reads it; the copy
in staging is made with SQLite's own backup API, which reads one consistent state of the
database under a read lock, and the live file (and its -journal / -wal) is left out.

The worker runs as root, and the volumes hold what users wrote: names, links and
directories a user chose, possibly changed while the worker reads them. So nothing of a
user's is opened by a path that could lead elsewhere: directories are walked by file
descriptor (os.fwalk, no link followed), a database is read through its pinned directory
(/proc/self/fd/<dir>) under a URI with its name escaped, and what SQLite opened is checked
to be the very file found; a restore writes through directory descriptors opened with
O_NOFOLLOW, into a new file renamed over the old name (a planted link is replaced, never
followed). A database that cannot be copied is named and skipped; the rest of the backup
goes on, and the live file goes into the snapshot as it is. So is a quota home or group
folder (the plan's "places") that cannot be read as a directory: named, and left out.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

from ..backup_layout import RESTORE_TARGET, SKIPPED_MARK, SQLITE_DIR, STAGING, UNREADABLE_MARK, VOLUMES
from ..error_words import RESTIC_DISK_FULL

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
SQLITE_MAGIC = b"SQLite format 3\x00"
# restic's words for a repository whose disk is full (it exits 1, as for much else): this run
# cannot end well.
DISK_FULL = RESTIC_DISK_FULL
# How long restic may take to end by itself once it said so.
DISK_FULL_GRACE = 30.0


_NOFOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_DIRECTORY = _NOFOLLOW | os.O_DIRECTORY


class NotCopied(Exception):
    """This database could not be copied; why, in words."""


def _is_sqlite_at(name: str, dir_fd: int) -> bool:
    if not name.endswith(SQLITE_SUFFIXES):
        return False
    try:
        fd = os.open(name, _NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)  # a fifo must not hang the backup
    except OSError:
        return False  # a link (ELOOP), gone, unreadable
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode) and os.read(fd, 16) == SQLITE_MAGIC
    except OSError:
        return False
    finally:
        os.close(fd)


def is_sqlite(path: Path) -> bool:
    directory = os.open(path.parent, _DIRECTORY)
    try:
        return _is_sqlite_at(path.name, directory)
    finally:
        os.close(directory)


def sqlite_databases(root: Path) -> list[Path]:
    """Every SQLite database file under root (no symbolic link followed, neither file nor directory)."""
    found = []
    for directory, _dirs, files, dir_fd in os.fwalk(root, follow_symlinks=False):
        found.extend(Path(directory) / name for name in files if _is_sqlite_at(name, dir_fd))
    return sorted(found)


def sqlite_uri(path: str) -> str:
    """A read-only SQLite URI for path: '#', '?' and '%' in a name would end or change it."""
    return f"file:{urllib.parse.quote(path, safe='/')}?mode=ro"


def _inodes_at(dir_fd: int, names) -> set[tuple[int, int]]:
    found = set()
    for name in names:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        found.add((st.st_dev, st.st_ino))
    return found


def _open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def consistent_copy(source: Path, target: Path) -> None:
    """SQLite's online backup of source into target: one consistent state, even while a writer is busy.

    Raises NotCopied if it cannot be read, is not a database, or SQLite ended up reading any
    other file than the one found (a name swapped for a link meanwhile).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        directory = os.open(source.parent, _DIRECTORY)
    except OSError as err:
        raise NotCopied(f"its directory cannot be opened without following a link ({err.strerror})") from None
    try:
        try:
            fd = os.open(source.name, _NOFOLLOW | os.O_NONBLOCK, dir_fd=directory)
        except OSError as err:
            raise NotCopied(f"it cannot be opened without following a link ({err.strerror})") from None
        st = os.fstat(fd)
        os.close(fd)
        dst = sqlite3.connect(target)
        try:
            before = _open_fds()
            # Through the pinned directory: a directory on the path swapped for a link is not followed.
            src = sqlite3.connect(sqlite_uri(f"/proc/self/fd/{directory}/{source.name}"), uri=True, timeout=60)
            try:
                src.backup(dst)
                opened = _open_fds() - before
                files = {source.name + suffix for suffix in ("", "-journal", "-wal", "-shm")}
                allowed = _inodes_at(directory, files) | {(st.st_dev, st.st_ino)}
                for other in opened:
                    try:
                        o = os.fstat(other)
                    except OSError:
                        continue  # closed meanwhile (the listing's own descriptor)
                    if (o.st_dev, o.st_ino) not in allowed:
                        raise NotCopied("SQLite read another file than the one found (a link planted meanwhile?)")
            finally:
                src.close()
        finally:
            dst.close()
    except sqlite3.Error as err:
        target.unlink(missing_ok=True)
        raise NotCopied(f"SQLite could not read it: {err}") from None
    except NotCopied:
        target.unlink(missing_ok=True)
        raise
    finally:
        os.close(directory)
    os.chown(target, st.st_uid, st.st_gid)
    os.chmod(target, st.st_mode & 0o7777)


def restic_pattern(path: Path) -> str:
    """An exclude pattern that matches exactly this path (restic's globs escaped)."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in str(path))


def stage_sqlite(volumes: Path = VOLUMES, staging: Path = STAGING) -> tuple[list[str], dict[str, str]]:
    """Consistent copies of every SQLite database into staging.

    Returns the live files' exclude patterns, and {database: why} for those skipped: their
    live files stay in the snapshot as they are, and the rest of the backup goes on.
    """
    excludes, skipped = [], {}
    for db in sqlite_databases(volumes):
        rel = str(db.relative_to(volumes))
        try:
            consistent_copy(db, staging / SQLITE_DIR / rel)
        except NotCopied as why:
            skipped[rel] = str(why)
            print(f"SQLite database {rel}: SKIPPED, {why}; its file is backed up as it is", file=sys.stderr, flush=True)
            print(SKIPPED_MARK + json.dumps({rel: str(why)}), flush=True)
            continue
        for suffix in ("", "-journal", "-wal", "-shm"):
            excludes.append(restic_pattern(Path(str(db) + suffix)))
        print(f"SQLite database {rel}: consistent copy taken", flush=True)
    return excludes, skipped


def _open_directory_in(root: int, parts: tuple[str, ...], owner: os.stat_result) -> int:
    """The directory root/parts..., made where missing, no link followed; a new descriptor."""
    fd = os.dup(root)
    try:
        for part in parts:
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
                os.chown(part, owner.st_uid, owner.st_gid, dir_fd=fd, follow_symlinks=False)
            except FileExistsError:
                pass
            child = os.open(part, _DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def place_copy(copy: Path, volume: Path, rel: tuple[str, ...]) -> None:
    """copy (staged by the worker) to volume/rel..., as a new file renamed over the name.

    Neither a directory on the way nor the name itself is followed if it is a link: a user's
    link to another user's file or /etc/shadow is replaced in the user's own directory.
    """
    st = copy.stat()
    root = os.open(volume, _DIRECTORY)
    try:
        directory = _open_directory_in(root, rel[:-1], st)
    finally:
        os.close(root)
    name, temporary = rel[-1], f".{rel[-1]}.pyiron-hub-restore"
    try:
        for suffix in ("-journal", "-wal", "-shm"):  # a stale journal would be replayed into the copy
            try:
                os.unlink(name + suffix, dir_fd=directory)  # a link itself, never what it points at
            except FileNotFoundError:
                pass
        try:
            os.unlink(temporary, dir_fd=directory)
        except FileNotFoundError:
            pass
        fd = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=directory
        )
        with os.fdopen(fd, "wb") as out, open(copy, "rb") as data:
            shutil.copyfileobj(data, out, 1024 * 1024)
            os.fchown(out.fileno(), st.st_uid, st.st_gid)
            os.fchmod(out.fileno(), st.st_mode & 0o7777)
        os.rename(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
    finally:
        os.close(directory)


def place_sqlite(restored: Path, volumes: Path) -> list[str]:
    """After a restore: each database's consistent copy back in place of the live file.

    Returns the databases that could not be placed (a link where a directory should be), in words.
    """
    copies, problems = restored / SQLITE_DIR, []
    if not copies.is_dir():
        return problems
    for copy in sorted(p for p in copies.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = copy.relative_to(copies)
        if not (volumes / rel.parts[0]).is_dir() or len(rel.parts) < 2:
            continue  # that volume is not part of this restore
        try:
            place_copy(copy, volumes / rel.parts[0], rel.parts[1:])
        except OSError as err:
            problems.append(f"{rel}: not restored, {err.strerror} (a link on its path?)")
            print(
                f"SQLite database {rel}: NOT restored, {err.strerror} (a link on its path?)",
                file=sys.stderr,
                flush=True,
            )
            continue
        print(f"SQLite database {rel}: restored", flush=True)
    return problems


def restic(*args: str, command: tuple[str, ...] = ("restic", "--no-cache"), grace: float = DISK_FULL_GRACE) -> int:
    """Run restic, its output passed on; stopped if it hangs once the repository's disk is full.

    restic 0.18.0 sometimes neither retries nor exits after a save failed on a full disk
    (seen here: asleep for 10 minutes after "Save(...) failed: ... no space left on
    device"), which would hold the scheduled backup forever. Its own report of a full disk
    is final for this run, so after `grace` seconds it is stopped; the output keeps its
    words, and the hub reports the full disk (backup.RESTIC_WORDS).
    """
    print("restic " + " ".join(args), flush=True)
    proc = subprocess.Popen([*command, *args], stderr=subprocess.PIPE, text=True, errors="replace")
    stopper: threading.Timer | None = None
    for line in proc.stderr:
        sys.stderr.write(line)
        sys.stderr.flush()
        if stopper is None and DISK_FULL.search(line):
            stopper = threading.Timer(grace, _stop_hung, (proc, grace))
            stopper.start()
    rc = proc.wait()
    if stopper is not None:
        stopper.cancel()
    return rc


def _stop_hung(proc: subprocess.Popen, grace: float) -> None:
    if proc.poll() is None:
        print(
            f"restic did not end {grace:g} s after the repository's disk was full (no space left on device): stopped",
            file=sys.stderr,
            flush=True,
        )
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def unreadable_places(places: list[str], volumes: Path = VOLUMES) -> dict[str, str]:
    """{place: why} for the quota's homes and group folders (paths under volumes) that cannot be
    read as a directory: restic would fail the whole backup on them, so they are left out and named."""
    unreadable = {}
    for place in places:
        try:
            fd = os.open(volumes / place, _DIRECTORY)
            try:
                os.listdir(fd)
            finally:
                os.close(fd)
        except OSError as err:
            unreadable[place] = f"it cannot be read as a directory ({err.strerror})"
            print(f"{place}: SKIPPED, {unreadable[place]}", file=sys.stderr, flush=True)
            print(UNREADABLE_MARK + json.dumps({place: unreadable[place]}), flush=True)
    return unreadable


def worker_backup(plan: dict) -> int:
    unreadable = unreadable_places(plan.get("places", []))
    excludes, _skipped = stage_sqlite()
    excludes += [restic_pattern(VOLUMES / place) for place in unreadable]
    exclude_file = Path("/tmp/excludes")
    exclude_file.write_text("".join(line + "\n" for line in excludes))
    # The same two paths every time: restic's parent snapshot (and so the incremental read).
    rc = restic(
        "backup",
        "--host",
        plan["host"],
        "--tag",
        "pyiron-hub",
        "--exclude-file",
        str(exclude_file),
        str(VOLUMES),
        str(STAGING),
    )
    if rc == 0 and plan.get("forget"):
        rc = restic("forget", "--host", plan["host"], "--tag", "pyiron-hub", *plan["forget"])
    return rc


def worker_restore(plan: dict) -> int:
    """Restore the snapshot's paths under /restore, where the volumes are mounted."""
    includes = [arg for path in plan["include"] for arg in ("--include", path)]
    rc = restic("restore", plan["snapshot"], "--target", str(RESTORE_TARGET), *includes)
    if rc == 0:
        place_sqlite(RESTORE_TARGET / STAGING.relative_to("/"), RESTORE_TARGET / VOLUMES.relative_to("/"))
    return rc


def main(argv: list[str]) -> int:
    """`pyiron-hub backup-worker backup|restore PLAN_JSON` (started by backup.py, not by admins)."""
    action, plan = argv[0], json.loads(argv[1])
    return {"backup": worker_backup, "restore": worker_restore}[action](plan)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
