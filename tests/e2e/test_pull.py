"""End to end: a user starts an environment whose image the engine does not have yet.

The images come from a real registry (Debian's docker-registry, as the swarm suite uses)
on the loopback, reached through a link of limited bandwidth in this process (so that a
pull lasts seconds, long enough to be seen, and can be made to stall); the engine treats
a registry on 127.0.0.1 as plain HTTP by itself. Each image is the stand-in base plus one
layer of random bytes the engine has never seen: only that layer travels.
The spawn page is read in the real browser (tests/browser/pull.mjs, Debian's chromium);
its screenshots go to test-artifacts/pull/.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from .conftest import (
    IMAGES,
    PASSWORD,
    REPO,
    HubUser,
    Stack,
    _free_port,
    docker,
    local_registry,
    remove_user_containers_and_volumes,
    write_env_files,
)

USERS = ("pullann", "pullbob", "pullcid", "pulldan")
ARTIFACTS = REPO / "test-artifacts" / "pull"
BROWSER = REPO / "tests" / "browser"
LAYER_MB = 12
RATE = 2_000_000  # bytes per second from the registry: a pull of the layer takes about six seconds
STALL_SECONDS = 4


class SlowLink:
    """A TCP forwarder to the registry, its answers limited to RATE bytes a second; paused, it
    holds every connection open and sends nothing (a stalled registry)."""

    def __init__(self, target_port: int):
        self.port, self.target = _free_port(), target_port
        self.paused = False
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _pipe(self, reader, writer, slow: bool):
        try:
            while data := await reader.read(32768):
                while slow and self.paused:
                    await asyncio.sleep(0.05)
                if slow:
                    await asyncio.sleep(len(data) / RATE)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _client(self, reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer, False), self._pipe(up_reader, writer, True))

    def __enter__(self):
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, "127.0.0.1", self.port), self.loop
        ).result(10)
        return self

    def __exit__(self, *exc):
        self.paused = False

        async def close():
            self.server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def push_probe(base: str, name: str) -> str:
    """base plus a layer of random bytes, pushed as `name`, then removed from the engine."""
    container = docker("create", base, "true").stdout.strip()
    try:
        random_file = Path(f"/tmp/{container}.bin")
        random_file.write_bytes(os.urandom(LAYER_MB * 1_000_000))
        try:
            docker("cp", str(random_file), f"{container}:/opt/pull-probe.bin")
        finally:
            random_file.unlink()
        docker("commit", container, name)
    finally:
        docker("rm", "-f", container)
    docker("push", name)
    image_id = docker("image", "inspect", "-f", "{{.Id}}", name).stdout.strip()
    docker("rmi", name)
    return image_id


@pytest.fixture(scope="module")
def pulls(images, tmp_path_factory):
    """A registry with the images to pull: one started by users, one to stall on, one for the
    admin's `pyiron-hub pull`; and a tag that is missing."""
    made, images = [], {}
    with local_registry(tmp_path_factory.mktemp("registry")) as registry_port, SlowLink(registry_port) as link:
        try:
            prefix = f"127.0.0.1:{link.port}/pyiron-hub-pull-probe"
            images = {kind: f"{prefix}:{kind}" for kind in ("ok", "stall", "admin", "missing")}
            t0 = time.monotonic()
            for kind in ("ok", "stall", "admin"):
                made.append(push_probe(IMAGES["pyiron_base"], images[kind]))
            print(f"\n[pull] probe images pushed in {time.monotonic() - t0:.0f}s")
            yield link, images
        finally:  # the probe images, by name and by id, and the hub's copies of their homes
            for image in images.values():
                docker("rmi", image, check=False)
            for image_id in made:
                docker("rmi", image_id, check=False)
                docker("volume", "rm", "-f", "pyiron-hub-image-" + image_id.split(":", 1)[-1][:12], check=False)


@pytest.fixture(scope="module")
def stack(pulls, images, tmp_path_factory):
    _, probe = pulls
    directory = tmp_path_factory.mktemp("compose-project")
    write_env_files(
        directory,
        users=USERS,
        PYIRON_WORKFLOW=probe["ok"],
        PYIRON_CONTINUUM=probe["missing"],
        PYIRON_EXPERIMENTAL=probe["stall"],
        PYIRON_MD=probe["admin"],
        PULL_STALL_TIMEOUT=str(STALL_SECONDS),
    )
    s = Stack(directory, images, project="pyironhubpull", network="pyiron-hub-pull-users", users=USERS)
    remove_user_containers_and_volumes(USERS)
    s.compose("down", "-v", "--remove-orphans", check=False)
    s.up()
    yield s
    remove_user_containers_and_volumes(USERS)
    s.compose("down", "-v", "--remove-orphans", check=False)


def browse(stack: Stack, user: str, environment: str) -> subprocess.Popen:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HUB_URL": stack.url,
        "HUB_PASSWORD": PASSWORD,
        "CHROMIUM": os.environ.get("CHROMIUM", "/usr/bin/chromium"),
    }
    return subprocess.Popen(
        ["node", str(BROWSER / "pull.mjs"), str(ARTIFACTS), user, environment],
        cwd=BROWSER,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def seen(browser: subprocess.Popen) -> dict:
    out, err = browser.communicate(timeout=300)
    try:
        result = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        pytest.fail(f"the browser script printed no result ({browser.returncode}):\n{out[-2000:]}\n{err[-3000:]}")
    for name, path in result["screenshots"].items():
        print(f"screenshot {name}: {path}")
    assert browser.returncode == 0, (result, err[-2000:])
    return result


def hub_log(stack: Stack) -> str:
    return stack.compose("logs", "--no-color", "hub").stdout


def wait_in_log(stack: Stack, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in hub_log(stack):
        assert time.monotonic() < deadline, f"{text!r} not in the hub's log"
        time.sleep(0.2)


def missing_named(text: str) -> list[str]:
    line = next(line for line in text.splitlines() if "Not on this host yet" in line)
    return sorted(line.split("): ", 1)[1].split(", "))


def test_the_hubs_log_and_check_list_the_images_not_on_the_host(stack, pulls):
    _, probe = pulls
    assert missing_named(hub_log(stack)) == sorted(probe.values())
    r = stack.compose("exec", "-T", "hub", "pyiron-hub", "check")
    assert r.returncode == 0, r.stderr
    assert missing_named(r.stdout) == sorted(probe.values())


def test_a_first_pull_shows_its_progress_and_a_second_start_waits_on_it(stack, pulls):
    _, probe = pulls
    browser = browse(stack, "pullann", "pyiron_workflow")
    # While ann's start pulls, bob starts the same environment.
    wait_in_log(stack, f"Pulling {probe['ok']} for pullann")
    bob = HubUser(stack, "pullbob").login()
    r = bob.api("POST", "/users/pullbob/server", json={"environment": "pyiron_workflow"})
    assert r.status_code in (201, 202), r.text
    page = seen(browser)
    pulling = [m for m in page["messages"] if m.startswith(f"Pulling the image {probe['ok']} (not on this host yet): ")]
    assert pulling, page["messages"]
    assert any(f" of {LAYER_MB}.0 MB" in m and not m.split(": ")[-1].startswith(f"{LAYER_MB}.0") for m in pulling)
    assert "pulling" in page["screenshots"], page["messages"]
    assert "/user/pullann/lab" in page["url"], page
    bob.wait_ready()
    assert docker("inspect", "-f", "{{.Config.Image}}", "jupyter-pullbob").stdout.strip() == probe["ok"]
    log = hub_log(stack)
    assert log.count(f"Pulling {probe['ok']}") == 1, log[-3000:]
    assert f"pullbob waits for the pull of {probe['ok']} under way" in log
    assert f"Pulled {probe['ok']} in " in log


def failure_shown(page: dict) -> str:
    """What the spawn page said of a failed start: on the progress bar, or above the form shown
    again when the start failed within the page's first second."""
    if page.get("errorPage"):
        return page["errorPage"]
    assert page["messages"] and page["messages"][-1].startswith("Spawn failed: "), page
    return page["messages"][-1]


def test_a_missing_tag_says_so_on_the_spawn_page(stack, pulls):
    _, probe = pulls
    page = seen(browse(stack, "pullcid", "pyiron_continuum"))
    failed = failure_shown(page)
    assert f"Could not pull the image {probe['missing']}: " in failed, page
    assert "not found" in failed or "unknown" in failed, failed
    assert HubUser(stack, "pullcid").login().server() is None


def test_a_stalled_pull_fails_clearly_and_the_next_start_runs(stack, pulls):
    link, probe = pulls
    link.paused = True
    try:
        page = seen(browse(stack, "pulldan", "pyiron_experimental"))
    finally:
        link.paused = False
    failed = failure_shown(page)
    assert f"The pull of the image {probe['stall']} stalled: nothing arrived for {STALL_SECONDS} s" in failed, page
    dan = HubUser(stack, "pulldan").login()
    assert dan.server() is None
    # The registry answers again: the next start runs.
    assert dan.start(environment="pyiron_experimental")["ready"]


def test_pull_missing_fetches_only_what_is_not_on_the_host(stack, pulls):
    _, probe = pulls
    r = stack.compose("exec", "-T", "hub", "pyiron-hub", "pull", "--missing", check=False)
    # The users' starts above brought "ok" and "stall"; the missing tag cannot be had.
    assert f"2 image(s) not on this host: {probe['admin']}, {probe['missing']}" in r.stdout, r.stdout
    assert f"pulled {probe['admin']}" in r.stdout
    assert f"could not pull {probe['missing']}" in r.stderr and r.returncode == 1
    r = stack.compose("exec", "-T", "hub", "pyiron-hub", "check")
    assert missing_named(r.stdout) == [probe["missing"]]
