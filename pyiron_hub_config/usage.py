"""Who uses how much: each user's home + work size, and running servers' memory and CPU.

Sizes come from the Docker engine (`docker system df -v`: the engine walks the volumes,
not the hub), memory and CPU from each running container's stats. Both take seconds with
many users, so the hub never measures on its event loop: a page or a metrics scrape reads
the last measurement from a cache and, if it is older than USAGE_REFRESH_SECONDS, starts
a new one in a thread of its own.

Image volumes: every image version leaves a `pyiron-hub-image-<id>` volume (storage.py).
Those no container uses (running or stopped) and no catalogue image needs are stale and
may be removed; their total is shown with the usage.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .storage import GROUP_VOLUME, HOME_VOLUME, IMAGE_VOLUME_PREFIX, WORK_VOLUME, image_volume

_HOME = HOME_VOLUME.split("{")[0]
_WORK = WORK_VOLUME.split("{")[0]


@dataclass
class UserUsage:
    name: str
    home: int = 0
    work: int = 0
    memory: int | None = None  # bytes, running servers only
    memory_limit: int | None = None
    cpu: float | None = None  # CPUs in use (1.0 = one core)
    cpu_limit: float | None = None

    @property
    def storage(self) -> int:
        return self.home + self.work


@dataclass
class Usage:
    users: dict[str, UserUsage] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)  # group folder's volume -> bytes (GROUP_FOLDERS)
    stale_image_volumes: dict[str, int] = field(default_factory=dict)  # name -> bytes
    measured_at: float = 0.0
    seconds: float = 0.0  # how long the measurement took

    @property
    def stale_total(self) -> int:
        return sum(self.stale_image_volumes.values())


def user_of_volume(name: str, deployment: str | None) -> tuple[str, str] | None:
    """'jupyterhub-home-ann' -> ('ann', 'home'); None for any other volume."""
    prefix = f"{deployment}-" if deployment else ""
    for kind, start in (("home", _HOME), ("work", _WORK)):
        if name.startswith(prefix + start):
            return name[len(prefix + start) :], kind
    return None


def usage_from_df(df: dict, deployment: str | None, needed_image_ids: set[str]) -> Usage:
    """Sizes per user and stale image volumes, from the engine's `df` answer."""
    usage = Usage()
    needed = {image_volume(i) for i in needed_image_ids}
    for v in df.get("Volumes") or []:
        data = v.get("UsageData") or {}
        size = max(0, data.get("Size", 0))
        owner = user_of_volume(v["Name"], deployment)
        if v["Name"].startswith((f"{deployment}-" if deployment else "") + GROUP_VOLUME):
            usage.groups[v["Name"]] = size
        elif owner:
            user = usage.users.setdefault(owner[0], UserUsage(owner[0]))
            setattr(user, owner[1], getattr(user, owner[1]) + size)
        elif v["Name"].startswith(IMAGE_VOLUME_PREFIX) and data.get("RefCount", 1) == 0 and v["Name"] not in needed:
            usage.stale_image_volumes[v["Name"]] = size
    return usage


def cpu_from_stats(stats: dict) -> float | None:
    """CPUs in use between the two samples of one `docker stats` answer."""
    try:
        cpu, pre = stats["cpu_stats"], stats["precpu_stats"]
        used = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
        system = cpu["system_cpu_usage"] - pre["system_cpu_usage"]
        cpus = cpu.get("online_cpus") or len(cpu["cpu_usage"].get("percpu_usage") or []) or 1
    except (KeyError, TypeError):
        return None
    return round(used / system * cpus, 3) if system > 0 else 0.0


def memory_from_stats(stats: dict) -> int | None:
    mem = stats.get("memory_stats") or {}
    if "usage" not in mem:
        return None
    # What `docker stats` shows: the page cache the kernel can drop is not the user's.
    cache = (mem.get("stats") or {}).get("total_inactive_file", (mem.get("stats") or {}).get("inactive_file", 0))
    return max(0, mem["usage"] - cache)


def user_of_container(name: str, container_prefix: str) -> str:
    """'jupyter-ann' and her named server's 'jupyter-ann--md' -> 'ann' (DockerSpawner's name_template)."""
    return name[len(container_prefix) + 1 :].split("--", 1)[0]


def _add(total, value):
    if value is None:
        return total
    return value if total is None else total + value


def measure(client, deployment: str | None, needed_images: list[str], container_prefix: str) -> Usage:
    """One full measurement (seconds with many users: call it off the event loop)."""
    started = time.monotonic()
    needed_ids = set()
    for ref in needed_images:
        try:
            needed_ids.add(client.images.get(ref).id)
        except Exception:  # an image not pulled yet has no volume either
            pass
    usage = usage_from_df(client.df(), deployment, needed_ids)
    for c in client.containers.list(filters={"name": f"^{container_prefix}-", "status": "running"}):
        name = user_of_container(c.name, container_prefix)
        user = usage.users.setdefault(name, UserUsage(name))
        try:
            stats = c.stats(stream=False)
        except Exception:  # stopped meanwhile
            continue
        host = c.attrs.get("HostConfig") or {}
        quota, period = host.get("CpuQuota") or 0, host.get("CpuPeriod") or 100000
        # A user's named servers (NAMED_SERVER_LIMIT) add up: together they are what the user takes.
        user.memory = _add(user.memory, memory_from_stats(stats))
        user.memory_limit = _add(user.memory_limit, host.get("Memory") or None)
        user.cpu = _add(user.cpu, cpu_from_stats(stats))
        user.cpu_limit = _add(user.cpu_limit, round(quota / period, 3) if quota > 0 else None)
    usage.measured_at, usage.seconds = time.time(), time.monotonic() - started
    return usage


def remove_stale_image_volumes(client, usage: Usage) -> list[str]:
    """Remove the stale image volumes; the engine refuses one a container took meanwhile."""
    removed = []
    for name in usage.stale_image_volumes:
        try:
            client.volumes.get(name).remove()
            removed.append(name)
        except Exception:  # in use now, or gone: left alone
            pass
    return removed


class UsageCache:
    """The last measurement; a stale one is refreshed in a thread, never on the caller's."""

    def __init__(self, measure_fn, max_age: float):
        self._measure, self.max_age = measure_fn, max_age
        self._usage: Usage | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    def __deepcopy__(self, memo):
        # traitlets copies the Config that holds it; there is one measurement per hub process.
        return self

    def get(self) -> Usage | None:
        with self._lock:
            fresh = self._usage is not None and time.time() - self._usage.measured_at < self.max_age
            if not fresh and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._refresh, name="usage", daemon=True)
                self._thread.start()
            return self._usage

    def _refresh(self) -> None:
        try:
            usage = self._measure()
            self.error = None
        except Exception as err:  # the engine may be busy; the old figures stay until the next try
            self.error = str(err)
            return
        with self._lock:
            self._usage = usage


def format_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
