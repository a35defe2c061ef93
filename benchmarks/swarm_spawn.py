"""Benchmark: a user's spawn on the swarm against one host, each against its own floor.

    flock /tmp/pyiron-e2e.lock /opt/pyiron-hub-venv/bin/python -m benchmarks.swarm_spawn --rounds 5

Needs root, the local images (./scripts/test builds them) and the packages of the swarm
suite (skopeo, docker-registry). In one run, on one machine:

  one host   floor: bare `docker run` of the base image until its Jupyter server answers
             /api/status; hub: the API request until the user's /api/status answers through
             the proxy (our compose stack, as benchmarks/side_by_side.py's P1)
  swarm      the test swarm of tests/swarm/cluster.sh (three engines in network namespaces,
             a private registry), the stack deployed as the README says;
             floor: `docker service create` of the same image on the user's worker, its port
             published on that node, until /api/status answers; hub: as above, through the
             hub on the manager. The user's first spawn (the worker pulls the image from
             the registry) is reported apart from the later ones (image on the node).

Everything started is removed at the end, also after a failure. Results:
benchmarks/results/swarm_spawn.{md,png,json}; nothing is asserted.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from benchmarks.side_by_side import (
    BARE_NETWORK,
    CPUS,
    ENVIRONMENT,
    MEMORY,
    Hub,
    answers,
    bare_run,
    benchmark_parser,
    login_all,
    our_stack,
    remove_users,
    spawn,
    stop,
    wait_until,
    write_report,
)
from tests.e2e.conftest import docker
from tests.e2e.test_swarm import DOCKER as SWARM_DOCKER
from tests.e2e.test_swarm import (
    IMAGES,
    STACK,
    cluster_down,
    cluster_up,
    deployed_stack,
    node,
    registry_name,
    sock,
    task_node,
)

USER = "swbench"
FLOOR_SERVICE, FLOOR_PORT, FLOOR_TOKEN = "swbench-floor", 18888, "swbench-floor-token"
# The workers' addresses on the test bridge (tests/swarm/cluster.sh: node n is 10.233.0.<n+1>).
NODE_ADDRESS = {n: f"10.233.0.{n + 1}" for n in (1, 2, 3)}


def median(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# --- one host --------------------------------------------------------------------------------
def measure_one_host(rounds: int, hub_image: str) -> dict:
    floor = []
    docker("network", "create", BARE_NETWORK, check=False)  # bare_run's network
    try:
        for _ in range(rounds):
            floor.append(bare_run("pyiron-hub-swbench-bare"))
            docker("rm", "-f", "pyiron-hub-swbench-bare", check=False)
    finally:
        docker("network", "rm", BARE_NETWORK, check=False)
    names = (USER,)
    stack = our_stack(Path(tempfile.mkdtemp(prefix="pyiron-hub-swbench-")), names, hub_image)
    remove_users(names)
    stack.compose("down", "-v", "--remove-orphans", check=False)
    try:
        stack.up()
        hub = Hub(stack.url, stack.container("hub"), {"environment": ENVIRONMENT})
        login_all(hub, names)
        spawns = []
        for _ in range(rounds + 1):  # the first warms the image's home copy up, as on the swarm
            spawns.append(spawn(hub, USER))
            stop(hub, USER)
        return {"floor": floor, "first": spawns[0], "hub": spawns[1:]}
    finally:
        remove_users(names)
        stack.compose("down", "-v", "--remove-orphans", check=False)


# --- the swarm -------------------------------------------------------------------------------
def floor_service(node_id: str, number: int, docker_config: Path) -> float | None:
    """Seconds from `docker service create` until the server answers on its node's port."""
    env = {**os.environ, "DOCKER_CONFIG": str(docker_config)}
    began = time.monotonic()
    subprocess.run(
        [
            SWARM_DOCKER,
            "-H",
            sock(1),
            "service",
            "create",
            "-d",
            "--with-registry-auth",
            "--name",
            FLOOR_SERVICE,
            "--restart-condition",
            "none",
            "--constraint",
            f"node.id=={node_id}",
            "--limit-cpu",
            CPUS,
            "--limit-memory",
            MEMORY,
            "--publish",
            f"mode=host,target=8888,published={FLOOR_PORT}",
            registry_name(IMAGES["base"]),
            "jupyter",
            "server",
            "--ServerApp.ip=0.0.0.0",
            "--ServerApp.port=8888",
            f"--IdentityProvider.token={FLOOR_TOKEN}",
            "--ServerApp.open_browser=False",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    url = f"http://{NODE_ADDRESS[number]}:{FLOOR_PORT}/api/status"
    answered = wait_until(lambda: answers(url, FLOOR_TOKEN, timeout=1), 300)
    took = time.monotonic() - began if answered else None
    node(1, "service", "rm", FLOOR_SERVICE, check=False)
    # The published port is free again once the task's container is gone.
    wait_until(lambda: not answers(url, FLOOR_TOKEN, timeout=1), 60, interval=0.2)
    time.sleep(2)
    return took


def measure_swarm(rounds: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="pyiron-hub-swbench-swarm-"))
    (work / "stack").mkdir()
    (work / "docker").mkdir()
    cluster_up()
    try:
        stack = deployed_stack(work / "stack", work / "docker", users=(USER,))
        hub = Hub(stack.url, "", {"environment": ENVIRONMENT})
        login_all(hub, (USER,))
        first = spawn(hub, USER)
        node_id = task_node(USER)
        number = next(
            n for n in (1, 2, 3) if node(n, "info", "--format", "{{.Swarm.NodeID}}").stdout.strip() == node_id
        )
        spawns = []
        for _ in range(rounds):
            stop_swarm(hub)
            spawns.append(spawn(hub, USER))
        stop_swarm(hub)
        floor = [floor_service(node_id, number, work / "docker") for _ in range(rounds)]
        return {"floor": floor, "first": first, "hub": spawns, "node": number}
    finally:
        node(1, "service", "rm", FLOOR_SERVICE, check=False)
        node(1, "service", "rm", f"jupyter-{USER}", check=False)
        node(1, "stack", "rm", STACK, check=False)
        cluster_down()


def stop_swarm(hub: Hub) -> None:
    # As side_by_side.stop, but the server is a service on the swarm, not a container here.
    auth = {"Authorization": f"token {hub.tokens[USER]}"}
    requests.delete(f"{hub.url}/hub/api/users/{USER}/server", headers=auth, timeout=120)
    wait_until(
        lambda: not requests.get(f"{hub.url}/hub/api/users/{USER}", headers=auth, timeout=10).json()["servers"],
        120,
        interval=0.2,
    )
    wait_until(lambda: node(1, "service", "inspect", f"jupyter-{USER}", check=False).returncode != 0, 60, interval=0.2)


# --- report ----------------------------------------------------------------------------------
def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def rows(results: dict) -> list[tuple[str, float | None, float | None]]:
    one, sw = results["one_host"], results["swarm"]
    return [
        (f"one host, median of {results['rounds']}", median(one["floor"]), median(one["hub"])),
        (f"swarm, image on the node, median of {results['rounds']}", median(sw["floor"]), median(sw["hub"])),
        ("swarm, the user's first spawn (the node pulls the image)", None, sw["first"]),
    ]


def table(results: dict) -> str:
    lines = [
        f"Spawn until the user's /api/status answers ({results['when']}, load {results['load']:.1f}, "
        f"image {IMAGES['base']}, {CPUS} CPU, {MEMORY})",
        "",
        "| where | floor | pyiron-hub | pyiron-hub / floor |",
        "|---|---|---|---|",
    ]
    for label, floor, ours in rows(results):
        ratio = f"{ours / floor:.2f}x" if floor and ours else ""
        lines.append(f"| {label} | {fmt(floor)} | {fmt(ours)} | {ratio} |")
    one, sw = median(results["one_host"]["hub"]), median(results["swarm"]["hub"])
    if one and sw:
        lines += [
            "",
            f"On the swarm a spawn takes {sw / one:.2f}x as long as on one host "
            f"({sw - one:+.2f} s); the floors differ by "
            f"{median(results['swarm']['floor']) - median(results['one_host']['floor']):+.2f} s.",
        ]
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    groups = [("one host", results["one_host"]), ("swarm", results["swarm"])]
    for g, (_name, d) in enumerate(groups):
        for k, (kind, colour) in enumerate((("floor", "tab:gray"), ("hub", "tab:blue"))):
            values = [v for v in d[kind] if v is not None]
            x = g + (k - 0.5) * 0.4
            if values:
                ax.bar(
                    x,
                    statistics.median(values),
                    0.38,
                    color=colour,
                    alpha=0.7,
                    label=("bare run / service" if kind == "floor" else "pyiron-hub") if g == 0 else None,
                )
                ax.plot([x] * len(values), values, "k.", markersize=4)
    if results["swarm"]["first"]:
        # Written, not drawn: a bar ten times as high would flatten the others.
        ax.annotate(
            f"a user's first spawn on a node\n(the node pulls the image): {results['swarm']['first']:.1f} s",
            (1.1, statistics.median(v for v in results["swarm"]["hub"] if v is not None)),
            xytext=(0.45, 0.8),
            textcoords="axes fraction",
            fontsize=8,
            arrowprops={"arrowstyle": "->", "color": "tab:red"},
        )
    ax.set_xticks([0, 1], [name for name, _ in groups])
    ax.set_ylabel("seconds until /api/status answers")
    ax.set_title(f"A lone spawn, median of {results['rounds']} (dots: each round)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def report(results: dict, out: Path) -> None:
    write_report(results, out, "swarm_spawn", table, plot)


def main(argv=None) -> int:
    args = benchmark_parser(__doc__, "swarm_spawn", "lone spawns on each side").parse_args(argv)
    if args.from_json:
        report(json.loads(args.from_json.read_text()), args.out)
        return 0
    if not 1 <= args.rounds <= 20:
        raise SystemExit("--rounds must be 1..20 (the machine is shared)")
    results = {"rounds": args.rounds, "when": time.strftime("%Y-%m-%d %H:%M"), "load": os.getloadavg()[0]}
    print("one host")
    results["one_host"] = measure_one_host(args.rounds, args.hub_image)
    print("swarm")
    results["swarm"] = measure_swarm(args.rounds)
    report(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
