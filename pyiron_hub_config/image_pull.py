"""Pull a missing image before the user's server starts, and show the user how far it got.

DockerSpawner pulls a missing image inside Spawner.start(), in one blocking call: the spawn
page shows nothing but a spinner for minutes (pyiron's images are several GB), and
JupyterHub's start_timeout (SPAWN_TIMEOUT) counts the pull, so a slow pull fails a spawn
that would have worked. Here the pull happens before start(), in run_pre_spawn_hook, which
JupyterHub awaits before it starts that clock. docker-py streams the engine's pull events;
the spawn page gets them as JupyterHub's spawn progress events (MB of the total, layers
done). The pull fails when nothing arrives for `pull_stall_timeout` seconds
(PULL_STALL_TIMEOUT) or when the engine cannot get the image, with a message on the spawn
page. One pull per image at a time in the hub process: a second user starting the same
image waits on the pull under way and sees its progress.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import docker.errors
from dockerspawner import DockerSpawner
from jupyterhub.utils import maybe_future
from tornado import web
from traitlets import Float

from .values import pull_arguments

# How often a spawn page's progress is brought up to date while a pull runs.
PROGRESS_INTERVAL = 0.5
# The share of the spawn page's progress bar the pull fills; the start takes the rest.
PULL_SHARE = 45
# Engine statuses that name one layer of the image.
_LAYER_DONE = {"Already exists", "Pull complete"}


class PullFailed(web.HTTPError):
    """The image could not be pulled; jupyterhub_message is what the spawn page shows.

    An HTTPError, so that a pull failing within the spawn page's first second (a missing
    tag) shows this message too, not "Unhandled error starting server".
    """

    def __init__(self, message: str):
        super().__init__(502, "%s", message)
        self.jupyterhub_message = message


@dataclass
class PullProgress:
    """What the engine's pull events said so far, per layer: bytes downloaded of how many."""

    image: str
    downloaded: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    layers: set[str] = field(default_factory=set)
    done: set[str] = field(default_factory=set)

    def update(self, event: dict) -> None:
        """Take one event of the engine's pull stream; raise PullFailed for an error event."""
        if event.get("error"):
            raise PullFailed(f"Could not pull the image {self.image}: {event['error']}")
        layer, status = event.get("id"), event.get("status") or ""
        detail = event.get("progressDetail") or {}
        if not layer or "Pulling from" in status or status.startswith(("Digest", "Status")):
            return
        self.layers.add(layer)
        if status == "Downloading" and detail.get("total"):
            self.totals[layer] = detail["total"]
            self.downloaded[layer] = detail.get("current", 0)
        elif status in ("Download complete", "Verifying Checksum", "Extracting") and layer in self.totals:
            self.downloaded[layer] = self.totals[layer]
        if status in _LAYER_DONE:
            self.done.add(layer)
            if layer in self.totals:
                self.downloaded[layer] = self.totals[layer]

    @property
    def fraction(self) -> float:
        """Bytes downloaded of those known so far (layers say their size once they start)."""
        total = sum(self.totals.values())
        if self.layers and self.done >= self.layers:
            return 1.0
        return sum(self.downloaded.values()) / total if total else 0.0

    def message(self) -> str:
        mb = 1e6
        got, total = sum(self.downloaded.values()) / mb, sum(self.totals.values()) / mb
        sizes = f"{got:.1f} of {total:.1f} MB, " if total else ""
        return (
            f"Pulling the image {self.image} (not on this host yet): "
            f"{sizes}{len(self.done)} of {len(self.layers)} layers done"
        )

    def event(self) -> dict:
        """A JupyterHub spawn progress event."""
        return {"progress": max(1, int(PULL_SHARE * self.fraction)), "message": self.message()}


class ImagePull:
    """One pull of one image, followed by every spawn that needs it.

    stream: a blocking callable returning the engine's pull events (docker-py's decoded
    stream); it runs on a thread of its own so that a long pull holds no thread of the
    spawners' Docker pool.
    """

    def __init__(self, image: str, stream: Callable[[], Iterable[dict]], stall_timeout: float, log=None):
        self.image = image
        self.progress = PullProgress(image)
        self.stall_timeout = stall_timeout
        self.log = log
        self.began = self.last_event = time.monotonic()
        self.error: PullFailed | None = None
        self._stream = stream
        self.task: asyncio.Task | None = None

    def start(self) -> ImagePull:
        self.task = asyncio.ensure_future(self._run())
        return self

    async def wait(self) -> None:
        """Until the pull is done; PullFailed if it failed. A waiter that gives up (its
        spawn cancelled) leaves the pull running for the others."""
        await asyncio.shield(self.task)

    async def follow(self) -> Iterator[dict]:
        """Progress events while the pull runs, one whenever something changed."""
        last = None
        while True:
            event = self.progress.event()
            if event != last:
                yield event
                last = event
            if self.task.done():
                return
            await asyncio.wait([self.task], timeout=PROGRESS_INTERVAL)

    def _take(self, event: dict) -> None:
        self.last_event = time.monotonic()
        try:
            self.progress.update(event)
        except PullFailed as err:
            self.error = self.error or err

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()

        def pull():
            for event in self._stream():
                loop.call_soon_threadsafe(self._take, event)

        worker = loop.run_in_executor(None, pull)
        # A stalled pull's thread ends when the engine's connection times out: nobody waits for it.
        worker.add_done_callback(lambda f: f.cancelled() or f.exception())
        while True:
            await asyncio.wait([worker], timeout=min(1.0, self.stall_timeout))
            await asyncio.sleep(0)  # the events the thread handed over before it ended
            if self.error:
                raise self.error
            if worker.done():
                try:
                    worker.result()
                except docker.errors.APIError as err:  # a missing tag or repository: the engine says 404
                    raise PullFailed(f"Could not pull the image {self.image}: {err.explanation or err}") from None
                except Exception as err:
                    raise PullFailed(f"Could not pull the image {self.image}: {err}") from None
                return
            if time.monotonic() - self.last_event > self.stall_timeout:
                got = self.progress.message().split(": ", 1)[-1] if self.progress.layers else "nothing received yet"
                raise PullFailed(
                    f"The pull of the image {self.image} stalled: nothing arrived for "
                    f"{self.stall_timeout:g} s ({got}). Try again later, or ask the hub's admin to check the registry."
                )


class PullsWithProgress(DockerSpawner):
    """A DockerSpawner that pulls a missing image before start(), with progress events.

    A DockerSpawner, like the other layers (readiness.py, docker_pool.py): it overrides
    run_pre_spawn_hook and progress, which no other layer does.
    """

    pull_stall_timeout = Float(
        120.0,
        help="Seconds a pull may go without receiving anything before the spawn fails.",
    ).tag(config=True)

    # The pulls under way in this hub process, by image reference: one per image at a time.
    _pulls: dict[str, ImagePull] = {}
    _pull: ImagePull | None = None  # the pull this spawn waits on
    _image_checked = False  # this spawn knows whether it must pull (progress waits for that)
    _image_found: tuple[str, str] | None = None  # (image, its id) as looked up for this spawn

    async def run_pre_spawn_hook(self):
        self._image_checked, self._pull, self._image_found = False, None, None
        try:
            await self.find_or_pull_image(self.image)
        finally:
            self._image_checked = True
        return await maybe_future(super().run_pre_spawn_hook())

    async def find_or_pull_image(self, image: str) -> str:
        """The image's id, pulled first (or the pull under way waited on) when it is missing."""
        if self._image_found and self._image_found[0] == image:
            return self._image_found[1]
        try:
            found = await self.docker("inspect_image", image)
        except docker.errors.NotFound:
            if self.pull_policy == "never":
                raise
            pull = self._pulls.get(image)
            if pull is None or pull.task.done():
                self.log.info("Pulling %s for %s: it is not on this host", image, self.user.name)
                pull = self._pulls[image] = ImagePull(
                    image, self._pull_stream(image), self.pull_stall_timeout, self.log
                ).start()
                pull.task.add_done_callback(lambda _: self._forget_pull(pull))
            else:
                self.log.info("%s waits for the pull of %s under way", self.user.name, image)
            self._pull = pull
            self._image_checked = True
            await pull.wait()
            found = await self.docker("inspect_image", image)
        self._image_found = (image, found["Id"])
        return found["Id"]

    async def pull_image(self, image: str) -> None:
        # DockerSpawner.start asks again: this start has looked the image up (or pulled it).
        await self.find_or_pull_image(image)

    def _forget_pull(self, pull: ImagePull) -> None:
        if self._pulls.get(pull.image) is pull:
            del self._pulls[pull.image]
        if pull.task.cancelled():
            return
        error = pull.task.exception()
        if error:
            self.log.warning("%s", error)
        else:
            self.log.info("Pulled %s in %.1f s", pull.image, time.monotonic() - pull.began)

    def _pull_stream(self, image: str) -> Callable[[], Iterable[dict]]:
        repository, tag = pull_arguments(image)
        # The Docker API takes the name as data: no shell ever sees it.
        return lambda: self.client.pull(repository, tag=tag, stream=True, decode=True)

    async def progress(self):
        while self._spawn_pending and not self._image_checked:
            await asyncio.sleep(0.1)
        pull = self._pull
        if pull is not None:
            async for event in pull.follow():
                yield event
            if pull.task.exception() if not pull.task.cancelled() else True:
                return  # JupyterHub's own failure event follows, with the pull's message
        async for event in super().progress():
            yield event
