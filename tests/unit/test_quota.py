"""STORAGE_QUOTA's pure parts: settings, the spawner's configuration, the guard's allowance for
users' limited homes and the writable layer's size, the quota service's names and answers.

The file system's side (subvolumes, qgroup limits, EDQUOT) is tested on a real btrfs in
tests/e2e/test_quota.py.
"""

from __future__ import annotations

import pytest
from docker.types import Mount
from traitlets.config import Config

from pyiron_hub_config.apply import apply_spawner, apply_templates
from pyiron_hub_config.docker_guard.guard import GuardSettings, Policy, Refused, check_request, load_guard_settings
from pyiron_hub_config.hub_config import load_hub_config
from pyiron_hub_config.problems import ConfigError
from pyiron_hub_config.quota import group_folder_mount, group_storage_name, home_mount, home_path, storage_name
from pyiron_hub_config.quota_service.btrfs import QuotaError, check_name, create_subvolume
from pyiron_hub_config.quota_service.service import _limit_from

from .test_docker_guard import container_body

ROOT = "/srv/pyiron-hub/quota"
POLICY = Policy(binds=GuardSettings(quota_root=ROOT).bind_rules())
QUOTA = {"STORAGE_QUOTA": "10G", "SERVER_DISK_LIMIT": "20G"}


def hub(minimal_env, **extra):
    return load_hub_config({**minimal_env, **extra}, check_paths=False)


# --- settings --------------------------------------------------------------------------------


def test_a_quota_without_a_writable_layer_limit_is_refused_naming_the_variable(minimal_env):
    with pytest.raises(ConfigError) as err:
        hub(minimal_env, STORAGE_QUOTA="10G")
    (problem,) = err.value.problems
    assert problem.where == "SERVER_DISK_LIMIT" and problem.example == "20G"
    assert hub(minimal_env, STORAGE_QUOTA="10G", SERVER_DISK_LIMIT="unbounded").settings.server_disk_limit == (
        "unbounded"
    )


def test_bad_quota_settings_are_reported_all_at_once(minimal_env):
    with pytest.raises(ConfigError) as err:
        hub(minimal_env, STORAGE_QUOTA="lots", SERVER_DISK_LIMIT="big", STORAGE_QUOTA_ROOT="quota")
    assert {p.where for p in err.value.problems} == {"STORAGE_QUOTA", "SERVER_DISK_LIMIT"}
    with pytest.raises(ConfigError, match="STORAGE_QUOTA_ROOT: must be an absolute path"):
        hub(minimal_env, STORAGE_QUOTA_ROOT="quota", **QUOTA)


# --- the spawner's configuration ----------------------------------------------------------------


def test_without_a_quota_homes_stay_volumes_and_the_layer_unlimited(minimal_env):
    c = Config()
    apply_spawner(c, hub(minimal_env))
    assert c.PyironSpawner.volumes and "storage_opt" not in c.PyironSpawner.extra_host_config
    assert "storage_quota" not in c.PyironSpawner


def test_with_a_quota_the_home_is_the_users_subvolume_and_the_layer_is_bounded(minimal_env):
    c = Config()
    apply_spawner(c, hub(minimal_env, **QUOTA))
    sp = c.PyironSpawner
    assert sp.volumes == {} and sp.storage_quota == 10 << 30 and sp.quota_root == ROOT
    assert sp.extra_host_config["storage_opt"] == {"size": str(20 << 30)}
    c = Config()
    apply_spawner(c, hub(minimal_env, STORAGE_QUOTA="10G", SERVER_DISK_LIMIT="unbounded"))
    assert "storage_opt" not in c.PyironSpawner.extra_host_config


def test_the_home_page_gets_the_users_quota_only_with_one(minimal_env):
    c = Config()
    apply_templates(c, hub(minimal_env))
    assert "storage_quota" not in c.JupyterHub.template_vars
    c = Config()
    apply_templates(c, hub(minimal_env, **QUOTA))
    assert callable(c.JupyterHub.template_vars["storage_quota"])


def test_a_users_home_is_named_as_the_spawner_names_their_volumes():
    assert storage_name("ann.lee@lab") == "ann-2elee-40lab"
    assert check_name(storage_name("Ann")) == "-41nn"  # a capital's escape comes first
    assert home_path(ROOT + "/", "ann") == f"{ROOT}/ann/home"
    assert home_mount(ROOT, "ann") == {"type": "bind", "source": f"{ROOT}/ann/home", "target": "/home/jovyan",
                                       "read_only": False}  # fmt: skip


# --- the guard ----------------------------------------------------------------------------------


def create(policy=POLICY, **host_config):
    check_request(policy, "POST", "/v1.41/containers/create", None, container_body(**host_config))


def test_the_guard_lets_through_a_users_limited_home_writable(minimal_env):
    create(mounts=[Mount(**home_mount(ROOT, "ann"))])
    create(storage_opt={"size": str(20 << 30)})  # SERVER_DISK_LIMIT


@pytest.mark.parametrize(
    "source",
    [
        ROOT,  # every user's home at once
        f"{ROOT}/ann",  # the subvolume, the service's own
        f"{ROOT}/ann/home/..",
        f"{ROOT}/../etc/home",
        f"{ROOT}/ann/home/.ssh",
        f"{ROOT}/.new-ann/home",
        f"{ROOT}//ann/home",
        "/etc/ann/home",
        "/",
    ],
)
def test_the_guard_refuses_any_other_bind_near_the_quota_root(source):
    with pytest.raises(Refused, match="binding the host path"):
        create(mounts=[Mount(target="/x", source=source, type="bind", read_only=False)])


def test_without_a_quota_the_guard_binds_no_home_at_all():
    with pytest.raises(Refused, match="binding the host path"):
        create(Policy(), mounts=[Mount(**home_mount(ROOT, "ann"))])
    with pytest.raises(Refused, match="binding the host path"):  # nor as a HostConfig.Binds string
        create(binds={f"{ROOT}/ann/home": {"bind": "/home/jovyan", "mode": "rw"}})


@pytest.mark.parametrize("storage", [{"size": "1G", "dm.basesize": "1G"}, {"dm.basesize": "1G"}, {"size": "1G; x"}])
def test_the_guard_lets_through_no_storage_option_but_a_size(storage):
    with pytest.raises(Refused, match="StorageOpt"):
        create(storage_opt=storage)


def test_the_guard_takes_the_quota_root_from_the_hubs_settings():
    assert load_guard_settings({}).quota_root is None
    assert load_guard_settings({"STORAGE_QUOTA": "10G"}).quota_root == ROOT
    assert load_guard_settings({"STORAGE_QUOTA": "1G", "STORAGE_QUOTA_ROOT": "/q/"}).quota_root == "/q"
    with pytest.raises(ConfigError, match="STORAGE_QUOTA_ROOT"):
        load_guard_settings({"STORAGE_QUOTA": "1G", "STORAGE_QUOTA_ROOT": "/"})


# --- the quota service's checks ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "..", ".new-ann", "a/b", "a..b", "_ann", "x" * 300])
def test_the_service_takes_only_a_storage_name(name):
    with pytest.raises(QuotaError):
        check_name(name)


def test_the_service_makes_no_subvolume_outside_its_root(tmp_path):
    for name in ("a/b", "..", ""):
        with pytest.raises(QuotaError):
            create_subvolume(str(tmp_path), name)


@pytest.mark.parametrize("body", [{}, {"limit": "1G"}, {"limit": True}, {"limit": 1000}, [], None])
def test_the_service_takes_a_limit_in_bytes_of_a_mebibyte_or_more(body):
    with pytest.raises(QuotaError):
        _limit_from(body)
    assert _limit_from({"limit": 1 << 20}) == 1 << 20


# --- what users and admins see ------------------------------------------------------------------


class FixedCache:
    def __init__(self, figures):
        self.figures, self.error = figures, None

    def get(self):
        return self.figures


def figures():
    from pyiron_hub_config.quota import QuotaUsage
    from pyiron_hub_config.usage_pages import QuotaFigures

    return QuotaFigures(
        {
            "ann": QuotaUsage(19 << 20, 20 << 20),
            "bo": QuotaUsage(1 << 20, 20 << 20),
            "-3cscript-3e": QuotaUsage(0, None),
        },
        measured_at=1.0,
        groups={"jupyterhub-group-lab": QuotaUsage(3 << 20, 8 << 20)},
    )


def test_a_user_sees_their_usage_against_their_quota_and_a_red_box_when_nearly_full():
    from types import SimpleNamespace

    from pyiron_hub_config.usage_pages import storage_quota

    mine = storage_quota(FixedCache(figures()))
    assert mine(SimpleNamespace(name="ann")) == {"used": "19.0 MiB", "limit": "20.0 MiB", "percent": 95, "full": True}
    assert mine(SimpleNamespace(name="bo"))["full"] is False
    assert mine(SimpleNamespace(name="cy")) is None and mine(None) is None  # no home yet
    assert storage_quota(FixedCache(None))(SimpleNamespace(name="ann")) is None  # being measured


def test_the_home_page_box_and_the_admins_quota_table(minimal_env):
    from types import SimpleNamespace

    from pyiron_hub_config.usage import Usage
    from pyiron_hub_config.usage_pages import quota_rows

    from .test_pages import configured, render, text

    c = configured(**QUOTA)
    server = SimpleNamespace(active=False, user_options={})
    full = {"used": "19.0 MiB", "limit": "20.0 MiB", "percent": 95, "full": True}
    soup = render(
        c, "home.html", storage_quota=full, default_server=server, url="/hub/spawn", allow_named_servers=False
    )
    box = soup.find(id="storage-quota")
    assert "19.0 MiB of your 20.0 MiB disk quota (95%)" in text(box) and "Disk quota exceeded" in text(box)
    assert "alert-danger" in box["class"]
    soup = render(
        c, "home.html", storage_quota=None, default_server=server, url="/hub/spawn", allow_named_servers=False
    )
    assert soup.find(id="storage-quota") is None

    usage = Usage(users={}, measured_at=1.0, seconds=0.5)
    common = dict(rows=[], usage=usage, soft_limit=None, stale_total="0 B", stale_count=0, error=None,
                  measured_at="2026-12-01 07:00:00 UTC")  # fmt: skip
    soup = render(c, "pyiron_usage.html", quota_rows=quota_rows(figures()), quota_error=None, **common)
    assert [r["data-home"] for r in soup.select("tr.quota-row")] == ["ann", "bo", "-3cscript-3e"]  # fullest first
    assert "table-danger" in soup.select("tr.quota-row")[0]["class"]
    assert soup.find(id="quota-table") is not None
    assert soup.find(id="group-quota-table") is None  # none without group folders
    soup = render(c, "pyiron_usage.html", quota_rows=quota_rows(figures()), quota_error=None,
                  group_quota_rows=quota_rows(figures(), groups=True), **common)  # fmt: skip
    (row,) = soup.select("tr.group-quota-row")
    assert row["data-group"] == "lab" and [td.get_text() for td in row.find_all("td")] == ["lab", "3.0 MiB", "8.0 MiB"]
    assert render(c, "pyiron_usage.html", quota_rows=None, quota_error=None, **common).find(id="quota-table") is None


def test_the_metrics_give_each_users_usage_and_quota():
    from pyiron_hub_config.usage_pages import QuotaCollector

    metrics = {m.name: m for m in QuotaCollector(FixedCache(figures())).collect()}
    used = {s.labels["user"]: s.value for s in metrics["pyiron_hub_user_quota_used_bytes"].samples}
    limit = {s.labels["user"]: s.value for s in metrics["pyiron_hub_user_quota_bytes"].samples}
    assert used == {"ann": 19 << 20, "bo": 1 << 20, "-3cscript-3e": 0}
    assert limit == {"ann": 20 << 20, "bo": 20 << 20}  # no limit, no sample
    groups = {s.labels["group"]: s.value for s in metrics["pyiron_hub_group_folder_quota_used_bytes"].samples}
    assert groups == {"lab": 3 << 20}
    assert [s.value for s in metrics["pyiron_hub_group_folder_quota_bytes"].samples] == [8 << 20]
    assert list(QuotaCollector(FixedCache(None)).collect()) == []


# --- group folders (GROUP_FOLDERS) with a quota --------------------------------------------------


def test_group_folders_get_the_storage_quota_unless_their_own_is_set(minimal_env):
    c = Config()
    apply_spawner(c, hub(minimal_env, GROUP_FOLDERS="lab-*", **QUOTA))
    assert c.PyironSpawner.group_folder_quota == 10 << 30
    c = Config()
    apply_spawner(c, hub(minimal_env, GROUP_FOLDERS="lab-*", GROUP_FOLDER_QUOTA="50G", **QUOTA))
    assert c.PyironSpawner.group_folder_quota == 50 << 30
    with pytest.raises(ConfigError) as err:
        hub(minimal_env, GROUP_FOLDER_QUOTA="50G")
    assert [p.where for p in err.value.problems] == ["GROUP_FOLDER_QUOTA"]


def test_a_group_folder_lives_where_no_users_home_can():
    assert group_storage_name("pyiron-research") == "jupyterhub-group-pyiron-research"
    assert group_storage_name("a..b") == "jupyterhub-group-a_2e_2eb"  # '..' is no path component
    assert group_storage_name("a/b c") == "jupyterhub-group-a_2fb_20c"
    assert check_name(group_storage_name("x.y")) == "jupyterhub-group-x_2ey"
    assert group_folder_mount(ROOT, "jupyterhub-group-lab", "lab") == {
        "type": "bind",
        "source": f"{ROOT}/_groups/jupyterhub-group-lab/folder",
        "target": "/home/jovyan/groups/lab",
        "read_only": False,
    }
    # No user's storage name starts with '_': <root>/_groups is nobody's home.
    with pytest.raises(QuotaError):
        check_name("_groups")


def test_the_guard_lets_through_a_limited_group_folder_writable():
    create(mounts=[Mount(**group_folder_mount(ROOT, "jupyterhub-group-lab", "lab"))])


@pytest.mark.parametrize(
    "source",
    [
        f"{ROOT}/_groups",  # every group's folder at once
        f"{ROOT}/_groups/jupyterhub-group-lab",  # the subvolume, the service's own
        f"{ROOT}/_groups/jupyterhub-group-lab/folder/..",
        f"{ROOT}/_groups/jupyterhub-group-lab/home",
        f"{ROOT}/_groups/jupyterhub-group-lab/folder/x",
        f"{ROOT}/_groups/.new-lab/folder",
        f"{ROOT}/_groups/../folder",
        f"{ROOT}/_groups/_groups/folder",
        f"{ROOT}/groups/jupyterhub-group-lab/folder",
        f"{ROOT}/ann/jupyterhub-group-lab/folder",  # in a user's subvolume
        f"{ROOT}/_groups/home",
        "/etc/_groups/x/folder",
    ],
)
def test_the_guard_refuses_any_other_bind_near_the_group_folders(source):
    with pytest.raises(Refused, match="binding the host path"):
        create(mounts=[Mount(target="/x", source=source, type="bind", read_only=False)])


def test_without_a_quota_the_guard_binds_no_group_folder():
    with pytest.raises(Refused, match="binding the host path"):
        create(Policy(), mounts=[Mount(**group_folder_mount(ROOT, "jupyterhub-group-lab", "lab"))])
