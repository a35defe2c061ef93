"""Secrets kept across restarts: given, else stored, else made once and stored privately."""

from __future__ import annotations

import re
import stat

from pydantic import SecretStr

from pyiron_hub_config.state import load_or_create_secret


def test_given_secret_wins_and_nothing_is_stored(tmp_path):
    assert load_or_create_secret(SecretStr("given"), tmp_path / "s") == "given"
    assert not (tmp_path / "s").exists()


def test_given_secret_wins_over_a_stored_one(tmp_path):
    (tmp_path / "s").write_text("stored\n")
    assert load_or_create_secret(SecretStr("given"), tmp_path / "s") == "given"


def test_stored_secret_is_read(tmp_path):
    (tmp_path / "s").write_text("stored\n")
    assert load_or_create_secret(None, tmp_path / "s") == "stored"


def test_new_secret_is_32_random_bytes_in_hex(tmp_path):
    assert re.fullmatch(r"[0-9a-f]{64}", load_or_create_secret(None, tmp_path / "s"))


def test_new_secret_is_stored(tmp_path):
    value = load_or_create_secret(None, tmp_path / "s")
    assert (tmp_path / "s").read_text() == value + "\n"


def test_new_secret_file_is_private(tmp_path):
    load_or_create_secret(None, tmp_path / "s")
    assert stat.S_IMODE((tmp_path / "s").stat().st_mode) == 0o600


def test_new_secret_is_reused(tmp_path):
    assert load_or_create_secret(None, tmp_path / "s") == load_or_create_secret(None, tmp_path / "s")


def test_two_paths_two_secrets(tmp_path):
    assert load_or_create_secret(None, tmp_path / "a") != load_or_create_secret(None, tmp_path / "b")


def test_missing_directory_is_created_private(tmp_path):
    load_or_create_secret(None, tmp_path / "data" / "nested" / "s")
    assert stat.S_IMODE((tmp_path / "data" / "nested").stat().st_mode) == 0o700


def test_empty_leftover_file_gets_a_real_secret(tmp_path):
    (tmp_path / "s").write_text("")
    assert re.fullmatch(r"[0-9a-f]{64}", load_or_create_secret(None, tmp_path / "s"))
