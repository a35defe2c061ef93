"""Culling: the culler's options, the server's own watcher (boot.py), and what a stop leaves behind."""

from __future__ import annotations

import io
import json
import sqlite3
import tarfile
import threading
import time
from datetime import UTC
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest
from traitlets.config import Config

from pyiron_hub_config import configure, server_stops
from pyiron_hub_config import spawner as spawner_module
from pyiron_hub_config.in_user_container import boot
from pyiron_hub_config.server_stops import (
    EXITED,
    HUB,
    MAX_AGE,
    MEMORY,
    REQUESTED,
    MemoryKillsCollector,
    count_memory_kill,
    format_duration,
    memory_kills,
    notable,
    server_notice,
    stop_kind,
    stop_record,
    stop_text,
    stop_warning,
)
from pyiron_hub_config.spawner import PyironSpawner
from pyiron_hub_config.ssh_keys import work_from_archive

from .helpers import pyiron_job_table, with_env


# --- the culler's options -------------------------------------------------------------------------
@pytest.fixture
def configured(minimal_env):
    def run(**changes) -> Config:
        c = Config()
        configure(c, with_env(minimal_env, **changes))
        return c

    return run


def culler_command(c: Config) -> list[str] | None:
    found = [s for s in c.JupyterHub.services if s["name"] == "idle-culler"]
    return found[0]["command"][3:] if found else None


@pytest.mark.parametrize(
    "changes, arguments",
    [
        ({}, ["--timeout=3600"]),  # the culler's own --cull-every (half the timeout) and no --max-age
        ({"IDLE_TIMEOUT": "60", "IDLE_CULL_EVERY": "5"}, ["--timeout=60", "--cull-every=5"]),
        ({"MAX_SERVER_AGE": "28800"}, ["--timeout=3600", "--max-age=28800"]),
        ({"IDLE_TIMEOUT": "0", "MAX_SERVER_AGE": "28800"}, ["--timeout=28800", "--cull-every=600", "--max-age=28800"]),
        ({"IDLE_TIMEOUT": "0", "MAX_SERVER_AGE": "60"}, ["--timeout=60", "--cull-every=30", "--max-age=60"]),
        ({"IDLE_TIMEOUT": "0"}, None),
    ],
    ids=["default", "every", "max-age", "max-age-only", "short-max-age-only", "none"],
)
def test_culler_arguments(configured, changes, arguments):
    assert culler_command(configured(**changes)) == arguments


@pytest.mark.parametrize("timeout, every", [("3600", 300), ("60", 10), ("12", 5), ("0", 300), ("7200", 300)])
def test_servers_check_for_work_six_times_per_idle_timeout_within_5_to_300_s(configured, timeout, every):
    spawner = PyironSpawner(config=configured(IDLE_TIMEOUT=timeout), user=SimpleNamespace(name="alice"))
    assert spawner.activity_every == every


def test_spawner_gets_the_max_age_and_where_kills_are_counted(configured, minimal_env):
    spawner = PyironSpawner(config=configured(MAX_SERVER_AGE="600"), user=SimpleNamespace(name="alice"))
    assert spawner.max_age == 600
    assert spawner.memory_kills_file.endswith("/memory-kills.json")
    assert PyironSpawner(config=configured(), user=SimpleNamespace(name="alice")).max_age == 0


# --- what the spawner tells the boot step ---------------------------------------------------------
class Started:
    server = None  # what JupyterHub's Spawner reads when given an orm_spawner

    def __init__(self, epoch):
        from datetime import datetime

        self.started = datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)  # JupyterHub's naive UTC


def test_work_environment(configured):
    spawner = PyironSpawner(
        config=configured(MAX_SERVER_AGE="7200", IDLE_TIMEOUT="600"), user=SimpleNamespace(name="alice")
    )
    spawner.orm_spawner = Started(1_000_000)
    spawner.last_stop = stop_record(MEMORY, "it reached its memory limit of 512M", {"jobs": ["demo/a (id 1)"]}, at=5)
    env = spawner.work_environment()
    assert env[boot.ACTIVITY_EVERY_VARIABLE] == "100"
    assert env[boot.STOPS_AT_VARIABLE] == str(1_000_000 + 7200)
    assert env[boot.STOP_WARNING_VARIABLE] == "3600"
    assert json.loads(env[boot.LAST_STOP_VARIABLE]) == {
        "at": 5,
        "text": "it reached its memory limit of 512M",
        "kind": MEMORY,
        "jobs": ["demo/a (id 1)"],
    }


def test_work_environment_without_max_age_or_a_last_stop(configured):
    spawner = PyironSpawner(config=configured(), user=SimpleNamespace(name="alice"))
    spawner.orm_spawner = Started(1_000_000)
    assert spawner.work_environment() == {boot.ACTIVITY_EVERY_VARIABLE: "300"}


def test_the_last_stop_is_kept_in_the_state_across_stops(configured):
    spawner = PyironSpawner(config=configured(), user=SimpleNamespace(name="alice"))
    spawner.last_stop = stop_record(MAX_AGE, "x", None, at=1)
    spawner.clear_state()
    state = spawner.get_state()
    again = PyironSpawner(config=configured(), user=SimpleNamespace(name="alice"))
    again.load_state(state)
    assert again.last_stop == spawner.last_stop


# --- why a server stopped -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "state, api, age, max_age, kind",
    [
        ({"Running": False, "OOMKilled": True, "ExitCode": 137}, False, 50, 0, MEMORY),
        ({"Running": False, "OOMKilled": True, "ExitCode": 0}, False, 50, 0, EXITED),  # a kernel was killed earlier
        ({"Running": False, "OOMKilled": False, "ExitCode": 143}, False, 50, 0, EXITED),
        ({"Running": True}, True, 100, 100, MAX_AGE),
        ({"Running": True}, True, 99, 100, REQUESTED),
        ({"Running": True}, False, 10, 0, HUB),
        (None, True, 10, 0, REQUESTED),
    ],
)
def test_stop_kind(state, api, age, max_age, kind):
    assert stop_kind(state, api, age, max_age) == kind


def inspecting(*states):
    """A spawner whose engine answers `states` in turn to inspect_container (the last one again)."""
    answers, reads = list(states), []

    async def docker(method, container_id):
        assert method == "inspect_container"
        reads.append(container_id)
        return {"State": answers.pop(0) if len(answers) > 1 else answers[0]}

    return SimpleNamespace(docker=docker, reads=reads)


@pytest.fixture
def no_waiting(monkeypatch):
    async def sleep(seconds):
        pass

    monkeypatch.setattr(spawner_module.asyncio, "sleep", sleep)


async def test_a_sigkill_exit_is_read_again_until_the_engine_marks_the_oom(no_waiting):
    # The engine handles the exit and the OOM apart: a 137 read before the OOM is marked.
    engine = inspecting({"ExitCode": 137, "OOMKilled": False}, {"ExitCode": 137, "OOMKilled": True})
    container = await PyironSpawner._inspect_ended(engine, "c", api_request=False)
    assert container["State"]["OOMKilled"]


@pytest.mark.parametrize(
    "state, api, reads",
    [
        ({"ExitCode": 137, "OOMKilled": False}, True, 1),  # a stop asked for: its SIGKILL is not an OOM
        ({"ExitCode": 143, "OOMKilled": False}, False, 1),  # not a SIGKILL
        ({"Running": True}, False, 1),  # the hub stops a running server
        ({"ExitCode": 137, "OOMKilled": False}, False, spawner_module.OOM_READS),  # then taken as it is
    ],
)
async def test_other_ends_are_read_once(no_waiting, state, api, reads):
    engine = inspecting(state)
    container = await PyironSpawner._inspect_ended(engine, "c", api_request=api)
    assert container["State"] == state
    assert len(engine.reads) == reads


def test_stop_texts():
    assert stop_text(MEMORY, 4 * 1024**3) == "it reached its memory limit of 4G"
    assert stop_text(MAX_AGE, max_age=28800) == "it had run for 8 h, the longest this hub lets a server run"
    assert "exit status 143" in stop_text(EXITED, exit_code=143)
    assert "Docker engine" in stop_text(EXITED)
    assert "hub stopped" in stop_text(HUB)
    assert "by you or an admin" in stop_text(REQUESTED)


@pytest.mark.parametrize(
    "seconds, text",
    [
        (45, "45 s"),
        (119, "119 s"),
        (300, "5 min"),
        (3600, "1 h"),
        (5400, "1 h 30 min"),
        (28800, "8 h"),
        (-3, "0 s"),
        (210, "3 min 30 s"),
        (725, "12 min"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_stop_warning_is_an_hour_or_half_a_short_age():
    assert (stop_warning(28800), stop_warning(3600), stop_warning(60)) == (3600, 1800, 30)


@pytest.mark.parametrize(
    "record, shown",
    [
        (None, False),
        (stop_record(REQUESTED, "t", None), False),  # the user's own stop of an idle server
        (stop_record(REQUESTED, "t", {"jobs": ["a (id 1)"]}), True),
        (stop_record(REQUESTED, "t", {"busy_kernels": 1}), True),
        (stop_record(HUB, "t", None), False),
        (stop_record(MEMORY, "t", None), True),
        (stop_record(MAX_AGE, "t", None), True),
        (stop_record(EXITED, "t", None), True),
    ],
)
def test_notable(record, shown):
    assert notable(record) is shown


def test_memory_kills_are_counted_per_user_in_a_file(tmp_path):
    path = tmp_path / "memory-kills.json"
    assert memory_kills(path) == {}
    assert [count_memory_kill(path, "ann"), count_memory_kill(path, "ann"), count_memory_kill(path, "bob")] == [1, 2, 1]
    assert memory_kills(path) == {"ann": 2, "bob": 1}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    (family,) = MemoryKillsCollector(path).collect()
    assert family.name == "pyiron_hub_server_memory_kills" and family.type == "counter"
    assert {s.labels["user"]: s.value for s in family.samples if s.name.endswith("_total")} == {"ann": 2, "bob": 1}


def test_a_damaged_kills_file_counts_nothing(tmp_path):
    (tmp_path / "k.json").write_text("[1, 2")
    assert memory_kills(tmp_path / "k.json") == {} and memory_kills(None) == {}


def fake_user(record=None, active=False, started=None):
    orm = Started(started) if started is not None else SimpleNamespace(started=None)
    return SimpleNamespace(spawner=SimpleNamespace(last_stop=record, active=active, orm_spawner=orm))


def test_server_notice_for_the_home_page():
    record = stop_record(MEMORY, "it reached its memory limit of 512M", {"jobs": ["demo/long (id 3)"]}, at=0)
    notice = server_notice(0)(fake_user(record))
    assert notice == {
        "last_stop": {
            "at": "1970-01-01 00:00 UTC",
            "why": "it reached its memory limit of 512M",
            "jobs": ["demo/long (id 3)"],
            "busy_kernels": 0,
        }
    }
    assert server_notice(0)(fake_user(stop_record(REQUESTED, "t", None))) is None
    assert server_notice(0)(None) is None


def test_server_notice_says_when_a_running_server_will_be_stopped():
    now = 1_000_000
    notice = server_notice(7200, now=lambda: now)(fake_user(active=True, started=now - 6000))
    assert notice == {"stops_at": {"at": "1970-01-12 14:06 UTC", "left": "20 min", "soon": True, "max_age": "2 h"}}
    early = server_notice(7200, now=lambda: now)(fake_user(active=True, started=now - 60))
    assert early["stops_at"]["soon"] is False and early["stops_at"]["left"] == "1 h 59 min"
    assert server_notice(7200)(fake_user(active=False, started=now)) is None


def test_the_home_page_shows_both(tmp_path):
    from bs4 import BeautifulSoup
    from jinja2 import Environment, FileSystemLoader

    from pyiron_hub_config.apply import PARTIAL_TEMPLATES

    template = Environment(loader=FileSystemLoader(str(PARTIAL_TEMPLATES)), autoescape=True).get_template(
        "pyiron_server_notice.html"
    )
    record = stop_record(MAX_AGE, "it had run for 1 h, <b>", {"jobs": ["demo/long (id 3)"], "busy_kernels": 1}, at=0)
    page = BeautifulSoup(
        template.render(server_notice=server_notice(3600, now=lambda: 100)(fake_user(record, active=True, started=0))),
        "html.parser",
    )
    said = " ".join(page.find(id="last-stop").get_text().split())
    assert said.startswith("Your server was stopped at 1970-01-01 00:00 UTC: it had run for 1 h, <b>.")
    assert page.find(id="last-stop-jobs").get_text() == "demo/long (id 3)" and "1 notebook was running" in said
    assert page.find("b") is None  # escaped
    assert "yours will be stopped at 1970-01-01 01:00 UTC, in 58 min" in " ".join(
        page.find(id="server-stops-at").get_text().split()
    )


def test_work_from_archive():
    def archive(content: bytes) -> list[bytes]:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            info = tarfile.TarInfo("work.json")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        return [out.getvalue()]

    assert work_from_archive(archive(b'{"jobs": ["a (id 1)"], "busy_kernels": 0}'))["jobs"] == ["a (id 1)"]
    assert work_from_archive(archive(b"not json")) == {} and work_from_archive(archive(b"[1]")) == {}


# --- the watcher: what counts as work -------------------------------------------------------------
@pytest.mark.parametrize(
    "computer, parsed",
    [
        ("pyiron@3f2a9c1d#1", ("3f2a9c1d", False)),
        ("pyiron@3f2a9c1d#4#slurm", ("3f2a9c1d", True)),
        ("pyiron@3f2a9c1d#1#2/5", ("3f2a9c1d", False)),  # a master job counting its children
        ("pyiron@3f2a9c1d#1#3", ("3f2a9c1d", False)),
        (None, (None, False)),
        ("localhost", (None, False)),
    ],
)
def test_job_host(computer, parsed):
    assert boot.job_host(computer) == parsed


def test_job_database_as_pyiron_reads_its_settings(tmp_path):
    home = str(tmp_path)
    assert boot.job_database(home, {}) == (str(tmp_path / "pyiron.db"), "jobs_pyiron")
    hub = {"PYIRONSQLTYPE": "SQLite", "PYIRONSQLFILE": "/h/.pyiron_hub/db/pyiron_base-0.15.db"}
    assert boot.job_database(home, hub) == ("/h/.pyiron_hub/db/pyiron_base-0.15.db", "jobs_pyiron")
    assert boot.job_database(home, {"PYIRONSQLTYPE": "Postgres"}) is None
    assert boot.job_database(home, {"PYIRONDISABLE": "True"}) is None
    # Any PYIRON* setting: the file is not read at all (pyiron's rule), so its defaults hold.
    (tmp_path / ".pyiron").write_text("[DEFAULT]\nFILE = ~/jobs/my.db\nJOB_TABLE = mine\n")
    assert boot.job_database(home, {"PYIRONUSER": "me"}) == (str(tmp_path / "pyiron.db"), "jobs_pyiron")
    assert boot.job_database(home, {}) == (str(tmp_path / "jobs" / "my.db"), "mine")
    (tmp_path / ".pyiron").write_text("[DEFAULT]\nTYPE = Postgres\n")
    assert boot.job_database(home, {}) is None
    (tmp_path / "other").write_text("[DEFAULT]\nDISABLE_DATABASE = True\n")
    assert boot.job_database(home, {"PYIRONCONFIG": str(tmp_path / "other")}) is None


@pytest.fixture
def job_table(tmp_path):
    return pyiron_job_table(
        tmp_path / "pyiron.db",
        [
            (1, "/home/jovyan/demo/", "old_server", "running", "pyiron@oldhost#1"),
            (2, "/home/jovyan/demo/", "on_slurm", "running", "pyiron@oldhost#1#slurm"),
            (3, "/home/jovyan/demo/", "done", "finished", "pyiron@oldhost#1"),
            (4, "/home/jovyan/demo/", "here", "running", "pyiron@thishost#1"),
            (5, "/home/jovyan/demo/", "collecting", "collect", "pyiron@olderhost#2"),
            (6, "/home/jovyan/demo/", "new", "initialized", "pyiron@oldhost#1"),
        ],
    )


def statuses(database) -> dict[int, str]:
    db = sqlite3.connect(database[0])
    try:
        return dict(db.execute("SELECT id, status FROM jobs_pyiron").fetchall())
    finally:
        db.close()


def test_jobs_of_a_stopped_server_are_marked_aborted_and_cluster_jobs_are_not(job_table):
    aborted = boot.abort_jobs_of_stopped_servers(job_table, "thishost")
    assert aborted == ["/home/jovyan/demo/old_server (id 1)", "/home/jovyan/demo/collecting (id 5)"]
    assert statuses(job_table) == {
        1: "aborted",
        2: "running",
        3: "finished",
        4: "running",
        5: "aborted",
        6: "initialized",
    }
    assert boot.abort_jobs_of_stopped_servers(job_table, "thishost") == []


def test_no_job_table_yet(tmp_path):
    assert boot.jobs_in_progress((str(tmp_path / "none.db"), "jobs_pyiron")) == []
    sqlite3.connect(tmp_path / "empty.db").close()
    assert boot.jobs_in_progress((str(tmp_path / "empty.db"), "jobs_pyiron")) == []
    assert boot.abort_jobs_of_stopped_servers((str(tmp_path / "empty.db"), "jobs_pyiron"), "h") == []


@pytest.mark.parametrize(
    "busy, jobs, pids, cpu, reasons",
    [
        (0, [], 0, 0.0, []),
        (1, [], 0, 0.0, ["1 kernels busy"]),
        (0, ["demo/a (id 1)"], 2, 0.0, ["pyiron jobs running: demo/a (id 1)"]),
        (0, ["demo/a (id 1)"], 0, 0.0, []),  # the table says running, but its process is gone
        (0, [], 0, 0.5, ["0.50 CPUs in use"]),
        (0, [], 0, 0.05, []),  # an idle server's own noise
        (0, [], 0, None, []),
    ],
)
def test_work_reasons(busy, jobs, pids, cpu, reasons):
    assert boot.work_reasons(busy, jobs, pids, cpu) == reasons


def test_job_processes_leave_out_init_the_server_its_children_and_the_watcher():
    tree = {1: 0, 7: 1, 20: 7, 21: 7, 30: 20, 31: 30, 40: 1, 8: 7}  # server 7, kernels 20 21, watcher 8
    assert boot.job_processes(tree, server=7, watcher=8) == [30, 31, 40]
    assert boot.job_processes({1: 0, 7: 1, 20: 7, 8: 7}, server=7, watcher=8) == []


def test_processes_reads_this_machine():
    import os

    tree = boot.processes()
    assert tree[os.getpid()] == os.getppid()


@pytest.mark.parametrize(
    "url, local",
    [
        ("http://0.0.0.0:8888/user/ann/", "http://127.0.0.1:8888/user/ann/"),
        ("http://:8888/user/ann", "http://127.0.0.1:8888/user/ann/"),
        ("http://10.0.0.5:8888/user/ann/", "http://10.0.0.5:8888/user/ann/"),
        (None, None),
    ],
)
def test_local_url(url, local):
    assert boot.local_url({"JUPYTERHUB_SERVICE_URL": url} if url else {}) == local


def test_cpu_seconds_from_the_cgroup(tmp_path):
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 1\n")
    assert boot.cpu_seconds(str(tmp_path / "v2")) == 2.5
    (tmp_path / "v1" / "cpu,cpuacct").mkdir(parents=True)
    (tmp_path / "v1" / "cpu,cpuacct" / "cpuacct.usage").write_text("3000000000\n")
    assert boot.cpu_seconds(str(tmp_path / "v1")) == 3.0
    assert boot.cpu_seconds(str(tmp_path / "none")) >= 0  # the processes' own counts


class Hub(BaseHTTPRequestHandler):
    """A stand-in for the two HTTP ends the watcher talks to (the server's API, the hub's activity)."""

    seen: list = []
    kernels: list = []

    def do_GET(self):  # noqa: N802
        self.seen.append(("GET", self.path, self.headers.get("Authorization"), None))
        body = json.dumps(self.kernels).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(("POST", self.path, self.headers.get("Authorization"), json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def http():
    server = HTTPServer(("127.0.0.1", 0), Hub)
    Hub.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


def test_busy_kernels_are_asked_without_counting_as_activity(http):
    Hub.kernels = [{"execution_state": "busy"}, {"execution_state": "idle"}, {"execution_state": "busy"}]
    assert boot.busy_kernels(http + "user/ann/", "tok") == 2
    assert Hub.seen == [("GET", "/user/ann/api/kernels?no_track_activity=1", "token tok", None)]


def test_activity_is_reported_as_jupyterhub_singleuser_does(http):
    boot.report_activity(http + "hub/api/users/ann/activity", "tok", "", 0)
    assert Hub.seen == [
        (
            "POST",
            "/hub/api/users/ann/activity",
            "token tok",
            {
                "servers": {"": {"last_activity": "1970-01-01T00:00:00.000000Z"}},
                "last_activity": "1970-01-01T00:00:00.000000Z",
            },
        )
    ]


def test_look_at_work_finds_this_servers_jobs(job_table, tmp_path, http):
    import os

    Hub.kernels = [{"execution_state": "busy"}]
    env = {"PYIRONSQLTYPE": "SQLite", "PYIRONSQLFILE": job_table[0], "JUPYTERHUB_API_TOKEN": "tok"}
    work = boot.look_at_work(str(tmp_path), env, "thishost", os.getppid(), os.getpid(), 0.0, http)
    assert (
        work["busy_kernels"] == 1 and work["jobs"] == ["/home/jovyan/demo/here (id 4)"] and work["host"] == "thishost"
    )
    # Unreachable server: the jobs and CPU still count.
    work = boot.look_at_work(str(tmp_path), env, "thishost", os.getppid(), os.getpid(), 0.0, "http://127.0.0.1:9/")
    assert work["busy_kernels"] == 0 and work["jobs"] == ["/home/jovyan/demo/here (id 4)"]


# --- the next start: aborted jobs and the notebooks' notice ---------------------------------------
def test_after_last_stop_marks_jobs_and_leaves_a_notice(job_table, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PYIRONSQLTYPE": "SQLite",
        "PYIRONSQLFILE": job_table[0],
        boot.LAST_STOP_VARIABLE: json.dumps({"at": 0, "kind": "max_age", "text": "it had run for 8 h, the longest"}),
    }
    assert boot.after_last_stop(str(home), env, "thishost").startswith("2 jobs marked aborted: ")
    notice = json.loads((home / boot.LAST_STOP_NOTICE).read_text())
    assert notice["text"].startswith(
        "pyiron hub: your previous server was stopped at 1970-01-01 00:00 UTC: it had "
        "run for 8 h, the longest. These pyiron jobs were running in it and are now "
        "marked aborted in your job table: /home/jovyan/demo/old_server (id 1), "
    )
    assert (home / boot.NOTICES_STARTUP).read_text() == boot.NOTICES_STARTUP_TEXT
    # The next start with nothing to say removes both.
    assert boot.after_last_stop(str(home), {"PYIRONSQLFILE": job_table[0]}, "thishost") == "0 jobs marked aborted"
    assert not (home / boot.LAST_STOP_NOTICE).exists() and not (home / boot.NOTICES_STARTUP).exists()


def test_jobs_pyiron_aborted_itself_at_the_stop_are_named_too(job_table, tmp_path):
    db = sqlite3.connect(job_table[0])
    with db:
        db.execute("UPDATE jobs_pyiron SET status = 'aborted' WHERE id = 4")  # its SIGTERM handler
    db.close()
    env = {
        "PYIRONSQLTYPE": "SQLite",
        "PYIRONSQLFILE": job_table[0],
        boot.LAST_STOP_VARIABLE: json.dumps(
            {"at": 0, "kind": "max_age", "text": "t", "jobs": ["/home/jovyan/demo/here (id 4)", "/x/done (id 3)"]}
        ),
    }
    boot.after_last_stop(str(tmp_path), env, "thishost")
    text = json.loads((tmp_path / boot.LAST_STOP_NOTICE).read_text())["text"]
    assert text.endswith(
        "marked aborted in your job table: /home/jovyan/demo/old_server (id 1), "
        "/home/jovyan/demo/collecting (id 5), /home/jovyan/demo/here (id 4). Run them again with "
        "job.run(delete_existing_job=True)."
    )
    assert boot.job_status(job_table, "no id") is None and boot.job_status(job_table, "x (id 99)") is None


def test_last_stop_notice():
    assert boot.last_stop_notice(None, []) is None
    assert boot.last_stop_notice({"kind": "requested", "text": "t", "at": 0}, []) is None
    assert boot.last_stop_notice({"kind": "memory", "text": "it reached its memory limit of 4G", "at": 0}, []) == (
        "pyiron hub: your previous server was stopped at 1970-01-01 00:00 UTC: it reached its memory limit of 4G."
    )
    assert "are now marked aborted in your job table: a (id 1)." in boot.last_stop_notice(None, ["a (id 1)"])


class Events:
    def __init__(self):
        self.callbacks = []

    def register(self, event, callback):
        assert event == "pre_run_cell"
        self.callbacks.append(callback)


def run_startup(home, monkeypatch, capsys, **env):
    monkeypatch.setenv("HOME", str(home))
    for name in (boot.STOPS_AT_VARIABLE, boot.STOP_WARNING_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    events = Events()
    exec(boot.NOTICES_STARTUP_TEXT, {"get_ipython": lambda: SimpleNamespace(events=events)})
    (callback,) = events.callbacks

    def cell():
        callback(SimpleNamespace())
        return capsys.readouterr().err

    return cell


def test_the_notebooks_say_the_last_stop_once_per_kernel(tmp_path, monkeypatch, capsys):
    (tmp_path / ".pyiron_hub").mkdir()
    (tmp_path / boot.LAST_STOP_NOTICE).write_text(json.dumps({"text": "pyiron hub: your previous server ..."}))
    cell = run_startup(tmp_path, monkeypatch, capsys)
    assert cell() == "pyiron hub: your previous server ...\n"
    assert cell() == ""


def test_the_notebooks_say_the_time_left_from_the_warning_on(tmp_path, monkeypatch, capsys):
    stops_at = time.time() + 3000
    cell = run_startup(
        tmp_path,
        monkeypatch,
        capsys,
        **{boot.STOPS_AT_VARIABLE: str(int(stops_at)), boot.STOP_WARNING_VARIABLE: "3600"},
    )
    said = cell()
    assert said.startswith("pyiron hub: this server will be stopped in 49 min (at ") and "UTC)" in said
    assert cell() == ""  # once, until the last sixth of the warning time
    early = run_startup(
        tmp_path,
        monkeypatch,
        capsys,
        **{boot.STOPS_AT_VARIABLE: str(int(time.time() + 7000)), boot.STOP_WARNING_VARIABLE: "3600"},
    )
    assert early() == ""
    late = run_startup(
        tmp_path,
        monkeypatch,
        capsys,
        **{boot.STOPS_AT_VARIABLE: str(int(time.time() + 90)), boot.STOP_WARNING_VARIABLE: "3600"},
    )
    assert "stopped in 8" in late() and late() == ""


def test_the_boot_step_stays_python_38(tmp_path):
    import ast

    ast.parse(open(boot.__file__).read(), feature_version=(3, 8))
    ast.parse(boot.NOTICES_STARTUP_TEXT, feature_version=(3, 8))


def test_memory_kills_reach_the_usage_rows():
    from pyiron_hub_config.usage import Usage, UserUsage
    from pyiron_hub_config.usage_pages import rows

    usage = Usage(users={"ann": UserUsage("ann"), "bob": UserUsage("bob")})
    assert {r["name"]: r["memory_kills"] for r in rows(usage, None, {"ann": 2})} == {"ann": 2, "bob": 0}


def test_server_stops_names_are_what_boot_reads():
    # boot.py cannot import the hub's modules: the kinds it tells apart are spelled the same.
    assert {server_stops.MEMORY, server_stops.MAX_AGE, server_stops.EXITED} == {"memory", "max_age", "exited"}
