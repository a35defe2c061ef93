"""Benchmark: the hub under load: logins, light GETs, and a burst of starts at once.

    /opt/pyiron-hub-venv/bin/python -m benchmarks.load --reference /work/.mirror/jupyterhub+jupyterhub-deploy-docker/repo

Brings up our compose stack (TEST_HUB_IMAGE's hub, local images), then:

  logins   --users users log in (the login form, then a token), 8 at once;
  before   --seconds of mixed GETs by --concurrency clients: /hub/api/user (a token),
           /hub/home and /hub/spawn (a browser's cookie), each client its own users;
  burst    the same GETs go on while --burst other users start servers at once (the API, as
           side_by_side.py's P2), until all answer /api/status through the proxy.

For each phase and endpoint: requests/s, p50/p95/p99 and errors (anything but 200); the
longest event-loop stall (JupyterHub logs each of a second or more, "Event loop was
unresponsive for at least Xs"; /hub/metrics' histogram bounds the shorter ones); the hub
container's CPU (its cgroup's cpuacct, sampled every 0.5 s) and memory (its cgroup's RSS).
The same for the reference deployment (jupyterhub/jupyterhub-deploy-docker's basic example,
run as side_by_side.py runs it: our hub image, its config, SQLite, DummyAuthenticator), and
with --before an older hub image (e.g. main's) with Docker's default CPU weight for the hub.

The load generator runs on the same machine (Python threads, so it takes CPU from the hub as
well): figures compare deployments within one run, not machines. Bounded in users, clients
and time; everything started is removed at the end. Writes benchmarks/results/load.{md,png,json};
nothing is asserted.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from benchmarks.side_by_side import (
    Hub,
    benchmark_parser,
    reference_config,
    remove_reference,
    remove_users,
    spawn,
    start_reference,
    write_report,
)
from tests.e2e.conftest import HubUser, Stack, docker, write_env_files

ENVIRONMENT = "pyiron_base"
PROJECT, NETWORK = "pyironhubload", "pyiron-hub-load-users"
ENDPOINTS = ("/hub/api/user", "/hub/home", "/hub/spawn")
PHASES = ("before", "burst")
GOAL_P99, GOAL_STALL = 1.0, 1.0  # seconds, during the burst
STALL = re.compile(r"Event loop was unresponsive for at least ([0-9.]+)s")
SAMPLE = 0.5  # seconds between CPU and memory samples


def names(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i:03d}" for i in range(1, n + 1))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


# --- the hub container, seen from its cgroup ---------------------------------------------------
class Sampler(threading.Thread):
    """The container's CPU (cores busy) and resident memory, every SAMPLE seconds, with the time."""

    def __init__(self, container: str):
        super().__init__(daemon=True)
        cid = docker("inspect", "-f", "{{.Id}}", container).stdout.strip()
        self.cpu = Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage")
        self.memory = Path(f"/sys/fs/cgroup/memory/docker/{cid}/memory.stat")
        self.samples: list[tuple[float, float, float]] = []  # (time, cores busy, MiB)
        self.done = threading.Event()

    def rss_mib(self) -> float:
        stat = dict(line.split() for line in self.memory.read_text().splitlines())
        return int(stat.get("total_rss", stat.get("rss", 0))) / 1024**2

    def run(self) -> None:
        last_t, last_cpu = time.monotonic(), int(self.cpu.read_text())
        while not self.done.wait(SAMPLE):
            t, cpu = time.monotonic(), int(self.cpu.read_text())
            self.samples.append((t, (cpu - last_cpu) / 1e9 / (t - last_t), self.rss_mib()))
            last_t, last_cpu = t, cpu

    def between(self, start: float, end: float) -> dict:
        inside = [(cores, mib) for t, cores, mib in self.samples if start < t <= end]
        if not inside:
            return {}
        cores = [c for c, _ in inside]
        return {
            "cpu mean (%)": 100 * sum(cores) / len(cores),
            "cpu max (%)": 100 * max(cores),
            "memory max (MiB)": max(m for _, m in inside),
        }


def stall_buckets(url: str, token: str) -> dict[float, float]:
    """JupyterHub's event-loop histogram from /hub/metrics: upper bound -> cumulative count."""
    text = requests.get(f"{url}/hub/metrics", headers={"Authorization": f"token {token}"}, timeout=30).text
    found = {}
    for line in text.splitlines():
        if line.startswith("jupyterhub_event_loop_interval_seconds_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            found[float("inf") if bound == "+Inf" else float(bound)] = float(line.rsplit(" ", 1)[1])
    return found


def longest_stall_bound(before: dict[float, float], after: dict[float, float]) -> float | None:
    """The smallest histogram bound that holds every tick between the two readings."""
    total = after.get(float("inf"), 0) - before.get(float("inf"), 0)
    for bound in sorted(after):
        if after[bound] - before.get(bound, 0) >= total:
            return bound
    return None


def logged_stalls(container: str, since: float) -> list[tuple[float, float]]:
    """The hub's "Event loop was unresponsive" lines since then: (when, seconds), when by the engine's clock."""
    from datetime import datetime

    log = docker("logs", "--timestamps", "--since", str(int(since)), container, check=False)
    found = []
    for line in (log.stdout + log.stderr).splitlines():
        match = STALL.search(line)
        if match:
            stamp = line.split(" ", 1)[0][:26].rstrip("Z")  # 2026-12-07T00:30:01.123456 (to microseconds)
            found.append((datetime.fromisoformat(stamp + "+00:00").timestamp(), float(match.group(1))))
    return found


# --- the load ------------------------------------------------------------------------------
class Load:
    """--concurrency clients, each with its own users, GETting the light pages round and round."""

    def __init__(self, url: str, users: list[HubUser], concurrency: int, endpoints: tuple[str, ...]):
        self.url, self.concurrency, self.endpoints = url, concurrency, endpoints
        self.groups = [users[i::concurrency] for i in range(concurrency)]
        self.records: list[tuple[float, str, float, int]] = []  # (start, endpoint, seconds, status)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(g,), daemon=True) for g in self.groups if g]

    def _client(self, group: list[HubUser]) -> None:
        i = 0
        while not self.stop.is_set():
            user, endpoint = group[i % len(group)], self.endpoints[i % len(self.endpoints)]
            i += 1
            began = time.monotonic()
            try:
                if endpoint.startswith("/hub/api"):
                    r = requests.get(
                        f"{self.url}{endpoint}", headers={"Authorization": f"token {user.token}"}, timeout=30
                    )
                else:
                    r = user.session.get(f"{self.url}{endpoint}", timeout=30, allow_redirects=False)
                status = r.status_code
            except requests.RequestException:
                status = 0
            self.records.append((began, endpoint, time.monotonic() - began, status))

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(40)

    def between(self, start: float, end: float) -> dict:
        out = {}
        for endpoint in self.endpoints:
            mine = [(s, status) for t, e, s, status in self.records if e == endpoint and start <= t < end]
            seconds = [s for s, _ in mine]
            out[endpoint] = {
                "requests": len(mine),
                "per second": len(mine) / (end - start),
                "p50": percentile(seconds, 0.50),
                "p95": percentile(seconds, 0.95),
                "p99": percentile(seconds, 0.99),
                "errors": sum(status != 200 for _, status in mine),
            }
        return out


def log_in(url: str, who: tuple[str, ...]) -> tuple[list[HubUser], dict]:
    site = type("Site", (), {"url": url})()
    seconds, failed = [], 0

    def one(name: str) -> HubUser | None:
        nonlocal failed
        began = time.monotonic()
        try:
            user = HubUser(site, name).login()
        except Exception as err:  # counted and shown, not fatal: a benchmark reports
            failed += 1
            print(f"  login of {name} failed: {str(err)[:200]}")
            return None
        seconds.append(time.monotonic() - began)
        return user

    began = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        users = [u for u in pool.map(one, who) if u is not None]
    took = time.monotonic() - began
    return users, {
        "logins": len(who),
        "per second": len(who) / took,
        "p50": percentile(seconds, 0.5),
        "p95": percentile(seconds, 0.95),
        "p99": percentile(seconds, 0.99),
        "errors": failed,
    }


def measure(
    hub: Hub,
    load_users: tuple[str, ...],
    burst_users: tuple[str, ...],
    concurrency: int,
    seconds: float,
    endpoints: tuple[str, ...] = ENDPOINTS,
) -> dict:
    """Logins, then `seconds` of light GETs, then the same GETs during a burst of starts."""
    out: dict = {}
    users, out["logins"] = log_in(hub.url, load_users)
    starters, _ = log_in(hub.url, burst_users)
    hub.tokens.update({u.name: u.token for u in starters})
    sampler = Sampler(hub.container)
    since = time.time()
    sampler.start()
    load = Load(hub.url, users, concurrency, endpoints)
    load.start()
    time.sleep(2)  # the clients' first round (connections, sessions) is not the hub's steady state
    t0 = time.monotonic()
    buckets0 = stall_buckets(hub.url, hub.metrics_token)
    time.sleep(seconds)
    t1 = time.monotonic()
    buckets1 = stall_buckets(hub.url, hub.metrics_token)
    with ThreadPoolExecutor(len(burst_users)) as pool:
        ready = list(pool.map(lambda name: spawn(hub, name), burst_users))
    t2 = time.monotonic()
    buckets2 = stall_buckets(hub.url, hub.metrics_token)
    load.finish()
    sampler.done.set()
    sampler.join()
    stalls = logged_stalls(hub.container, since)  # (wall-clock time, seconds)
    wall = time.time() - time.monotonic()  # monotonic -> wall clock, for the log's times
    out["ready (s)"] = ready
    out["phases"] = {
        "before": {
            "seconds": t1 - t0,
            "endpoints": load.between(t0, t1),
            **sampler.between(t0, t1),
            "stall bound (s)": longest_stall_bound(buckets0, buckets1),
            "stalls logged (s)": [s for t, s in stalls if t0 + wall <= t < t1 + wall],
        },
        "burst": {
            "seconds": t2 - t1,
            "endpoints": load.between(t1, t2),
            **sampler.between(t1, t2),
            "stall bound (s)": longest_stall_bound(buckets1, buckets2),
            "stalls logged (s)": [s for t, s in stalls if t1 + wall <= t <= t2 + wall + 1],
        },
    }
    out["stalls logged (s)"] = [s for _, s in stalls]
    for name in burst_users:
        requests.delete(
            f"{hub.url}/hub/api/users/{name}/server",
            headers={"Authorization": f"token {hub.tokens[name]}"},
            timeout=120,
        )
    return out


# --- the deployments ------------------------------------------------------------------------------
def measure_ours(hub_image: str, args, all_users: tuple[str, ...], hub_cpu_shares: int | None = None) -> dict:
    directory = Path(tempfile.mkdtemp(prefix="pyiron-hub-load-"))
    write_env_files(directory, users=all_users)  # 0.5 CPU and 512M per server, STARTS_AT_ONCE by default
    stack = Stack(directory, hub_image, project=PROJECT, network=NETWORK, users=all_users)
    if hub_cpu_shares:
        (directory / "weight.yml").write_text(f"services:\n  hub:\n    cpu_shares: {hub_cpu_shares}\n")
        stack.files = (*Stack.files, str(directory / "weight.yml"))
    remove_users(all_users)
    stack.compose("down", "-v", "--remove-orphans", check=False)
    try:
        stack.up()
        container = stack.container("hub")
        token = docker("exec", container, "cat", "/srv/jupyterhub/data/metrics_token").stdout.strip()
        hub = Hub(stack.url, container, {"environment": ENVIRONMENT}, metrics_token=token)
        out = measure(hub, all_users[: args.users], all_users[args.users :], args.concurrency, args.seconds)
        out["image"] = hub_image
        return out
    finally:
        remove_users(all_users)
        stack.compose("down", "-v", "--remove-orphans", check=False)


def measure_reference(source: Path, hub_image: str, args, all_users: tuple[str, ...]) -> dict:
    config, commit = reference_config(source)
    directory = Path(tempfile.mkdtemp(prefix="pyiron-hub-load-ref-"))
    remove_users(all_users)
    remove_reference()
    try:
        url, up = start_reference(config, directory, hub_image)
        if up is None:
            raise RuntimeError("the reference hub did not answer")
        from benchmarks.side_by_side import REF_NAME

        admin = HubUser(type("Site", (), {"url": url})(), "admin").login()
        hub = Hub(url, REF_NAME, {}, metrics_token=admin.token)
        # Not /hub/spawn: without an options form, a GET of it starts the user's server.
        out = measure(
            hub, all_users[: args.users], all_users[args.users :], args.concurrency, args.seconds, ENDPOINTS[:2]
        )
        out["commit"] = commit
        return out
    finally:
        remove_users(all_users)
        remove_reference()


# --- report -------------------------------------------------------------------------------------
def fmt(value, unit="s", digits=2) -> str:
    return "—" if value is None else f"{value:.{digits}f} {unit}".strip()


def stall_text(d: dict, phase: str) -> str:
    logged = d["phases"][phase].get("stalls logged (s)", [])
    bound = d["phases"][phase].get("stall bound (s)")
    longest = f"{max(logged):.2f} s logged ({len(logged)} ≥ 1 s)" if logged else "none ≥ 1 s logged"
    return f"{longest}; all ≤ {bound:g} s (histogram)" if bound is not None else longest


def table(results: dict) -> str:
    deployments = [(k, results[k]) for k in ("ours", "before", "reference") if k in results]
    titles = {"ours": "pyiron-hub", "before": "pyiron-hub before (main)", "reference": "reference"}
    head = (
        "| figure | " + " | ".join(titles[k] for k, _ in deployments) + " |\n|---" + "|---" * len(deployments) + "|\n"
    )
    rows = []

    def row(label, cell):
        rows.append(f"| {label} | " + " | ".join(cell(d) for _, d in deployments) + " |")

    row(
        f"logins ({results['users']}, 8 at once): per second",
        lambda d: f"{d['logins']['per second']:.1f}/s, {d['logins']['errors']} errors",
    )
    row("login p50 / p95 / p99", lambda d: " / ".join(fmt(d["logins"][q]) for q in ("p50", "p95", "p99")))
    for phase in PHASES:
        label = "before the burst" if phase == "before" else f"during {results['burst']} starts at once"
        row(f"**{label}**: seconds", lambda d, p=phase: fmt(d["phases"][p]["seconds"], "s", 1))
        for endpoint in ENDPOINTS:
            row(
                f"{endpoint} per second, errors",
                lambda d, p=phase, e=endpoint: (
                    f"{d['phases'][p]['endpoints'][e]['per second']:.1f}/s, {d['phases'][p]['endpoints'][e]['errors']}"
                    if e in d["phases"][p]["endpoints"]
                    else "— (not asked)"
                ),
            )
            row(
                f"{endpoint} p50 / p95 / p99",
                lambda d, p=phase, e=endpoint: (
                    " / ".join(fmt(d["phases"][p]["endpoints"][e][q]) for q in ("p50", "p95", "p99"))
                    if e in d["phases"][p]["endpoints"]
                    else "—"
                ),
            )
        row("longest event-loop stall", lambda d, p=phase: stall_text(d, p))
        row(
            "hub container CPU mean / max",
            lambda d, p=phase: (
                f"{fmt(d['phases'][p].get('cpu mean (%)'), '%', 0)} / {fmt(d['phases'][p].get('cpu max (%)'), '%', 0)}"
            ),
        )
        row("hub container memory max", lambda d, p=phase: fmt(d["phases"][p].get("memory max (MiB)"), "MiB", 0))
    row(f"servers ready of {results['burst']}", lambda d: f"{sum(t is not None for t in d['ready (s)'])}")
    row(
        "ready p50 / max",
        lambda d: " / ".join(
            fmt(f([t for t in d["ready (s)"] if t is not None])) if any(t is not None for t in d["ready (s)"]) else "—"
            for f in (lambda v: percentile(v, 0.5), max)
        ),
    )
    ours = results.get("ours")
    if ours:
        burst = ours["phases"]["burst"]
        light = max((burst["endpoints"][e]["p99"] or 0) for e in ENDPOINTS)
        longest = max(burst["stalls logged (s)"] or [0])
        errors = (
            sum(burst["endpoints"][e]["errors"] for e in ENDPOINTS)
            + ours["logins"]["errors"]
            + sum(t is None for t in ours["ready (s)"])
        )
        met = light < GOAL_P99 and longest <= GOAL_STALL and errors == 0
        rows.append(
            f"\nGoal during the burst: p99 of the light GETs under {GOAL_P99:g} s (pyiron-hub: {light:.2f} s), "
            f"no event-loop stall over {GOAL_STALL:g} s (longest logged: {longest:.2f} s), no errors "
            f"({errors}): **{'met' if met else 'not met'}**."
        )
    note = (
        f"\n{results['users']} users logged in, {results['concurrency']} clients, {results['seconds']:g} s before the "
        f"burst, {results['burst']} starts of {ENVIRONMENT} (0.5 CPU, 512M each; the reference sets no limits); "
        f"hub image {results['hub_image']}"
        + (f"; before: {results['before']['image']} with Docker's default CPU weight" if "before" in results else "")
        + (
            f"; reference: jupyterhub-deploy-docker {results['reference']['commit'][:12]} basic-example config"
            if "reference" in results
            else ""
        )
        + f"; {results['when']}; {results['cores']} cores; load average at start {results['load']:.2f}. "
        "The load generator shares the machine.\n"
    )
    return head + "\n".join(rows) + "\n" + note


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    deployments = [(k, results[k]) for k in ("ours", "before", "reference") if k in results]
    colours = {"ours": "tab:blue", "before": "tab:red", "reference": "tab:orange"}
    titles = {"ours": "pyiron-hub", "before": "before (main)", "reference": "reference"}
    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    for ax, phase in zip(axes[:2], PHASES, strict=False):
        width = 0.8 / len(deployments)
        for i, (key, d) in enumerate(deployments):
            asked = d["phases"][phase]["endpoints"]
            p99 = [(asked[e]["p99"] or 0) if e in asked else 0 for e in ENDPOINTS]
            p50 = [(asked[e]["p50"] or 0) if e in asked else 0 for e in ENDPOINTS]
            xs = [j + (i - (len(deployments) - 1) / 2) * width for j in range(len(ENDPOINTS))]
            ax.bar(xs, p99, width, color=colours[key], alpha=0.5, label=f"{titles[key]} p99")
            ax.bar(xs, p50, width, color=colours[key], label=f"{titles[key]} p50")
        ax.axhline(GOAL_P99, color="k", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(ENDPOINTS)), ENDPOINTS)
        ax.set_ylabel("seconds")
        ax.set_title("before the burst" if phase == "before" else f"during {results['burst']} starts (dashed: goal)")
        ax.legend(fontsize=7)
    ax = axes[2]
    for key, d in deployments:
        ax.bar(titles[key], max(d["phases"]["burst"]["stalls logged (s)"] or [0]), color=colours[key])
    ax.axhline(GOAL_STALL, color="k", linestyle="--", linewidth=1)
    ax.set_ylabel("seconds")
    ax.set_title("longest event-loop stall during the burst (≥ 1 s are logged)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> int:
    parser = benchmark_parser(__doc__, "load", "unused (one run per deployment)")
    parser.add_argument("--reference", type=Path, help="checkout (or git directory) of jupyterhub-deploy-docker")
    parser.add_argument("--before", help="also run this older hub image (e.g. main's pyiron-hub-test/hub:latest)")
    parser.add_argument("--users", type=int, default=100, help="users logged in and GETting (at most 300)")
    parser.add_argument("--concurrency", type=int, default=20, help="clients GETting at once (at most 60)")
    parser.add_argument("--seconds", type=float, default=30, help="seconds of GETs before the burst (at most 120)")
    parser.add_argument("--burst", type=int, default=10, help="servers started at once (at most 20)")
    args = parser.parse_args(argv)
    if args.from_json:
        write_report(json.loads(args.from_json.read_text()), args.out, "load", table, plot)
        return 0
    if not (
        1 <= args.users <= 300 and 1 <= args.concurrency <= 60 and 1 <= args.seconds <= 120 and 1 <= args.burst <= 20
    ):
        parser.error("--users 1..300, --concurrency 1..60, --seconds 1..120, --burst 1..20 (the machine is shared)")
    all_users = names("load", args.users) + names("start", args.burst)
    results = {
        "users": args.users,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "burst": args.burst,
        "hub_image": args.hub_image,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "load": os.getloadavg()[0],
    }
    print("pyiron-hub")
    results["ours"] = measure_ours(args.hub_image, args, all_users)
    write_report(results, args.out, "load", table, plot)  # again after each: a later failure keeps these
    if args.before:
        print(f"pyiron-hub before: {args.before}")
        results["before"] = measure_ours(args.before, args, all_users, hub_cpu_shares=1024)
        write_report(results, args.out, "load", table, plot)
    if args.reference:
        print("reference deployment")
        results["reference"] = measure_reference(args.reference, args.hub_image, args, all_users)
        write_report(results, args.out, "load", table, plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
