"""Starts beyond STARTS_AT_ONCE wait in line, shown as waiting, instead of all booting at once.

Measured (benchmarks/README.md, "Load"): ten Jupyter servers booting together on two cores
left the hub a twelfth of the machine, its event loop stalled for seconds and every start took
longer. JupyterHub's own concurrent_spawn_limit only refuses (HTTP 429, an error page for the
user), so the hub keeps that as the outer cap (CONCURRENT_SPAWN_LIMIT) and queues here.

The wait is in run_pre_spawn_hook, which JupyterHub awaits before start() and outside its
start_timeout: a start that waited in line still gets its whole SPAWN_TIMEOUT. A slot is held
from the end of the wait until start() returns, which is once the server answers
(readiness.py): booting Jupyter is where the CPU goes, not Docker's create call.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from dockerspawner import DockerSpawner
from jupyterhub.utils import maybe_future
from traitlets import Integer

# How often the spawn page's message is brought up to date while a start waits.
PROGRESS_INTERVAL = 1.0


def waiting_message(place: int, booting: int) -> str:
    ahead = "1 start is" if place == 1 else f"{place} starts are"
    return f"Waiting: {booting} servers are starting, {ahead} in line (yours included); yours begins when one is ready"


class StartQueue(DockerSpawner):
    """A DockerSpawner layer (see spawner.py's EnvironmentPicker for how the layers combine)."""

    starts_at_once = Integer(
        0, help="Servers that may boot at once in this hub; later starts wait in line (0: no line)."
    ).tag(config=True)

    # One line for the whole hub: every spawner of the process shares it.
    _booting: ClassVar[int] = 0
    _line: ClassVar[list] = []  # futures of the starts waiting, first come first served
    _holds_slot = False
    _in_line: asyncio.Future | None = None

    async def run_pre_spawn_hook(self):
        await self._take_slot()
        try:
            return await maybe_future(super().run_pre_spawn_hook())
        except BaseException:
            self._give_slot()
            raise

    async def start(self):
        try:
            return await super().start()
        finally:
            self._give_slot()

    async def stop(self, now=False):
        self._give_slot()  # a start stopped before it reached start()
        return await super().stop(now=now)

    async def _take_slot(self) -> None:
        cls = StartQueue
        if self.starts_at_once <= 0:
            return
        if cls._booting < self.starts_at_once and not cls._line:
            cls._booting += 1
            self._holds_slot = True
            return
        self._in_line = asyncio.get_running_loop().create_future()
        cls._line.append(self._in_line)
        self.log.info(
            "Start of %s waits in line (%d booting, %d waiting)", self.user.name, cls._booting, len(cls._line)
        )
        try:
            await self._in_line  # _give_slot hands its slot over, already counted
            self._holds_slot = True
        finally:
            if self._in_line in cls._line:  # cancelled while waiting
                cls._line.remove(self._in_line)
            elif self._in_line.done() and not self._in_line.cancelled() and not self._holds_slot:
                self._holds_slot = True  # handed over just as this start was cancelled: give it on
                self._give_slot()
            self._in_line = None

    def _give_slot(self) -> None:
        cls = StartQueue
        if not self._holds_slot:
            return
        self._holds_slot = False
        while cls._line:
            waiter = cls._line.pop(0)
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: _booting stays as it is
                return
        cls._booting -= 1

    def _place_in_line(self) -> int | None:
        line = StartQueue._line
        return line.index(self._in_line) + 1 if self._in_line in line else None

    async def progress(self):
        told = None
        while self._spawn_pending and self._place_in_line():
            now = (self._place_in_line(), StartQueue._booting)
            if now != told:
                told = now
                yield {"progress": 5, "message": waiting_message(*now)}
            await asyncio.sleep(PROGRESS_INTERVAL)
        async for event in super().progress():
            yield event
