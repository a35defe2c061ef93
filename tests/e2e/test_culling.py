"""Culling on the real stack with the stock jupyterhub-idle-culler and short timeouts: idle
servers go, servers with work in them stay until it ends (a busy silent cell, a non-modal
pyiron job), MAX_SERVER_AGE stops even a busy one and its job is marked aborted at the next
start with a notice, and a server its memory limit killed says so.

One stack. The first phase runs three users at once (idle, busy cell, pyiron job); the
second restarts the hub with MAX_SERVER_AGE and runs the maximum age and the memory limit
at once. Every wait is on a condition; the timeouts are the ones configured here.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
from datetime import datetime

import pytest
import requests
from bs4 import BeautifulSoup

from .conftest import HubUser, Stack, docker, remove_user_containers_and_volumes, write_env_files
from .jupyter import Kernel

PROJECT = "pyironhubcull"
NETWORK = "pyiron-hub-cull-users"
USERS = ("cidle", "cbusy", "cjob", "cage", "cmem")
IDLE_TIMEOUT = 30
CULL_EVERY = 5
MAX_AGE = 60
WORK = 75  # seconds of work: well past IDLE_TIMEOUT (and the idle server's cull)
# Culled this long after its time at the latest: the culler's interval, the watcher's
# (IDLE_TIMEOUT / 6 = 5 s), and a loaded machine's slack.
LATE = CULL_EVERY + 5 + 25

SLOW_JOB = textwrap.dedent("""
    from pyiron_base import Project

    def slow(seconds):
        import time
        time.sleep(seconds)
        return seconds

    pr = Project("cull")
    job = pr.wrap_python_function(slow, job_name="slow")
    job.input["seconds"] = %d
    job.server.run_mode.non_modal = True
    job.run()
    print("STARTED", job.job_id, job.status)
""")
TABLE = textwrap.dedent("""
    from pyiron_base import Project
    print("TABLE", Project("cull").job_table()[["job", "status"]].to_json(orient="records"))
""")
# The Jupyter server is the kernel's parent: made the OOM killer's first choice (a process may
# raise its own score), it is what the memory limit kills, as a server whose own memory grew.
OVER_THE_LIMIT = textwrap.dedent("""
    import os
    with open("/proc/%d/oom_score_adj" % os.getppid(), "w") as f:
        f.write("1000")
    blocks = []
    for _ in range(64):
        blocks.append(b"x" * (16 << 20))
""")


def started(server: dict) -> float:
    return datetime.fromisoformat(server["started"].replace("Z", "+00:00")).timestamp()


def wait_culled(user: HubUser, timeout: float) -> float:
    """When the user's server was gone (epoch seconds), waiting at most timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if user.server() is None:
            return time.time()
        time.sleep(1)
    raise AssertionError(f"{user.name}'s server still runs after {timeout:.0f} s: {user.server()}; its log:\n"
                         + docker("logs", "--tail", "30", f"jupyter-{user.name}", check=False).stderr)


def notice(user: HubUser, element: str) -> str | None:
    page = BeautifulSoup(user.session.get(f"{user.stack.url}/hub/home", timeout=30).text, "html.parser")
    found = page.find(id=element)
    return " ".join(found.get_text().split()) if found else None


@pytest.fixture(scope="module")
def cull(images, tmp_path_factory):
    directory = tmp_path_factory.mktemp("cull")
    write_env_files(directory, (*USERS, "admin"), IDLE_TIMEOUT=str(IDLE_TIMEOUT), IDLE_CULL_EVERY=str(CULL_EVERY),
                    USAGE_REFRESH_SECONDS="10")
    s = Stack(directory, images, project=PROJECT, network=NETWORK, users=USERS)
    remove_user_containers_and_volumes(USERS)
    s.compose("down", "-v", "--remove-orphans", check=False)
    s.up()
    yield s
    remove_user_containers_and_volumes(USERS)
    s.compose("down", "-v", "--remove-orphans", check=False)


def test_idle_servers_are_culled_and_working_ones_kept_until_their_work_ends(cull):
    busy, job, idle = (HubUser(cull, name).login() for name in ("cbusy", "cjob", "cidle"))
    busy_server = busy.start(environment="pyiron_base")
    busy_kernel = Kernel(busy, "busy.ipynb", timeout=WORK + 60)
    cell = {}

    def silent_cell():
        began = time.time()
        cell["out"] = busy_kernel.run(f"import time\ntime.sleep({WORK})\nprint('cell done')")
        cell["began"], cell["ended"] = began, time.time()

    thread = threading.Thread(target=silent_cell)
    thread.start()

    job_server = job.start(environment="pyiron_base")
    job_kernel = Kernel(job, "job.ipynb")
    out = job_kernel.run(SLOW_JOB % WORK, timeout=120)
    job_started = time.time()
    assert "STARTED" in out, out
    # The browser goes away; the kernel stays, idle, and its job runs on. (Not shut down: the
    # kernel's process group, the job's too, would be killed with it.)
    job_kernel.ws.close()

    idle_server = idle.start(environment="pyiron_base")
    idle_gone = wait_culled(idle, IDLE_TIMEOUT + LATE + 30)
    assert idle_gone - started(idle_server) >= IDLE_TIMEOUT
    # Meanwhile the other two, older, are kept.
    assert busy.server() is not None and job.server() is not None

    thread.join(WORK + 60)
    assert cell.get("out", "").strip() == "cell done", cell  # the server lived through the whole cell
    assert cell["ended"] - started(busy_server) > IDLE_TIMEOUT + LATE
    busy_gone = wait_culled(busy, IDLE_TIMEOUT + LATE + 30)
    assert busy_gone - cell["ended"] >= IDLE_TIMEOUT - CULL_EVERY, (busy_gone, cell)
    busy_kernel.ws.close()

    job_gone = wait_culled(job, WORK + IDLE_TIMEOUT + LATE + 30)
    # Kept while the job ran (without it the server would have gone IDLE_TIMEOUT after its start) ...
    assert job_gone - job_started >= WORK, (job_gone - job_started, started(job_server))
    # ... and culled once it ended and the server was idle for IDLE_TIMEOUT.
    assert job_gone - job_started <= WORK + IDLE_TIMEOUT + LATE + 10
    # The idle culler's stop says no work was lost.
    assert notice(job, "last-stop") is None and notice(busy, "last-stop") is None


def test_max_age_stops_a_busy_server_and_the_memory_limit_says_why(cull):
    env_file = cull.dir / "pyiron.env"
    env_file.write_text(env_file.read_text() + f"MAX_SERVER_AGE='{MAX_AGE}'\n")
    cull.up()  # the hub again, with the maximum age
    age, mem = HubUser(cull, "cage").login(), HubUser(cull, "cmem").login()

    server = age.start(environment="pyiron_base")
    kernel = Kernel(age, "age.ipynb")  # kept open: the job is its child
    out = kernel.run(SLOW_JOB % 600, timeout=120)
    assert "STARTED" in out, out
    # The home page says when the server will be stopped ...
    assert "yours will be stopped at" in notice(age, "server-stops-at")
    # ... and, in the last half of a short age, so does the next cell run.
    while time.time() - started(server) < MAX_AGE / 2 + 1:
        time.sleep(1)
    kernel.run("1")
    assert any("this server will be stopped in" in line for line in kernel.stderr), kernel.stderr
    kernel.ws.close()

    # Meanwhile the memory limit stops another user's server.
    mem.start(environment="pyiron_base")
    killed = Kernel(mem, "mem.ipynb", timeout=120)
    try:
        out = killed.run(OVER_THE_LIMIT, timeout=120)
    except Exception as err:  # the server dies under the kernel: its websocket closes
        out = f"{type(err).__name__}: {err}"

    gone = wait_culled(age, MAX_AGE + LATE + 30)
    assert gone - started(server) >= MAX_AGE  # its job kept it past IDLE_TIMEOUT, up to the bound
    said = notice(age, "last-stop")
    assert said and "had run for 60 s, the longest this hub lets a server run" in said, said
    assert "cull/slow (id 1)" in said or "slow (id 1)" in said, said

    # At the next start the job that ran in it is aborted, and the first cell says so.
    age.start(environment="pyiron_base")
    with Kernel(age, "age.ipynb") as kernel:
        rows = json.loads(kernel.run(TABLE).split("TABLE ", 1)[1].splitlines()[0])
        told = "".join(kernel.stderr)
    assert rows == [{"job": "slow", "status": "aborted"}], rows
    assert "your previous server was stopped at" in told and "had run for 60 s" in told, told
    assert "are now marked aborted in your job table:" in told and "slow (id 1)" in told, told
    age.stop()

    # The hub's poll finds the killed server; the home page says why.
    deadline = time.monotonic() + 120
    while mem.server() is not None and time.monotonic() < deadline:
        time.sleep(1)
    said = notice(mem, "last-stop")
    assert said and "it reached its memory limit of 512M" in said, (said, out)

    # Counted per user, on the usage page and /hub/metrics.
    admin = HubUser(cull, "admin").login()
    deadline = time.monotonic() + 60
    while True:
        page = BeautifulSoup(admin.session.get(f"{cull.url}/hub/usage", timeout=30).text, "html.parser")
        row = page.find("tr", attrs={"data-user": "cmem"})
        if row is not None or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert row is not None and row.find(class_="memory-kills").get_text().strip() == "1", page.text[:2000]
    token = docker("exec", cull.container("hub"), "cat", "/srv/jupyterhub/data/metrics_token").stdout.strip()
    metrics = requests.get(f"{cull.url}/hub/metrics", headers={"Authorization": f"token {token}"}, timeout=30).text
    assert 'pyiron_hub_server_memory_kills_total{user="cmem"} 1.0' in metrics
