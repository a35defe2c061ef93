"""The test run's schedule (tests/streams.py): every e2e file once, and apart what cannot share the engine."""

from __future__ import annotations

from tests import streams

REPO, E2E = streams.REPO, streams.E2E


def scheduled() -> list[tuple[str, str, streams.Part]]:
    return [(title, stream.name, part) for title, ss in streams.schedule() for stream in ss for part in stream.parts]


def test_the_schedule_names_each_file_once_and_only_files_there_are():
    named = [p for _, _, part in scheduled() for p in part.paths]
    assert len(named) == len(set(named)), named
    assert all((REPO / p).exists() for p in named), named
    # A file named nowhere runs alone after the streams (streams.with_unscheduled), in its own phase.
    on_disk = {str(p.relative_to(REPO)) for p in (REPO / E2E).rglob("test_*.py")}
    phases = streams.with_unscheduled(streams.schedule())
    alone = [p for title, ss in phases[len(streams.schedule()):] for s in ss for part in s.parts for p in part.paths]
    assert set(named) | set(alone) >= on_disk and len(phases[len(streams.schedule()):]) <= 1


def test_the_engine_restart_runs_beside_no_other_docker_test():
    for title, ss in streams.schedule():
        paths = [p for stream in ss for part in stream.parts for p in part.paths]
        if f"{E2E}/test_faults.py" in paths:
            assert [p for p in paths if p.startswith(E2E)] == [f"{E2E}/test_faults.py"], paths
            assert not any(part.command for stream in ss for part in stream.parts)  # no image build either


def test_the_address_pools_are_used_up_beside_the_swarm_only():
    security = f"{E2E}/test_security.py"
    for title, ss in streams.schedule():
        (mine,) = [p for stream in ss for p in stream.parts if security in p.paths] or [None]
        if mine is None:
            continue
        assert mine.paths == [security]
        for stream in ss:
            if mine in stream.parts:
                assert stream.parts[0] is mine  # first in its stream
                continue
            # in every other stream, only the swarm (engines of its own) runs before it has ended
            before = [p for p in stream.parts[:next((i for i, p in enumerate(stream.parts) if mine.name in p.after),
                                                     len(stream.parts))]]
            assert all(p.paths == [f"{E2E}/test_swarm.py"] for p in before), before


def test_parts_wait_only_for_parts_that_exist():
    names = {part.name for _, _, part in scheduled()}
    assert all(set(part.after) <= names for _, _, part in scheduled())
