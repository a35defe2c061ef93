"""Benchmark (not a test): first and second `pyiron-hub backup` for N users x M MB.

    flock /tmp/pyiron-hub-e2e.lock $PYIRON_HUB_VENV/bin/python -m benchmarks.backup --users 20 --mb 50

Brings up the compose stack with compose.backup.yml (a local repository in a temporary
directory), fills N users' home volumes with M MB each (random, so neither compression nor
deduplication flatters the figures), runs the first backup, changes one file of one user
(1 MB), runs the second. Prints and writes benchmarks/results/backup.{json,md}: each
run's wall time (the whole `docker compose run` of `pyiron-hub backup`) and the
repository's size after it. Leaves nothing behind.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from tests.e2e.conftest import HUB_IMAGE, docker, write_env_files
from tests.e2e.test_backup import BackupStack

RESULTS = Path(__file__).resolve().parent / "results"
PROJECT, NETWORK, DEPLOYMENT = "pyironhubbench", "pyiron-hub-bench-users", "bench"


def du(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--mb", type=int, default=50)
    args = parser.parse_args(argv)
    users = [f"bench{i:03d}" for i in range(args.users)]
    volumes = [f"{DEPLOYMENT}-jupyterhub-home-{u}" for u in users]
    with tempfile.TemporaryDirectory() as tmp:
        directory, repo = Path(tmp) / "project", Path(tmp) / "repo"
        directory.mkdir()
        write_env_files(directory, tuple(users), DEPLOYMENT_NAME=DEPLOYMENT)
        (directory / "backup.env").write_text(f"RESTIC_REPOSITORY='{repo}'\nRESTIC_PASSWORD='benchmark only'\n")
        stack = BackupStack(directory, HUB_IMAGE, project=PROJECT, network=NETWORK, users=tuple(users))
        stack.files = ("docker-compose.yml", "compose.backup.yml")
        try:
            stack.up()
            for start in range(0, len(volumes), 25):  # 25 volumes per helper container
                batch = volumes[start : start + 25]
                mounts = [a for i, v in enumerate(batch) for a in ("-v", f"{v}:/v/{i}")]
                docker(
                    "run",
                    "--rm",
                    *mounts,
                    HUB_IMAGE,
                    "sh",
                    "-c",
                    f"for d in /v/*; do head -c {args.mb * 1048576} /dev/urandom > $d/data.bin; done",
                )
            runs = []
            for name, flags in (("first", ["--init"]), ("second", [])):
                if name == "second":  # a small change: 1 MB of one user's file
                    docker(
                        "run",
                        "--rm",
                        "-v",
                        f"{volumes[0]}:/h",
                        HUB_IMAGE,
                        "sh",
                        "-c",
                        "head -c 1048576 /dev/urandom | dd of=/h/data.bin conv=notrunc status=none",
                    )
                started = time.monotonic()
                r = stack.pyiron_hub("backup", *flags)
                seconds = time.monotonic() - started
                if r.returncode:
                    raise SystemExit(f"backup failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
                runs.append({"run": name, "seconds": round(seconds, 1), "repository_bytes": du(repo)})
                print(f"{name}: {seconds:.1f} s, repository {du(repo) / 1e6:.0f} MB", flush=True)
        finally:
            stack.compose("down", "-v", "--remove-orphans", check=False)
            docker("volume", "rm", "-f", *volumes, check=False)
            subprocess.run(["rm", "-rf", str(repo)])
    result = {"users": args.users, "mb_per_user": args.mb, "data_mb": args.users * args.mb, "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "backup.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [
        f"{args.users} users x {args.mb} MB ({args.users * args.mb} MB of random data), local repository:",
        "",
        "| run | time | repository size |",
        "|---|---|---|",
    ]
    lines += [f"| {r['run']} | {r['seconds']} s | {r['repository_bytes'] / 1e6:.0f} MB |" for r in runs]
    (RESULTS / "backup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
