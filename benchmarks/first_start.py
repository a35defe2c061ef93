"""Benchmark: a user's very first start beside their next, in the real browser.

    flock -o /tmp/pyiron-hub-e2e.lock $PYIRON_HUB_VENV/bin/python -m benchmarks.first_start --rounds 3

Brings up the compose stack with the local images (TEST_HUB_IMAGE's hub, the e2e suite's
shared-password login). Each round is a new user (no home yet) starting the stand-in base
image, whose copy for the hub (the `pyiron-hub-image-<id>` volume of its home and examples)
is removed first: an image on the host that the hub has never used. Debian's chromium signs
in, opens the spawn page and clicks Start, and times from the click until the browser is
at JupyterLab's address and until JupyterLab is usable (its launcher drawn); then the same
user stops and starts again (a later start). The goal (issue 22): the first start within
1.5x a later one. Medians are printed as a table and drawn
(benchmarks/results/first_start.{md,png,json}); `--from-json` redraws an earlier run.
Nothing is asserted; everything started is removed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from pyiron_hub_config.storage import image_volume
from tests.e2e.conftest import (
    HUB_IMAGE,
    IMAGES,
    PASSWORD,
    REPO,
    Stack,
    docker,
    remove_user_containers_and_volumes,
    write_env_files,
)

ENVIRONMENT = "pyiron_base"
PROJECT, NETWORK = "pyironhubfirststart", "pyiron-hub-firststart-users"
BROWSER = REPO / "tests" / "browser"
GOAL = 1.5  # a first start within this many times a later one
KINDS = ("first start", "later start")
FIGURES = ("address", "usable")


def users(rounds: int) -> tuple[str, ...]:
    return tuple(f"fs{i:02d}" for i in range(1, rounds + 1))


def forget_image(image: str) -> None:
    """Remove the hub's copy of the image (no server of it runs now): as if never used."""
    image_id = docker("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()
    docker("volume", "rm", image_volume(image_id), check=False)


def browse(stack: Stack, user: str) -> dict:
    env = {
        **os.environ,
        "HUB_URL": stack.url,
        "HUB_USER": user,
        "HUB_PASSWORD": PASSWORD,
        "ENVIRONMENT": ENVIRONMENT,
        "CHROMIUM": os.environ.get("CHROMIUM", "/usr/bin/chromium"),
    }
    r = subprocess.run(
        ["node", str(BROWSER / "first_start.mjs")], cwd=BROWSER, env=env, capture_output=True, text=True, timeout=900
    )
    lines = r.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"the browser script printed nothing ({r.returncode}): {r.stderr[-2000:]}")
    out = json.loads(lines[-1])
    if out.get("error"):
        print(f"{user}: {out['error']}\n{r.stderr[-2000:]}")
    return out


def measure(rounds: int) -> dict:
    names = users(rounds)
    directory = Path(tempfile.mkdtemp(prefix="pyiron-hub-firststart-"))
    write_env_files(directory, users=names)
    stack = Stack(directory, HUB_IMAGE, project=PROJECT, network=NETWORK, users=names)
    remove_user_containers_and_volumes(names)
    stack.compose("down", "-v", "--remove-orphans", check=False)
    out: dict = {"rounds": []}
    try:
        stack.up()
        for name in names:
            forget_image(IMAGES[ENVIRONMENT])
            seen = browse(stack, name)
            if len(seen.get("starts", [])) == len(KINDS):
                out["rounds"].append(seen["starts"])
    finally:
        remove_user_containers_and_volumes(names)
        stack.compose("down", "-v", "--remove-orphans", check=False)
    out["hub image"], out["image"], out["when"] = (
        HUB_IMAGE,
        IMAGES[ENVIRONMENT],
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    )
    return out


def medians(out: dict) -> dict[tuple[str, str], float]:
    """(kind, figure) -> median seconds over the rounds."""
    return {
        (kind, figure): statistics.median(
            start[figure] for starts in out["rounds"] for start in starts if start["kind"] == kind
        )
        for kind in KINDS
        for figure in FIGURES
        if out["rounds"]
    }


def report(out: dict, results: Path) -> str:
    m = medians(out)
    lines = [
        f"First start beside a later one, in Debian's chromium: median of {len(out['rounds'])} rounds; "
        f"hub {out['hub image']}, image {out['image']}, {out['when']}",
        "",
        "| from the click on Start until | first start (s) | later start (s) | first / later | goal |",
        "|---|---|---|---|---|",
        *[
            f"| {'JupyterLab’s address' if figure == 'address' else 'JupyterLab usable'} | "
            f"{m[('first start', figure)]:.2f} | {m[('later start', figure)]:.2f} | "
            f"{m[('first start', figure)] / m[('later start', figure)]:.2f}x | "
            f"{f'<= {GOAL}x' if figure == 'address' else ''} |"
            for figure in FIGURES
            if m
        ],
    ]
    text = "\n".join(lines)
    print(text)
    results.mkdir(parents=True, exist_ok=True)
    (results / "first_start.md").write_text(text + "\n")
    (results / "first_start.json").write_text(json.dumps(out, indent=1))
    if m:
        draw(m, results / "first_start.png")
    return text


def draw(m: dict[tuple[str, str], float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.38
    for i, kind in enumerate(KINDS):
        values = [m[(kind, figure)] for figure in FIGURES]
        bars = ax.bar([x + (i - 0.5) * width for x in range(len(FIGURES))], values, width, label=kind)
        ax.bar_label(bars, fmt="%.2f s", fontsize=8)
    ax.set_xticks(range(len(FIGURES)), ["at JupyterLab's address", "JupyterLab usable"])
    ax.set_ylabel("seconds after the click on Start (median)")
    ax.set_title("A user's first start beside a later one, in the browser")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--from-json", help="only print and draw an earlier run's JSON")
    args = parser.parse_args(argv)
    out = json.loads(Path(args.from_json).read_text()) if args.from_json else measure(args.rounds)
    report(out, Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
