"""The environment picker's HTML, parsed rather than snapshotted."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from bs4 import BeautifulSoup
from traitlets.config import Config

from pyiron_hub_config.catalogue import load_catalogue, resolve_environments
from pyiron_hub_config.hub_config import load_hub_config
from pyiron_hub_config.options import validate_choice
from pyiron_hub_config.settings import load_settings
from pyiron_hub_config.spawner import PyironSpawner, render_options_form

from .helpers import BUILTIN_ENVIRONMENTS, GIB, MINIMAL_ENV, catalogue_entry

SCRIPT = "<script>alert(1)</script>"
TEMPLATE_EXPRESSION = "{{ 7*7 }}"
IMG = '<img src=x onerror="alert(2)">'


def parse(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def radios(soup: BeautifulSoup) -> list:
    return soup.find_all("input", attrs={"type": "radio"})


def test_one_radio_per_environment_named_by_its_slug(environments):
    soup = parse(render_options_form(environments))
    assert [(r["name"], r["value"]) for r in radios(soup)] == [("environment", name) for name in BUILTIN_ENVIRONMENTS]


def test_default_environment_is_checked(environments):
    soup = parse(render_options_form(environments))
    assert [r["value"] for r in radios(soup) if r.has_attr("checked")] == ["pyiron_atomistics"]


def test_every_radio_has_a_label(environments):
    soup = parse(render_options_form(environments))
    labels = {label["for"]: label for label in soup.find_all("label")}
    assert [labels[r["id"]].strong.get_text() for r in radios(soup)] == [
        "pyiron atomistics",
        "pyiron md",
        "pyiron base",
        "pyiron workflow",
        "pyiron continuum",
        "pyiron experimental",
    ]


def test_label_shows_the_limits(environments):
    soup = parse(render_options_form(environments))
    assert soup.find("label", attrs={"for": "env-pyiron_base"}).find("span").get_text() == "(2G memory, 1 CPU)"


def test_label_shows_the_description(environments):
    soup = parse(render_options_form(environments))
    assert soup.find("label", attrs={"for": "env-pyiron_base"}).small.get_text().startswith("The workflow core")


def test_every_value_the_form_offers_is_accepted_by_the_server(environments):
    offered = [r["value"] for r in radios(parse(render_options_form(environments)))]
    assert [validate_choice({"environment": v}, environments).environment.name for v in offered] == offered


def test_no_size_inputs_without_maximum(environments):
    soup = parse(render_options_form(environments))
    assert soup.find_all("input", attrs={"name": ["mem_limit", "cpu_limit"]}) == []


def test_memory_input_only_with_max_mem_limit(environments):
    soup = parse(render_options_form(environments, max_mem_limit=8 * GIB))
    assert [i["name"] for i in soup.find_all("input", attrs={"name": ["mem_limit", "cpu_limit"]})] == ["mem_limit"]
    assert soup.find("label", attrs={"for": "mem_limit"}).get_text() == "Memory, from 64M up to 8G"


def test_cpu_input_only_with_max_cpu_limit(environments):
    soup = parse(render_options_form(environments, max_cpu_limit=4.0))
    cpu = soup.find_all("input", attrs={"name": ["mem_limit", "cpu_limit"]})
    assert [(i["name"], i["type"], i["max"]) for i in cpu] == [("cpu_limit", "number", "4")]


def test_both_size_inputs(environments):
    soup = parse(render_options_form(environments, max_mem_limit=8 * GIB, max_cpu_limit=2.5))
    assert [i["name"] for i in soup.find_all("input", attrs={"type": ["text", "number"]})] == ["mem_limit", "cpu_limit"]


def test_nothing_to_choose_renders_no_form(environments):
    assert render_options_form(environments[:1]) == ""


def test_one_environment_with_a_size_to_choose_renders_a_form(environments):
    soup = parse(render_options_form(environments[:1], max_mem_limit=8 * GIB))
    assert [r["value"] for r in radios(soup)] == ["pyiron_atomistics"]


def test_spawner_offers_the_form_by_default(environments):
    c = Config()
    c.PyironSpawner.environments = environments
    spawner = PyironSpawner(config=c, user=SimpleNamespace(name="alice"))
    # A callable (JupyterHub calls it with the spawner at each visit of the spawn page).
    form = parse(spawner.options_form(spawner))
    assert [r["value"] for r in radios(form)] == list(BUILTIN_ENVIRONMENTS)
    assert [r["value"] for r in radios(form) if r.has_attr("checked")] == ["pyiron_atomistics"]


def test_the_form_preselects_the_last_choice_that_started(environments):
    c = Config()
    c.PyironSpawner.environments = environments
    spawner = PyironSpawner(config=c, user=SimpleNamespace(name="alice"))
    spawner.load_state({"last_options": {"environment": "pyiron_base"}})
    checked = [r["value"] for r in radios(parse(spawner.options_form(spawner))) if r.has_attr("checked")]
    assert checked == ["pyiron_base"]


@pytest.mark.parametrize("last", [{}, {"environment": "gone_from_the_catalogue"}, {"environment": ["pyiron_base"]}])
def test_without_a_usable_last_choice_the_default_is_preselected(environments, last):
    soup = parse(render_options_form(environments, last_options=last))
    assert [r["value"] for r in radios(soup) if r.has_attr("checked")] == ["pyiron_atomistics"]


def test_the_last_choice_by_display_name_is_preselected_too(environments):
    soup = parse(render_options_form(environments, last_options={"environment": "pyiron continuum"}))
    assert [r["value"] for r in radios(soup) if r.has_attr("checked")] == ["pyiron_continuum"]


def test_the_last_sizes_fill_the_fields_while_users_may_pick_sizes(environments):
    last = {"environment": "pyiron_base", "mem_limit": "2G", "cpu_limit": "1.5"}
    soup = parse(render_options_form(environments, max_mem_limit=8 * GIB, max_cpu_limit=2.0, last_options=last))
    assert soup.find(id="mem_limit")["value"] == "2G" and soup.find(id="cpu_limit")["value"] == "1.5"
    soup = parse(render_options_form(environments, last_options=last))
    assert soup.find(id="mem_limit") is None and soup.find(id="cpu_limit") is None


def test_a_hostile_last_choice_stays_text(environments):
    last = {"environment": "pyiron_base", "mem_limit": f'2G" autofocus onfocus="{SCRIPT}'}
    soup = parse(render_options_form(environments, max_mem_limit=8 * GIB, last_options=last))
    field = soup.find(id="mem_limit")
    assert field["value"] == last["mem_limit"] and not field.has_attr("onfocus") and soup.find("script") is None


def test_nothing_to_choose_is_no_form_at_all(environments):
    c = Config()
    c.PyironSpawner.environments = environments[:1]
    spawner = PyironSpawner(config=c, user=SimpleNamespace(name="alice"))
    assert spawner.options_form(spawner) == ""  # JupyterHub then starts the server at once


def test_retired_environments_are_marked_so(environments):
    soup = parse(render_options_form(environments))
    marked = [r["value"] for r in radios(soup) if soup.find("label", attrs={"for": r["id"]}).find(class_="badge")]
    assert marked == ["pyiron_continuum", "pyiron_experimental"]
    assert {b.get_text() for b in soup.find_all(class_="badge")} == {"retired"}


def test_no_word_about_a_last_environment_that_is_still_offered(environments):
    c = Config()
    c.PyironSpawner.environments = environments
    spawner = PyironSpawner(config=c, user=SimpleNamespace(name="alice"))
    spawner.user_options = {"environment": "pyiron_continuum"}
    assert parse(spawner.options_form(spawner)).find(id="environment-gone") is None


def test_a_word_when_the_last_environment_left_the_catalogue():
    hub = load_hub_config(MINIMAL_ENV, check_paths=False)  # continuum not offered: PYIRON_CONTINUUM unset
    c = Config()
    c.PyironSpawner.environments = hub.environments
    c.PyironSpawner.left_out_environments = hub.left_out
    spawner = PyironSpawner(config=c, user=SimpleNamespace(name="alice"))
    spawner.user_options = {"environment": "pyiron_continuum"}
    soup = parse(spawner.options_form(spawner))
    note = " ".join(soup.find(id="environment-gone").get_text().split())
    assert note == (
        "pyiron continuum, the environment you used last, is no longer offered here (pyiron no longer "
        "builds it). pyiron atomistics is preselected instead. Your files are all still in your home."
    )
    assert [r["value"] for r in radios(soup) if r.has_attr("checked")] == ["pyiron_atomistics"]
    # Even with a single environment left there is a page to say so.
    c.PyironSpawner.environments = hub.environments[:1]
    assert (
        parse(
            PyironSpawner(config=c, user=SimpleNamespace(name="a"), user_options=spawner.user_options).options_form(
                spawner
            )
        ).find(id="environment-gone")
        is not None
    )


# --- catalogue text can never become markup ------------------------------------------------
@pytest.fixture
def hostile_environments(write_catalogue):
    text = (
        "[[environments]]\n"
        'name = "evil"\n'
        f'display_name = "{SCRIPT} {TEMPLATE_EXPRESSION}"\n'
        f"description = '{IMG} {TEMPLATE_EXPRESSION} </label></div>'\n"
        'image = "pyiron/base:latest"\n\n'
    ) + catalogue_entry("plain")
    settings = load_settings(MINIMAL_ENV, check_paths=False)
    return resolve_environments(load_catalogue(write_catalogue(text)), settings)


def test_markup_in_the_catalogue_is_not_an_element(hostile_environments):
    soup = parse(render_options_form(hostile_environments))
    assert (soup.find("script"), soup.find("img")) == (None, None)


def test_markup_in_the_catalogue_is_shown_as_text(hostile_environments):
    label = parse(render_options_form(hostile_environments)).find("label", attrs={"for": "env-evil"})
    assert label.strong.get_text() == f"{SCRIPT} {TEMPLATE_EXPRESSION}"
    assert label.small.get_text() == f"{IMG} {TEMPLATE_EXPRESSION} </label></div>"


def test_template_syntax_in_the_catalogue_is_not_evaluated(hostile_environments):
    html = render_options_form(hostile_environments)
    assert "49" not in html


def test_markup_cannot_break_the_form_structure(hostile_environments):
    soup = parse(render_options_form(hostile_environments))
    assert [r["value"] for r in radios(soup)] == ["evil", "plain"]
    assert len(soup.find_all("label")) == 2
