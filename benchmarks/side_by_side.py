"""Benchmark: pyiron-hub, the reference deployment and bare `docker run`, side by side.

    git clone https://github.com/jupyterhub/jupyterhub-deploy-docker /tmp/jupyterhub-deploy-docker
    /opt/pyiron-hub-venv/bin/python -m benchmarks.side_by_side --reference /tmp/jupyterhub-deploy-docker

Needs the local images (./scripts/test builds them) and a Docker engine; runs under
`flock /tmp/pyiron-e2e.lock` on shared machines. Every figure is a ratio taken in one run on
one machine, so the machine's speed cancels out:

  P1  a lone spawn, API request until the user's /api/status answers through the proxy,
      against a bare `docker run` of the same image until its Jupyter server answers
  P2  N users at once (default 50): all succeed; p95 against the p95 of N bare runs at once
  P3  `docker restart` of the hub with N servers running, until all N answer through the
      proxy, against the restart of the same hub with none
  P4  the hub image's size
  P5  `compose up` with images present until the hub is healthy
  and the hub container's memory with N servers running.

The reference is jupyterhub/jupyterhub-deploy-docker's basic example: its own
jupyterhub_config.py, read at run time from the checkout given (never copied into this
repository), run in a container of our hub image (so the same JupyterHub, DockerSpawner and
configurable-http-proxy) with the same single-user image. One substitution: its
NativeAuthenticator (sign-up forms) is not in our image; it logs in with JupyterHub's
DummyAuthenticator and one shared password, as our stack does here. Everything else is its
config: SQLite, its hub_ip/hub_port, DockerSpawner with one thread, no limits.

Loads are bounded in users and time, and everything started is removed at the end
(containers, volumes, networks), also after a failure. Figures are printed as one Markdown
table (benchmarks/results/side_by_side.md) and drawn (side_by_side.png); nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.e2e.conftest import (
    HUB_IMAGE,
    IMAGES,
    PASSWORD,
    HubUser,
    Stack,
    _free_port,
    docker,
    write_env_files,
)

IMAGE = IMAGES["pyiron_base"]
ENVIRONMENT = "pyiron_base"
# The same limits for the bare runs and our spawner (the reference sets none).
CPUS, MEMORY = "1", "1G"
PROJECT, NETWORK = "pyironhubperfbench", "pyiron-hub-perfbench-users"
REF_NAME, REF_NETWORK, REF_VOLUME = (
    "pyiron-hub-perfbench-reference",
    "pyiron-hub-perfbench-refnet",
    "pyiron-hub-perfbench-refdata",
)
BARE_NETWORK = "pyiron-hub-perfbench-bare"
BARE_TOKEN = "perfbench-bare-token"
REFERENCE_CONFIG = "basic-example/jupyterhub_config.py"
SPAWN_DEADLINE = 300.0  # seconds one spawn (alone or among N) may take before it counts as failed

GOALS = {"P1": 1.15, "P2": 1.15, "P3": 1.5, "P4": 350, "P5": 15, "memory": 250}


def users(n: int) -> tuple[str, ...]:
    return tuple(f"perfb{i:02d}" for i in range(1, n + 1))


# --- measuring one thing -------------------------------------------------------------------
def wait_until(predicate, timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def answers(url: str, token: str | None = None, timeout: float = 2) -> bool:
    headers = {"Authorization": f"token {token}"} if token else {}
    try:
        return requests.get(url, headers=headers, timeout=timeout, allow_redirects=False).status_code == 200
    except requests.RequestException:
        return False


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def memory_mib(container: str) -> float:
    used = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", container).stdout.split("/")[0].strip()
    for unit, factor in (("GiB", 1024), ("MiB", 1), ("KiB", 1 / 1024), ("B", 1 / 1024**2)):
        if used.endswith(unit):
            return float(used[: -len(unit)]) * factor
    return float("nan")


def processes_mib(container: str) -> dict[str, float]:
    """Private (anonymous) memory of each process in the container: where the memory goes."""
    script = (
        "for p in /proc/[0-9]*; do a=$(grep RssAnon $p/status 2>/dev/null | tr -s ' ' | cut -d' ' -f2); "
        "[ -n \"$a\" ] && echo \"$a $(tr '\\0' ' ' < $p/cmdline | cut -c1-70)\"; done"
    )
    found = {}
    for line in docker("exec", container, "sh", "-c", script, check=False).stdout.splitlines():
        kib, _, command = line.partition(" ")
        if command and not command.startswith("sh -c"):
            found[command.strip()] = int(kib) / 1024
    return found


def image_mb(image: str) -> float:
    return int(docker("image", "inspect", "-f", "{{.Size}}", image).stdout) / 1e6  # as `docker images` shows


def spawn_metrics(url: str, token: str) -> dict[str, float]:
    """JupyterHub's own spawn durations (successful ones): count and sum, from /hub/metrics."""
    text = requests.get(f"{url}/hub/metrics", headers={"Authorization": f"token {token}"}, timeout=10).text
    found = {"count": 0.0, "sum": 0.0}
    for line in text.splitlines():
        for kind in found:
            if line.startswith(f"jupyterhub_server_spawn_duration_seconds_{kind}{{") and 'status="success"' in line:
                found[kind] += float(line.rsplit(" ", 1)[1])
    return found


def mean_between(before: dict[str, float], after: dict[str, float]) -> float | None:
    count = after["count"] - before["count"]
    return (after["sum"] - before["sum"]) / count if count else None


# --- the floor: bare docker run --------------------------------------------------------------
def bare_run(name: str) -> float | None:
    """Seconds from `docker run` until the container's Jupyter server answers /api/status."""
    began = time.monotonic()
    docker(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        BARE_NETWORK,
        "--cpus",
        CPUS,
        "--memory",
        MEMORY,
        IMAGE,
        "jupyter",
        "server",
        "--ServerApp.ip=0.0.0.0",
        "--ServerApp.port=8888",
        f"--IdentityProvider.token={BARE_TOKEN}",
        "--ServerApp.open_browser=False",
    )
    ip = docker(
        "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{BARE_NETWORK}").IPAddress}}}}', name
    ).stdout.strip()
    url = f"http://{ip}:8888/api/status"
    if wait_until(lambda: answers(url, BARE_TOKEN, timeout=1), SPAWN_DEADLINE):
        return time.monotonic() - began
    return None


def import_seconds(module: str) -> float:
    """How long the single-user image's Python takes to import module, in a fresh container."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return float(docker("run", "--rm", "--entrypoint", "python", IMAGE, "-c", code).stdout)


def measure_bare(n: int, rounds: int) -> dict:
    docker("network", "create", BARE_NETWORK, check=False)
    names = [f"pyiron-hub-perfbench-bare-{i:02d}" for i in range(1, n + 1)]
    try:
        lone = []
        for _ in range(rounds):
            lone.append(bare_run(names[0]))
            docker("rm", "-f", names[0], check=False)
        with ThreadPoolExecutor(n) as pool:
            together = list(pool.map(bare_run, names))
    finally:
        for name in names:
            docker("rm", "-f", name, check=False)
        docker("network", "rm", BARE_NETWORK, check=False)
    # A spawned server runs jupyterhub-singleuser, which imports much of JupyterHub (its ORM,
    # SQLAlchemy, Alembic) on top of what `jupyter server` imports: a cost of the image and
    # of JupyterHub, the same for every deployment, which no hub configuration removes.
    extra = [import_seconds("jupyterhub.singleuser") - import_seconds("jupyter_server.serverapp") for _ in range(3)]
    return {"lone": lone, "together": together, "singleuser extra imports (s)": statistics.median(extra)}


# --- a hub, ours or the reference ------------------------------------------------------------
@dataclass
class Hub:
    """What the measurements need of a deployment: its URL, its container, its users' tokens."""

    url: str
    container: str
    options: dict
    tokens: dict[str, str] = field(default_factory=dict)
    metrics_token: str = ""


def login_all(hub: Hub, names: tuple[str, ...]) -> None:
    site = type("Site", (), {"url": hub.url})()
    with ThreadPoolExecutor(8) as pool:
        for user in pool.map(lambda name: HubUser(site, name).login(), names):
            hub.tokens[user.name] = user.token


def spawn(hub: Hub, name: str) -> float | None:
    """Seconds from the API request until the user's server answers /api/status through the proxy."""
    token = hub.tokens[name]
    auth = {"Authorization": f"token {token}"}
    began = time.monotonic()
    r = requests.post(f"{hub.url}/hub/api/users/{name}/server", json=hub.options, headers=auth, timeout=SPAWN_DEADLINE)
    if r.status_code == 202:
        # Pending: the hub's own event stream says when it is ready (polling would load the hub).
        with requests.get(
            f"{hub.url}/hub/api/users/{name}/server/progress", headers=auth, stream=True, timeout=SPAWN_DEADLINE
        ) as events:
            for line in events.iter_lines(chunk_size=64):
                if line.startswith(b"data:"):
                    event = json.loads(line[5:])
                    if event.get("failed"):  # the hub's own words, so a run's failures can be told apart
                        print(f"  spawn of {name} failed: {event.get('message', '')[:300]}")
                        return None
                    if event.get("ready"):
                        break
    elif r.status_code != 201:
        print(f"  spawn of {name} refused: {r.status_code} {r.text[:200]}")
        return None
    status = f"{hub.url}/user/{name}/api/status"
    left = SPAWN_DEADLINE - (time.monotonic() - began)
    if wait_until(lambda: answers(status, token), max(left, 1)):
        return time.monotonic() - began
    return None


def stop(hub: Hub, name: str) -> None:
    auth = {"Authorization": f"token {hub.tokens[name]}"}
    requests.delete(f"{hub.url}/hub/api/users/{name}/server", headers=auth, timeout=120)
    wait_until(
        lambda: not requests.get(f"{hub.url}/hub/api/users/{name}", headers=auth, timeout=10).json()["servers"],
        120,
        interval=0.2,
    )
    wait_until(lambda: docker("inspect", f"jupyter-{name}", check=False).returncode != 0, 60, interval=0.2)


def restart(
    hub: Hub, names: tuple[str, ...], timeout: float = 180, engine: list | None = None
) -> tuple[float | None, int]:
    """`docker restart` the hub; seconds until it (and every named user's server) answers through the proxy.

    engine, if given, gets the seconds the engine itself took (until `docker restart` returned):
    the rest is the hub's start.
    """
    began = time.monotonic()
    docker("restart", hub.container)
    if engine is not None:
        engine.append(time.monotonic() - began)
    if not wait_until(lambda: answers(f"{hub.url}/hub/health"), timeout):
        return None, 0
    pending, lost = set(names), set()
    deadline = began + timeout
    while pending and time.monotonic() < deadline:
        pending -= {name for name in sorted(pending) if answers(f"{hub.url}/user/{name}/api/status", hub.tokens[name])}
        # A hub that stops servers when it stops (JupyterHub's default) leaves nothing to wait for.
        lost = {name for name in pending if docker("inspect", f"jupyter-{name}", check=False).returncode}
        if pending and pending == lost:
            break
        if pending:
            time.sleep(0.1)
    return (None if pending else time.monotonic() - began), len(names) - len(pending)


def measure_hub(
    hub: Hub, names: tuple[str, ...], rounds: int, restart_with_servers: bool = True, only_restart: bool = False
) -> dict:
    out: dict = {"engine restart (s)": []}
    out["idle restart (s)"], _ = restart(hub, (), engine=out["engine restart (s)"])
    login_all(hub, names)
    lone = []
    for _ in range(0 if only_restart else rounds):
        lone.append(spawn(hub, names[0]))
        stop(hub, names[0])
    out["lone"] = lone
    before = spawn_metrics(hub.url, hub.metrics_token)
    with ThreadPoolExecutor(len(names)) as pool:
        out["together"] = list(pool.map(lambda name: spawn(hub, name), names))
    out["hub-side spawn, mean (s)"] = mean_between(before, spawn_metrics(hub.url, hub.metrics_token))
    time.sleep(5)  # let the spawn's garbage settle before reading memory
    out["memory (MiB)"] = memory_mib(hub.container)
    out["processes (MiB, private)"] = processes_mib(hub.container)
    running = tuple(name for name, t in zip(names, out["together"], strict=False) if t is not None)
    if restart_with_servers:
        since = docker("inspect", "-f", "{{.State.StartedAt}}", hub.container).stdout.strip()
        out["restart with servers (s)"], out["answered after restart"] = restart(
            hub, running, timeout=120, engine=out["engine restart (s)"]
        )
        # Where a slow restart goes: the hub's log of that start, with its timestamps.
        out["hub log after restart"] = docker("logs", "--since", since, hub.container, check=False).stderr[-20000:]
    return out


# --- our deployment --------------------------------------------------------------------------
def our_stack(directory: Path, names: tuple[str, ...], hub_image: str) -> Stack:
    write_env_files(
        directory,
        users=names,
        MEM_LIMIT=MEMORY,
        CPU_LIMIT=CPUS,
        MAX_MEM_LIMIT="",
        MAX_CPU_LIMIT="",
        CONCURRENT_SPAWN_LIMIT=str(max(64, len(names))),
        # P3: a hub restart with servers running (they are removed by remove_users).
        KEEP_SERVERS_ON_HUB_STOP="true",
    )
    return Stack(directory, hub_image, project=PROJECT, network=NETWORK, users=names)


def compose_up_until_healthy(stack: Stack, timeout: float = 180) -> float | None:
    began = time.monotonic()
    stack.compose("up", "-d")
    hub = stack.container("hub")
    healthy = wait_until(
        lambda: docker("inspect", "-f", "{{.State.Health.Status}}", hub).stdout.strip() == "healthy", timeout, 0.1
    )
    return time.monotonic() - began if healthy else None


def measure_ours(names: tuple[str, ...], rounds: int, hub_image: str, only_restart: bool = False) -> dict:
    directory = Path(tempfile.mkdtemp(prefix="pyiron-hub-perfbench-"))
    stack = our_stack(directory, names, hub_image)
    remove_users(names)
    stack.compose("down", "-v", "--remove-orphans", check=False)
    try:
        ups, runs = [], 1 if only_restart else 3
        for i in range(runs):
            ups.append(compose_up_until_healthy(stack))
            if i < runs - 1:  # the last one stays up for the rest
                stack.compose("down", "-v", check=False)
        container = stack.container("hub")
        token = docker("exec", container, "cat", "/srv/jupyterhub/data/metrics_token").stdout.strip()
        hub = Hub(stack.url, container, {"environment": ENVIRONMENT}, metrics_token=token)
        out = measure_hub(hub, names, rounds, only_restart=only_restart)
        out["compose up to healthy (s)"] = ups
        out["image (MB)"] = image_mb(hub_image)
        return out
    finally:
        remove_users(names)
        stack.compose("down", "-v", "--remove-orphans", check=False)


# --- the reference deployment ----------------------------------------------------------------
# Loaded by JupyterHub in place of their file: their config unchanged, then the one substitution.
REFERENCE_WRAPPER = f"""
c = get_config()  # noqa: F821
load_subconfig("/srv/jupyterhub/reference_config.py")  # noqa: F821 - theirs, unchanged
# Substitution: NativeAuthenticator is not in the image; the same shared-password login as ours.
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {PASSWORD!r}
"""


def reference_config(source: Path) -> tuple[str, str]:
    """Their jupyterhub_config.py and its commit, from a checkout or a bare git directory."""
    if (source / REFERENCE_CONFIG).is_file():
        text = (source / REFERENCE_CONFIG).read_text()
        git = ["git", "-C", str(source)]
    else:
        git = ["git", "--git-dir", str(source)]
        text = subprocess.run(
            [*git, "show", f"HEAD:{REFERENCE_CONFIG}"], capture_output=True, text=True, check=True
        ).stdout
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    return text, commit or "unknown"


def remove_reference() -> None:
    docker("rm", "-f", "-v", REF_NAME, check=False)  # -v: the hub image declares a VOLUME
    docker("volume", "rm", "-f", REF_VOLUME, check=False)
    docker("network", "rm", REF_NETWORK, check=False)


def start_reference(config: str, directory: Path, hub_image: str) -> tuple[str, float | None]:
    """Their compose service as `docker run` (port and names ours; their network alias kept)."""
    (directory / "reference_config.py").write_text(config)
    (directory / "jupyterhub_config.py").write_text(REFERENCE_WRAPPER)
    port = _free_port()
    docker("network", "create", REF_NETWORK)
    began = time.monotonic()
    docker(
        "run",
        "-d",
        "--name",
        REF_NAME,
        "--restart",
        "always",
        # their hub_ip is "jupyterhub", their container's name
        "--network",
        REF_NETWORK,
        "--network-alias",
        "jupyterhub",
        "-p",
        f"127.0.0.1:{port}:8000",
        "-v",
        f"{directory / 'jupyterhub_config.py'}:/srv/jupyterhub/jupyterhub_config.py:ro",
        "-v",
        f"{directory / 'reference_config.py'}:/srv/jupyterhub/reference_config.py:ro",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock:rw",
        "-v",
        f"{REF_VOLUME}:/data",
        "-e",
        "JUPYTERHUB_ADMIN=admin",
        "-e",
        f"DOCKER_NETWORK_NAME={REF_NETWORK}",
        "-e",
        f"DOCKER_NOTEBOOK_IMAGE={IMAGE}",
        "-e",
        "DOCKER_NOTEBOOK_DIR=/home/jovyan/work",
        "--no-healthcheck",  # their compose file has none
        "--entrypoint",
        "tini",
        hub_image,
        "-g",
        "--",
        "jupyterhub",
        "-f",
        "/srv/jupyterhub/jupyterhub_config.py",
    )
    url = f"http://127.0.0.1:{port}"
    up = wait_until(lambda: answers(f"{url}/hub/health"), 180, 0.1)
    return url, (time.monotonic() - began if up else None)


def measure_reference(source: Path, names: tuple[str, ...], rounds: int, hub_image: str) -> dict:
    config, commit = reference_config(source)
    directory = Path(tempfile.mkdtemp(prefix="pyiron-hub-perfbench-ref-"))
    remove_users(names)
    remove_reference()
    try:
        url, up = start_reference(config, directory, hub_image)
        if up is None:
            raise RuntimeError(
                f"the reference hub did not answer:\n{docker('logs', REF_NAME, check=False).stderr[-3000:]}"
            )
        hub = Hub(url, REF_NAME, {})
        admin = HubUser(type("Site", (), {"url": url})(), "admin").login()
        hub.metrics_token = admin.token  # their admin role includes read:metrics
        out = measure_hub(hub, names, rounds)
        out["start to /hub/health (s)"] = [up]
        out["commit"] = commit
        return out
    finally:
        remove_users(names)
        remove_reference()


def remove_users(names: tuple[str, ...]) -> None:
    docker("rm", "-f", *(f"jupyter-{name}" for name in names), check=False)
    for kind in ("user", "home"):
        docker("volume", "rm", "-f", *(f"jupyterhub-{kind}-{name}" for name in names), check=False)


# --- report -------------------------------------------------------------------------------------
def fmt(value, unit="s", digits=2) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}f} {unit}".strip()


def ok(values: list) -> list[float]:
    return [v for v in values if v is not None]


def summarise(results: dict) -> list[dict]:
    """The rows of the table: figure, floor, ours, reference, ratio, goal, met."""
    bare, ours, ref = results.get("bare", {}), results.get("ours", {}), results.get("reference", {})
    n = results["users"]
    rows = []

    def median(d, key):
        values = ok(d.get(key, []))
        return statistics.median(values) if values else None

    def pct(d, key):
        values = ok(d.get(key, []))
        return p95(values) if values and len(values) == len(d.get(key, [])) else None

    def ratio(a, b):
        return a / b if a is not None and b else None

    p1 = (median(bare, "lone"), median(ours, "lone"), median(ref, "lone"))
    rows.append(
        {
            "figure": f"P1 lone spawn until /api/status answers, median of {results['rounds']}",
            "floor": fmt(p1[0]),
            "ours": fmt(p1[1]),
            "reference": fmt(p1[2]),
            "ratio": ratio(p1[1], p1[0]),
            "ref_ratio": ratio(p1[2], p1[0]),
            "goal": f"<= {GOALS['P1']}x",
            "met": ratio(p1[1], p1[0]) is not None
            and ratio(p1[1], p1[0]) <= GOALS["P1"]
            and (p1[2] is None or p1[1] <= p1[2]),
        }
    )
    extra = bare.get("singleuser extra imports (s)")
    if extra is not None and p1[0] and p1[1]:
        rows.append(
            {
                "figure": "P1 less jupyterhub-singleuser's extra imports (same in every hub)",
                "floor": fmt(extra) + " extra",
                "ours": fmt(p1[1] - extra),
                "reference": fmt(p1[2] - extra) if p1[2] else "—",
                "ratio": (p1[1] - extra) / p1[0],
                "ref_ratio": (p1[2] - extra) / p1[0] if p1[2] else None,
                "goal": "",
                "met": None,
            }
        )
    succ = {k: f"{len(ok(d.get('together', [])))}/{n}" for k, d in (("bare", bare), ("ours", ours), ("ref", ref))}
    rows.append(
        {
            "figure": f"P2 {n} at once: servers ready",
            "floor": succ["bare"],
            "ours": succ["ours"],
            "reference": succ["ref"],
            "ratio": None,
            "ref_ratio": None,
            "goal": "100 %",
            "met": succ["ours"] == f"{n}/{n}",
        }
    )
    p2 = (pct(bare, "together"), pct(ours, "together"), pct(ref, "together"))
    rows.append(
        {
            "figure": f"P2 {n} at once: p95 until /api/status answers",
            "floor": fmt(p2[0]),
            "ours": fmt(p2[1]),
            "reference": fmt(p2[2]),
            "ratio": ratio(p2[1], p2[0]),
            "ref_ratio": ratio(p2[2], p2[0]),
            "goal": f"<= {GOALS['P2']}x",
            "met": ratio(p2[1], p2[0]) is not None
            and ratio(p2[1], p2[0]) <= GOALS["P2"]
            and (p2[2] is None or p2[1] <= p2[2]),
        }
    )
    rows.append(
        {
            "figure": "P2 hub-side spawn duration, mean (/hub/metrics)",
            "floor": "",
            "ours": fmt(ours.get("hub-side spawn, mean (s)")),
            "reference": fmt(ref.get("hub-side spawn, mean (s)")),
            "ratio": None,
            "ref_ratio": None,
            "goal": "",
            "met": None,
        }
    )
    p3 = (ours.get("idle restart (s)"), ours.get("restart with servers (s)"))
    ref_p3 = ref.get("restart with servers (s)")
    rows.append(
        {
            "figure": f"P3 hub restart until all {n} servers answer (floor: idle restart)",
            "floor": fmt(p3[0]),
            "ours": fmt(p3[1]),
            "reference": (
                "—: none of its servers was running"
                if ref and not ok(ref.get("together", []))
                else fmt(ref_p3)
                if ref_p3
                else f"{ref.get('answered after restart', 0)}/{n} answered: its hub stops servers when it stops"
                if ref
                else "—"
            ),
            "ratio": ratio(p3[1], p3[0]),
            "ref_ratio": ratio(ref_p3, ref.get("idle restart (s)")) if ok(ref.get("together", [])) else None,
            "goal": f"<= {GOALS['P3']}x",
            "met": ratio(p3[1], p3[0]) is not None and ratio(p3[1], p3[0]) <= GOALS["P3"],
        }
    )
    engine = ours.get("engine restart (s)") or []
    if len(engine) == 2 and p3[0] and p3[1]:
        # Where P3's time goes: `docker restart` itself (the engine stops the hub and starts it
        # again with an endpoint on every user's network) and what the hub does after it.
        rows.append(
            {
                "figure": "P3 of which `docker restart` itself (the engine)",
                "floor": fmt(engine[0]),
                "ours": fmt(engine[1]),
                "reference": "",
                "ratio": ratio(engine[1], engine[0]),
                "ref_ratio": None,
                "goal": "",
                "met": None,
            }
        )
        rows.append(
            {
                "figure": "P3 of which the hub's own start, until all answer",
                "floor": fmt(p3[0] - engine[0]),
                "ours": fmt(p3[1] - engine[1]),
                "reference": "",
                "ratio": ratio(p3[1] - engine[1], p3[0] - engine[0]),
                "ref_ratio": None,
                "goal": "",
                "met": None,
            }
        )
    size = ours.get("image (MB)")
    rows.append(
        {
            "figure": "P4 hub image",
            "floor": "",
            "ours": fmt(size, "MB", 0),
            "reference": "(runs in ours)",
            "ratio": None,
            "ref_ratio": None,
            "goal": f"<= {GOALS['P4']} MB",
            "met": size is not None and size <= GOALS["P4"],
        }
    )
    up = median(ours, "compose up to healthy (s)")
    rows.append(
        {
            "figure": "P5 compose up, images present, until hub healthy (median of 3)",
            "floor": "",
            "ours": fmt(up),
            "reference": fmt(median(ref, "start to /hub/health (s)")) + " (to /hub/health)" if ref else "—",
            "ratio": None,
            "ref_ratio": None,
            "goal": f"<= {GOALS['P5']} s",
            "met": up is not None and up <= GOALS["P5"],
        }
    )
    mem = (ours.get("memory (MiB)"), ref.get("memory (MiB)"))
    rows.append(
        {
            "figure": f"hub memory with {n} servers",
            "floor": "",
            "ours": fmt(mem[0], "MiB", 0),
            "reference": fmt(mem[1], "MiB", 0),
            "ratio": None,
            "ref_ratio": None,
            "goal": f"<= {GOALS['memory']} MiB, <= reference",
            "met": mem[0] is not None and mem[0] <= GOALS["memory"] and (mem[1] is None or mem[0] <= mem[1]),
        }
    )
    return rows


def table(results: dict) -> str:
    head = (
        "| figure | floor: bare docker run | pyiron-hub | reference | pyiron-hub / floor | reference / floor "
        "| goal | met |\n|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for row in summarise(results):
        ratios = [f"{row[k]:.2f}x" if row[k] is not None else "" for k in ("ratio", "ref_ratio")]
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]
        lines.append(
            f"| {row['figure']} | {row['floor']} | {row['ours']} | {row['reference']} | {ratios[0]} "
            f"| {ratios[1]} | {row['goal']} | {met} |"
        )
    note = (
        f"\n{results['users']} users, {results['rounds']} lone rounds; hub image {results['hub_image']}; "
        f"single-user image {IMAGE}; reference: jupyterhub-deploy-docker {results.get('reference', {}).get('commit', '—')}"
        f" basic-example config (DummyAuthenticator for NativeAuthenticator); {results['when']}; "
        f"load average at start {results['load']}.\n"
    )
    return head + "\n".join(lines) + "\n" + note


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {
        "bare docker run": results.get("bare", {}),
        "pyiron-hub": results.get("ours", {}),
        "reference": results.get("reference", {}),
    }
    colours = {"bare docker run": "tab:gray", "pyiron-hub": "tab:blue", "reference": "tab:orange"}
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    ax = axes[0][0]
    for i, (name, d) in enumerate(series.items()):
        values = ok(d.get("lone", []))
        if values:
            ax.bar(i, statistics.median(values), color=colours[name], alpha=0.6)
            ax.plot([i] * len(values), values, "k.", markersize=4)
    ax.set_xticks(range(len(series)), list(series))
    ax.set_ylabel("seconds until /api/status answers")
    ax.set_title(f"P1 lone spawn (median, {results['rounds']} rounds)")
    ax = axes[0][1]
    for name, d in series.items():
        values = sorted(ok(d.get("together", [])))
        if values:
            ax.plot(values, [(i + 1) / results["users"] for i in range(len(values))], label=name, color=colours[name])
    ax.axhline(0.95, color="k", linewidth=0.5, linestyle=":")
    ax.set_xlabel("seconds from request until /api/status answers")
    ax.set_ylabel("fraction of users ready")
    ax.set_title(f"P2 {results['users']} users at once")
    ax.legend()
    ax = axes[1][0]
    rows = [r for r in summarise(results) if r["ratio"] is not None and r["goal"]]
    labels = [r["figure"].split(" ")[0] for r in rows]
    ax.bar([i - 0.2 for i in range(len(rows))], [r["ratio"] for r in rows], 0.4, label="pyiron-hub", color="tab:blue")
    ax.bar(
        [i + 0.2 for i in range(len(rows))],
        [r["ref_ratio"] or 0 for r in rows],
        0.4,
        label="reference",
        color="tab:orange",
    )
    for i, _r in enumerate(rows):
        goal = GOALS[labels[i]]
        ax.plot([i - 0.45, i + 0.45], [goal, goal], "k--", linewidth=1)
    ax.axhline(1, color="tab:gray", linewidth=0.8)
    ax.set_xticks(range(len(rows)), labels)
    ax.set_ylabel("ratio to the floor (dashed: goal)")
    ax.set_title("Ratios to the floor")
    ax.legend()
    ax = axes[1][1]
    # The container's memory (docker stats), split by process (private memory of each).
    parts = ("jupyterhub", "configurable-http-proxy", "jupyterhub_idle_culler")
    names = [name for name in ("pyiron-hub", "reference") if series[name].get("memory (MiB)")]
    bottoms = [0.0] * len(names)
    for part, shade in zip((*parts, "other"), ("tab:blue", "tab:green", "tab:purple", "tab:gray"), strict=False):
        heights = []
        for name in names:
            d = series[name]
            procs = d.get("processes (MiB, private)", {})
            if part == "other":
                heights.append(
                    max(0.0, d["memory (MiB)"] - sum(v for k, v in procs.items() if any(p in k for p in parts)))
                )
            else:
                heights.append(
                    sum(
                        v
                        for k, v in procs.items()
                        if part in k and not (part == "jupyterhub" and ("culler" in k or "proxy" in k))
                    )
                )
        ax.bar(names, heights, bottom=bottoms, color=shade, label=part)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=False)]
    ax.axhline(GOALS["memory"], color="k", linestyle="--", linewidth=1)
    ax.set_ylabel("MiB")
    ax.set_title(f"Hub container memory with {results['users']} servers (dashed: goal)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def write_report(results: dict, out: Path, stem: str, table, plot) -> None:
    """<stem>.json (the raw figures, which --from-json redraws), .md (the table), .png (the plot)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(results, indent=1))
    text = table(results)
    (out / f"{stem}.md").write_text(text)
    plot(results, out / f"{stem}.png")
    print(text)
    print(f"written: {', '.join(str(out / f'{stem}.{kind}') for kind in ('md', 'png', 'json'))}")


def report(results: dict, out: Path) -> None:
    write_report(results, out, "side_by_side", table, plot)


def benchmark_parser(doc: str, stem: str, rounds_help: str) -> argparse.ArgumentParser:
    """The options every benchmark here has: rounds, the hub image, where results go, redrawing."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help=rounds_help)
    parser.add_argument("--hub-image", default=HUB_IMAGE)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--from-json", type=Path, help=f"only print and draw an earlier run's {stem}.json")
    return parser


def main(argv=None) -> int:
    parser = benchmark_parser(__doc__, "side_by_side", "lone spawns per deployment (P1)")
    parser.add_argument(
        "--reference",
        type=Path,
        help="checkout (or git directory) of jupyterhub/jupyterhub-deploy-docker; without it, no reference column",
    )
    parser.add_argument("--users", type=int, default=50, help="users spawning at once (P2, P3, memory); at most 60")
    parser.add_argument(
        "--only-restart",
        action="store_true",
        help="only our deployment's P3 (and P2 on the way): for working on the restart",
    )
    args = parser.parse_args(argv)
    if args.from_json:
        report(json.loads(args.from_json.read_text()), args.out)
        return 0
    if not 1 <= args.users <= 60 or not 1 <= args.rounds <= 20:
        parser.error("--users must be 1..60 and --rounds 1..20 (the machine is shared)")
    names = users(args.users)
    results = {
        "users": args.users,
        "rounds": args.rounds,
        "hub_image": args.hub_image,
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "load": os.getloadavg()[0],
    }
    if args.only_restart:
        ours = measure_ours(names, args.rounds, args.hub_image, only_restart=True)
        print(ours.pop("hub log after restart", ""))
        print(json.dumps(ours, indent=1))
        return 0
    print(f"bare docker run: {args.rounds} alone, {args.users} at once")
    results["bare"] = measure_bare(args.users, args.rounds)
    print("pyiron-hub")
    results["ours"] = measure_ours(names, args.rounds, args.hub_image)
    if args.reference:
        print("reference deployment")
        results["reference"] = measure_reference(args.reference, names, args.rounds, args.hub_image)
    report(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
