"""The whole test run, in streams side by side (README "Run the tests"); scripts/test runs it.

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
- Every other file is in a pool that streams A and B draw from once their own first part has
  ended: each takes the longest part (by its measured seconds) whose images are built, so
  the streams stay balanced however long the builds beside them take. Users' containers
  and volumes are named after the user (jupyter-<user>) unless a suite sets DEPLOYMENT_NAME:
  parts that may run side by side use different user names (test_hpc's and test_stack's
  "admin" are one part; test_stack's "bob", test_security's, comes after it).
- A test file named nowhere here (a new one) runs alone at the end, so it is never left out;
  put it into the pool once it is known to share the engine.

Each part is one pytest process, its output in a log file printed whole when it ends; the
run ends with one summary of all of them (counts per stream, seconds per test file, the
slowest cases, the reliability table) and exits non-zero if any part failed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
E2E = "tests/e2e"
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
    seconds_measured: float = 0.0  # from nothing (README): a pool's longest ready part is taken first
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


def schedule() -> list[Phase]:
    """The phases, each of streams side by side, and a pool two of them draw from. A part's
    seconds_measured: its seconds in the run from nothing at a57badf (README)."""
    security = Part([f"{E2E}/test_security.py"], name="security")
    # The images scripts/test leaves out of its own build (see later_built_environments):
    # only files that start minutes later need them. Not in phase 1: test_faults.py restarts
    # the engine, and a build would fail with it; not beside test_security.py either (the
    # rule for its address pools). One build.sh at a time (its lock): the environments on the
    # older Debian release first, then md.
    older, md = later_built_environments()
    older_images = Part([], name="images-older-debian", after=(security.name,), env={"SINGLEUSER_ENVS": " ".join(older)},
                        command=["images/build.sh", "singleuser"])
    md_image = Part([], name="images-md", after=(security.name,), env={"SINGLEUSER_ENVS": " ".join(md)},
                    command=["images/build.sh", "singleuser"])
    # Every pool part waits for test_security.py (the address pools).
    after = (security.name,)
    pool = [
        Part([f"{E2E}/test_backup.py"], after=after, seconds_measured=528),
        # One demo for both (a package fixture); scripts/demo builds its own md from the same layers.
        Part([f"{E2E}/demo/test_keycloak.py", f"{E2E}/demo/test_pages_browser.py"], name="demo",
             after=(*after, md_image.name), seconds_measured=491),
        # One Keycloak hub for both (a package fixture).
        Part([f"{E2E}/demo/test_access_withdrawn.py", f"{E2E}/demo/test_user_origins.py"], name="keycloak-origins",
             after=after, seconds_measured=267),
        Part([f"{E2E}/test_bad_config.py"], after=after, seconds_measured=202),
        Part([f"{E2E}/test_pull.py"], after=after, seconds_measured=196),
        Part([f"{E2E}/test_tls_origins.py"], after=after, seconds_measured=97),
        Part([f"{E2E}/test_usage.py"], after=after, seconds_measured=94),
        # Only pyiron_base's image; its "admin" only logs in (no server of that name).
        Part([f"{E2E}/test_culling.py"], after=after, seconds_measured=300),
        # Its own Keycloak (the test image) and stack, the base image only; an estimate, not yet
        # measured in a run from nothing.
        Part([f"{E2E}/test_production.py"], after=after, seconds_measured=240),
        # One part: both have a user "admin".
        Part([f"{E2E}/test_hpc.py", f"{E2E}/test_stack.py"], name="hpc+stack", after=(*after, older_images.name),
             seconds_measured=693),
        Part([f"{E2E}/test_workbench.py"], after=(*after, older_images.name, md_image.name), seconds_measured=321),
        Part([f"{E2E}/test_todays_pyiron.py"], after=(*after, older_images.name, md_image.name), seconds_measured=165),
        # Its `pyiron-hub pull --missing` must find nothing missing but its probe image: after every build.
        Part([f"{E2E}/test_docker_guard.py"], after=(*after, older_images.name, md_image.name), seconds_measured=47),
    ]
    return [
        Phase("phase 1: unit and hub tests beside the engine's faults", [
            Stream("unit+hub", [Part(["tests/unit", "tests/hub"], name="unit+hub", seconds_measured=78)]),
            Stream("faults", [Part([f"{E2E}/test_faults.py"], seconds_measured=221)]),
        ]),
        Phase("phase 2: the end-to-end files in two streams", [
            Stream("A", [Part([f"{E2E}/test_swarm.py"], seconds_measured=848)], draws=True),
            Stream("B", [security], draws=True),
            Stream("images", [older_images, md_image]),
        ], pool),
    ]


def later_built_environments() -> tuple[list[str], list[str]]:
    """The environments scripts/test leaves to the streams: those on an older Debian release
    (a debian-suite file; their own base by debootstrap) and md (the largest). scripts/test
    builds every other one before the tests, with the same rule."""
    envs = sorted(p.name for p in (REPO / "images/singleuser/envs").iterdir() if p.is_dir())
    return [e for e in envs if (REPO / "images/singleuser/envs" / e / "debian-suite").exists()], ["md"]


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
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    start_new_session=True)
            self.running[part.name] = (proc, log, t0)
            part.code = proc.wait()
            del self.running[part.name]
        part.seconds = time.monotonic() - t0
        part.summary = json.loads(summary.read_text()) if summary.exists() else None
        with self.print_lock:
            rule = "=" * 100
            print(f"\n{rule}\n== stream {stream.name}, {part.name}: {' '.join(part.paths or cmd)}\n"
                  f"== exit {part.code} after {part.seconds:.0f} s; its whole output ({log}):\n{rule}", flush=True)
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
                    part = max(ready, key=lambda p: p.seconds_measured)
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
        self.say(f"{phase.title}: " + "; ".join(
            f"stream {s.name}: " + " then ".join(p.name for p in s.parts) + (", then from the pool" if s.draws else "")
            for s in phase.streams) + (f"; the pool: {', '.join(p.name for p in phase.pool)}" if phase.pool else ""))
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
    for phase, seconds in zip(phases, phase_seconds):
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
                        reliability[area] = [a + b for a, b in zip(reliability.get(area, [0, 0, 0]), c)]
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
    print(f"\nthe tests took {total:.0f} s ({total / 60:.1f} min) from the first start to the last end: "
          + ("all passed" if ok else "SOME FAILED"))
    return ok


def main() -> int:
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
    return 0 if ok and not run.stopping else 1


if __name__ == "__main__":
    sys.exit(main())
