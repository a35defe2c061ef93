"""The test run's schedule (tests/streams.py): every e2e file once, and apart what cannot share the engine."""

from __future__ import annotations

import threading

from tests import streams

REPO, E2E = streams.REPO, streams.E2E
SECURITY, SWARM, FAULTS = f"{E2E}/test_security.py", f"{E2E}/test_swarm.py", f"{E2E}/test_faults.py"


def scheduled() -> list[streams.Part]:
    return [part for phase in streams.schedule() for part in streams.all_parts(phase)]


def test_the_schedule_names_each_file_once_and_only_files_there_are():
    named = [p for part in scheduled() for p in part.paths]
    assert len(named) == len(set(named)), named
    assert all((REPO / p).exists() for p in named), named
    # A file named nowhere runs alone after the streams (streams.with_unscheduled), in its own phase.
    on_disk = {str(p.relative_to(REPO)) for p in (REPO / E2E).rglob("test_*.py")}
    phases = streams.with_unscheduled(streams.schedule())
    alone = [p for phase in phases[len(streams.schedule()):] for part in streams.all_parts(phase) for p in part.paths]
    assert set(named) | set(alone) >= on_disk and len(phases[len(streams.schedule()):]) <= 1


def test_the_engine_restart_runs_beside_no_other_docker_test():
    for phase in streams.schedule():
        parts = streams.all_parts(phase)
        paths = [p for part in parts for p in part.paths]
        if FAULTS in paths:
            assert [p for p in paths if p.startswith(E2E)] == [FAULTS], paths
            assert not any(part.command for part in parts)  # no image build either


def test_the_address_pools_are_used_up_beside_the_swarm_only():
    for phase in streams.schedule():
        (mine,) = [p for p in streams.all_parts(phase) if SECURITY in p.paths] or [None]
        if mine is None:
            continue
        assert mine.paths == [SECURITY]
        assert all(mine.name in part.after for part in phase.pool)  # nothing from the pool beside it
        for stream in phase.streams:
            if mine in stream.parts:
                assert stream.parts[0] is mine  # first in its stream
                continue
            # in every other stream, only the swarm (engines of its own) runs before it has ended
            before = stream.parts[:next((i for i, p in enumerate(stream.parts) if mine.name in p.after), len(stream.parts))]
            assert all(p.paths == [SWARM] for p in before), before


def test_parts_wait_only_for_parts_that_exist():
    names = {part.name for part in scheduled()}
    assert all(set(part.after) <= names for part in scheduled())


def test_the_pool_gives_the_longest_ready_part_and_waits_for_the_rest():
    run = streams.Run(REPO / "test-artifacts")
    image = streams.Part([], name="image", command=["true"])
    short, long_, later = (streams.Part([f"{n}.py"], seconds_measured=s) for n, s in (("short", 10), ("long", 90), ("x", 500)))
    later.after = ("image",)
    pool = [short, later, long_]
    run.parts = {p.name: p for p in (image, *pool)}
    assert run.take(pool) is long_  # `later` is longer, but its image is not built yet
    assert run.take(pool) is short
    taken = []
    waiter = threading.Thread(target=lambda: taken.append(run.take(pool)))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # waits for the image
    run.end(image)
    waiter.join(5)
    assert taken == [later] and run.take(pool) is None
