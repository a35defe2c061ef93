"""The environment catalogue: the built-in file, custom files, and resolving against the settings."""

from __future__ import annotations

import pytest

from pyiron_hub_config.catalogue import Environment, load_catalogue, resolve_environments
from pyiron_hub_config.problems import ConfigError
from pyiron_hub_config.settings import IMAGE_VARIABLES, load_settings

from .helpers import BUILTIN_ENVIRONMENTS, GIB, MINIMAL_ENV, catalogue_entry, with_env


def settings_with(**changes):
    return load_settings(with_env(MINIMAL_ENV, **changes), check_paths=False)


def catalogue_problems(path) -> list:
    with pytest.raises(ConfigError) as info:
        load_catalogue(path)
    return info.value.problems


def resolve_problems(catalogue, settings) -> list:
    with pytest.raises(ConfigError) as info:
        resolve_environments(catalogue, settings)
    return info.value.problems


# --- the built-in catalogue ----------------------------------------------------------------
def test_builtin_catalogue_has_the_four_pyiron_environments():
    assert sorted(env.name for env in load_catalogue()) == sorted(BUILTIN_ENVIRONMENTS)


def test_builtin_catalogue_preselects_atomistics():
    assert [env.name for env in load_catalogue() if env.default] == ["pyiron_atomistics"]


def test_builtin_catalogue_leaves_limits_to_the_settings():
    assert {(env.mem_limit, env.cpu_limit) for env in load_catalogue()} == {(None, None)}


def test_every_builtin_environment_has_a_legacy_image_variable():
    assert {env.name for env in load_catalogue()} == set(IMAGE_VARIABLES)


def test_builtin_images():
    assert {env.name: (env.image, env.retired) for env in load_catalogue()} == {
        "pyiron_atomistics": ("pyiron/pyiron:latest", False),
        "pyiron_md": ("pyiron/md:latest", False),
        "pyiron_base": ("pyiron/base:latest", False),
        "pyiron_workflow": (None, False),
        "pyiron_continuum": (None, True),
        "pyiron_experimental": (None, True),
    }


# --- custom catalogue files ---------------------------------------------------------------
def test_custom_catalogue_loads(write_catalogue):
    path = write_catalogue(catalogue_entry("gpu", "pyiron/gpu:1", mem_limit="8G", cpu_limit=4, description="GPUs"))
    assert load_catalogue(path) == [
        Environment(
            name="gpu",
            display_name="gpu display",
            description="GPUs",
            image="pyiron/gpu:1",
            mem_limit=8 * GIB,
            cpu_limit=4.0,
        )
    ]


def test_missing_file(tmp_path):
    problems = catalogue_problems(tmp_path / "absent.toml")
    assert [(p.where, p.message) for p in problems] == [
        (f"ENVIRONMENTS_FILE ({tmp_path / 'absent.toml'})", "cannot read it: No such file or directory")
    ]


def test_invalid_toml(write_catalogue):
    path = write_catalogue("[[environments]\nname = pyiron_base\n")
    problems = catalogue_problems(path)
    assert [p.where for p in problems] == [f"ENVIRONMENTS_FILE ({path})"]
    assert problems[0].message.startswith("is not valid TOML")


def test_duplicate_names(write_catalogue):
    path = write_catalogue(catalogue_entry("twice") + catalogue_entry("twice", "pyiron/other"))
    assert [(p.where, p.message) for p in catalogue_problems(path)] == [
        ("catalogue entry 'twice'", "the name is used twice")
    ]


def test_typo_in_key_names_the_entry_and_the_key(write_catalogue):
    path = write_catalogue(catalogue_entry("mine") + 'imgae = "pyiron/other"\n')
    problems = catalogue_problems(path)
    assert [p.where for p in problems] == [f"catalogue entry 'mine' in {path}"]
    assert problems[0].message.startswith("imgae: unknown key; valid keys are name, display_name")


def test_a_misspelt_image_key_reports_the_key_and_the_missing_image_together(write_catalogue):
    path = write_catalogue(
        catalogue_entry("pyiron_base") + '[[environments]]\nname = "mine"\n'
        'display_name = "mine"\nimgae = "pyiron/other"\n'
    )
    problems = catalogue_problems(path)
    assert [p.where for p in problems] == [f"catalogue entry 'mine' in {path}"] * 2
    assert sorted(p.message.split(":")[0] for p in problems) == ["image", "imgae"]


def test_a_builtin_name_may_leave_its_image_to_its_variable(write_catalogue):
    path = write_catalogue('[[environments]]\nname = "pyiron_md"\ndisplay_name = "md"\n')
    assert [env.image for env in load_catalogue(path)] == [None]


def test_unnamed_entry_is_named_by_position(write_catalogue):
    path = write_catalogue(catalogue_entry("first") + '[[environments]]\ndisplay_name = "x"\nimage = "a/b"\n')
    assert [(p.where, p.message) for p in catalogue_problems(path)] == [
        (f"catalogue entry #2 in {path}", "name: is required")
    ]


def test_unknown_top_level_key(write_catalogue):
    path = write_catalogue('title = "ours"\n' + catalogue_entry("a"))
    problems = catalogue_problems(path)
    assert [p.where for p in problems] == [f"ENVIRONMENTS_FILE ({path})"]
    assert problems[0].message.startswith("title: unknown key")


@pytest.mark.parametrize("text", ["", "environments = []\n", "# only a comment\n"])
def test_empty_catalogue(write_catalogue, text):
    path = write_catalogue(text)
    assert [(p.where, p.message) for p in catalogue_problems(path)] == [
        (f"ENVIRONMENTS_FILE ({path})", "needs at least one [[environments]] entry")
    ]


@pytest.mark.parametrize("image", ["pyiron/base latest", "pyiron/base;id", "Pyiron/Base", "$(id)"])
def test_bad_image(write_catalogue, image):
    path = write_catalogue(catalogue_entry("mine", image))
    problems = catalogue_problems(path)
    assert [p.where for p in problems] == [f"catalogue entry 'mine' in {path}"]
    assert problems[0].message.startswith("image: ") and "not a valid image reference" in problems[0].message


@pytest.mark.parametrize("name", ["Pyiron", "has space", "-dash", "a" * 64, "x;y"])
def test_bad_name(write_catalogue, name):
    problems = catalogue_problems(write_catalogue(catalogue_entry(name)))
    assert len(problems) == 1 and problems[0].message.startswith("name: ")


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("mem_limit", "1M", "too small"),
        ("mem_limit", "lots", "is not a size"),
        ("cpu_limit", 0, "out of range"),
        ("cpu_limit", -2, "out of range"),
    ],
)
def test_bad_entry_limits(write_catalogue, key, value, words):
    problems = catalogue_problems(write_catalogue(catalogue_entry("mine", **{key: value})))
    assert len(problems) == 1 and problems[0].message.startswith(f"{key}: ") and words in problems[0].message


def test_two_defaults(write_catalogue):
    path = write_catalogue(catalogue_entry("a", default=True) + catalogue_entry("b", default=True))
    assert [(p.where, p.message) for p in catalogue_problems(path)] == [
        (f"ENVIRONMENTS_FILE ({path})", "more than one entry has default = true")
    ]


def test_every_bad_entry_is_reported_at_once(write_catalogue):
    path = write_catalogue(catalogue_entry("a", "BAD IMAGE") + catalogue_entry("b", colour="red"))
    assert sorted(p.where for p in catalogue_problems(path)) == [
        f"catalogue entry 'a' in {path}",
        f"catalogue entry 'b' in {path}",
    ]


# --- resolving: PYIRON_* images, default limits, maximums ----------------------------------
@pytest.mark.parametrize(
    "variable, name",
    [
        ("PYIRON_BASE", "pyiron_base"),
        ("PYIRON_ATOMISTIC", "pyiron_atomistics"),
        ("PYIRON_CONTINUUM", "pyiron_continuum"),
        ("PYIRON_EXPERIMENTAL", "pyiron_experimental"),
    ],
)
def test_legacy_image_variable_overrides_its_environment(variable, name):
    resolved = resolve_environments(load_catalogue(), settings_with(**{variable: "registry.example.org/mine:1"}))
    assert {env.name: env.image for env in resolved}[name] == "registry.example.org/mine:1"


def test_image_override_leaves_the_others_alone():
    resolved = resolve_environments(load_catalogue(), settings_with(PYIRON_BASE="mine/base:1"))
    assert {env.name: env.image for env in resolved if env.name != "pyiron_base"} == {
        "pyiron_atomistics": "pyiron/pyiron:latest",
        "pyiron_md": "pyiron/md:latest",
    }


def test_default_limits_fill_in():
    resolved = resolve_environments(load_catalogue(), settings_with(MEM_LIMIT="3G", CPU_LIMIT="1.5"))
    assert {(env.mem_limit, env.cpu_limit) for env in resolved} == {(3 * GIB, 1.5)}


def test_per_entry_limits_win(write_catalogue):
    path = write_catalogue(catalogue_entry("big", mem_limit="8G", cpu_limit=4) + catalogue_entry("small"))
    resolved = resolve_environments(load_catalogue(path), settings_with(MEM_LIMIT="2G", CPU_LIMIT="1"))
    assert [(env.name, env.mem_limit, env.cpu_limit) for env in resolved] == [
        ("big", 8 * GIB, 4.0),
        ("small", 2 * GIB, 1.0),
    ]


def test_first_entry_is_default_when_none_is_marked(write_catalogue):
    path = write_catalogue(catalogue_entry("first") + catalogue_entry("second"))
    assert [env.default for env in resolve_environments(load_catalogue(path), settings_with())] == [True, False]


def test_marked_default_is_kept(write_catalogue):
    path = write_catalogue(catalogue_entry("first") + catalogue_entry("second", default=True))
    assert [env.default for env in resolve_environments(load_catalogue(path), settings_with())] == [False, True]


def test_resolving_does_not_change_the_loaded_catalogue():
    catalogue = load_catalogue()
    resolve_environments(catalogue, settings_with(PYIRON_BASE="mine/base:1"))
    assert {env.name: env.image for env in catalogue}["pyiron_base"] == "pyiron/base:latest"


def test_entry_memory_above_maximum_rejected(write_catalogue):
    path = write_catalogue(catalogue_entry("big", mem_limit="16G"))
    problems = resolve_problems(load_catalogue(path), settings_with(MAX_MEM_LIMIT="8G"))
    assert [(p.where, p.message) for p in problems] == [
        ("catalogue entry 'big'", "mem_limit 16G is above MAX_MEM_LIMIT")
    ]


def test_entry_cpus_above_maximum_rejected(write_catalogue):
    path = write_catalogue(catalogue_entry("big", cpu_limit=8))
    problems = resolve_problems(load_catalogue(path), settings_with(MAX_CPU_LIMIT="4"))
    assert [(p.where, p.message) for p in problems] == [("catalogue entry 'big'", "cpu_limit 8 is above MAX_CPU_LIMIT")]


def test_entry_limits_at_the_maximum_accepted(write_catalogue):
    path = write_catalogue(catalogue_entry("big", mem_limit="8G", cpu_limit=4))
    resolved = resolve_environments(load_catalogue(path), settings_with(MAX_MEM_LIMIT="8G", MAX_CPU_LIMIT="4"))
    assert [(env.mem_limit, env.cpu_limit) for env in resolved] == [(8 * GIB, 4.0)]


def test_legacy_variable_for_an_environment_the_catalogue_lacks(write_catalogue):
    path = write_catalogue(catalogue_entry("mine"))
    problems = resolve_problems(load_catalogue(path), settings_with(PYIRON_CONTINUUM="pyiron/continuum:2"))
    assert [(p.where, p.message) for p in problems] == [
        ("PYIRON_CONTINUUM", "is set, but the catalogue has no environment 'pyiron_continuum'")
    ]
