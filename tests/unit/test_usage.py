"""Usage in plain sight: sizes per user from the engine's answer, stats, the cache that never blocks."""

import threading
import time
from types import SimpleNamespace

from pyiron_hub_config.usage import (
    Usage,
    UsageCache,
    UserUsage,
    cpu_from_stats,
    memory_from_stats,
    usage_from_df,
    user_of_volume,
)
from pyiron_hub_config.usage_pages import UsageCollector, rows, storage_warning

from .test_pages import configured, render, text

GIB = 1024**3


def df(*volumes):
    return {"Volumes": [{"Name": n, "UsageData": {"Size": s, "RefCount": r}} for n, s, r in volumes]}


def test_sizes_per_user_of_this_deployment_only():
    usage = usage_from_df(
        df(
            ("jupyterhub-home-ann", 3 * GIB, 1),
            ("jupyterhub-user-ann", GIB, 0),
            ("jupyterhub-home-bo", 5, 0),
            ("demo-jupyterhub-home-cy", 7, 0),
            ("other", 9, 0),
        ),
        None,
        set(),
    )
    assert {n: (u.home, u.work, u.storage) for n, u in usage.users.items()} == {
        "ann": (3 * GIB, GIB, 4 * GIB),
        "bo": (5, 0, 5),
    }
    assert user_of_volume("demo-jupyterhub-user-cy", "demo") == ("cy", "work")
    assert user_of_volume("jupyterhub-user-cy", "demo") is None


def test_stale_image_volumes_are_those_nothing_uses_or_needs():
    needed = "sha256:" + "a" * 64
    usage = usage_from_df(
        df(
            ("pyiron-hub-image-aaaaaaaaaaaa", 10, 0),  # a catalogue image's: kept
            ("pyiron-hub-image-bbbbbbbbbbbb", 20, 1),  # mounted by a container: kept
            ("pyiron-hub-image-cccccccccccc", 30, 0),
            ("pyiron-hub-image-dddddddddddd", 40, 0),
        ),
        None,
        {needed},
    )
    assert usage.stale_image_volumes == {"pyiron-hub-image-cccccccccccc": 30, "pyiron-hub-image-dddddddddddd": 40}
    assert usage.stale_total == 70


def test_cpu_and_memory_as_docker_stats_shows_them():
    stats = {
        "cpu_stats": {"cpu_usage": {"total_usage": 3_000}, "system_cpu_usage": 10_000, "online_cpus": 2},
        "precpu_stats": {"cpu_usage": {"total_usage": 1_000}, "system_cpu_usage": 6_000},
        "memory_stats": {"usage": 300, "stats": {"inactive_file": 100}},
    }
    assert cpu_from_stats(stats) == 1.0 and memory_from_stats(stats) == 200
    assert cpu_from_stats({}) is None and memory_from_stats({}) is None


def test_a_stale_measurement_is_renewed_in_a_thread_while_readers_get_the_old_one():
    release, calls = threading.Event(), []

    def slow_measure():
        calls.append(1)
        release.wait(10)
        return Usage(users={"ann": UserUsage("ann", home=1)}, measured_at=time.time())

    cache = UsageCache(slow_measure, max_age=60)
    started = time.monotonic()
    assert cache.get() is None and cache.get() is None  # the page says "being measured"
    assert time.monotonic() - started < 0.5 and len(calls) == 1  # one measurement at a time
    release.set()
    for _ in range(100):
        if cache.get() is not None:
            break
        time.sleep(0.02)
    assert cache.get().users["ann"].home == 1 and len(calls) == 1  # fresh: not measured again


def test_soft_limit_warns_only_above_it_and_never_for_nobody():
    usage = Usage(
        users={"ann": UserUsage("ann", home=11 * GIB), "bo": UserUsage("bo", home=GIB)}, measured_at=time.time()
    )
    cache = UsageCache(lambda: usage, 60)
    cache._usage = usage
    warn = storage_warning(cache, 10 * GIB)
    assert warn(SimpleNamespace(name="ann")) == {"used": "11.0 GiB", "limit": "10.0 GiB"}
    assert warn(SimpleNamespace(name="bo")) is None and warn(None) is None
    assert [r["over"] for r in rows(usage, 10 * GIB)] == [True, False]
    metrics = {m.name: m for m in UsageCollector(cache, 10 * GIB).collect()}
    assert metrics["pyiron_hub_users_over_storage_soft_limit"].samples[0].value == 1
    assert {(s.labels["user"], s.labels["volume"]): s.value for s in metrics["pyiron_hub_user_storage_bytes"].samples}[
        ("ann", "home")
    ] == 11 * GIB


def test_the_warning_on_home_and_spawn_pages_and_the_admins_page_escapes_names():
    c = configured(STORAGE_SOFT_LIMIT="10G")
    assert callable(c.JupyterHub.template_vars["storage_warning"])
    assert "storage_warning" not in configured().JupyterHub.template_vars  # off by default
    assert callable(configured(STORAGE_SOFT_LIMIT="20M").JupyterHub.template_vars["storage_warning"])  # any size
    warning = {"used": "11.0 GiB", "limit": "10.0 GiB"}
    server = SimpleNamespace(active=False, user_options={})
    for page, extra in (
        ("home.html", dict(default_server=server, url="/hub/spawn", allow_named_servers=False)),
        ("spawn.html", dict(for_user=None, spawner_options_form="<p>form</p>", url="/hub/spawn")),
    ):
        soup = render(c, page, storage_warning=warning, **extra)
        box = soup.find(id="storage-warning")
        assert box is not None and "11.0 GiB" in text(box) and "nothing is removed" in text(box), page
        assert render(c, page, storage_warning=None, **extra).find(id="storage-warning") is None
    usage = Usage(users={"<script>": UserUsage("<script>", home=1)}, measured_at=1.0, seconds=0.5)
    soup = render(
        c,
        "pyiron_usage.html",
        rows=rows(usage, None),
        usage=usage,
        soft_limit=None,
        stale_total="0 B",
        stale_count=0,
        error=None,
        measured_at="2026-12-01 07:00:00 UTC",
    )
    assert soup.find("script", string="alert(1)") is None
    assert [r["data-user"] for r in soup.select("tr.usage-row")] == ["<script>"]
    assert soup.find(id="usage-measured-at").get_text() == "2026-12-01 07:00:00 UTC"
