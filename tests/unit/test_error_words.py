"""Other programs' words the code recognises (error_words.py), tested against their own output.

tests/unit/samples/ holds that output as recorded from the real program, with the command
that gave it; re-record when the image's version changes (the file name says which).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyiron_hub_config import error_words as words
from pyiron_hub_config.backup import RESTIC_EXITS, restic_problem

SAMPLES = Path(__file__).parent / "samples"
RESTIC_SAMPLES = json.loads((SAMPLES / "restic-0.18.0.json").read_text())
RESTIC = RESTIC_SAMPLES["cases"]


def test_the_samples_are_of_the_restic_the_hub_image_installs():
    # Debian trixie's restic is 0.18.0; tests/e2e/test_backup.py asks the built image itself.
    assert "ARG BASE_IMAGE=debian:trixie-slim" in (Path(__file__).parents[2] / "Dockerfile").read_text()
    assert RESTIC_SAMPLES["version"] == "restic 0.18.0"


@pytest.mark.parametrize(
    "case, status",
    [
        ("no-repository", words.RESTIC_NO_REPOSITORY),
        ("locked", words.RESTIC_LOCKED),
        ("wrong-password", words.RESTIC_WRONG_PASSWORD),
    ],
)
def test_restic_says_these_by_its_exit_code(case, status):
    assert RESTIC[case]["exit"] == status
    assert restic_problem(RESTIC[case]["exit"], "", "/r") == RESTIC_EXITS[status].format(repo="/r")


@pytest.mark.parametrize(
    "case, fix", [("disk-full", "is full: free space there"), ("unreachable", "cannot reach the repository")]
)
def test_restic_says_these_only_in_words(case, fix):
    sample = RESTIC[case]
    assert sample["exit"] == 1  # as for any other failure
    assert fix in restic_problem(sample["exit"], sample["output"], "/r")


def test_no_other_sample_is_taken_for_a_full_disk_or_an_unreachable_repository():
    for case, sample in RESTIC.items():
        assert bool(words.RESTIC_DISK_FULL.search(sample["output"])) == (case == "disk-full"), case
        assert bool(words.RESTIC_UNREACHABLE.search(sample["output"])) == (case == "unreachable"), case


def test_an_init_where_a_repository_is_is_told_by_its_words():
    assert RESTIC["init-where-one-is"]["exit"] == 1
    assert all(
        bool(words.RESTIC_REPOSITORY_EXISTS.search(s["output"])) == (case == "init-where-one-is")
        for case, s in RESTIC.items()
    )


def test_a_snapshot_id_that_matches_nothing_is_no_failure_but_an_empty_list():
    # backup.snapshot_list relies on it: no words to recognise.
    sample = RESTIC["no-such-snapshot"]
    assert sample["exit"] == 0 and sample["output"].strip().splitlines()[-1] == "[]"
