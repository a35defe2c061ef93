"""Environments for a group: offered only to its members, and re-checked on the server."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from tornado.web import HTTPError
from traitlets.config import Config

from pyiron_hub_config.catalogue import load_catalogue, offered_to, resolve_environments
from pyiron_hub_config.problems import ConfigError
from pyiron_hub_config.settings import load_settings
from pyiron_hub_config.spawner import PyironSpawner

from .helpers import ALL_IMAGES_ENV, BUILTIN_ENVIRONMENTS, MINIMAL_ENV


def resolved(**env):
    return resolve_environments(
        load_catalogue(), load_settings({**MINIMAL_ENV, **ALL_IMAGES_ENV, **env}, check_paths=False)
    )


def test_environment_groups_restrict_an_entry_of_the_builtin_catalogue():
    envs = {e.name: e for e in resolved(ENVIRONMENT_GROUPS="pyiron_md=pyiron-research,/teachers; pyiron_base=x")}
    assert envs["pyiron_md"].groups == ("pyiron-research", "teachers")  # Keycloak's '/' path dropped
    assert envs["pyiron_base"].groups == ("x",)
    assert envs["pyiron_atomistics"].groups == ()


@pytest.mark.parametrize("value", ["pyiron_md", "pyiron_md=", "=research", "pyiron_md=bad<group>"])
def test_a_malformed_environment_groups_is_reported(value):
    with pytest.raises(ConfigError) as info:
        load_settings({**MINIMAL_ENV, "ENVIRONMENT_GROUPS": value}, check_paths=False)
    assert "ENVIRONMENT_GROUPS" in str(info.value)


def test_environment_groups_naming_no_catalogue_entry_is_reported_with_an_example():
    with pytest.raises(ConfigError) as info:
        resolved(ENVIRONMENT_GROUPS="pyiron_mdd=research")
    assert "ENVIRONMENT_GROUPS" in str(info.value) and "pyiron_mdd" in str(info.value)


def test_a_catalogue_entry_names_its_groups(tmp_path):
    path = tmp_path / "environments.toml"
    path.write_text(
        '[[environments]]\nname = "open"\ndisplay_name = "Open"\nimage = "pyiron/base:latest"\n\n'
        '[[environments]]\nname = "licensed"\ndisplay_name = "Licensed"\nimage = "site/vasp:1"\n'
        'groups = ["/vasp-licence"]\n'
    )
    assert [e.groups for e in load_catalogue(path)] == [(), ("vasp-licence",)]


def test_members_see_their_groups_entries_and_others_do_not():
    envs = resolved(ENVIRONMENT_GROUPS="pyiron_md=pyiron-research")
    assert "pyiron_md" in [e.name for e in offered_to(envs, ["pyiron-users", "pyiron-research"])]
    assert "pyiron_md" not in [e.name for e in offered_to(envs, ["pyiron-users"])]


def test_a_group_only_default_leaves_others_the_first_they_may_start():
    envs = resolved(ENVIRONMENT_GROUPS="pyiron_atomistics=pyiron-research")
    mine = offered_to(envs, [])
    assert [e.name for e in mine if e.default] == [mine[0].name] and mine[0].name != "pyiron_atomistics"
    assert [e.name for e in offered_to(envs, ["pyiron-research"]) if e.default] == ["pyiron_atomistics"]


def spawner_for(groups, **env):
    c = Config()
    c.PyironSpawner.environments = resolved(**env)
    user = SimpleNamespace(name="carol", groups=[SimpleNamespace(name=g) for g in groups])
    return PyironSpawner(config=c, user=user)


def test_the_picker_offers_a_group_entry_only_to_members():
    member = spawner_for(["pyiron-research"], ENVIRONMENT_GROUPS="pyiron_md=pyiron-research")
    other = spawner_for(["pyiron-users"], ENVIRONMENT_GROUPS="pyiron_md=pyiron-research")
    assert 'value="pyiron_md"' in member.options_form(member)
    assert 'value="pyiron_md"' not in other.options_form(other)


@pytest.mark.parametrize("name", ["pyiron_md", "pyiron md"])
def test_a_forged_request_for_a_group_entry_is_refused_by_the_server(name):
    other = spawner_for(["pyiron-users"], ENVIRONMENT_GROUPS="pyiron_md=pyiron-research")
    with pytest.raises(HTTPError) as info:
        PyironSpawner._apply_choice(other, {"environment": name})
    assert info.value.status_code == 403
    assert info.value.log_message % info.value.args == (
        "pyiron md is only for members of pyiron-research; you may start: "
        "pyiron_atomistics, pyiron_base, pyiron_workflow, pyiron_continuum, pyiron_experimental"
    )
    with pytest.raises(HTTPError) as page:
        other.options_from_form({"environment": [name]})
    assert page.value.status_code == 403 and page.value.jupyterhub_message == (
        "pyiron md is only for members of the groups pyiron-research. "
        "Choose another environment, or ask your admin to add you to one of them."
    )
    # Refused for the group before any other option is looked at.
    with pytest.raises(HTTPError) as info:
        PyironSpawner._apply_choice(other, {"environment": name, "image": "x"})
    assert info.value.status_code == 403


def test_a_member_starts_it_and_the_check_follows_the_groups_at_each_start():
    spawner = spawner_for(["pyiron-research"], ENVIRONMENT_GROUPS="pyiron_md=pyiron-research")
    PyironSpawner._apply_choice(spawner, {"environment": "pyiron_md"})
    assert spawner.image == "pyiron/md:latest"
    spawner.user.groups = []  # Keycloak took the group away; the next login or refresh says so
    with pytest.raises(HTTPError):
        PyironSpawner._apply_choice(spawner, {"environment": "pyiron_md"})


def test_nothing_for_the_users_groups_is_a_clear_refusal():
    only = "; ".join(f"{name}=research" for name in BUILTIN_ENVIRONMENTS)
    spawner = spawner_for([], ENVIRONMENT_GROUPS=only)
    with pytest.raises(HTTPError) as info:
        PyironSpawner._apply_choice(spawner, {})
    assert info.value.status_code == 400
    assert (
        info.value.log_message % info.value.args
        == "No environment is offered to your groups: ask the admin of this hub."
    )
    with pytest.raises(HTTPError) as info:  # also when it asks for one of them
        PyironSpawner._apply_choice(spawner, {"environment": "pyiron_md"})
    assert info.value.status_code == 403
