"""Group folders: ~/groups/<group> for the members of the groups GROUP_FOLDERS names, and no one else."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from concurrent.futures import Future
from types import SimpleNamespace

import pytest
from docker.errors import NotFound
from traitlets.config import Config

from pyiron_hub_config import configure
from pyiron_hub_config.backup import volumes_to_back_up
from pyiron_hub_config.group_folders import (
    _prepared,
    folder_groups,
    group_folder_mounts,
    group_mounts,
    prepare_group_volume,
)
from pyiron_hub_config.problems import ConfigError
from pyiron_hub_config.settings import load_settings
from pyiron_hub_config.spawner import PyironSpawner
from pyiron_hub_config.storage import group_folder, group_volume
from pyiron_hub_config.usage import usage_from_df

from .helpers import MINIMAL_ENV, with_env


def test_groups_by_name_or_pattern():
    assert folder_groups(["pyiron-research", "lab-*"], ["pyiron-users", "lab-b", "pyiron-research", "lab"]) == [
        "lab-b",
        "pyiron-research",
    ]
    assert folder_groups([], ["pyiron-research"]) == []


def test_volume_names_are_dockers_and_distinct():
    assert group_volume("pyiron-research", "demo") == "demo-jupyterhub-group-pyiron-research"
    assert group_volume("a b") != group_volume("a_b") and group_volume("a b") == "jupyterhub-group-a_20b"
    assert group_folder("/parent/child") == "parent-child"


def test_each_group_is_mounted_read_write_at_its_folder():
    assert group_mounts(["pyiron-research"], "demo") == {
        "demo-jupyterhub-group-pyiron-research": {"bind": "/home/jovyan/groups/pyiron-research", "mode": "rw"}
    }


def test_group_folders_are_refused_on_a_swarm():
    with pytest.raises(ConfigError) as info:
        load_settings(with_env(MINIMAL_ENV, GROUP_FOLDERS="x", SPAWNER="swarm"), check_paths=False)
    assert [p.where for p in info.value.problems] == ["GROUP_FOLDERS"]


def test_backups_and_usage_include_the_group_folders():
    names = ["demo-jupyterhub-home-ann", "demo-jupyterhub-group-pyiron-research", "other-jupyterhub-group-x"]
    assert volumes_to_back_up(names, "demo", "demo") == names[:2][::-1]
    df = {"Volumes": [{"Name": names[1], "UsageData": {"Size": 42}}, {"Name": names[0], "UsageData": {"Size": 7}}]}
    usage = usage_from_df(df, "demo", set())
    assert usage.groups == {names[1]: 42} and usage.users["ann"].home == 7


class FakeClient:
    base_url = "fake://engine"

    def __init__(self, volumes=()):
        self.volumes, self.archives, self.removed = set(volumes), [], []

    def inspect_volume(self, name):
        if name not in self.volumes:
            raise NotFound("no such volume")

    def create_volume(self, name, labels):
        self.volumes.add(name)

    def create_host_config(self, **kw):
        return kw

    def create_container(self, image, **kw):
        return {"Id": "writer"}

    def put_archive(self, container, path, data):
        self.archives.append((path, data))

    def remove_container(self, container, **kw):
        self.removed.append(container)


def test_a_new_group_volume_is_made_jovyans_and_setgid_once():
    _prepared.clear()
    client = FakeClient()
    prepare_group_volume(client, "img", "jupyterhub-group-g", "g")
    prepare_group_volume(client, "img", "jupyterhub-group-g", "g")  # once per hub process
    assert client.volumes == {"jupyterhub-group-g"} and client.removed == ["writer"]
    [(path, data)] = client.archives
    root = tarfile.open(fileobj=io.BytesIO(data)).next()
    assert path == "/" and root.name == "group" and root.isdir()
    assert (root.uid, root.mode) == (1000, 0o2775)


HOME = {"demo-jupyterhub-home-{username}": {"bind": "/home/jovyan", "mode": "rw"}}
OLD = {"demo-jupyterhub-group-gone": {"bind": "/home/jovyan/groups/gone", "mode": "rw"}}


def test_without_a_quota_the_groups_volumes_replace_an_earlier_starts():
    got = group_folder_mounts({**HOME, **OLD}, ["lab", "pyiron-research"], "demo")
    assert got.volumes == {
        **HOME,
        "demo-jupyterhub-group-lab": {"bind": "/home/jovyan/groups/lab", "mode": "rw"},
        "demo-jupyterhub-group-pyiron-research": {"bind": "/home/jovyan/groups/pyiron-research", "mode": "rw"},
    }
    assert got.mounts == [] and got.environment == {}
    assert group_folder_mounts({**HOME, **OLD}, [], "demo").volumes == HOME


def test_with_a_quota_each_group_is_its_bound_subvolume_and_the_server_is_told_the_limits():
    root = "/srv/pyiron-hub/quota"
    got = group_folder_mounts({**HOME, **OLD}, ["a.b", "lab"], "demo", root, {"a.b": 8 << 20, "lab": None})
    assert got.volumes == HOME  # no group volume, an earlier start's dropped
    assert got.mounts == [
        {"type": "bind", "source": f"{root}/_groups/jupyterhub-group-a_2eb/folder",
         "target": f"/home/jovyan/groups/{group_folder('a.b')}", "read_only": False},
        {"type": "bind", "source": f"{root}/_groups/jupyterhub-group-lab/folder",
         "target": "/home/jovyan/groups/lab", "read_only": False},
    ]  # fmt: skip
    assert json.loads(got.environment["PYIRON_HUB_GROUP_QUOTAS"]) == {group_folder("a.b"): "8M"}  # no limit, not shown
    assert group_folder_mounts(HOME, [], None, root).environment == {"PYIRON_HUB_GROUP_QUOTAS": "{}"}


def _spawner(groups, monkeypatch):
    c = Config()
    configure(c, with_env(MINIMAL_ENV, GROUP_FOLDERS="pyiron-research", DEPLOYMENT_NAME="demo"))
    user = SimpleNamespace(name="bob", groups=[SimpleNamespace(name=g) for g in groups])
    spawner = PyironSpawner(config=c, user=user)
    client = FakeClient()

    def submit(fn, *args):
        future = Future()
        future.set_result(fn(*args))
        return future

    # DockerSpawner's engine client and its threads, which this layer only hands the calls to.
    monkeypatch.setattr(PyironSpawner, "client", property(lambda self: client))
    monkeypatch.setattr(PyironSpawner, "executor", property(lambda self: SimpleNamespace(submit=submit)))
    return spawner


def test_a_member_gets_the_folder_and_loses_it_at_the_next_start_after_leaving(monkeypatch):
    _prepared.clear()
    spawner = _spawner(["pyiron-users", "pyiron-research"], monkeypatch)
    asyncio.run(spawner._mount_group_folders())
    assert spawner.volumes["demo-jupyterhub-group-pyiron-research"]["bind"] == "/home/jovyan/groups/pyiron-research"
    assert "demo-jupyterhub-home-{username}" in spawner.volumes  # the home stays
    spawner.user.groups = [SimpleNamespace(name="pyiron-users")]  # removed in Keycloak
    asyncio.run(spawner._mount_group_folders())
    assert not [n for n in spawner.volumes if "group" in n]
    assert "demo-jupyterhub-home-{username}" in spawner.volumes


def test_a_non_member_never_gets_it(monkeypatch):
    spawner = _spawner(["pyiron-users"], monkeypatch)
    asyncio.run(spawner._mount_group_folders())
    assert not [n for n in spawner.volumes if "group" in n] and spawner.client.archives == []


def test_with_a_quota_the_spawner_mounts_the_limited_folder_and_asks_no_engine(monkeypatch):
    from pyiron_hub_config import spawner as spawner_module
    from pyiron_hub_config.quota import QuotaUsage

    c = Config()
    env = with_env(MINIMAL_ENV, GROUP_FOLDERS="pyiron-research", DEPLOYMENT_NAME="demo", STORAGE_QUOTA="10G",
                   SERVER_DISK_LIMIT="20G", GROUP_FOLDER_QUOTA="50G")  # fmt: skip
    configure(c, env)
    user = SimpleNamespace(name="bob", groups=[SimpleNamespace(name="pyiron-research")])
    spawner = PyironSpawner(config=c, user=user)
    asked = []
    monkeypatch.setattr(spawner_module, "ensure_group", lambda *a: asked.append(a) or QuotaUsage(0, 50 << 30))
    mounts = asyncio.run(spawner._mount_group_folders())
    assert asked == [(spawner.quota_service_url, "jupyterhub-group-pyiron-research", 50 << 30)]
    assert [m["target"] for m in mounts] == ["/home/jovyan/groups/pyiron-research"]
    assert not [n for n in spawner.volumes if "group" in n]
    assert spawner.environment["PYIRON_HUB_GROUP_QUOTAS"] == '{"pyiron-research": "50G"}'
