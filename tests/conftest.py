"""Shared test set-up: tests/unit are pure; tests/hub and tests/e2e use real servers."""

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
