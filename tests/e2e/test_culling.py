"""Culling on the real stack with the stock jupyterhub-idle-culler and short timeouts: idle
servers go, servers with work in them stay until it ends (a busy silent cell, a non-modal
pyiron job), MAX_SERVER_AGE stops even a busy one and its job is marked aborted at the next
start with a notice, and a server its memory limit killed says so.

One stack and one timeline, five users at once (a restart of the hub for MAX_SERVER_AGE alone
would cost more than the wait): MAX_SERVER_AGE is long enough that the servers culled for
idleness are gone well before it. The `timeline` fixture drives them and notes what it saw;
each test checks one part. Every wait is on a condition; the timeouts are the ones set here.
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
MAX_AGE = 210  # the busy cell's and the job's servers are culled for idleness by about 150 s
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


def kernel(user: HubUser, path: str, **kw) -> Kernel:
    """A kernel and its websocket; tried again when the proxy drops the handshake (a loaded machine)."""
    for attempt in range(3):
        try:
            return Kernel(user, path, **kw)
        except Exception:
            if attempt == 2:
                raise
            time.sleep(5)


def wait_all_culled(users, timeout: float) -> dict[str, float]:
    """When each user's server was seen gone (epoch seconds), polling them all every second."""
    gone, deadline = {}, time.monotonic() + timeout
    while len(gone) < len(users) and time.monotonic() < deadline:
        for user in users:
            if user.name not in gone and user.server() is None:
                gone[user.name] = time.time()
        time.sleep(1)
    assert len(gone) == len(users), f"still running after {timeout:.0f} s: {set(u.name for u in users) - set(gone)}"
    return gone


def notice(user: HubUser, element: str) -> str | None:
    page = BeautifulSoup(user.session.get(f"{user.stack.url}/hub/home", timeout=30).text, "html.parser")
    found = page.find(id=element)
    return " ".join(found.get_text().split()) if found else None


@pytest.fixture(scope="module")
def cull(images, tmp_path_factory):
    directory = tmp_path_factory.mktemp("cull")
    write_env_files(
        directory,
        (*USERS, "admin"),
        IDLE_TIMEOUT=str(IDLE_TIMEOUT),
        IDLE_CULL_EVERY=str(CULL_EVERY),
        MAX_SERVER_AGE=str(MAX_AGE),
        USAGE_REFRESH_SECONDS="10",
    )
    s = Stack(directory, images, project=PROJECT, network=NETWORK, users=USERS)
    remove_user_containers_and_volumes(USERS)
    s.compose("down", "-v", "--remove-orphans", check=False)
    s.up()
    yield s
    remove_user_containers_and_volumes(USERS)
    s.compose("down", "-v", "--remove-orphans", check=False)


@pytest.fixture(scope="module")
def timeline(cull):
    """Start the five users' work, wait until every server is gone, and note what was seen."""
    seen = {}
    users = {name: HubUser(cull, name).login() for name in USERS}
    age, busy, job, idle, mem = (users[n] for n in ("cage", "cbusy", "cjob", "cidle", "cmem"))
    seen["users"] = users

    # cage: a pyiron job of 600 s, cut short by MAX_SERVER_AGE.
    seen["age_server"] = age.start(environment="pyiron_base")
    age_kernel = kernel(age, "age.ipynb")  # kept open: its job is the kernel's child
    seen["age_job"] = age_kernel.run(SLOW_JOB % 600, timeout=120)
    seen["stops_at_notice"] = notice(age, "server-stops-at")

    def warned():
        # In the last half of its (short) age, a cell in another notebook says how long is left
        # (the job's kernel stays). Beside the other users' starts, which may take long.
        while time.time() - started(seen["age_server"]) < MAX_AGE / 2 + 1:
            time.sleep(1)
        try:
            with kernel(age, "warned.ipynb") as notebook:
                notebook.run("1")
                seen["age_warning"] = list(notebook.stderr)
        except Exception as err:
            seen["age_warning"] = [f"{type(err).__name__}: {err}"]

    warning = threading.Thread(target=warned)
    warning.start()

    # cbusy: a silent cell longer than the idle timeout.
    seen["busy_server"] = busy.start(environment="pyiron_base")
    busy_kernel = kernel(busy, "busy.ipynb", timeout=WORK + 60)
    cell = seen["cell"] = {}

    def silent_cell():
        cell["out"] = busy_kernel.run(f"import time\ntime.sleep({WORK})\nprint('cell done')")
        cell["ended"] = time.time()

    thread = threading.Thread(target=silent_cell)
    thread.start()

    # cjob: a non-modal pyiron job longer than the idle timeout. The browser goes away; the
    # kernel stays, idle (shut down, its process group, the job's too, would be killed).
    seen["job_server"] = job.start(environment="pyiron_base")
    job_kernel = kernel(job, "job.ipynb")
    seen["job_out"] = job_kernel.run(SLOW_JOB % WORK, timeout=120)
    seen["job_started"] = time.time()
    job_kernel.ws.close()

    # cidle: nothing.
    seen["idle_server"] = idle.start(environment="pyiron_base")

    warning.join(MAX_AGE)
    age_kernel.ws.close()

    # cmem: its server over its memory limit.
    mem.start(environment="pyiron_base")
    killed = kernel(mem, "mem.ipynb", timeout=120)
    try:
        seen["mem_out"] = killed.run(OVER_THE_LIMIT, timeout=120)
    except Exception as err:  # the server dies under the kernel: its websocket closes
        seen["mem_out"] = f"{type(err).__name__}: {err}"
    time.sleep(2)
    seen["mem_state"] = docker("inspect", "--format", "{{json .State}}", "jupyter-cmem", check=False).stdout

    seen["gone"] = wait_all_culled(list(users.values()), MAX_AGE + LATE + 120)
    thread.join(60)
    busy_kernel.ws.close()
    return seen


def test_an_idle_server_is_culled(timeline):
    assert timeline["gone"]["cidle"] - started(timeline["idle_server"]) >= IDLE_TIMEOUT
    assert notice(timeline["users"]["cidle"], "last-stop") is None  # nothing lost, nothing to say


def test_a_busy_silent_cell_keeps_its_server_until_it_ends_then_it_is_culled(timeline):
    cell, gone = timeline["cell"], timeline["gone"]["cbusy"]
    assert cell.get("out", "").strip() == "cell done", cell  # the server lived through the whole cell
    # ... longer than the idle timeout and the time the culler needs ...
    assert cell["ended"] - started(timeline["busy_server"]) > IDLE_TIMEOUT + LATE
    # ... and was culled once the cell ended and it was idle for IDLE_TIMEOUT.
    assert IDLE_TIMEOUT - CULL_EVERY <= gone - cell["ended"] <= IDLE_TIMEOUT + LATE + 10, (gone, cell)
    assert gone - started(timeline["busy_server"]) < MAX_AGE
    assert notice(timeline["users"]["cbusy"], "last-stop") is None


def test_a_running_pyiron_job_keeps_its_server_until_it_ends_then_it_is_culled(timeline):
    assert "STARTED" in timeline["job_out"], timeline["job_out"]
    took = timeline["gone"]["cjob"] - timeline["job_started"]
    # Kept while the job ran (without it the server would have gone IDLE_TIMEOUT after its
    # start), culled once it ended.
    assert WORK <= took <= WORK + IDLE_TIMEOUT + LATE + 10, took
    assert timeline["gone"]["cjob"] - started(timeline["job_server"]) < MAX_AGE
    assert notice(timeline["users"]["cjob"], "last-stop") is None


def test_max_age_stops_a_busy_server_said_before_on_the_home_page_and_in_the_notebook(timeline):
    assert "STARTED" in timeline["age_job"], timeline["age_job"]
    assert "yours will be stopped at" in (timeline["stops_at_notice"] or ""), timeline["stops_at_notice"]
    assert any("this server will be stopped in" in line for line in timeline["age_warning"]), timeline["age_warning"]
    # Its job kept it past IDLE_TIMEOUT, up to the bound.
    assert timeline["gone"]["cage"] - started(timeline["age_server"]) >= MAX_AGE
    said = notice(timeline["users"]["cage"], "last-stop")
    assert said and "had run for 3 min 30 s, the longest this hub lets a server run" in said, said
    assert "/cull/slow_" in said and "(id 1)" in said, said


def test_at_the_next_start_its_job_is_aborted_and_the_notebook_says_which_and_why(timeline):
    age = timeline["users"]["cage"]
    age.start(environment="pyiron_base")
    with kernel(age, "age.ipynb") as again:
        rows = json.loads(again.run(TABLE).split("TABLE ", 1)[1].splitlines()[0])
        told = "".join(again.stderr)
    age.stop()
    assert [(r["job"].split("_")[0], r["status"]) for r in rows] == [("slow", "aborted")], rows
    assert "your previous server was stopped at" in told and "had run for 3 min 30 s" in told, told
    assert "are now marked aborted in your job table:" in told and "/cull/slow_" in told, told


def test_a_server_killed_by_its_memory_limit_says_why_and_is_counted(cull, timeline):
    mem = timeline["users"]["cmem"]
    said = notice(mem, "last-stop")
    hub_log = [
        line for line in docker("logs", cull.container("hub"), check=False).stderr.splitlines() if "cmem" in line
    ]
    assert said and "it reached its memory limit of 512M" in said, (
        said,
        timeline["mem_out"],
        timeline["mem_state"],
        hub_log[-30:],
    )
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
