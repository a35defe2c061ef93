"""Usage in the hub: the admins' /hub/usage page, /hub/metrics gauges, the users' soft-limit warning.

Every reader takes the cached measurement (usage.UsageCache): a page never waits for the
Docker engine. The first request after a start shows "being measured" until it is there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from jupyterhub.handlers import BaseHandler
from jupyterhub.scopes import needs_scope
from tornado import web

from .server_stops import memory_kills
from .storage import GROUP_VOLUME
from .usage import Usage, UsageCache, format_bytes, measure

_cache: UsageCache | None = None


def usage_cache(deployment: str | None, images: list[str], container_prefix: str, max_age: float) -> UsageCache:
    """The hub process's one cache (made on first use; the measurement needs the Docker engine)."""
    global _cache
    if _cache is None:

        def measure_now():
            import docker

            return measure(docker.from_env(timeout=120), deployment, images, container_prefix)

        _cache = UsageCache(measure_now, max_age)
    return _cache


def storage_warning(cache: UsageCache, soft_limit: int | None):
    """A template variable: for the current user, their size and the limit if above it, else None."""

    def for_user(user):
        if user is None or not soft_limit:
            return None
        usage = cache.get()
        mine = usage.users.get(user.name) if usage else None
        if mine is None or mine.storage <= soft_limit:
            return None
        return {"used": format_bytes(mine.storage), "limit": format_bytes(soft_limit)}

    return for_user


@dataclass(frozen=True)
class QuotaFigures:
    """Each user's home (storage name) -> its usage and quota, as the quota service counts them."""

    homes: dict
    measured_at: float
    groups: dict = field(default_factory=dict)  # group folder (storage name) -> usage and quota


_quota_cache: UsageCache | None = None


def quota_cache(service_url: str, max_age: float) -> UsageCache:
    """The hub process's one cache of the quota service's figures (STORAGE_QUOTA)."""
    global _quota_cache
    if _quota_cache is None:
        from .quota import usage_of

        _quota_cache = UsageCache(
            lambda: QuotaFigures(usage_of(service_url, "users"), time.time(), usage_of(service_url, "groups")), max_age
        )
    return _quota_cache


# At this share of the quota the home page says the files are about to be refused.
NEARLY_FULL = 0.9


def storage_quota(cache: UsageCache):
    """A template variable: for the current user, their usage and quota (None before the first figures)."""

    def for_user(user):
        from .quota import storage_name

        figures = cache.get() if user is not None else None
        mine = figures.homes.get(storage_name(user.name)) if figures else None
        if mine is None or not mine.limit:
            return None
        return {
            "used": format_bytes(mine.used),
            "limit": format_bytes(mine.limit),
            "percent": min(100, round(100 * mine.used / mine.limit)),
            "full": mine.used >= NEARLY_FULL * mine.limit,
        }

    return for_user


def quota_rows(figures: QuotaFigures | None, groups: bool = False) -> list[dict]:
    """The usage page's quota table: fullest first (groups: the group folders' table, each
    named as the folder is, without its volume prefix)."""
    if figures is None:
        return []
    found = {n.removeprefix(GROUP_VOLUME): u for n, u in figures.groups.items()} if groups else figures.homes
    homes = sorted(found.items(), key=lambda kv: (-(kv[1].used / (kv[1].limit or 1 << 62)), kv[0]))
    return [
        {
            "name": name,
            "used": format_bytes(u.used),
            "limit": format_bytes(u.limit) if u.limit else None,
            "full": bool(u.limit and u.used >= NEARLY_FULL * u.limit),
        }
        for name, u in homes
    ]


class QuotaCollector:
    """/hub/metrics: each user's home against their quota."""

    def __init__(self, cache: UsageCache):
        self.cache = cache

    def describe(self):
        return []

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        figures = self.cache.get()
        if figures is None:
            return
        used = GaugeMetricFamily(
            "pyiron_hub_user_quota_used_bytes", "What a user's home uses of their quota", labels=["user"]
        )
        limit = GaugeMetricFamily("pyiron_hub_user_quota_bytes", "A user's disk quota (STORAGE_QUOTA)", labels=["user"])
        for name, u in figures.homes.items():
            used.add_metric([name], u.used)
            if u.limit:
                limit.add_metric([name], u.limit)
        group_used = GaugeMetricFamily(
            "pyiron_hub_group_folder_quota_used_bytes", "What a group folder uses of its quota", labels=["group"]
        )
        group_limit = GaugeMetricFamily(
            "pyiron_hub_group_folder_quota_bytes", "A group folder's disk quota (GROUP_FOLDER_QUOTA)", labels=["group"]
        )
        for name, u in figures.groups.items():
            group_used.add_metric([name.removeprefix(GROUP_VOLUME)], u.used)
            if u.limit:
                group_limit.add_metric([name.removeprefix(GROUP_VOLUME)], u.limit)
        yield from (used, limit, group_used, group_limit)


_quota_registered = False


def register_quota_metrics(cache: UsageCache) -> None:
    global _quota_registered
    if not _quota_registered:
        from prometheus_client import REGISTRY

        REGISTRY.register(QuotaCollector(cache))
        _quota_registered = True


def rows(usage: Usage | None, soft_limit: int | None, memory_kills: dict[str, int] | None = None) -> list[dict]:
    if usage is None:
        return []
    memory_kills = memory_kills or {}
    out = []
    for u in sorted(usage.users.values(), key=lambda u: (-u.storage, u.name)):
        out.append(
            {
                "name": u.name,
                "home": format_bytes(u.home),
                "work": format_bytes(u.work),
                "storage": format_bytes(u.storage),
                "over": bool(soft_limit and u.storage > soft_limit),
                "memory": format_bytes(u.memory) if u.memory is not None else None,
                "memory_limit": format_bytes(u.memory_limit) if u.memory_limit else None,
                "cpu": u.cpu,
                "cpu_limit": u.cpu_limit,
                "memory_kills": memory_kills.get(u.name, 0),
            }
        )
    return out


class UsageHandler(BaseHandler):
    """/hub/usage: every user's disk, and for running servers memory and CPU against limits."""

    def initialize(
        self,
        cache: UsageCache,
        soft_limit: int | None,
        memory_kills_file: str | None = None,
        quotas: UsageCache | None = None,
    ):
        self.cache, self.soft_limit, self.memory_kills_file = cache, soft_limit, memory_kills_file
        self.quotas = quotas

    @web.authenticated
    @needs_scope("admin:users")
    async def get(self):
        usage = self.cache.get()
        html = await self.render_template(
            "pyiron_usage.html",
            rows=rows(usage, self.soft_limit, memory_kills(self.memory_kills_file)),
            usage=usage,
            measured_at=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(usage.measured_at)) if usage else None,
            soft_limit=format_bytes(self.soft_limit) if self.soft_limit else None,
            stale_total=format_bytes(usage.stale_total) if usage else None,
            stale_count=len(usage.stale_image_volumes) if usage else 0,
            group_folders=[(name, format_bytes(size)) for name, size in sorted(usage.groups.items())] if usage else [],
            error=self.cache.error,
            quota_rows=quota_rows(self.quotas.get()) if self.quotas else None,
            group_quota_rows=quota_rows(self.quotas.get(), groups=True) if self.quotas else [],
            quota_error=self.quotas.error if self.quotas else None,
        )
        self.finish(html)


class UsageCollector:
    """/hub/metrics: the cached figures, per user."""

    def __init__(self, cache: UsageCache, soft_limit: int | None):
        self.cache, self.soft_limit = cache, soft_limit

    def describe(self):
        # Without it the registry would collect() once on registering, i.e. at config load.
        return []

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        usage = self.cache.get()
        if usage is None:
            return
        storage = GaugeMetricFamily(
            "pyiron_hub_user_storage_bytes", "Size of a user's home + work volumes", labels=["user", "volume"]
        )
        memory = GaugeMetricFamily("pyiron_hub_user_memory_bytes", "Memory used by a running server", labels=["user"])
        memory_limit = GaugeMetricFamily(
            "pyiron_hub_user_memory_limit_bytes", "A running server's memory limit", labels=["user"]
        )
        cpu = GaugeMetricFamily("pyiron_hub_user_cpu", "CPUs used by a running server (1 = one core)", labels=["user"])
        cpu_limit = GaugeMetricFamily("pyiron_hub_user_cpu_limit", "A running server's CPU limit", labels=["user"])
        for u in usage.users.values():
            storage.add_metric([u.name, "home"], u.home)
            storage.add_metric([u.name, "work"], u.work)
            for family, value in (
                (memory, u.memory),
                (memory_limit, u.memory_limit),
                (cpu, u.cpu),
                (cpu_limit, u.cpu_limit),
            ):
                if value is not None:
                    family.add_metric([u.name], value)
        yield from (storage, memory, memory_limit, cpu, cpu_limit)
        yield GaugeMetricFamily(
            "pyiron_hub_stale_image_volume_bytes",
            "Size of pyiron-hub-image-* volumes nothing uses or needs",
            value=usage.stale_total,
        )
        if self.soft_limit:
            yield GaugeMetricFamily(
                "pyiron_hub_users_over_storage_soft_limit",
                "Users above STORAGE_SOFT_LIMIT",
                value=sum(u.storage > self.soft_limit for u in usage.users.values()),
            )
        yield GaugeMetricFamily(
            "pyiron_hub_usage_measured_timestamp_seconds", "When usage was last measured", value=usage.measured_at
        )


_registered = False


def register_usage_metrics(cache: UsageCache, soft_limit: int | None) -> None:
    global _registered
    if not _registered:
        from prometheus_client import REGISTRY

        REGISTRY.register(UsageCollector(cache, soft_limit))
        _registered = True
