"""Shared fixtures for the unit tests: no Docker, no database, no network."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyiron_hub_config.catalogue import load_catalogue, resolve_environments
from pyiron_hub_config.settings import SECRET_VARIABLES, load_settings, variable_names

from .helpers import ALL_IMAGES_ENV, MINIMAL_ENV


@pytest.fixture
def minimal_env(tmp_path) -> dict[str, str]:
    """A valid environment whose DATA_DIR is a fresh temporary directory."""
    return {**MINIMAL_ENV, "DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def write_catalogue(tmp_path):
    """Write TOML text to a catalogue file in tmp_path and return its path."""

    def write(text: str, name: str = "environments.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def environments():
    """The built-in catalogue, all of it offered, resolved with default settings (2G, 1 CPU)."""
    return resolve_environments(load_catalogue(), load_settings({**MINIMAL_ENV, **ALL_IMAGES_ENV}, check_paths=False))


@pytest.fixture
def clean_environ(monkeypatch):
    """os.environ without any variable the hub reads, so tests set exactly what they mean."""
    for name in variable_names():
        monkeypatch.delenv(name, raising=False)
    for name in SECRET_VARIABLES:
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    monkeypatch.delenv("JUPYTERHUB_CONFIG", raising=False)
    return monkeypatch


@pytest.fixture
def hub_environ(clean_environ, tmp_path):
    """os.environ set to the minimal valid environment (DATA_DIR in tmp_path)."""
    for key, value in MINIMAL_ENV.items():
        clean_environ.setenv(key, value)
    clean_environ.setenv("DATA_DIR", str(tmp_path / "data"))
    return clean_environ


@pytest.fixture(autouse=True)
def _umask_unchanged():
    """A test that leaves the process umask changed fails: the suites after it in the same run
    would make directories that containers' users cannot read (it happened, see key_sync)."""
    import os

    before = os.umask(0o022)
    os.umask(before)
    yield
    after = os.umask(before)
    assert after == before, f"the test changed the process umask from {before:o} to {after:o}"
