"""The whole test run, in streams side by side (docs/contributing/tests.md); scripts/test runs it.

Most of an end-to-end file's time is waiting (Keycloak's JVM, containers booting, servers
spawning, polling), not CPU, so two files at a time on one engine take little longer than
one. The e2e files keep to names, ports and volumes of their own; what cannot share the
engine is scheduled apart:

- test_faults.py restarts the Docker engine: beside nothing but tests/unit and tests/hub
  (no Docker there), before anything else starts on the engine.
- test_security.py uses up Docker's default address pools with networks (a network
  anyone else made meanwhile would fail): beside test_swarm.py only, whose three engines
  live in network namespaces of their own; every part of the pool waits for it to end
  (and remove those networks).
- Every other file is in a pool that streams A, B and C draw from once their own first part
  has ended (C has none of its own): each takes the longest part (by its seconds in the last run, tests/durations.json)
  whose images are built, so the streams stay balanced however long the builds beside them
  take. Users' containers and volumes are named after the user (jupyter-<user>) unless a
  suite sets DEPLOYMENT_NAME: parts that may run side by side use different user names
  (test_hpc's and test_stack's "admin" are one part; test_stack's "bob", test_security's,
  comes after it).
- A test file named nowhere here (a new one) runs alone at the end, so it is never left out;
  put it into the pool once it is known to share the engine.

Each part is one pytest process, its output in a log file printed whole when it ends; the
run ends with one summary of all of them (counts per stream, seconds per test file, the
slowest cases, the reliability table) and exits non-zero if any part failed.

Durations: no second here is written by hand. tests/durations.json holds each part's
seconds and each image's build seconds as the last run recorded them; the run rewrites it
at its end (the parts that passed, the images that were built rather than reused). It is in
git, so that a clean clone (CI), which has no earlier run's output, is scheduled by the last
run someone committed: commit it when it moved. scripts/test splits its own image builds by
it (`set-up-builds` below) and records what they took (`record-builds`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
E2E = "tests/e2e"
ENVS = REPO / "images/singleuser/envs"
DURATIONS = REPO / "tests/durations.json"  # what the last run recorded (see the end of the docstring)
sys.path.insert(0, str(REPO))  # run as a script: tests/ is a package of REPO's

from tests.conftest import file_seconds_lines, reliability_lines  # noqa: E402 (after the path)


@dataclass
class Part:
    """One pytest process (or `command`), started once every part named in `after` has ended."""

    paths: list[str]
    after: tuple[str, ...] = ()
    name: str = ""
    command: list[str] | None = None  # instead of pytest on `paths`
    env: dict[str, str] = field(default_factory=dict)
    expected: float = 0.0  # its seconds in the last run (durations.json): a pool's longest ready part goes first
    # filled in when it runs
    code: int | None = None
    seconds: float = 0.0
    summary: dict | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        self.name = self.name or self.paths[0].removeprefix(f"{E2E}/").removesuffix(".py")


@dataclass
class Stream:
    name: str
    parts: list[Part]  # its own, in order; then what it took from the pool, as it took them
    draws: bool = False  # takes parts from its phase's pool once its own have ended


@dataclass
class Phase:
    title: str
    streams: list[Stream]
    pool: list[Part] = field(default_factory=list)


def schedule(durations: dict | None = None) -> list[Phase]:
    """The phases, each of streams side by side, and a pool two of them draw from; each part
    expected to take its seconds in `durations` (by default tests/durations.json)."""
    security = Part([f"{E2E}/test_security.py"], name="security")
    # The images scripts/test leaves out of its own build (see later_built_environments):
    # only files that start minutes later need them. Not in phase 1: test_faults.py restarts
    # the engine, and a build would fail with it; not beside test_security.py either (the
    # rule for its address pools). One build.sh at a time (its lock): the environments on the
    # older Debian release first, then md.
    older, md = later_built_environments()
    older_images = Part(
        [],
        name="images-older-debian",
        after=(security.name,),
        env={"SINGLEUSER_ENVS": " ".join(older)},
        command=["images/build.sh", "singleuser"],
    )
    md_image = Part(
        [],
        name="images-md",
        after=(security.name,),
        env={"SINGLEUSER_ENVS": " ".join(md)},
        command=["images/build.sh", "singleuser"],
    )
    # Every pool part waits for test_security.py (the address pools).
    after = (security.name,)
    pool = [
        Part([f"{E2E}/test_backup.py"], after=after),
        # One demo for both (a package fixture); scripts/demo builds its own md from the same layers.
        Part(
            [f"{E2E}/demo/test_keycloak.py", f"{E2E}/demo/test_pages_browser.py"],
            name="demo",
            after=(*after, md_image.name),
        ),
        # One Keycloak hub for both (a package fixture).
        Part(
            [f"{E2E}/demo/test_access_withdrawn.py", f"{E2E}/demo/test_user_origins.py"],
            name="keycloak-origins",
            after=after,
        ),
        Part([f"{E2E}/test_bad_config.py"], after=after),
        Part([f"{E2E}/test_pull.py"], after=after),
        Part([f"{E2E}/test_tls_origins.py"], after=after),
        Part([f"{E2E}/test_usage.py"], after=after),
        # pyiron_base's image and the Debian base; its own btrfs loop files and second engine.
        Part([f"{E2E}/test_quota.py"], after=after),
        # Only pyiron_base's image; its "admin" only logs in (no server of that name).
        Part([f"{E2E}/test_culling.py"], after=after),
        # Its own Keycloak (the test image) and stack, the base image only.
        Part([f"{E2E}/test_production.py"], after=after),
        # One part: both have a user "admin".
        Part([f"{E2E}/test_hpc.py", f"{E2E}/test_stack.py"], name="hpc+stack", after=(*after, older_images.name)),
        Part([f"{E2E}/test_workbench.py"], after=(*after, older_images.name, md_image.name)),
        Part([f"{E2E}/test_todays_pyiron.py"], after=(*after, older_images.name, md_image.name)),
        # Its `pyiron-hub pull --missing` must find nothing missing but its probe image: after every build.
        Part([f"{E2E}/test_docker_guard.py"], after=(*after, older_images.name, md_image.name)),
    ]
    phases = [
        Phase(
            "phase 1: unit and hub tests beside the engine's faults",
            [
                Stream("unit+hub", [Part(["tests/unit", "tests/hub"], name="unit+hub")]),
                Stream("faults", [Part([f"{E2E}/test_faults.py"])]),
            ],
        ),
        Phase(
            "phase 2: the end-to-end files in three streams",
            [
                Stream("A", [Part([f"{E2E}/test_swarm.py"])], draws=True),
                Stream("B", [security], draws=True),
                # A third: the parts wait on Keycloak, containers and servers more than on the
                # two cores, and two streams left phase 2 at about 41 minutes of 45 (CI, stop 37).
                Stream("C", [], draws=True),
                Stream("images", [older_images, md_image]),
            ],
            pool,
        ),
    ]
    seconds = (load_durations() if durations is None else durations).get("parts", {})
    for phase in phases:
        for part in all_parts(phase):
            part.expected = expected(seconds, part.name)
    return phases


def expected(seconds: dict[str, float], name: str) -> float:
    """Its seconds in the last run; a part never recorded (a new one) counts as an average one."""
    if name in seconds:
        return float(seconds[name])
    return sum(seconds.values()) / len(seconds) if seconds else 0.0


def later_built_environments() -> tuple[list[str], list[str]]:
    """The environments built beside the tests (the image parts above), not in scripts/test's
    set-up: those on an older Debian release (a debian-suite file; their own base by
    debootstrap) and md (the largest). Only files that start minutes later need them."""
    envs = environments()
    return [e for e in envs if (ENVS / e / "debian-suite").exists()], ["md"]


def environments() -> list[str]:
    return sorted(p.name for p in ENVS.iterdir() if p.is_dir())


# --- the set-up's image builds (scripts/test) ---------------------------------------------
# What the set-up builds beside the python environment, before the first tests: every image
# but the environments built later. Each inner list is built in that order in one job
# (workflow is built on the base environment's image); keycloak is images/keycloak/build.sh.
SET_UP_TARGETS = ["workflow", "postgres", "slurm", "nginx", "hub", "keycloak"]
BUILT_ON = {"workflow": "base"}
SET_UP_JOBS = 2  # A build waits on the network and on single-threaded pip and dpkg as much as on the
# CPU, so two at once on two cores take less than one after the other; three did not pay.


def set_up_builds(durations: dict | None = None, logs: str = "test-artifacts/set-up") -> list[tuple[str, str, str]]:
    """The set-up's build jobs, as (name, shell command, what it builds with its seconds).

    First, one job per older Debian release: its base by debootstrap (the network and dpkg),
    for the environments built beside the tests. Then the images the first tests need in
    SET_UP_JOBS jobs, balanced by their seconds in the last build that built them (longest
    first, each to the job with the fewest seconds so far). The default Debian base must
    exist before (scripts/test builds it first): each job has a lock of its own.
    """
    seconds = (load_durations() if durations is None else durations).get("images", {})
    older, later = later_built_environments()
    jobs = []
    for suite in sorted({(ENVS / e / "debian-suite").read_text().strip() for e in older}):
        env = next(e for e in older if (ENVS / e / "debian-suite").read_text().strip() == suite)
        jobs.append(
            (
                f"images-{suite}-base",
                f"SINGLEUSER_ENVS={env} BUILD_LOCK_FILE={logs}/build-{suite}-base.lock images/build.sh base",
                f"the Debian {suite} base, for {', '.join(older)}",
            )
        )
    units = [e for e in environments() if e not in older + later] + SET_UP_TARGETS
    groups = [[u] + [d for d in units if BUILT_ON.get(d) == u] for u in units if BUILT_ON.get(u) not in units]
    groups.sort(key=lambda g: -sum(expected(seconds, u) for u in g))
    split: list[list[str]] = [[] for _ in range(SET_UP_JOBS)]
    for group in groups:
        min(split, key=lambda job: sum(expected(seconds, u) for u in job)).extend(group)
    for n, job in enumerate(split, 1):
        envs = [u for u in job if u in environments()]
        targets = (["singleuser"] if envs else []) + [u for u in SET_UP_TARGETS if u in job and u != "keycloak"]
        steps = (
            [
                f"SINGLEUSER_ENVS='{' '.join(envs)}' BUILD_LOCK_FILE={logs}/build-{n}.lock images/build.sh "
                + " ".join(targets)
            ]
            if targets
            else []
        )
        steps += ["images/keycloak/build.sh"] if "keycloak" in job else []
        what = ", ".join(f"{u} {expected(seconds, u):.0f} s" for u in job)
        jobs.append((f"images-{n}", " && ".join(steps), f"{what} ({sum(expected(seconds, u) for u in job):.0f} s)"))
    return jobs


# --- durations: what the last run recorded ------------------------------------------------
def load_durations(path: Path | None = None) -> dict:
    path = path or DURATIONS
    return json.loads(path.read_text()) if path.exists() else {"parts": {}, "images": {}}


def save_durations(durations: dict, path: Path | None = None) -> bool:
    """Whole seconds, sorted: a run that took about as long changes few lines. Did it change?"""
    path = path or DURATIONS
    out = {kind: {k: round(v) for k, v in sorted(durations.get(kind, {}).items())} for kind in ("parts", "images")}
    text = json.dumps(out, indent=2) + "\n"
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def built_seconds(log: str) -> dict[str, float]:
    """The images a build log says were built (not reused), by name, with their seconds.

    build.sh: "[build.sh] pyiron-hub-test/pyiron:latest: built (196s)"; images/keycloak/build.sh:
    "[keycloak-image] fetched in 5 s", "[keycloak-image] built pyiron-hub-test/keycloak:26.4.2 in 19 s".
    """
    seconds: dict[str, float] = {}
    fetched = 0.0
    for line in log.splitlines():
        if m := re.match(r"\[build\.sh\] (\S+?): built \((\d+)s\)$", line):
            seconds[image_name(m[1])] = float(m[2])
        elif m := re.match(r"\[keycloak-image\] fetched in (\d+) s$", line):
            fetched = float(m[1])
        elif m := re.match(r"\[keycloak-image\] built (\S+) in (\d+) s$", line):
            seconds[image_name(m[1])] = fetched + float(m[2])
    return seconds


def image_name(tag: str) -> str:
    """'pyiron-hub-test/pyiron:latest' -> 'pyiron' (the set-up's unit of build)."""
    return tag.rsplit("/", 1)[-1].split(":", 1)[0]


def record(durations: dict, parts: list[Part], logs: Path) -> dict:
    """The durations with what this run measured: each part that passed, each image it built."""
    new = {kind: dict(durations.get(kind, {})) for kind in ("parts", "images")}
    for part in parts:
        if part.code == 0 and (part.summary is not None or part.command):
            new["parts"][part.name] = part.seconds
        if part.command and (logs / f"{part.name}.log").exists():
            new["images"].update(built_seconds((logs / f"{part.name}.log").read_text(errors="replace")))
    return new


def all_parts(phase: Phase) -> list[Part]:
    return [part for stream in phase.streams for part in stream.parts] + phase.pool


def with_unscheduled(phases: list[Phase]) -> list[Phase]:
    """Drop files that are gone; every e2e file named nowhere runs alone, last."""
    named = set()
    for phase in phases:
        for part in all_parts(phase):
            if part.command:
                continue
            gone = [p for p in part.paths if not (REPO / p).exists()]
            for p in gone:
                print(f"note: {p} is in the schedule but not in the repository", flush=True)
            part.paths = [p for p in part.paths if p not in gone]
            named.update(part.paths)
        for stream in phase.streams:
            stream.parts = [p for p in stream.parts if p.paths or p.command]
        phase.pool = [p for p in phase.pool if p.paths or p.command]
    rest = sorted(str(p.relative_to(REPO)) for p in (REPO / E2E).rglob("test_*.py"))
    rest = [p for p in rest if p not in named and not any(p.startswith(n + "/") for n in named)]
    if rest:
        print(f"note: not in any stream, so run alone at the end: {', '.join(rest)}", flush=True)
        phases.append(Phase("phase 3: files in no stream, alone", [Stream("alone", [Part(rest, name="alone")])]))
    return phases


class Run:
    def __init__(self, logs: Path):
        self.logs, self.start = logs, time.monotonic()
        self.print_lock = threading.Lock()
        self.running: dict[str, tuple[subprocess.Popen, Path, float]] = {}  # part name -> process, log, start
        self.parts: dict[str, Part] = {}
        self.stopping = False
        self.finished = threading.Event()
        self.ended = threading.Condition()  # notified whenever a part ends: a pool part may be ready

    def end(self, part: Part) -> None:
        part.done.set()
        with self.ended:
            self.ended.notify_all()

    def say(self, text: str) -> None:
        with self.print_lock:
            print(f"[{time.strftime('%H:%M:%S')} +{time.monotonic() - self.start:.0f} s] {text}", flush=True)

    def run_part(self, stream: Stream, part: Part) -> None:
        waited = [self.parts[name] for name in part.after if name in self.parts]
        if any(not w.done.is_set() for w in waited):
            self.say(f"stream {stream.name}: {part.name} waits for {', '.join(part.after)} to end")
            for w in waited:
                w.done.wait()
        failed = [w.name for w in waited if w.command and w.code != 0]  # what it needs was not made
        if self.stopping or failed:
            part.code = -1
            if failed:
                self.say(f"stream {stream.name}: {part.name} NOT RUN: {', '.join(failed)} failed (its log is above)")
            self.end(part)
            return
        log, summary = self.logs / f"{part.name}.log", self.logs / f"{part.name}.json"
        summary.unlink(missing_ok=True)
        cmd = part.command or [sys.executable, "-m", "pytest", *part.paths, "-p", "no:cacheprovider", "-ra"]
        self.say(f"stream {stream.name}: {part.name} started: {' '.join(part.paths or cmd)} (log: {log})")
        t0 = time.monotonic()
        with open(log, "w") as out:
            env = {**os.environ, **part.env, "PYIRON_HUB_TEST_SUMMARY": str(summary)}
            # A session of its own: a Ctrl-C in the terminal reaches it once, from interrupt().
            proc = subprocess.Popen(
                cmd,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
            self.running[part.name] = (proc, log, t0)
            part.code = proc.wait()
            del self.running[part.name]
        part.seconds = time.monotonic() - t0
        part.summary = json.loads(summary.read_text()) if summary.exists() else None
        with self.print_lock:
            rule = "=" * 100
            print(
                f"\n{rule}\n== stream {stream.name}, {part.name}: {' '.join(part.paths or cmd)}\n"
                f"== exit {part.code} after {part.seconds:.0f} s; its whole output ({log}):\n{rule}",
                flush=True,
            )
            sys.stdout.write(log.read_text(errors="replace"))
            print(f"{rule}\n== end of stream {stream.name}, {part.name}\n{rule}\n", flush=True)
        self.end(part)

    def take(self, pool: list[Part]) -> Part | None:
        """The longest part of the pool whose parts to wait for have ended (waiting until one
        is ready); None once the pool is empty or the run is stopping. Longest first, so that
        the short ones even the streams out at the end."""
        with self.ended:
            while pool and not self.stopping:
                ready = [p for p in pool if all(self.parts[n].done.is_set() for n in p.after if n in self.parts)]
                if ready:
                    part = max(ready, key=lambda p: p.expected)
                    pool.remove(part)
                    return part
                self.ended.wait()
        return None

    def run_stream(self, stream: Stream, pool: list[Part]) -> None:
        for part in list(stream.parts):
            self.run_part(stream, part)
        while stream.draws and (part := self.take(pool)):
            stream.parts.append(part)
            self.run_part(stream, part)

    def run_phase(self, phase: Phase) -> float:
        t0 = time.monotonic()
        self.say(
            f"{phase.title}: "
            + "; ".join(
                f"stream {s.name}: "
                + " then ".join(p.name for p in s.parts)
                + (", then from the pool" if s.draws else "")
                for s in phase.streams
            )
            + (f"; the pool: {', '.join(p.name for p in phase.pool)}" if phase.pool else "")
        )
        threads = [threading.Thread(target=self.run_stream, args=(s, phase.pool), name=s.name) for s in phase.streams]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - t0

    def heartbeat(self, every: float = 300) -> None:
        """Logs are printed when a part ends: meanwhile, now and then, what runs and where it is."""
        while not self.finished.wait(every):
            for name, (_, log, t0) in list(self.running.items()):
                lines = log.read_text(errors="replace").splitlines() if log.exists() else []
                self.say(f"{name} running for {time.monotonic() - t0:.0f} s: {lines[-1][:120] if lines else ''}")

    def interrupt(self) -> None:
        """Ctrl-C or SIGTERM: each pytest is interrupted as it would be alone, so its fixtures
        clean up, and its log so far is printed."""
        self.stopping = True
        for proc, _, _ in list(self.running.values()):
            proc.send_signal(signal.SIGINT)
        for part in self.parts.values():
            self.end(part)


def print_summary(phases: list[Phase], phase_seconds: list[float], total: float) -> bool:
    ok = True
    print("\n" + "=" * 100 + "\n== summary of the whole run\n" + "=" * 100)
    files: dict[str, float] = {}
    phases_seen: list[tuple[str, str, float]] = []
    reliability: dict[str, list[int]] = {}
    failed: list[str] = []
    for phase, seconds in zip(phases, phase_seconds, strict=False):
        print(f"\n{phase.title}: {seconds:.0f} s")
        # What is left in the pool never started (the run was stopped).
        for stream in [*phase.streams, Stream("pool", phase.pool)]:
            for part in stream.parts:
                s = part.summary
                if part.code is None or (part.code == -1 and part.seconds == 0):
                    counts = "not run"
                elif part.command:
                    counts = " ".join(part.command)
                elif s is None:
                    counts = "no summary written (pytest did not get to its end)"
                else:
                    counts = ", ".join(f"{n} {k}" for k, n in s["counts"].items() if n) or "no tests"
                    for path, sec in s["files"].items():
                        files[path] = files.get(path, 0.0) + sec
                    phases_seen += [tuple(p) for p in s["phases"]]
                    for area, c in s["reliability"].items():
                        reliability[area] = [a + b for a, b in zip(reliability.get(area, [0, 0, 0]), c, strict=False)]
                    failed += s["failed"]
                good = part.code == 0 and (s is not None or part.command is not None)
                ok &= good
                verdict = "ok" if good else "NOT RUN" if counts == "not run" else f"FAILED (exit {part.code})"
                print(f"  stream {stream.name:<8} {part.name:<18} {part.seconds:6.0f} s  {verdict}: {counts}")
    print("\nseconds per test file (setup, cases and teardown), summed over the streams:")
    print("\n".join(file_seconds_lines(files)))
    print("\nslowest cases (setup, call or teardown):")
    for nodeid, when, seconds in sorted(phases_seen, key=lambda p: -p[2])[:25]:
        print(f"{seconds:8.2f}s {when:<8} {nodeid}")
    if reliability:
        print("\nreliability and security: cases tried / held")
        print("\n".join(reliability_lines(reliability)))
    if failed:
        print("\nfailed:")
        for nodeid in failed:
            print(f"  {nodeid}")
    print(
        f"\nthe tests took {total:.0f} s ({total / 60:.1f} min) from the first start to the last end: "
        + ("all passed" if ok else "SOME FAILED")
    )
    return ok


def main(argv: list[str]) -> int:
    if argv[:1] == ["set-up-builds"]:  # scripts/test: one job a line, "name<TAB>command<TAB>what"
        for job in set_up_builds(logs=argv[1] if len(argv) > 1 else "test-artifacts/set-up"):
            print("\t".join(job))
        return 0
    if argv[:1] == ["record-builds"]:  # scripts/test, after its builds: their logs
        durations = load_durations()
        for log in argv[1:]:
            durations["images"].update(built_seconds(Path(log).read_text(errors="replace")))
        save_durations(durations)
        return 0
    if argv:
        print(f"usage: {sys.argv[0]} [set-up-builds [LOGS] | record-builds LOG...]", file=sys.stderr)
        return 2
    logs = Path(os.environ.get("PYIRON_HUB_TEST_LOGS", REPO / "test-artifacts" / "test-run"))
    logs.mkdir(parents=True, exist_ok=True)
    phases = with_unscheduled(schedule())
    run = Run(logs)
    run.parts = {p.name: p for phase in phases for p in all_parts(phase)}
    phase_seconds = []
    # CI's stop as Ctrl-C; and Ctrl-C handled even where it was ignored (a background job),
    # so that the parts (which inherit an ignored one) can be interrupted.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)
    threading.Thread(target=run.heartbeat, daemon=True).start()
    try:
        for phase in phases:
            phase_seconds.append(run.run_phase(phase))
            if run.stopping:
                break
    except KeyboardInterrupt:
        for sig in (signal.SIGINT, signal.SIGTERM):  # once is enough: the parts are cleaning up
            signal.signal(sig, signal.SIG_IGN)
        run.interrupt()
        for t in threading.enumerate():
            if t is not threading.current_thread() and not t.daemon:
                t.join()
    phase_seconds += [0.0] * (len(phases) - len(phase_seconds))
    run.finished.set()
    ok = print_summary(phases, phase_seconds, time.monotonic() - run.start)
    # Not the files in no stream: "alone" is whichever files those are this time.
    scheduled = {part.name for phase in schedule({}) for part in all_parts(phase)}
    if save_durations(record(load_durations(), [p for p in run.parts.values() if p.name in scheduled], logs)):
        print(
            f"\n{os.path.relpath(DURATIONS, REPO)}: updated with this run's seconds (git diff shows what moved; "
            "commit it, so that a clean clone is scheduled by them)"
        )
    return 0 if ok and not run.stopping else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
