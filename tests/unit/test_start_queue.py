"""Starts beyond STARTS_AT_ONCE wait in line: the line's bookkeeping, with DockerSpawner's work stubbed."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from dockerspawner import DockerSpawner

from pyiron_hub_config.apply import starts_at_once
from pyiron_hub_config.start_queue import StartQueue, waiting_message


class Booting(DockerSpawner):
    """Stands in for DockerSpawner: start() boots until the test lets it finish."""

    async def run_pre_spawn_hook(self):
        pass

    async def start(self):
        self.booted = asyncio.get_running_loop().create_future()
        Booting.now.append(self.user.name)
        try:
            await self.booted
        finally:
            Booting.now.remove(self.user.name)
        return ("10.0.0.2", 8888)

    async def stop(self, now=False):
        pass


class Queued(StartQueue, Booting):
    pass


async def spawn(spawner: Queued):
    await spawner.run_pre_spawn_hook()  # JupyterHub awaits the hook, then start()
    return await spawner.start()


def spawners(n: int, at_once: int) -> list[Queued]:
    return [Queued(user=SimpleNamespace(name=f"u{i}"), starts_at_once=at_once) for i in range(n)]


async def settle():
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture(autouse=True)
def empty_line():
    Booting.now = []
    yield
    assert (StartQueue._booting, StartQueue._line) == (0, [])  # every slot given back


async def test_at_most_starts_at_once_boot_and_the_rest_follow_in_order():
    five = spawners(5, at_once=2)
    tasks = [asyncio.create_task(spawn(s)) for s in five]
    await settle()
    assert Booting.now == ["u0", "u1"]
    assert [s._place_in_line() for s in five] == [None, None, 1, 2, 3]
    five[1].booted.set_result(None)
    await settle()
    assert Booting.now == ["u0", "u2"] and five[4]._place_in_line() == 2
    for s in (five[0], five[2], five[3], five[4]):
        await settle()
        s.booted.set_result(None)
    assert await asyncio.gather(*tasks) == [("10.0.0.2", 8888)] * 5


async def test_zero_means_no_line():
    ten = spawners(10, at_once=0)
    tasks = [asyncio.create_task(spawn(s)) for s in ten]
    await settle()
    assert len(Booting.now) == 10
    for s in ten:
        s.booted.set_result(None)
    await asyncio.gather(*tasks)


async def test_a_failed_start_gives_its_slot_to_the_next():
    first, second = spawners(2, at_once=1)
    one, two = asyncio.create_task(spawn(first)), asyncio.create_task(spawn(second))
    await settle()
    first.booted.set_exception(RuntimeError("the image's start failed"))
    with pytest.raises(RuntimeError):
        await one
    await settle()
    assert Booting.now == ["u1"]
    second.booted.set_result(None)
    await two


async def test_a_start_cancelled_while_waiting_leaves_the_line():
    first, second, third = spawners(3, at_once=1)
    tasks = [asyncio.create_task(spawn(s)) for s in (first, second, third)]
    await settle()
    tasks[1].cancel()  # e.g. SPAWN_TIMEOUT, or the user stopped the pending start
    await settle()
    assert third._place_in_line() == 1
    first.booted.set_result(None)
    await settle()
    assert Booting.now == ["u2"]
    third.booted.set_result(None)
    await asyncio.gather(tasks[0], tasks[2])


async def test_a_stop_after_the_hook_but_before_start_gives_the_slot_back():
    first, second = spawners(2, at_once=1)
    await first.run_pre_spawn_hook()
    waiting = asyncio.create_task(spawn(second))
    await settle()
    assert second._place_in_line() == 1
    await first.stop()
    await settle()
    assert Booting.now == ["u1"]
    second.booted.set_result(None)
    await waiting


async def test_the_spawn_page_says_the_place_in_line():
    first, second = spawners(2, at_once=1)
    second._spawn_pending = True
    tasks = [asyncio.create_task(spawn(s)) for s in (first, second)]
    await settle()
    events = second.progress()
    assert (await anext(events))["message"] == waiting_message(1, 1)
    first.booted.set_result(None)
    await settle()
    second.booted.set_result(None)
    await asyncio.gather(*tasks)
    second._spawn_pending = False
    # Then JupyterHub's own events, as for a start that never waited.
    assert [event["message"] async for event in events] == ["Spawning server..."]


def test_waiting_message_reads_well():
    assert waiting_message(1, 2) == (
        "Waiting: 2 servers are starting, 1 start is in line (yours included); yours begins when one is ready"
    )


@pytest.mark.parametrize(
    "configured, cores, expected", [(None, 2, 2), (None, 16, 16), (None, None, 1), (0, 8, 0), (3, 8, 3)]
)
def test_starts_at_once_defaults_to_the_hosts_cores(configured, cores, expected):
    assert starts_at_once(configured, cores) == expected
