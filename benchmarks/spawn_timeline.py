"""Benchmark: where the time of one spawn goes, phase by phase, beside a bare `docker run`.

    flock /tmp/pyiron-hub-e2e.lock $PYIRON_HUB_VENV/bin/python -m benchmarks.spawn_timeline --rounds 5

Brings up the compose stack with the local images (TEST_HUB_IMAGE's hub), times `--rounds`
bare `docker run`s of the stand-in base image until its Jupyter server answers (the floor,
as P1 in side_by_side.py), then `--rounds` lone spawns of the same image, each taken apart
by the timestamps the engine gives every log line (the hub's and the user's container's),
the container's own start time, and this process's clock (one host, one clock):

  API request → Spawner.start (the hub logs "Starting <environment> for <user>"; the image
  and volume look-ups follow) → container created → container started → the boot step's
  parts (each logs its end) → jupyterhub-singleuser up (its "running at" line) → first
  HTTP answer (this process polls the container directly) → proxy route (the hub's "Adding
  user") → ready (/api/status answers through the proxy, as P1 measures).

A first start (a user with no home yet) is timed beside a later one in each round.
Each phase's median is printed as a table and drawn (benchmarks/results/spawn_timeline.{md,png,json});
`--from-json` redraws an earlier run. Nothing is asserted; everything started is removed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import docker as docker_sdk

from benchmarks.side_by_side import BARE_NETWORK, CPUS, MEMORY, answers, bare_run, wait_until
from tests.e2e.conftest import (
    HUB_IMAGE,
    IMAGES,
    HubUser,
    Stack,
    docker,
    remove_user_containers_and_volumes,
    write_env_files,
)

ENVIRONMENT = "pyiron_base"
PROJECT, NETWORK = "pyironhubtimeline", "pyiron-hub-timeline-users"
BOOT_STEPS = ("examples", "packages", "files", "jupyterlab news", "work folder", "pyiron")
# Phase name -> the mark it ends at (the marks in the order a spawn passes them).
MARKS = (
    "Spawner.start",
    "container created",
    "container started",
    *(f"boot: {s}" for s in BOOT_STEPS),
    "singleuser up",
    "first HTTP answer",
    "proxy route",
    "ready",
)


def users(rounds: int) -> tuple[str, ...]:
    return tuple(f"tl{i:02d}" for i in range(1, rounds + 1))


def engine_time(stamp: str) -> float:
    """The engine's RFC 3339 timestamp (nanoseconds) as seconds since the epoch."""
    day, _, frac = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(day + "+00:00").timestamp() + float("0." + (frac or "0"))


def log_lines(client, container: str, since: float) -> list[tuple[float, str]]:
    raw = client.api.logs(container, timestamps=True, since=int(since) - 1, stdout=True, stderr=True)
    lines = []
    for line in raw.decode(errors="replace").splitlines():
        stamp, _, text = line.partition(" ")
        try:
            lines.append((engine_time(stamp), text))
        except ValueError:
            continue
    return lines


def first(lines: list[tuple[float, str]], needle: str, after: float) -> float | None:
    return next((t for t, text in lines if t >= after and needle in text), None)


def watch_first_answer(client, name: str, user: str, stop: threading.Event, out: dict) -> None:
    """Poll the user's container directly (not through the proxy) until its server answers."""
    ip = None
    while not stop.is_set() and not ip:
        try:
            networks = client.api.inspect_container(f"jupyter-{name}")["NetworkSettings"]["Networks"]
            # The server's own network (user_networks.py) or the users' one: any address reaches it from here.
            ip = next((n["IPAddress"] for n in (networks or {}).values() if n.get("IPAddress")), None)
        except docker_sdk.errors.NotFound:
            pass
        if not ip:
            time.sleep(0.01)
    while not stop.is_set():
        if answers(f"http://{ip}:8888/user/{user}/api", timeout=0.5):
            out["first HTTP answer"] = time.time()
            return
        time.sleep(0.01)


def timed_spawn(stack: Stack, client, user: HubUser) -> dict[str, float] | None:
    """One spawn's marks, in seconds after the API request."""
    hub = stack.container("hub")
    stop, seen = threading.Event(), {}
    watcher = threading.Thread(target=watch_first_answer, args=(client, user.name, user.name, stop, seen), daemon=True)
    watcher.start()
    t0 = time.time()
    r = user.api("POST", f"/users/{user.name}/server", json={"environment": ENVIRONMENT})
    if r.status_code not in (201, 202):
        stop.set()
        print(f"  spawn refused: {r.status_code} {r.text[:200]}")
        return None
    ok = wait_until(lambda: answers(f"{stack.url}/user/{user.name}/api/status", user.token), 120, interval=0.01)
    ready = time.time()
    watcher.join(5)
    stop.set()
    if not ok:
        return None
    marks = {"ready": ready, **seen}
    hub_log = log_lines(client, hub, t0)
    marks["Spawner.start"] = first(hub_log, f"Starting {ENVIRONMENT} for {user.name}:", t0)
    marks["container created"] = first(hub_log, f"Created container jupyter-{user.name} ", t0)
    marks["proxy route"] = first(hub_log, f"Adding user {user.name} to proxy", t0)
    info = client.api.inspect_container(f"jupyter-{user.name}")
    marks["container started"] = engine_time(info["State"]["StartedAt"])
    server_log = log_lines(client, f"jupyter-{user.name}", t0)
    for step in BOOT_STEPS:
        marks[f"boot: {step}"] = first(server_log, f"pyiron-hub boot: {step}", t0)
    marks["singleuser up"] = first(server_log, "running at", t0) or first(server_log, "Jupyter Server", t0)
    return {name: marks[name] - t0 for name in MARKS if marks.get(name) is not None}


def measure(rounds: int) -> dict:
    client = docker_sdk.from_env(timeout=60)
    names = users(rounds)
    directory = Path(tempfile.mkdtemp(prefix="pyiron-hub-timeline-"))
    write_env_files(directory, users=names, MEM_LIMIT=MEMORY, CPU_LIMIT=CPUS)
    stack = Stack(directory, HUB_IMAGE, project=PROJECT, network=NETWORK, users=names)
    remove_user_containers_and_volumes(names)
    stack.compose("down", "-v", "--remove-orphans", check=False)
    out: dict = {"first start": [], "later start": [], "timelines": [], "bare": []}
    docker("network", "create", BARE_NETWORK, check=False)
    try:
        for _ in range(rounds):
            out["bare"].append(bare_run("pyiron-hub-timeline-bare"))
            docker("rm", "-f", "pyiron-hub-timeline-bare", check=False)
        stack.up()
        for name in names:
            user = HubUser(stack, name).login()
            for kind in ("first start", "later start"):  # a new home, then the same again
                marks = timed_spawn(stack, client, user)
                user.stop()
                if marks:
                    out[kind].append(marks["ready"])
                    if kind == "later start":
                        out["timelines"].append(marks)
    finally:
        docker("rm", "-f", "pyiron-hub-timeline-bare", check=False)
        docker("network", "rm", BARE_NETWORK, check=False)
        remove_user_containers_and_volumes(names)
        stack.compose("down", "-v", "--remove-orphans", check=False)
    out["hub image"], out["image"], out["when"] = (
        HUB_IMAGE,
        IMAGES[ENVIRONMENT],
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    )
    return out


def phases(timelines: list[dict[str, float]]) -> list[tuple[str, float, float]]:
    """(phase, median seconds it took, median seconds after the request it ended), in spawn order."""
    rows, previous = [], "API request"
    for mark in MARKS:
        ends = [t[mark] for t in timelines if mark in t]
        spans = [
            t[mark] - (t.get(previous, 0.0) if previous != "API request" else 0.0)
            for t in timelines
            if mark in t and (previous == "API request" or previous in t)
        ]
        if not ends:
            continue
        rows.append((f"{previous} → {mark}", statistics.median(spans), statistics.median(ends)))
        previous = mark
    return rows


def report(out: dict, results: Path, label: str = "") -> str:
    rows = phases(out["timelines"])
    bare = [b for b in out["bare"] if b]
    later, firsts = out["later start"], out["first start"]
    lines = [
        f"Spawn timeline{f' ({label})' if label else ''}: median of {len(out['timelines'])} later starts; "
        f"hub {out['hub image']}, image {out['image']}, {out['when']}",
        "",
        "| phase | median (s) | ends at (s, median) |",
        "|---|---|---|",
        *[f"| {name} | {span:.3f} | {end:.3f} |" for name, span, end in rows],
        "",
        "| figure | median (s) | / bare docker run |",
        "|---|---|---|",
        f"| bare docker run until /api/status answers | {statistics.median(bare):.2f} | |" if bare else "",
        f"| P1: later start until /api/status answers through the proxy | {statistics.median(later):.2f} | "
        f"{statistics.median(later) / statistics.median(bare):.2f}x |"
        if later and bare
        else "",
        f"| first start (new home) | {statistics.median(firsts):.2f} | "
        f"{statistics.median(firsts) / statistics.median(later):.2f}x a later start |"
        if firsts and later
        else "",
    ]
    text = "\n".join(line for line in lines if line is not None)
    print(text)
    results.mkdir(parents=True, exist_ok=True)
    stem = "spawn_timeline" + (f"_{label}" if label else "")
    (results / f"{stem}.md").write_text(text + "\n")
    (results / f"{stem}.json").write_text(json.dumps(out, indent=1))
    draw(rows, results / f"{stem}.png", label)
    return text


def draw(rows, path: Path, label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5))
    start = 0.0
    for i, (_name, _span, end) in enumerate(rows):
        ax.barh(i, end - start, left=start)
        ax.text(end + 0.02, i, f"{end - start:.2f} s", va="center", fontsize=8)
        start = end
    ax.set_yticks(range(len(rows)), [name.split(" → ")[1] for name, _, _ in rows])
    ax.invert_yaxis()
    ax.set_xlabel("seconds after the API request (medians)")
    ax.set_title(f"One spawn, phase by phase{f' ({label})' if label else ''}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--label", default="", help="a name for this run's files (e.g. before, after)")
    parser.add_argument("--from-json", help="only print and draw an earlier run's JSON")
    args = parser.parse_args(argv)
    out = json.loads(Path(args.from_json).read_text()) if args.from_json else measure(args.rounds)
    report(out, Path(args.out), args.label)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
