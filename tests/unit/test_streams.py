"""The test run's schedule (tests/streams.py): every e2e file once, and apart what cannot share the engine."""

from __future__ import annotations

import re
import threading

import pytest

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
    alone = [p for phase in phases[len(streams.schedule()) :] for part in streams.all_parts(phase) for p in part.paths]
    assert set(named) | set(alone) >= on_disk and len(phases[len(streams.schedule()) :]) <= 1


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
            before = stream.parts[
                : next((i for i, p in enumerate(stream.parts) if mine.name in p.after), len(stream.parts))
            ]
            assert all(p.paths == [SWARM] for p in before), before


def test_parts_wait_only_for_parts_that_exist():
    names = {part.name for part in scheduled()}
    assert all(set(part.after) <= names for part in scheduled())


def test_the_pool_gives_the_longest_ready_part_and_waits_for_the_rest():
    run = streams.Run(REPO / "test-artifacts")
    image = streams.Part([], name="image", command=["true"])
    short, long_, later = (streams.Part([f"{n}.py"], expected=s) for n, s in (("short", 10), ("long", 90), ("x", 500)))
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


def test_each_part_is_expected_to_take_what_the_last_run_recorded_and_a_new_one_an_average():
    durations = {"parts": {"test_backup": 500, "security": 100}}
    parts = {part.name: part for phase in streams.schedule(durations) for part in streams.all_parts(phase)}
    assert parts["test_backup"].expected == 500 and parts["security"].expected == 100
    assert parts["test_pull"].expected == 300  # never recorded: taken neither first nor last
    assert all(part.expected == 0 for part in streams.all_parts(streams.schedule({})[1]))


def set_up_environments(jobs) -> list[list[str]]:
    return [
        re.search(r"SINGLEUSER_ENVS='([^']*)'", command)[1].split()
        for _, command, _ in jobs
        if "SINGLEUSER_ENVS='" in command
    ]


@pytest.mark.parametrize("images", [streams.load_durations()["images"], {}, {"pyiron": 900, "base": 5, "hub": 400}])
def test_every_environment_is_built_once_before_the_tests_or_beside_them(images):
    jobs = streams.set_up_builds({"images": images})
    beside = [
        env
        for phase in streams.schedule()
        for part in streams.all_parts(phase)
        if part.command
        for env in part.env["SINGLEUSER_ENVS"].split()
    ]
    before = [env for envs in set_up_environments(jobs) for env in envs]
    assert sorted(before + beside) == streams.environments()
    # workflow is built on the base environment's image: in its job, after it
    (workflow_job,) = [command for _, command, _ in jobs if " workflow" in command]
    assert "base" in re.search(r"SINGLEUSER_ENVS='([^']*)'", workflow_job)[1].split()
    assert workflow_job.index("singleuser") < workflow_job.index("workflow")
    for target in ("postgres", "slurm", "nginx", "hub", "keycloak/build.sh"):
        assert sum(target in command for _, command, _ in jobs) == 1, target
    # the older releases' bases are made beside, by their own job (debootstrap)
    older, _ = streams.later_built_environments()
    assert any("images/build.sh base" in command and older[0] in command for _, command, _ in jobs)


def test_the_set_up_builds_are_balanced_by_the_seconds_of_the_last_builds():
    images = {
        "pyiron": 200,
        "base": 110,
        "workflow": 20,
        "hub": 80,
        "slurm": 85,
        "extra": 50,
        "postgres": 30,
        "keycloak": 20,
        "nginx": 10,
    }
    jobs = [command for name, command, _ in streams.set_up_builds({"images": images}) if name[-1].isdigit()]
    totals = [sum(images[u] for u in images if re.search(rf"\b{u}\b", command)) for command in jobs]
    assert len(jobs) == streams.SET_UP_JOBS and sum(totals) == sum(images.values())
    assert max(totals) - min(totals) <= 20, (jobs, totals)  # about even: neither job waits long for the other
    # pyiron twice as long: alone in its job but for the short ones
    images["pyiron"] = 400
    (alone,) = [
        c
        for c in (cmd for name, cmd, _ in streams.set_up_builds({"images": images}) if name[-1].isdigit())
        if "pyiron" in c
    ]
    assert re.search(r"SINGLEUSER_ENVS='pyiron'", alone) and "hub" not in alone and "slurm" not in alone


def test_a_run_records_the_parts_that_passed_and_the_images_it_built(tmp_path):
    old = {"parts": {"a": 100, "b": 200, "gone": 5}, "images": {"md": 300, "pyiron": 190}}
    passed, failed = streams.Part(["a.py"], code=0, seconds=120.4), streams.Part(["b.py"], code=1, seconds=20)
    passed.summary = failed.summary = {}
    build = streams.Part([], name="images-md", command=["images/build.sh"], code=0, seconds=330)
    (tmp_path / "images-md.log").write_text(
        "[build.sh] pyiron-hub-test/md:latest: built (318s)\n[build.sh] pyiron-hub-test/pyiron:latest: reused (unchanged) (2s)\n"
    )
    new = streams.record(old, [passed, failed, build], tmp_path)
    assert new == {"parts": {"a": 120.4, "b": 200, "gone": 5, "images-md": 330}, "images": {"md": 318, "pyiron": 190}}
    path = tmp_path / "durations.json"
    assert streams.save_durations(new, path) and streams.load_durations(path)["parts"]["a"] == 120
    assert not streams.save_durations(new, path)  # the same whole seconds: the file is left alone


def test_the_build_logs_seconds_are_read_as_build_sh_and_the_keycloak_build_write_them():
    log = "\n".join(
        [
            "[build.sh] pyiron-hub-test/debian:trixie: built (debootstrap + import) (39s)",
            "[build.sh] pyiron-hub-test/postgres:17: built (26s)",
            "[build.sh] pyiron-hub-test/hub:mine: built (80s)",
            "[build.sh] pyiron-hub-test/base:latest: reused (unchanged) (1s)",
            "[keycloak-image] fetched in 5 s",
            "[keycloak-image] built pyiron-hub-test/keycloak:26.4.2 in 19 s",
        ]
    )
    assert streams.built_seconds(log) == {"postgres": 26, "hub": 80, "keycloak": 24}


def test_the_committed_durations_name_only_parts_and_images_there_are():
    durations = streams.load_durations()
    parts = {part.name for phase in streams.schedule() for part in streams.all_parts(phase)}
    images = set(streams.environments()) | set(streams.SET_UP_TARGETS)
    assert set(durations["parts"]) <= parts and set(durations["images"]) <= images, durations
