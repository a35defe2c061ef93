"""The quota service's HTTP answers for users' homes and group folders, on a plain directory:
btrfs (subvolumes, limits, usage) is a table here; the real file system is tests/e2e/test_quota.py."""

from __future__ import annotations

import os

import pytest
from aiohttp.test_utils import TestClient, TestServer

from pyiron_hub_config.quota_service import btrfs, service


@pytest.fixture
def limits(monkeypatch):
    """Subvolume path -> its limit; a path in the table is a subvolume."""
    table: dict[str, int | None] = {}
    monkeypatch.setattr(btrfs, "is_subvolume", lambda path: path in table)
    monkeypatch.setattr(btrfs, "set_limit", lambda root, path, limit: table.__setitem__(path, limit))
    monkeypatch.setattr(btrfs, "usage", lambda root, path: btrfs.Usage(7, table[path]))
    return table


@pytest.fixture
async def client(tmp_path):
    async with TestClient(TestServer(service.make_app(str(tmp_path)))) as client:
        yield client


async def answer(response):
    return response.status, await response.json()


async def test_the_lists_name_each_kinds_subvolumes_only(client, limits, tmp_path):
    assert await answer(await client.get("/groups")) == (200, {})  # no group folder made yet
    for path in ("ann", "bo", ".new-cy", "_groups", "_groups/jupyterhub-group-lab", "_groups/.new-x"):
        (tmp_path / path).mkdir()
        limits[str(tmp_path / path)] = 1 << 30
    (tmp_path / "plain").mkdir()
    assert await answer(await client.get("/users")) == (200, {"ann": {"used": 7, "limit": 1 << 30},
                                                               "bo": {"used": 7, "limit": 1 << 30}})  # fmt: skip
    assert await answer(await client.get("/groups")) == (200, {"jupyterhub-group-lab": {"used": 7, "limit": 1 << 30}})


async def test_a_missing_root_is_the_services_own_error(limits, tmp_path):
    async with TestClient(TestServer(service.make_app(str(tmp_path / "gone")))) as client:
        assert (await client.get("/users")).status == 500
        assert await answer(await client.get("/groups")) == (200, {})


@pytest.mark.parametrize(
    "kind, path, missing",
    [
        ("users", "ann", "ann has no home under {root} yet (it is made at their first start)"),
        ("groups", "_groups/lab", "the group folder lab does not exist yet (it is made at a member's start)"),
    ],
)
async def test_a_limit_is_set_on_an_existing_subvolume_only(client, limits, tmp_path, kind, path, missing):
    name = path.rpartition("/")[2]
    assert await answer(await client.put(f"/{kind}/{name}/limit", json={"limit": 2 << 20})) == (
        400,
        {"message": missing.format(root=tmp_path)},
    )
    limits[str(tmp_path / path)] = 1 << 30
    assert await answer(await client.put(f"/{kind}/{name}/limit", json={"limit": 2 << 20})) == (
        200,
        {"used": 7, "limit": 2 << 20},
    )
    # Made already: ensuring it keeps its limit.
    (tmp_path / path).mkdir(parents=True)
    assert await answer(await client.put(f"/{kind}/{name}", json={"limit": 5 << 20})) == (
        200,
        {"used": 7, "limit": 2 << 20, "created": False},
    )


@pytest.mark.parametrize("url", ["/users/ann", "/users/ann/limit", "/groups/lab", "/groups/lab/limit"])
@pytest.mark.parametrize("body", [{"limit": 1000}, {"limit": "1G"}, {}])
async def test_every_put_refuses_a_limit_that_is_no_size(client, limits, url, body):
    status, got = await answer(await client.put(url, json=body))
    assert status == 400 and got == {"message": f"limit must be a number of bytes, at least {1 << 20}"}
    assert limits == {}


@pytest.mark.parametrize("url", ["/users/_x/limit", "/groups/..x/limit", "/users/_x", "/groups/.new-a"])
async def test_every_put_refuses_a_name_that_is_no_storage_name(client, limits, url):
    status, got = await answer(await client.put(url, json={"limit": 1 << 20}))
    assert status == 400 and got["message"]


@pytest.mark.parametrize(
    "kind, made, inner, mode",
    [("users", "ann", "home", 0o700), ("groups", "_groups/ann", "folder", 0o2775)],
)
async def test_ensuring_makes_the_limited_subvolume_with_jovyans_directory_in_it(
    client, monkeypatch, tmp_path, kind, made, inner, mode
):
    # Subvolumes by inode: made under .new-ann, limited, then renamed whole.
    limits: dict[int, int | None] = {}

    def create_subvolume(parent, name):
        os.mkdir(os.path.join(parent, name))
        limits[os.stat(os.path.join(parent, name)).st_ino] = None

    monkeypatch.setattr(btrfs, "create_subvolume", create_subvolume)
    monkeypatch.setattr(btrfs, "is_subvolume", lambda path: os.path.isdir(path) and os.stat(path).st_ino in limits)
    monkeypatch.setattr(btrfs, "set_limit", lambda root, path, limit: limits.__setitem__(os.stat(path).st_ino, limit))
    monkeypatch.setattr(btrfs, "usage", lambda root, path: btrfs.Usage(7, limits[os.stat(path).st_ino]))
    assert await answer(await client.put(f"/{kind}/ann", json={"limit": 3 << 20})) == (
        200,
        {"used": 7, "limit": 3 << 20, "created": True},
    )
    assert not (tmp_path / made.replace("ann", ".new-ann")).exists()
    directory = tmp_path / made / inner
    assert directory.stat().st_uid == 1000 and directory.stat().st_mode & 0o7777 == mode
    assert (tmp_path / made).stat().st_mode & 0o777 == 0o711
    # A second start keeps it as it is.
    assert await answer(await client.put(f"/{kind}/ann", json={"limit": 5 << 20})) == (
        200,
        {"used": 7, "limit": 3 << 20, "created": False},
    )
