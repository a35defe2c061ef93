"""Two environments at once: named servers, each its own server, all with the same home."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest
from traitlets.config import Config

from pyiron_hub_config import configure
from pyiron_hub_config.boot_shared import LIVE_HOSTS_VARIABLE, work_status_name
from pyiron_hub_config.in_user_container import boot
from pyiron_hub_config.problems import ConfigError
from pyiron_hub_config.settings import load_settings
from pyiron_hub_config.spawner import PyironSpawner
from pyiron_hub_config.storage import user_volumes
from pyiron_hub_config.usage import measure, user_of_container

from .helpers import MINIMAL_ENV, pyiron_job_table, with_env


def configured(**changes) -> Config:
    c = Config()
    configure(c, with_env(MINIMAL_ENV, **changes))
    return c


def test_named_servers_are_off_by_default():
    c = configured()
    assert c.JupyterHub.allow_named_servers is False


def test_named_server_limit_allows_that_many_besides_the_default():
    c = configured(NAMED_SERVER_LIMIT="1")
    assert c.JupyterHub.allow_named_servers is True and c.JupyterHub.named_server_limit_per_user == 1
    # Volume names follow the user, not the server: every server of a user has the same home.
    assert all("{servername}" not in name for name in c.PyironSpawner.volumes)
    assert c.PyironSpawner.volumes == user_volumes()


def test_each_named_server_is_a_container_and_network_of_its_own():
    c = configured(NAMED_SERVER_LIMIT="1")
    user = SimpleNamespace(name="alice", id=1, spawners={})
    default = PyironSpawner(config=c, user=user, orm_spawner=SimpleNamespace(name="", server=None))
    md = PyironSpawner(config=c, user=user, orm_spawner=SimpleNamespace(name="md", server=None))
    assert default.object_name == "jupyter-alice" and md.object_name == "jupyter-alice--md"
    assert default.user_network != md.user_network


@pytest.mark.parametrize("value", ["-1", "11", "two"])
def test_a_bad_named_server_limit_is_reported(value):
    with pytest.raises(ConfigError) as info:
        load_settings(with_env(MINIMAL_ENV, NAMED_SERVER_LIMIT=value), check_paths=False)
    assert "NAMED_SERVER_LIMIT" in str(info.value)


def test_named_servers_are_refused_on_a_swarm():
    with pytest.raises(ConfigError) as info:
        load_settings(with_env(MINIMAL_ENV, NAMED_SERVER_LIMIT="1", SPAWNER="swarm"), check_paths=False)
    assert [p.where for p in info.value.problems] == ["NAMED_SERVER_LIMIT"]


def test_the_watchers_file_is_one_per_server():
    assert work_status_name("") == "work.json" and work_status_name("md") == "work-md.json"


def test_a_start_names_the_hosts_of_the_users_other_running_servers(monkeypatch):
    c = configured(NAMED_SERVER_LIMIT="1")
    user = SimpleNamespace(name="alice", id=1, spawners={})
    default = PyironSpawner(config=c, user=user, orm_spawner=SimpleNamespace(name="", server=None))
    md = PyironSpawner(config=c, user=user, orm_spawner=SimpleNamespace(name="md", server=None))
    stopped = PyironSpawner(config=c, user=user, orm_spawner=SimpleNamespace(name="old", server=None))
    user.spawners.update({"": default, "md": md, "old": stopped})
    default.object_id = "0123456789abcdef0123"
    # Running: what JupyterHub's Spawner.active says from its server record, absent here.
    monkeypatch.setattr(PyironSpawner, "active", property(lambda self: bool(self.container_id)))
    assert md.live_hosts() == ["0123456789ab"]
    assert md.work_environment()[LIVE_HOSTS_VARIABLE] == "0123456789ab"
    assert default.live_hosts() == []  # itself never counts


@pytest.fixture
def shared_jobs(tmp_path):
    return pyiron_job_table(
        tmp_path / "pyiron.db",
        [
            (1, "/home/jovyan/p/", "in_md", "running", "pyiron@mdhost#1"),
            (2, "/home/jovyan/p/", "in_stopped", "running", "pyiron@gonehost#1"),
        ],
    )


def test_a_second_server_leaves_the_jobs_of_the_first_running(shared_jobs):
    assert boot.abort_jobs_of_stopped_servers(shared_jobs, "newhost", ["mdhost"]) == [
        "/home/jovyan/p/in_stopped (id 2)"
    ]
    with sqlite3.connect(shared_jobs[0]) as db:
        assert dict(db.execute("SELECT id, status FROM jobs_pyiron")) == {1: "running", 2: "aborted"}


def test_the_boot_step_reads_the_live_hosts_from_its_environment(shared_jobs, tmp_path):
    environ = {LIVE_HOSTS_VARIABLE: "mdhost,otherhost", "PYIRONSQLFILE": shared_jobs[0]}
    assert boot.after_last_stop(str(tmp_path), environ, "newhost").startswith("1 jobs marked aborted")


class _Container:
    def __init__(self, name, memory, limit):
        self.name, self._memory = name, memory
        self.attrs = {"HostConfig": {"Memory": limit, "CpuQuota": 100000, "CpuPeriod": 100000}}

    def stats(self, stream=False):
        return {"memory_stats": {"usage": self._memory, "stats": {}}, "cpu_stats": {}, "precpu_stats": {}}


class _Client:
    def __init__(self, containers):
        self.containers = SimpleNamespace(list=lambda filters: containers)
        self.images = SimpleNamespace(get=lambda ref: SimpleNamespace(id="x"))

    def df(self):
        return {"Volumes": []}


def test_usage_adds_up_a_users_servers():
    assert user_of_container("demo-jupyter-ann--md", "demo-jupyter") == "ann"
    client = _Client([_Container("jupyter-ann", 100, 1000), _Container("jupyter-ann--md", 50, 2000)])
    ann = measure(client, None, [], "jupyter").users["ann"]
    assert (ann.memory, ann.memory_limit, ann.cpu_limit) == (150, 3000, 2.0)
