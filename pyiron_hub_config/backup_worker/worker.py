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
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from ..backup_layout import RESTORE_TARGET, SQLITE_DIR, STAGING, VOLUMES

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
SQLITE_MAGIC = b"SQLite format 3\x00"
# restic's words for a repository whose disk is full: this run cannot end well.
DISK_FULL = re.compile(r"no space left on device|disk quota exceeded")
# How long restic may take to end by itself once it said so.
DISK_FULL_GRACE = 30.0


def is_sqlite(path: Path) -> bool:
    if not path.name.endswith(SQLITE_SUFFIXES) or path.is_symlink() or not path.is_file():
        return False
    try:
        with open(path, "rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def sqlite_databases(root: Path) -> list[Path]:
    """Every SQLite database file under root (symbolic links are not followed)."""
    found = []
    for directory, dirs, files in os.walk(root):
        for name in files:
            path = Path(directory) / name
            if is_sqlite(path):
                found.append(path)
    return sorted(found)


def consistent_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: one consistent state, even while a writer is busy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # Read-only and immutable=0: a reader's shared lock, never a write to the user's file.
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=60)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    st = source.stat()
    os.chown(target, st.st_uid, st.st_gid)
    os.chmod(target, st.st_mode & 0o7777)


def restic_pattern(path: Path) -> str:
    """An exclude pattern that matches exactly this path (restic's globs escaped)."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in str(path))


def stage_sqlite(volumes: Path = VOLUMES, staging: Path = STAGING) -> list[str]:
    """Consistent copies of every SQLite database into staging; the live files' exclude patterns."""
    excludes = []
    for db in sqlite_databases(volumes):
        consistent_copy(db, staging / SQLITE_DIR / db.relative_to(volumes))
        for suffix in ("", "-journal", "-wal", "-shm"):
            excludes.append(restic_pattern(Path(str(db) + suffix)))
        print(f"SQLite database {db.relative_to(volumes)}: consistent copy taken", flush=True)
    return excludes


def place_sqlite(restored: Path, volumes: Path) -> None:
    """After a restore: each database's consistent copy back in place of the live file."""
    copies = restored / SQLITE_DIR
    if not copies.is_dir():
        return
    for copy in sorted(p for p in copies.rglob("*") if p.is_file()):
        rel = copy.relative_to(copies)
        if not (volumes / rel.parts[0]).is_dir():
            continue  # that volume is not part of this restore
        target = volumes / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("-journal", "-wal", "-shm"):  # a stale journal would be replayed into the copy
            Path(str(target) + suffix).unlink(missing_ok=True)
        st = copy.stat()
        shutil.copyfile(copy, target)
        os.chown(target, st.st_uid, st.st_gid)
        os.chmod(target, st.st_mode & 0o7777)
        print(f"SQLite database {rel}: restored", flush=True)


def restic(*args: str, command: tuple[str, ...] = ("restic", "--no-cache"), grace: float = DISK_FULL_GRACE) -> int:
    """Run restic, its output passed on; stopped if it hangs once the repository's disk is full.

    restic 0.18.0 sometimes neither retries nor exits after a save failed on a full disk
    (seen here: asleep for 10 minutes after "Save(...) failed: ... no space left on
    device"), which would hold the scheduled backup forever. Its own report of a full disk
    is final for this run, so after `grace` seconds it is stopped; the output keeps its
    words, and the hub reports the full disk (backup.RESTIC_PROBLEMS).
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
        print(f"restic did not end {grace:g} s after the repository's disk was full "
              "(no space left on device): stopped", file=sys.stderr, flush=True)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def worker_backup(plan: dict) -> int:
    excludes = stage_sqlite()
    exclude_file = Path("/tmp/excludes")
    exclude_file.write_text("".join(line + "\n" for line in excludes))
    # The same two paths every time: restic's parent snapshot (and so the incremental read).
    rc = restic("backup", "--host", plan["host"], "--tag", "pyiron-hub", "--exclude-file", str(exclude_file),
                str(VOLUMES), str(STAGING))
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
