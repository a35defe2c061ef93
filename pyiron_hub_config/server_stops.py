"""Why a user's server stopped, what was lost with it, and what the user is told.

The hub records each stop in the spawner's state (it outlives the container and a restart of
the hub): when, why, and the pyiron jobs and busy kernels the server's own watcher (boot.py)
last saw in it. The hub's home page says it; the next start passes it to the boot step, which
marks those jobs `aborted` in the job table and says why in the notebook. Kills by the memory
limit are counted per user in a file in DATA_DIR, which /hub/usage and /hub/metrics read (a
file, like the backup's status: it survives the hub, and the metrics need no database).

Why a stop happened is read where it can be told apart:
- the container ended by itself (the hub's poll finds it exited): Docker's State.OOMKilled
  with exit status 137 is the memory limit; anything else ended without the hub (a restart of
  the Docker engine or of the machine, a crash);
- the hub stopped a running container: past MAX_SERVER_AGE it was the culler's maximum age;
  through the REST API (the user, an admin, the idle culler) or by the hub's own shutdown.
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC

from .values import format_memory

MEMORY_KILLS_FILE = "memory-kills.json"  # in DATA_DIR: {user: kills by the memory limit}
MEMORY = "memory"
MAX_AGE = "max_age"
REQUESTED = "requested"
HUB = "hub"
EXITED = "exited"
OOM_EXIT = 137  # 128 + SIGKILL: the kernel's OOM killer took the server's main process

_lock = threading.Lock()


def format_duration(seconds: float) -> str:
    """'8 h', '1 h 30 min', '5 min', '3 min 30 s', '45 s'."""
    seconds = max(0, int(round(seconds)))
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min" + (f" {seconds % 60} s" if minutes < 10 and seconds % 60 else "")
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


def stop_warning(max_age: int) -> int:
    """Seconds before MAX_SERVER_AGE from which users are warned: an hour, or half of a shorter age."""
    return min(3600, max_age // 2)


def stop_kind(state: dict | None, api_request: bool, age: float | None, max_age: int) -> str:
    """Why the server stopped: `state` is its container's State (None: gone), `api_request`
    whether the stop came through the hub's REST API, `age` seconds since it started."""
    if state is not None and not state.get("Running"):
        if state.get("OOMKilled") and state.get("ExitCode") == OOM_EXIT:
            return MEMORY
        return EXITED
    if max_age and age is not None and age >= max_age:
        return MAX_AGE
    return REQUESTED if api_request else HUB


def stop_text(kind: str, mem_limit: int | None = None, max_age: int = 0, exit_code: int | None = None) -> str:
    """The reason, as a clause: "Your server was stopped: <this>"."""
    if kind == MEMORY:
        return (
            f"it reached its memory limit of {format_memory(mem_limit)}"
            if mem_limit
            else ("it reached its memory limit")
        )
    if kind == MAX_AGE:
        return f"it had run for {format_duration(max_age)}, the longest this hub lets a server run"
    if kind == EXITED:
        return (
            "its container ended without the hub stopping it"
            + (f" (exit status {exit_code})" if exit_code is not None else "")
            + ", as when the Docker engine or the machine restarts"
        )
    if kind == HUB:
        return "the hub stopped or restarted, and stopped the servers with it"
    return "it was stopped from the hub (by you or an admin, or by the idle culler)"


def stop_record(kind: str, text: str, work: dict | None, at: float | None = None, container: str | None = None) -> dict:
    """What the spawner keeps in its state: when, why, and the work the watcher last saw; and
    the container it was about, so that the poll and the stop that follows record it once."""
    work = work or {}
    record = {
        "at": time.time() if at is None else at,
        "kind": kind,
        "text": text,
        "jobs": [str(j) for j in work.get("jobs") or []][:50],
        "busy_kernels": int(work.get("busy_kernels") or 0),
        "host": work.get("host"),
    }
    if container is not None:
        record["container"] = container
    return record


def notable(record: dict | None) -> bool:
    """Worth telling the user: work was lost, or the hub (not they) decided the stop."""
    if not record:
        return False
    return bool(record.get("jobs") or record.get("busy_kernels")) or record.get("kind") in (MEMORY, MAX_AGE, EXITED)


def format_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


# --- kills by the memory limit, per user --------------------------------------------------------
def memory_kills(path: str | os.PathLike | None) -> dict[str, int]:
    if not path:
        return {}
    try:
        with open(path) as f:
            counts = json.load(f)
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in counts.items()} if isinstance(counts, dict) else {}


def count_memory_kill(path: str | os.PathLike | None, user: str) -> int:
    """Add one kill for user; return their count."""
    if not path:
        return 0
    from .boot_shared import write_atomically

    with _lock:
        counts = memory_kills(path)
        counts[user] = counts.get(user, 0) + 1
        write_atomically(str(path), json.dumps(counts, indent=1, sort_keys=True), 0o600)
        return counts[user]


class MemoryKillsCollector:
    """/hub/metrics: pyiron_hub_server_memory_kills_total{user}."""

    def __init__(self, path):
        self.path = path

    def describe(self):
        return []  # else the registry collects once when it registers it, at config load

    def collect(self):
        from prometheus_client.core import CounterMetricFamily

        family = CounterMetricFamily(
            "pyiron_hub_server_memory_kills",
            "Users' servers stopped by their memory limit (the kernel's OOM killer)",
            labels=["user"],
        )
        for user, count in sorted(memory_kills(self.path).items()):
            family.add_metric([user], count)
        yield family


_registered = False


def register_memory_kills_metrics(path) -> None:
    global _registered
    if not _registered:
        from prometheus_client import REGISTRY

        REGISTRY.register(MemoryKillsCollector(path))
        _registered = True


# --- what the hub's pages say -------------------------------------------------------------------
def started_epoch(spawner) -> float | None:
    orm_spawner = getattr(spawner, "orm_spawner", None)
    started = getattr(orm_spawner, "started", None)
    if started is None:
        return None
    if started.tzinfo is None:  # JupyterHub keeps naive UTC
        started = started.replace(tzinfo=UTC)
    return started.timestamp()


def stops_at(spawner, max_age: int) -> float | None:
    """When the culler stops this running server (MAX_SERVER_AGE), as epoch seconds; None without a bound."""
    started = started_epoch(spawner)
    return started + max_age if max_age and started is not None else None


def server_notice(max_age: int, now=time.time):
    """A template variable: for the page's user, their last notable stop and the running server's end."""

    def for_user(user):
        if user is None:
            return None
        try:
            spawner = user.spawner
        except Exception:  # a page for someone without a spawner (a service's page)
            return None
        notice = {}
        record = getattr(spawner, "last_stop", None)
        if isinstance(record, dict) and notable(record):
            notice["last_stop"] = {
                "at": format_time(record["at"]),
                "why": record["text"],
                "jobs": record.get("jobs") or [],
                "busy_kernels": record.get("busy_kernels") or 0,
            }
        end = stops_at(spawner, max_age) if max_age and getattr(spawner, "active", False) else None
        if end is not None:
            left = end - now()
            notice["stops_at"] = {
                "at": format_time(end),
                "left": format_duration(left),
                "soon": left <= stop_warning(max_age),
                "max_age": format_duration(max_age),
            }
        return notice or None

    return for_user
