"""`pyiron-hub pull`: the list of images (images_to_pull) and how each is handed to the
Docker API (pull_arguments); nothing here talks to Docker."""

from __future__ import annotations

import pytest

from pyiron_hub_config.cli import images_to_pull, pull_arguments
from pyiron_hub_config.problems import ConfigError

from .helpers import catalogue_entry

# What pyiron builds today; the workflow and retired entries have no image until their variable names one.
BUILTIN_IMAGES = ["pyiron/base:latest", "pyiron/md:latest", "pyiron/pyiron:latest"]


def pull_problems(environ) -> list:
    with pytest.raises(ConfigError) as info:
        images_to_pull(environ)
    return info.value.problems


def test_builtin_catalogue_images():
    assert images_to_pull({}) == BUILTIN_IMAGES


@pytest.mark.parametrize(
    "variable, replaced",
    [
        ("PYIRON_BASE", "pyiron/base:latest"),
        ("PYIRON_ATOMISTIC", "pyiron/pyiron:latest"),
        ("PYIRON_MD", "pyiron/md:latest"),
        ("PYIRON_CONTINUUM", None),
        ("PYIRON_EXPERIMENTAL", None),
        ("PYIRON_WORKFLOW", None),
    ],
)
def test_legacy_override_replaces_its_image(variable, replaced):
    images = images_to_pull({variable: "registry.example.org/mine:1"})
    assert images == sorted([i for i in BUILTIN_IMAGES if i != replaced] + ["registry.example.org/mine:1"])


def test_one_image_shared_by_two_environments_is_pulled_once():
    assert images_to_pull({"PYIRON_BASE": "pyiron/pyiron:latest"}) == ["pyiron/md:latest", "pyiron/pyiron:latest"]


def test_blank_override_means_unset():
    assert images_to_pull({"PYIRON_BASE": ""}) == BUILTIN_IMAGES


def test_override_is_stripped():
    assert "pyiron/base:2" in images_to_pull({"PYIRON_BASE": "  pyiron/base:2 "})


@pytest.mark.parametrize("image", ["pyiron/base; rm -rf /", "$(reboot)", "pyiron/`id`", "a|b", "Pyiron/Base", "a b"])
def test_bad_override_rejected(image):
    problems = pull_problems({"PYIRON_BASE": image})
    assert [p.where for p in problems] == ["PYIRON_BASE"]
    assert "not a valid image reference" in problems[0].message


def test_every_bad_override_reported_at_once():
    problems = pull_problems({"PYIRON_BASE": "a b", "PYIRON_CONTINUUM": "c;d"})
    assert sorted(p.where for p in problems) == ["PYIRON_BASE", "PYIRON_CONTINUUM"]


def test_custom_catalogue(write_catalogue):
    path = write_catalogue(catalogue_entry("gpu", "pyiron/gpu:1") + catalogue_entry("cpu", "pyiron/cpu:1"))
    assert images_to_pull({"ENVIRONMENTS_FILE": str(path)}) == ["pyiron/cpu:1", "pyiron/gpu:1"]


def test_bad_catalogue_and_bad_override_reported_together(tmp_path):
    problems = pull_problems({"ENVIRONMENTS_FILE": str(tmp_path / "absent.toml"), "PYIRON_BASE": "a b"})
    assert [p.where for p in problems] == [f"ENVIRONMENTS_FILE ({tmp_path / 'absent.toml'})", "PYIRON_BASE"]


DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "image, repository, tag",
    [
        ("pyiron/base", "pyiron/base", "latest"),
        ("pyiron/base:2024.1", "pyiron/base", "2024.1"),
        # A digest-pinned image: once cut at its last colon into "pyiron/base@sha256" and a stump.
        (f"pyiron/base@{DIGEST}", "pyiron/base", DIGEST),
        (f"pyiron/base:1@{DIGEST}", "pyiron/base:1", DIGEST),  # the engine drops the tag and pulls the digest
        ("localhost:5000/pyiron/base", "localhost:5000/pyiron/base", "latest"),
        ("registry.example.org:5000/pyiron/base:3", "registry.example.org:5000/pyiron/base", "3"),
        (f"registry.example.org:5000/pyiron/base@{DIGEST}", "registry.example.org:5000/pyiron/base", DIGEST),
    ],
)
def test_pull_arguments(image, repository, tag):
    assert pull_arguments(image) == (repository, tag)


def test_every_accepted_digest_reference_pulls_by_its_digest():
    """What the catalogue accepts is what pull can fetch: the digest arrives whole."""
    pinned = [i for i in images_to_pull({"PYIRON_BASE": f"localhost:5000/pyiron/base@{DIGEST}"}) if "@" in i]
    assert [pull_arguments(i) for i in pinned] == [("localhost:5000/pyiron/base", DIGEST)]


def test_offline_pull_says_what_is_here_and_points_to_missing():
    from pyiron_hub_config.cli import pull_failure_report

    lines = pull_failure_report(["a:1", "b:1"], ["b:1"])
    assert lines == [
        "2 image(s) could not be pulled.",
        "  On this host already (users can start them as they are): a:1",
        "  Not on this host (starting them fails until they are pulled): b:1",
        "`pyiron-hub pull --missing` pulls only those, once the registry answers.",
    ]
    assert "nothing is missing" in pull_failure_report(["a:1"], [])[2]


def test_no_engine_says_how_to_give_one():
    from pyiron_hub_config.host_checks import no_engine_hint

    err = Exception(
        "Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, "
        "'No such file or directory'))"
    )
    hint = no_engine_hint(err)
    assert "`docker run -v /var/run/docker.sock:/var/run/docker.sock ...`" in hint and "FileNotFoundError" not in hint
