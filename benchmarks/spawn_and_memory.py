"""Benchmark: how long the stack takes to come up and to spawn each environment, and how
much memory the hub uses idle and with servers running. Prints a table and draws a plot.

    /opt/pyiron-hub-venv/bin/python -m benchmarks.spawn_and_memory [--rounds 3] [--out benchmarks/results]

It brings up its own compose stack with the local test images (images/build.sh must
have run: scripts/test does that), bounded in rounds and time, and tears it down at the end.
Numbers depend on the machine; they are measured, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from tests.e2e.conftest import (
    IMAGES,
    PREFIX,
    HubUser,
    Stack,
    docker,
    remove_user_containers_and_volumes,
    write_env_files,
)

USERS = ("bench1", "bench2", "bench3", "bench4")


def memory_mib(container: str) -> float:
    raw = docker("stats", "--no-stream", "--format", "{{json .}}", container).stdout
    used = json.loads(raw)["MemUsage"].split("/")[0].strip()
    units = {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "B": 1 / 1024**2}
    for unit, factor in units.items():
        if used.endswith(unit):
            return float(used[: -len(unit)]) * factor
    return float("nan")


def image_mib(image: str) -> float:
    return int(docker("image", "inspect", "-f", "{{.Size}}", image).stdout) / 1024**2


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--from-json", help="only print and plot an earlier run's spawn_and_memory.json")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.from_json:
        report(json.loads(Path(args.from_json).read_text()), out)
        return 0
    report(measure(args.rounds), out)
    return 0


def measure(rounds: int) -> dict[str, list[float]]:

    directory = Path(tempfile.mkdtemp(prefix="pyiron-hub-bench-"))
    write_env_files(directory, users=USERS)
    stack = Stack(
        directory, f"{PREFIX}/hub:latest", project="pyironhubbench", network="pyiron-hub-bench-users", users=USERS
    )
    stack.compose("down", "-v", check=False)
    remove_user_containers_and_volumes(USERS)
    results: dict[str, list[float]] = {}
    try:
        began = time.monotonic()
        stack.up()
        results["stack up, db then hub healthy (s)"] = [time.monotonic() - began]
        hub = stack.container("hub")
        results["hub memory, idle (MiB)"] = [memory_mib(hub)]

        user = HubUser(stack, USERS[0]).login()
        for env in IMAGES:
            times = []
            for _ in range(rounds):
                began = time.monotonic()
                user.start(environment=env)
                times.append(time.monotonic() - began)
                user.stop()
            results[f"spawn {env}, request to ready (s)"] = times

        users = [HubUser(stack, name).login() for name in USERS]
        for u, env in zip(users, IMAGES, strict=False):
            u.start(environment=env)
        results[f"hub memory, {len(users)} servers running (MiB)"] = [memory_mib(hub)]
        results["one server's memory, pyiron_base (MiB)"] = [memory_mib(f"jupyter-{USERS[1]}")]
        for u in users:
            u.stop()
    finally:
        stack.compose("down", "-v", check=False)
        remove_user_containers_and_volumes(USERS)
    for name in ("hub", "postgres:17", "base", "pyiron"):
        image = f"{PREFIX}/{name}" if ":" in name else f"{PREFIX}/{name}:latest"
        results[f"image size {image} (MiB)"] = [image_mib(image)]
    return results


def report(results: dict[str, list[float]], out: Path) -> None:
    width = max(map(len, results))
    print(f"{'measurement':<{width}}  {'median':>8}  {'min':>8}  {'max':>8}  n")
    for name, values in results.items():
        print(
            f"{name:<{width}}  {statistics.median(values):8.1f}  {min(values):8.1f}  {max(values):8.1f}  {len(values)}"
        )
    (out / "spawn_and_memory.json").write_text(json.dumps(results, indent=1))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spawns = {k.split(",")[0].removeprefix("spawn "): v for k, v in results.items() if k.startswith("spawn ")}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.boxplot(list(spawns.values()), showmeans=True)
    left.set_xticks(range(1, len(spawns) + 1), list(spawns))
    left.set_ylabel("seconds, spawn request to server ready")
    left.set_title(f"Spawn time per environment ({len(next(iter(spawns.values())))} rounds)")
    left.tick_params(axis="x", rotation=20)
    mem = {k: v[0] for k, v in results.items() if k.endswith("(MiB)") and "memory" in k}
    right.barh(list(mem), list(mem.values()))
    right.set_xlabel("MiB")
    right.set_title("Memory")
    fig.tight_layout()
    fig.savefig(out / "spawn_and_memory.png", dpi=110)
    print(f"plot: {out / 'spawn_and_memory.png'}")


if __name__ == "__main__":
    raise SystemExit(main())
