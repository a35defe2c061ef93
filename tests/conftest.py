"""Shared test set-up: tests/unit are pure; tests/hub and tests/e2e use real servers."""

import json
import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items):
    # The folder says which kind a test is, so `-m "not e2e"` works without decorating each test.
    import pytest

    for item in items:
        parts = pathlib.Path(str(item.fspath)).parts
        if "hub" in parts:
            item.add_marker(pytest.mark.hub)
        if "e2e" in parts:
            item.add_marker(pytest.mark.e2e)


# --- the reliability table --------------------------------------------------------------
# Tests of the reliability and security suite carry `pytest.mark.reliability("<area>")`;
# at the end of the run a table says, per area, how many cases were tried and how many held.
_RELIABILITY: dict[str, list[int]] = {}  # area -> [tried, held, known not to hold (xfail)]


def pytest_configure(config):
    config.addinivalue_line("markers", "reliability(area): a case of the reliability and security suite")


# --- time per test file -------------------------------------------------------------------
# The run's budget (README "Run the tests") is spent file by file: module-scoped stacks are
# paid in their first case's setup and last case's teardown, so the sum per file is its cost.
_FILE_SECONDS: dict[str, float] = {}
# The whole run (tests/streams.py) is several pytest processes side by side: each writes what
# its summary would say to this file, and the run prints one summary of them all.
SUMMARY_FILE = os.environ.get("PYIRON_HUB_TEST_SUMMARY")
_PHASES: list[tuple[str, str, float]] = []  # (test id, setup/call/teardown, seconds), for the slowest cases


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + report.duration
    if SUMMARY_FILE:
        _PHASES.append((report.nodeid, report.when, report.duration))
    area = dict(report.user_properties).get("reliability_area")
    if area and (report.when == "call" or (report.when == "setup" and report.outcome != "passed")):
        counts = _RELIABILITY.setdefault(area, [0, 0, 0])
        counts[0] += 1
        counts[1] += report.passed
        counts[2] += hasattr(report, "wasxfail")


def pytest_collection_finish(session):
    for item in session.items:
        marker = item.get_closest_marker("reliability")
        if marker is not None:  # reports carry user_properties, so the area reaches the log hook
            item.user_properties.append(("reliability_area", marker.args[0]))


def pytest_terminal_summary(terminalreporter):
    tr = terminalreporter
    if SUMMARY_FILE:  # the run's summary says it, once for all its processes
        outcomes = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "deselected")
        summary = {
            # counted as pytest's own last line counts them
            "counts": {
                k: sum(getattr(r, "count_towards_summary", True) for r in tr.stats.get(k, [])) for k in outcomes
            },
            "failed": [r.nodeid for k in ("failed", "error") for r in tr.stats.get(k, [])],
            "files": _FILE_SECONDS,
            "phases": sorted(_PHASES, key=lambda p: -p[2])[:50],
            "reliability": _RELIABILITY,
        }
        pathlib.Path(SUMMARY_FILE).write_text(json.dumps(summary))
        return
    if len(_FILE_SECONDS) > 1:
        tr.section("seconds per test file (setup, cases and teardown)")
        lines = file_seconds_lines(_FILE_SECONDS)
        for line in lines[:-1][:30] + lines[-1:]:
            tr.write_line(line)
    if _RELIABILITY:
        tr.section("reliability and security: cases tried / held")
        for line in reliability_lines(_RELIABILITY):
            tr.write_line(line)


def file_seconds_lines(files: dict[str, float]) -> list[str]:
    """Each file's seconds, the slowest first, then a line of the seconds per folder."""
    folders: dict[str, float] = {}
    for path, seconds in files.items():
        folder = path.split("/")[1] if path.count("/") > 1 else path
        folders[f"tests/{folder}"] = folders.get(f"tests/{folder}", 0.0) + seconds
    return [f"{seconds:8.1f}  {path}" for path, seconds in sorted(files.items(), key=lambda kv: -kv[1])] + [
        "  " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in sorted(folders.items()))
    ]


def reliability_lines(areas: dict[str, list[int]]) -> list[str]:
    """The table: per area (and in total) cases tried, held, known not to hold, failed."""
    width = max(len(a) for a in areas)
    rows = sorted(areas.items()) + [("total", [sum(c[i] for c in areas.values()) for i in range(3)])]
    lines = []
    for area, (tried, held, known) in rows:
        note = f"  ({known} known not to hold, marked xfail with the reason)" if known else ""
        if tried - held - known:
            note += f"  <-- {tried - held - known} FAILED"
        lines.append(f"{area:<{width}}  {tried:>4} tried  {held:>4} held{note}")
    return lines
