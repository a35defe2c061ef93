"""The pull of a missing image (image_pull.py): what the spawn page is told, when a pull
counts as stalled or failed, and that spawns of one image share one pull. The engine's
event stream is replaced by lists of events in the engine's own format (the e2e suite
tests/e2e/test_pull.py pulls from a real registry)."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import docker.errors
import pytest

from pyiron_hub_config.image_pull import ImagePull, PullFailed, PullProgress, PullsWithProgress

IMAGE = "registry.example.org/pyiron/base:1"
MB = 1_000_000


def downloading(layer, current, total):
    return {"status": "Downloading", "id": layer, "progressDetail": {"current": current, "total": total}}


def test_progress_counts_bytes_of_the_layers_sizes_known_and_layers_done():
    p = PullProgress(IMAGE)
    for event in [
        {"status": "Pulling from pyiron/base", "id": "1"},
        {"status": "Already exists", "id": "a"},
        {"status": "Pulling fs layer", "id": "b"},
        {"status": "Pulling fs layer", "id": "c"},
        downloading("b", 5 * MB, 20 * MB),
        downloading("c", 1 * MB, 5 * MB),
    ]:
        p.update(event)
    assert p.message() == f"Pulling the image {IMAGE} (not on this host yet): 6.0 of 25.0 MB, 1 of 3 layers done"
    assert p.event() == {"progress": int(45 * 6 / 25), "message": p.message()}
    for event in [
        {"status": "Download complete", "id": "b"},
        {"status": "Pull complete", "id": "b"},
        {"status": "Download complete", "id": "c"},
        {"status": "Pull complete", "id": "c"},
        {"status": "Digest: sha256:00"},
        {"status": f"Status: Downloaded newer image for {IMAGE}"},
    ]:
        p.update(event)
    assert p.fraction == 1.0 and p.event()["progress"] == 45
    assert "25.0 of 25.0 MB, 3 of 3 layers done" in p.message()


def test_an_error_event_fails_with_the_engines_words():
    with pytest.raises(PullFailed) as info:
        PullProgress(IMAGE).update({"errorDetail": {"message": "unauthorized"}, "error": "unauthorized"})
    assert info.value.jupyterhub_message == f"Could not pull the image {IMAGE}: unauthorized"
    assert info.value.status_code == 502  # an HTTPError: the spawn page shows the message, not "Unhandled error"


async def test_a_pull_that_advances_ends_and_its_followers_see_each_step():
    release = threading.Event()

    def stream():
        yield {"status": "Pulling fs layer", "id": "b"}
        yield downloading("b", 1 * MB, 2 * MB)
        release.wait(5)
        yield {"status": "Pull complete", "id": "b"}

    pull = ImagePull(IMAGE, stream, stall_timeout=5).start()
    seen = []

    async def follow():
        async for event in pull.follow():
            seen.append(event["message"])
            if "1.0 of 2.0 MB" in event["message"]:
                release.set()

    await asyncio.wait_for(asyncio.gather(pull.wait(), follow()), 10)
    assert any("1.0 of 2.0 MB, 0 of 1 layers" in m for m in seen)
    assert seen[-1].endswith("2.0 of 2.0 MB, 1 of 1 layers done")


async def test_a_pull_with_nothing_arriving_fails_as_stalled(monkeypatch):
    stop = threading.Event()

    def stream():
        yield downloading("b", 1 * MB, 2 * MB)
        stop.wait(10)  # the registry sends nothing more
        return
        yield

    began = time.monotonic()
    pull = ImagePull(IMAGE, stream, stall_timeout=0.5).start()
    try:
        with pytest.raises(PullFailed) as info:
            await asyncio.wait_for(pull.wait(), 5)
    finally:
        stop.set()
    assert time.monotonic() - began < 3
    assert info.value.jupyterhub_message.startswith(f"The pull of the image {IMAGE} stalled: nothing arrived for 0.5 s")
    assert "1.0 of 2.0 MB" in info.value.jupyterhub_message


async def test_a_missing_tag_fails_with_the_engines_answer():
    def stream():
        raise docker.errors.NotFound("404", explanation=f"manifest for {IMAGE} not found: manifest unknown")

    with pytest.raises(PullFailed) as info:
        await ImagePull(IMAGE, stream, stall_timeout=5).start().wait()
    assert info.value.jupyterhub_message == (
        f"Could not pull the image {IMAGE}: manifest for {IMAGE} not found: manifest unknown"
    )


class FakeEngine:
    """The Docker calls PullsWithProgress makes: inspect_image and a pull's event stream."""

    def __init__(self):
        self.images, self.pulls, self.release = {}, [], threading.Event()

    def inspect_image(self, image):
        if image not in self.images:
            raise docker.errors.NotFound(f"No such image: {image}")
        return {"Id": self.images[image]}

    def pull(self, repository, tag, stream, decode):
        self.pulls.append((repository, tag))
        yield downloading("b", 1 * MB, 2 * MB)
        self.release.wait(5)
        self.images[f"{repository}:{tag}"] = "sha256:new"
        yield {"status": "Pull complete", "id": "b"}


class Layer(PullsWithProgress):
    """Only the layer under test, on a fake engine (no DockerSpawner start here)."""

    def __init__(self, engine, name):
        super().__init__(user=SimpleNamespace(name=name))
        self.engine = engine

    @property
    def client(self):
        return self.engine

    async def docker(self, method, *args, **kwargs):
        return getattr(self.engine, method)(*args, **kwargs)


@pytest.fixture
def engine(monkeypatch):
    monkeypatch.setattr(PullsWithProgress, "_pulls", {})
    return FakeEngine()


async def test_two_starts_of_one_missing_image_share_one_pull(engine):
    alice, bob = Layer(engine, "alice"), Layer(engine, "bob")
    first = asyncio.ensure_future(alice.find_or_pull_image(IMAGE))
    while not engine.pulls:
        await asyncio.sleep(0.01)
    second = asyncio.ensure_future(bob.find_or_pull_image(IMAGE))
    await asyncio.sleep(0.1)
    assert bob._pull is alice._pull is not None
    engine.release.set()
    assert await asyncio.wait_for(asyncio.gather(first, second), 10) == ["sha256:new", "sha256:new"]
    assert engine.pulls == [("registry.example.org/pyiron/base", "1")]
    assert PullsWithProgress._pulls == {}  # done: the next start of a missing image pulls anew


async def test_an_image_on_the_host_is_looked_up_once_and_not_pulled(engine):
    engine.images[IMAGE] = "sha256:here"
    alice = Layer(engine, "alice")
    assert await alice.find_or_pull_image(IMAGE) == "sha256:here"
    del engine.images[IMAGE]  # the second look-up of the same start uses the first's answer
    assert await alice.find_or_pull_image(IMAGE) == "sha256:here"
    assert engine.pulls == []


def test_images_missing_names_those_the_engine_lacks_once_each():
    from docker.errors import ImageNotFound

    from pyiron_hub_config.host_checks import images_missing

    class Images:
        def get(self, image):
            if image != "pyiron/base:latest":
                raise ImageNotFound(image)

    client = SimpleNamespace(images=Images())
    assert images_missing(client, ["pyiron/md:1", "pyiron/base:latest", "pyiron/md:1", "a/b:2"]) == [
        "a/b:2",
        "pyiron/md:1",
    ]
