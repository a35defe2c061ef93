"""What a user may ask for: checked on the server, never trusted from the form."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from jupyterhub import orm
from tornado.web import HTTPError
from traitlets.config import Config

from pyiron_hub_config.hub_config import load_hub_config
from pyiron_hub_config.options import InvalidChoice, options_from_form, validate_choice
from pyiron_hub_config.parallelism import THREAD_VARIABLES, thread_environment
from pyiron_hub_config.spawner import PyironSpawner, pass_access_token

from .helpers import BUILTIN_ENVIRONMENTS, GIB, MIB, MINIMAL_ENV

MAX_MEM = 8 * GIB
MAX_CPU = 4.0
# An error message lands in an HTML page and in the log: it must stay short whatever was sent.
MESSAGE_LIMIT = 250


def invalid(options, environments, max_mem=None, max_cpu=None) -> str:
    with pytest.raises(InvalidChoice) as info:
        validate_choice(options, environments, max_mem, max_cpu)
    return str(info.value)


# --- choosing an environment ------------------------------------------------------------
@pytest.mark.parametrize("options", [None, {}, {"environment": ""}, {"environment": None}])
def test_no_choice_starts_the_default(environments, options):
    assert validate_choice(options, environments).environment.name == "pyiron_atomistics"


@pytest.mark.parametrize("name", BUILTIN_ENVIRONMENTS)
def test_each_environment_by_name(environments, name):
    assert validate_choice({"environment": name}, environments).environment.name == name


def test_an_environment_only_for_other_groups_is_refused_with_403_before_anything_else(environments):
    md = next(e for e in environments if e.name == "pyiron_md").model_copy(update={"groups": ("research", "lab")})
    mine = [e for e in environments if e.name in ("pyiron_atomistics", "pyiron_base")]
    for name in ("pyiron_md", "pyiron md"):
        with pytest.raises(InvalidChoice) as info:
            validate_choice({"environment": name, "image": "x"}, mine, withheld=[md])
        assert info.value.status == 403
        assert str(info.value) == (
            "pyiron md is only for members of the groups research, lab. "
            "Choose another environment, or ask your admin to add you to one of them."
        )
        assert info.value.api_message == (
            "pyiron md is only for members of research, lab; you may start: pyiron_atomistics, pyiron_base"
        )
    assert validate_choice({"environment": "pyiron_md"}, [*mine, md], withheld=[md]).environment == md  # offered wins
    with pytest.raises(InvalidChoice) as info:
        validate_choice({"environment": "pyiron_md"}, [], withheld=[md])
    assert info.value.api_message.endswith("you may start: none")
    with pytest.raises(InvalidChoice) as info:
        validate_choice({}, [], withheld=[md])
    assert info.value.status == 400 and str(info.value).startswith("No environment is offered to your groups")
    assert invalid({"environment": "nope"}, mine).startswith("No such environment")  # 400, as before


def test_choice_carries_the_environment_limits(environments):
    choice = validate_choice({"environment": "pyiron_base"}, environments)
    assert (choice.mem_limit, choice.cpu_limit) == (2 * GIB, 1.0)


def test_unknown_environment_lists_the_valid_choices_by_display_name(environments):
    message = invalid({"environment": "pyiron_secret"}, environments)
    assert message == (
        "No such environment: 'pyiron_secret'. Options include: "
        "pyiron atomistics, pyiron md, pyiron base, pyiron workflow, pyiron continuum, "
        "pyiron experimental."
    )


def test_unknown_environment_tells_a_script_the_names_it_can_send(environments):
    with pytest.raises(InvalidChoice) as info:
        validate_choice({"environment": "pyiron_secret"}, environments)
    assert info.value.api_message == (
        "No such environment: 'pyiron_secret'. Options include: "
        "pyiron_atomistics, pyiron_md, pyiron_base, pyiron_workflow, "
        "pyiron_continuum, pyiron_experimental"
    )


# --- an environment that left the catalogue -------------------------------------------------
@pytest.fixture
def hub_without_retired():
    return load_hub_config(MINIMAL_ENV, check_paths=False)


def test_a_saved_choice_of_a_retired_environment_starts_the_default(hub_without_retired):
    hub = hub_without_retired
    choice = validate_choice({"environment": "pyiron_continuum"}, hub.environments, left_out=hub.left_out)
    assert (choice.environment.name, choice.replaced.name) == ("pyiron_atomistics", "pyiron_continuum")


def test_a_name_never_in_the_catalogue_is_still_refused(hub_without_retired):
    hub = hub_without_retired
    with pytest.raises(InvalidChoice):
        validate_choice({"environment": "pyiron_secret"}, hub.environments, left_out=hub.left_out)


def test_the_spawner_starts_the_default_instead_of_a_left_out_environment(hub_without_retired):
    c = Config()
    c.PyironSpawner.environments = hub_without_retired.environments
    c.PyironSpawner.left_out_environments = hub_without_retired.left_out
    spawner = PyironSpawner(config=c, user=SimpleNamespace(name="alice"))
    PyironSpawner._apply_choice(spawner, {"environment": "pyiron_experimental"})
    assert (spawner.image, spawner.environment["PYIRON_ENVIRONMENT"]) == ("pyiron/pyiron:latest", "pyiron_atomistics")


def test_other_messages_are_the_same_for_people_and_scripts(environments):
    with pytest.raises(InvalidChoice) as info:
        validate_choice({"image": "x"}, environments)
    assert info.value.api_message == str(info.value)


@pytest.mark.parametrize("value", [["pyiron_base"], 3, {"name": "pyiron_base"}, True, "PYIRON_BASE", " pyiron_base"])
def test_environment_must_be_exactly_a_name(environments, value):
    assert invalid({"environment": value}, environments).startswith("No such environment: ")


@pytest.mark.parametrize(
    "options", [{"image": "evil/miner:latest"}, {"environment": "pyiron_base", "image": "evil/miner:latest"}]
)
def test_image_cannot_be_chosen(environments, options):
    message = invalid(options, environments, MAX_MEM, MAX_CPU)
    assert message == (
        "Unknown option 'image'. Options include: environment, mem_limit, cpu_limit. "
        "Choose an environment by name, not an image."
    )


@pytest.mark.parametrize("key", ["privileged", "volumes", "cmd", "environment_name", "Environment"])
def test_unknown_keys_are_rejected(environments, key):
    message = invalid({"environment": "pyiron_base", key: "x"}, environments)
    assert message == f"Unknown option {key!r}. Options include: environment."


def test_every_unknown_key_is_named(environments):
    message = invalid({"b": 1, "a": 2}, environments)
    assert message.startswith("Unknown option 'a', 'b'.")


@pytest.mark.parametrize("key, value", [("mem_limit", "4G"), ("cpu_limit", "2")])
def test_sizes_rejected_when_the_admin_set_no_maximum(environments, key, value):
    assert invalid({key: value}, environments) == f"Unknown option {key!r}. Options include: environment."


def test_memory_size_needs_its_own_maximum(environments):
    assert invalid({"mem_limit": "4G"}, environments, None, MAX_CPU).startswith("Unknown option 'mem_limit'.")


def test_cpu_size_needs_its_own_maximum(environments):
    assert invalid({"cpu_limit": "2"}, environments, MAX_MEM, None).startswith("Unknown option 'cpu_limit'.")


# --- sizes --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, expected", [("4G", 4 * GIB), ("512M", 512 * MIB), ("8G", MAX_MEM), (3 * GIB, 3 * GIB), ("1.5g", 1536 * MIB)]
)
def test_memory_within_maximum(environments, value, expected):
    assert validate_choice({"mem_limit": value}, environments, MAX_MEM, None).mem_limit == expected


@pytest.mark.parametrize("value", ["8.5G", "16G", "1T", 9 * GIB, 10**30, "99999999999999999999999T"])
def test_memory_above_maximum(environments, value):
    assert " is above the maximum of 8G" in invalid({"mem_limit": value}, environments, MAX_MEM)


@pytest.mark.parametrize(
    "value",
    [
        "-1G",
        "0",
        0,
        -5,
        "63M",
        "nan",
        "inf",
        "lots",
        "",
        "1e3G",
        True,
        False,
        1.5,
        ["4G"],
        {"x": 1},
        None,
        "9" * 400,
        "4G; rm -rf /",
    ],
)
def test_memory_not_a_size(environments, value):
    assert invalid({"mem_limit": value}, environments, MAX_MEM).startswith("Memory ")


def test_memory_message_says_what_is_valid(environments):
    assert invalid({"mem_limit": "lots"}, environments, MAX_MEM) == (
        "Memory 'lots' is not a size: use a number with M or G, from 64M to 8G"
    )


@pytest.mark.parametrize("value, expected", [("2", 2.0), ("0.5", 0.5), ("4", 4.0), (3, 3.0), (1.5, 1.5)])
def test_cpus_within_maximum(environments, value, expected):
    assert validate_choice({"cpu_limit": value}, environments, None, MAX_CPU).cpu_limit == expected


@pytest.mark.parametrize("value", ["4.5", "8", 100, "1e400", "inf", float("inf")])
def test_cpus_above_maximum(environments, value):
    assert "must be at least 0.01 and at most 4" in invalid({"cpu_limit": value}, environments, None, MAX_CPU)


@pytest.mark.parametrize("value", ["0", "-1", 0, -0.5, "nan", float("nan"), "-inf", "0.000001", "1e-9", 0.009])
def test_cpus_zero_negative_nan_or_below_the_floor(environments, value):
    assert "must be at least 0.01 and at most 4" in invalid({"cpu_limit": value}, environments, None, MAX_CPU)


@pytest.mark.parametrize("value", ["two", "", "1,5", True, False, [2], {"n": 2}, None])
def test_cpus_not_a_number(environments, value):
    assert "is not a number" in invalid({"cpu_limit": value}, environments, None, MAX_CPU)


def test_size_and_environment_together(environments):
    choice = validate_choice(
        {"environment": "pyiron_base", "mem_limit": "6G", "cpu_limit": "3"}, environments, MAX_MEM, MAX_CPU
    )
    assert (choice.environment.name, choice.mem_limit, choice.cpu_limit) == ("pyiron_base", 6 * GIB, 3.0)


# --- what the message echoes --------------------------------------------------------------
SCRIPT = "<script>alert(1)</script>"


@pytest.mark.parametrize(
    "options",
    [
        {"environment": SCRIPT * 200},
        {"environment": "x" * 100_000},
        {SCRIPT * 200: "pyiron_base"},
        {"mem_limit": SCRIPT * 200},
        {"mem_limit": "9" * 100_000},
        {"cpu_limit": SCRIPT * 200},
        {"cpu_limit": "1" * 100_000},
    ],
)
def test_message_length_is_bounded(environments, options):
    message = invalid(options, environments, MAX_MEM, MAX_CPU)
    assert len(message) < MESSAGE_LIMIT
    assert SCRIPT * 2 not in message


def test_short_values_are_echoed_in_full(environments):
    assert "'pyiron_x'" in invalid({"environment": "pyiron_x"}, environments)


# --- form data -> user_options -------------------------------------------------------------
def test_form_fields_become_single_values():
    assert options_from_form({"environment": ["pyiron_base"], "mem_limit": ["4G"]}) == {
        "environment": "pyiron_base",
        "mem_limit": "4G",
    }


def test_blank_size_fields_mean_default():
    assert options_from_form({"environment": ["pyiron_base"], "mem_limit": [""], "cpu_limit": [""]}) == {
        "environment": "pyiron_base"
    }


def test_repeated_field_stays_a_list_and_is_then_rejected(environments):
    options = options_from_form({"environment": ["pyiron_base", "pyiron_continuum"]})
    assert options == {"environment": ["pyiron_base", "pyiron_continuum"]}
    assert invalid(options, environments).startswith("No such environment: ")


def test_blank_environment_field_is_kept_and_means_default(environments):
    options = options_from_form({"environment": [""]})
    assert validate_choice(options, environments).environment.name == "pyiron_atomistics"


# --- the spawner applies the checked choice -------------------------------------------------
@pytest.fixture
def spawner(environments):
    c = Config()
    c.PyironSpawner.environments = environments
    c.PyironSpawner.max_mem_limit = MAX_MEM
    c.PyironSpawner.max_cpu_limit = MAX_CPU
    c.PyironSpawner.environment = {"KEEP": "me"}
    # Only the user's name is read (for the log line); nothing talks to Docker before start().
    return PyironSpawner(config=c, user=SimpleNamespace(name="alice"))


def test_valid_choice_sets_image_and_limits(spawner):
    PyironSpawner._apply_choice(spawner, {"environment": "pyiron_continuum", "mem_limit": "6G", "cpu_limit": "2"})
    assert (spawner.image, spawner.mem_limit, spawner.cpu_limit) == ("pyiron/continuum:latest", 6 * GIB, 2.0)


def test_valid_choice_names_the_environment_and_keeps_other_variables(spawner):
    PyironSpawner._apply_choice(spawner, {"environment": "pyiron_base"})
    assert spawner.environment == {"KEEP": "me", "PYIRON_ENVIRONMENT": "pyiron_base", **thread_environment(1.0)}


@pytest.mark.parametrize(("cpu_limit", "count"), [("0.5", "1"), ("1", "1"), ("1.5", "2"), ("2", "2")])
def test_thread_and_worker_counts_follow_the_chosen_cpu_limit(spawner, cpu_limit, count):
    PyironSpawner._apply_choice(spawner, {"environment": "pyiron_base", "cpu_limit": cpu_limit})
    assert {spawner.environment[name] for name in THREAD_VARIABLES} == {count}


def test_empty_choice_sets_the_default_environment(spawner):
    spawner.image = "something/else"
    PyironSpawner._apply_choice(spawner, {})
    assert (spawner.image, spawner.mem_limit, spawner.cpu_limit) == ("pyiron/pyiron:latest", 2 * GIB, 1.0)


@pytest.mark.parametrize(
    "options",
    [
        {"environment": "pyiron_secret"},
        {"image": "evil/miner"},
        {"mem_limit": "64G"},
        {"cpu_limit": "-1"},
        {"environment": "pyiron_base", "privileged": True},
    ],
)
def test_forged_choice_is_http_400(spawner, options):
    image = spawner.image
    with pytest.raises(HTTPError) as info:
        PyironSpawner._apply_choice(spawner, options)
    assert info.value.status_code == 400
    with pytest.raises(InvalidChoice) as expected:
        validate_choice(options, spawner.environments, MAX_MEM, MAX_CPU)
    # The REST API answers with the names a script sends; no page shows this message.
    assert info.value.get_message() == expected.value.api_message
    assert not hasattr(info.value, "jupyterhub_message")
    assert spawner.image == image


def test_choice_hook_is_installed_by_default(spawner):
    assert spawner.apply_user_options is PyironSpawner._apply_choice


async def test_hub_runs_the_hook_for_every_start(spawner):
    # The path JupyterHub takes for form, query and REST API starts alike.
    await spawner._run_apply_user_options({"environment": "pyiron_experimental"})
    assert spawner.image == "pyiron/experimental:latest"


async def test_hub_turns_a_forged_api_request_into_400(spawner):
    with pytest.raises(HTTPError) as info:
        await spawner._run_apply_user_options({"image": "evil/miner"})
    assert (info.value.status_code, "not an image" in info.value.get_message()) == (400, True)


def test_form_is_checked_when_submitted(spawner):
    assert spawner.options_from_form({"environment": ["pyiron_base"], "mem_limit": [""]}) == {
        "environment": "pyiron_base"
    }


def test_bad_form_is_http_400_at_once(spawner):
    with pytest.raises(HTTPError) as info:
        spawner.options_from_form({"environment": ["nope"]})
    assert info.value.status_code == 400


def test_bad_form_says_on_the_page_what_to_choose_in_plain_words(spawner):
    # JupyterHub's spawn page shows jupyterhub_message as it is, else "HTTP 400: Bad Request (...)".
    with pytest.raises(HTTPError) as info:
        spawner.options_from_form({"environment": ["nope"]})
    assert info.value.jupyterhub_message == (
        "No such environment: 'nope'. Options include: pyiron atomistics, pyiron md, pyiron base, pyiron workflow, "
        "pyiron continuum, pyiron experimental."
    )


def test_a_message_with_a_percent_sign_is_not_formatted(spawner):
    with pytest.raises(HTTPError) as info:
        spawner.options_from_form({"environment": ["100%s %d"]})
    assert "'100%s %d'" in info.value.get_message()


# --- the admin page shows what each server runs ---------------------------------------------
def test_the_chosen_environment_is_shown_as_the_profile(spawner):
    sent = {"environment": "pyiron_base"}
    spawner.user_options = sent
    PyironSpawner._apply_choice(spawner, sent)
    # JupyterHub's admin page shows server.user_options.profile.
    assert spawner.user_options == {"environment": "pyiron_base", "profile": "pyiron base"}
    assert sent == {"environment": "pyiron_base"}  # the dict JupyterHub stores for the next start


def test_a_profile_sent_by_the_user_is_refused(spawner):
    with pytest.raises(HTTPError) as info:
        PyironSpawner._apply_choice(spawner, {"environment": "pyiron_base", "profile": "pyiron base"})
    assert "Unknown option 'profile'" in info.value.get_message()


def test_the_profile_survives_a_restart_of_the_hub(spawner, environments):
    PyironSpawner._apply_choice(spawner, {"environment": "pyiron_continuum"})
    state = spawner.get_state()
    c = Config()
    c.PyironSpawner.environments = environments
    restarted = PyironSpawner(
        config=c, user=SimpleNamespace(name="alice"), user_options={"environment": "pyiron_continuum"}
    )
    restarted.load_state(state)
    assert restarted.user_options["profile"] == "pyiron continuum"


def test_a_stopped_server_shows_no_profile(spawner):
    PyironSpawner._apply_choice(spawner, {"environment": "pyiron_base"})
    spawner.clear_state()
    assert "profile" not in spawner.user_options and "environment" not in spawner.get_state()


def test_a_state_naming_an_environment_no_longer_offered_shows_nothing(spawner):
    spawner.load_state({"environment": "pyiron_gone"})
    assert "profile" not in spawner.user_options


# --- a refused choice is never remembered ------------------------------------------------
@pytest.fixture
def saved(environments):
    """A spawner with its row in a real (in-memory) JupyterHub database, as the hub has it."""
    db = orm.new_session_factory("sqlite://")()
    user = orm.User(name="bob")
    db.add(user)
    db.commit()
    row = orm.Spawner(user=user, name="")
    db.add(row)
    db.commit()
    c = Config()
    c.PyironSpawner.environments = environments
    return PyironSpawner(config=c, user=SimpleNamespace(name="bob"), orm_spawner=row), db


@pytest.mark.parametrize("last", [{}, {"environment": "pyiron_base"}])
def test_a_refused_choice_is_replaced_in_the_database_by_the_last_that_started(saved, last):
    spawner, db = saved
    spawner.load_state({"last_options": last} if last else {})
    # JupyterHub saves the REST API's options before the check, to reuse them for every
    # later start without options (the admin page's "Start Server" too).
    spawner.orm_spawner.user_options = {"environment": "pyiron_bse"}
    db.commit()
    with pytest.raises(HTTPError):
        PyironSpawner._apply_choice(spawner, {"environment": "pyiron_bse"})
    db.expire_all()  # read back what was committed
    assert db.query(orm.Spawner).one().user_options == last
    # ... so that the next start without options is the last good one (or the default).
    PyironSpawner._apply_choice(spawner, spawner.orm_spawner.user_options)
    assert spawner.image == ("pyiron/base:latest" if last else "pyiron/pyiron:latest")


def test_the_last_choice_that_started_outlives_the_stop_and_a_restart_of_the_hub(spawner, environments):
    spawner.last_options = {"environment": "pyiron_base", "mem_limit": "2G"}
    spawner.clear_state()  # what JupyterHub does when the server stops
    c = Config()
    c.PyironSpawner.environments = environments
    restarted = PyironSpawner(config=c, user=SimpleNamespace(name="alice"))
    restarted.load_state(spawner.get_state())
    assert restarted.last_options == {"environment": "pyiron_base", "mem_limit": "2G"}


def test_a_state_without_a_last_choice_has_none(spawner):
    spawner.load_state({"last_options": "not a dict"})
    assert spawner.last_options == {} and "last_options" not in spawner.get_state()


@pytest.mark.parametrize("name", ["pyiron base", "pyiron_base"])
def test_an_environment_by_its_display_name_or_its_name(environments, name):
    assert validate_choice({"environment": name}, environments).environment.name == "pyiron_base"


@pytest.mark.parametrize("name", ["pyiron base", "pyiron_base"])
def test_the_query_string_takes_what_the_pickers_message_lists(spawner, name):
    # The spawn page's error lists display names; ?environment= accepts them as well as names.
    assert spawner.options_from_query({"environment": [name]}) == {"environment": name}
    PyironSpawner._apply_choice(spawner, {"environment": name})
    assert spawner.image == "pyiron/base:latest"


def test_query_string_is_checked_like_the_form(spawner):
    with pytest.raises(HTTPError) as info:
        spawner.options_from_query({"image": ["evil/miner"]})
    assert info.value.status_code == 400


# --- passing the access token (opt-in) -----------------------------------------------------
def test_access_token_is_passed_to_the_server(spawner):
    pass_access_token(spawner, {"access_token": "tok-123", "id_token": "id"})
    assert spawner.environment == {"KEEP": "me", "OAUTH_ACCESS_TOKEN": "tok-123"}


@pytest.mark.parametrize("auth_state", [None, {}, {"access_token": ""}])
def test_no_access_token_no_variable(spawner, auth_state):
    pass_access_token(spawner, auth_state)
    assert spawner.environment == {"KEEP": "me"}


@pytest.mark.parametrize("value", ["0", "32M", "1024", 1024, "63M"])
def test_memory_below_the_floor(environments, value):
    """Refused on every channel; a tiny request would otherwise pass as a size."""
    assert invalid({"mem_limit": value}, environments, MAX_MEM) == f"Memory {value!r} is below the minimum of 64M"


def test_cpus_at_the_floor_are_taken(environments):
    """0.01 CPU is Docker's smallest quota (1000 us per 100000 us): a limit, never none."""
    assert validate_choice({"cpu_limit": "0.01"}, environments, None, MAX_CPU).cpu_limit == 0.01
