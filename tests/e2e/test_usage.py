"""Usage in plain sight, on the real stack with 50 users' volumes and a running server.

The admins' page in a real browser (its screenshot is kept), `pyiron-hub usage`,
/hub/metrics, and the soft limit's warning on the user's home and spawn pages (which never
refuses the start).
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
import requests
from bs4 import BeautifulSoup

from .conftest import HUB_IMAGE, PASSWORD, REPO, HubUser, Stack, docker, up_or_dump, write_env_files

PROJECT = "pyironhubus"
NETWORK = "pyiron-hub-us-users"
DEPLOYMENT = "us"
MANY = [f"us{i:02d}" for i in range(50)]
ANN = "usann"
STALE = "pyiron-hub-image-us0000000000"  # an image volume nothing uses (made by this test)
ARTIFACTS = REPO / "test-artifacts" / "usage"
BROWSER = REPO / "tests" / "browser"


def all_volumes() -> list[str]:
    return [f"{DEPLOYMENT}-jupyterhub-{kind}-{u}" for u in (*MANY, ANN) for kind in ("home", "user")]


def cleanup(stack: Stack) -> None:
    docker("rm", "-f", f"{DEPLOYMENT}-jupyter-{ANN}", check=False)
    stack.compose("down", "-v", "--remove-orphans", check=False)
    docker("volume", "rm", "-f", STALE, *all_volumes(), check=False)


@pytest.fixture(scope="module")
def us(images, tmp_path_factory):
    directory = tmp_path_factory.mktemp("usage")
    write_env_files(
        directory, (ANN, "admin"), DEPLOYMENT_NAME=DEPLOYMENT, STORAGE_SOFT_LIMIT="20M", USAGE_REFRESH_SECONDS="10"
    )
    s = Stack(directory, images, project=PROJECT, network=NETWORK, users=(ANN,))
    cleanup(s)
    # 50 users' homes of 1 MB each (files written straight into their volumes), ann's of 30 MB.
    mounts = [a for i, u in enumerate(MANY) for a in ("-v", f"{DEPLOYMENT}-jupyterhub-home-{u}:/v/{i}")]
    docker(
        "run",
        "--rm",
        *mounts,
        HUB_IMAGE,
        "sh",
        "-c",
        "for d in /v/*; do head -c 1048576 /dev/urandom > $d/data.bin; done",
    )
    docker(
        "run",
        "--rm",
        "-v",
        f"{DEPLOYMENT}-jupyterhub-home-{ANN}:/h",
        HUB_IMAGE,
        "sh",
        "-c",
        "head -c 31457280 /dev/urandom > /h/big.bin && chown -R 1000:100 /h",
    )
    docker("volume", "create", STALE)
    yield from up_or_dump(s, cleanup)


def test_a_user_above_the_soft_limit_is_warned_and_still_starts(us):
    ann = HubUser(us, ANN).login()

    def warning(path):
        r = ann.session.get(f"{us.url}/hub/{path}", timeout=30)
        box = BeautifulSoup(r.text, "html.parser").find(id="storage-warning")
        return box and " ".join(box.get_text().split())

    deadline = time.monotonic() + 120
    while not warning("home") and time.monotonic() < deadline:  # the first measurement runs in the background
        time.sleep(2)
    assert "Your files take 30.0 MiB, more than the 20.0 MiB" in warning("home")
    assert "nothing is removed" in warning("spawn")
    ann.start(environment="pyiron_base")  # never refused


def test_admins_see_everyones_disk_memory_and_cpu_in_the_browser(us):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "usage-page.png"
    env = {
        **os.environ,
        "HUB_URL": us.url,
        "HUB_USER": "admin",
        "HUB_PASSWORD": PASSWORD,
        "CHROMIUM": os.environ.get("CHROMIUM", "/usr/bin/chromium"),
    }
    deadline = time.monotonic() + 120
    while True:
        r = subprocess.run(
            ["node", str(BROWSER / "usage.mjs"), str(shot)],
            cwd=BROWSER,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        out = json.loads(r.stdout.strip().splitlines()[-1])
        assert r.returncode == 0, (out, r.stderr[-2000:])
        rows = {row["user"]: row for row in out["rows"]}
        # ann's memory appears once the measurement after her start is there.
        if "512.0 MiB" in rows.get(ANN, {}).get("memory", "") or time.monotonic() > deadline:
            break
        time.sleep(5)
    print(f"screenshot of the usage page: {shot}")
    assert set(MANY) <= set(rows) and rows["us07"]["disk"] == "1.0 MiB"
    assert rows[ANN]["disk"].startswith("30.0 MiB") and "above the soft limit" in rows[ANN]["disk"]
    assert rows[ANN]["memory"].endswith("/ 512.0 MiB") and rows[ANN]["cpu"].endswith("/ 0.5")
    assert rows["us07"]["memory"] == "not running"
    assert out["nav"] and "Stale image volumes" in out["stale"]
    # A user is not an admin: 403.
    ann = HubUser(us, ANN).login()
    assert ann.session.get(f"{us.url}/hub/usage", timeout=30).status_code == 403


def test_the_command_and_the_metrics_say_the_same(us):
    r = docker("exec", us.container("hub"), "pyiron-hub", "usage")
    lines = {line.split()[0]: line for line in r.stdout.splitlines() if line.strip()}
    assert "1.0 MiB" in lines["us07"] and "above the soft limit" in lines[ANN]
    assert STALE in r.stdout  # named among the stale image volumes (removal: `usage --remove-stale`)
    print(r.stdout.splitlines()[-1])  # how long the 50-user measurement took
    token = docker("exec", us.container("hub"), "cat", "/srv/jupyterhub/data/metrics_token").stdout.strip()
    text = requests.get(f"{us.url}/hub/metrics", headers={"Authorization": f"token {token}"}, timeout=30).text
    assert 'pyiron_hub_user_storage_bytes{user="us07",volume="home"} 1.048576e+06' in text
    assert f'pyiron_hub_user_memory_limit_bytes{{user="{ANN}"}} 5.36870912e+08' in text
    assert "pyiron_hub_users_over_storage_soft_limit 1.0" in text
