"""The hub's pages: our templates over JupyterHub's own, rendered as JupyterHub renders them.

The Jinja environment is built the way JupyterHub 6 builds it (init_tornado_settings):
autoescape on, "templates/<name>" for JupyterHub's own file, other names looked up on
template_paths first. Pages are parsed, not snapshotted.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
from bs4 import BeautifulSoup
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
from jupyterhub._data import DATA_FILES_PATH
from tornado import web
from traitlets.config import Config

from pyiron_hub_config.apply import HUB_TEMPLATES, PARTIAL_TEMPLATES, apply_templates
from pyiron_hub_config.authenticator import NotAdmitted
from pyiron_hub_config.error_words import explain_error
from pyiron_hub_config.hub_config import load_hub_config

from .helpers import MINIMAL_ENV, with_env

JUPYTERHUB_TEMPLATES = os.path.join(DATA_FILES_PATH, "templates")
SCRIPT = "<script>alert(1)</script>"


def configured(**changes) -> Config:
    c = Config()
    apply_templates(c, load_hub_config(with_env(MINIMAL_ENV, **changes), check_paths=False))
    return c


def render(c: Config, name: str, **ns) -> BeautifulSoup:
    """Render one page with the template_paths and template_vars that apply_templates set."""
    paths = [*c.JupyterHub.template_paths, JUPYTERHUB_TEMPLATES]
    loader = ChoiceLoader(
        [PrefixLoader({"templates": FileSystemLoader([JUPYTERHUB_TEMPLATES])}, "/"), FileSystemLoader(paths)]
    )
    env = Environment(loader=loader, autoescape=True)
    namespace = dict(
        base_url="/hub/",
        prefix="/",
        user=None,
        login_url="/hub/login",
        logout_url="/hub/logout",
        login_service="Keycloak",
        static_url=lambda path, **kw: f"/hub/static/{path}",
        version_hash="",
        services=[],
        parsed_scopes=set(),
        expanded_scopes=set(),
        xsrf="x",
        xsrf_token="x",
        authenticator_login_url="/hub/oauth_login",
    )
    # As JupyterHub does: a callable template variable is called with the page's user.
    user = ns.get("user")
    namespace.update({k: v(user) if callable(v) else v for k, v in c.JupyterHub.template_vars.items()})
    namespace.update(ns)
    return BeautifulSoup(env.get_template(name).render(**namespace), "html.parser")


def text(soup: BeautifulSoup) -> str:
    return " ".join(soup.get_text().split())


# --- apply_templates ----------------------------------------------------------------------
def test_our_templates_are_found_first():
    assert configured().JupyterHub.template_paths == [str(HUB_TEMPLATES), str(PARTIAL_TEMPLATES)]
    assert (HUB_TEMPLATES / "page.html").is_file()


def test_every_page_extends_jupyterhubs_own():
    for page in HUB_TEMPLATES.glob("*.html"):
        if page.name == "pyiron_help.html":  # macros only
            continue
        if page.name.startswith("pyiron_"):  # pages of our own: within the site's page
            assert '{% extends "page.html" %}' in page.read_text(), page.name
        else:
            assert f'{{% extends "templates/{page.name}" %}}' in page.read_text(), page.name


def test_our_pages_scripts_run_in_a_function_of_their_own_from_one_macro():
    from types import SimpleNamespace

    c = configured(SERVER_SHARING="true")
    user = SimpleNamespace(name="bob", json_escaped_name="bob", spawner=SimpleNamespace(options_form=""))
    pages = {
        "pyiron_share.html": dict(servers=[]),
        "pyiron_ssh_key.html": dict(key=None, source="none", clusters=[], server_active=False, skipped={}),
    }
    for name, ns in pages.items():
        assert '{% from "pyiron_page_script.html" import page_script %}' in (HUB_TEMPLATES / name).read_text()
        ours = [s.string.strip() for s in render(c, name, user=user, **ns).find_all("script") if s.string]
        ours = [s for s in ours if s.startswith("(function () {")]
        assert len(ours) == 1 and ours[0].endswith("})();"), name
    soup = render(c, "pyiron_share.html", user=user, servers=[])
    assert 'var api = "/hub/api";' in soup.find_all("script")[-1].string  # the page's own variables


def test_defaults_say_pyiron_and_offer_no_help_link():
    v = configured().JupyterHub.template_vars
    assert (v["site_name"], v["help_url"], v["help_contact"]) == ("pyiron hub", None, None)


def test_site_variables_reach_the_templates():
    v = configured(
        SITE_NAME="CM hub", HELP_URL="https://wiki.example.org/hub", HELP_CONTACT="the CM team"
    ).JupyterHub.template_vars
    assert (v["site_name"], v["help_url"], v["help_contact"]) == (
        "CM hub",
        "https://wiki.example.org/hub",
        "the CM team",
    )


def test_allowed_groups_are_named_without_keycloak_paths():
    v = configured(OAUTH2_ALLOWED_GROUPS="/pyiron-users, staff").JupyterHub.template_vars
    assert v["allowed_groups"] == ["pyiron-users", "staff"]


def test_no_groups_named_with_the_dummy_authenticator():
    c = configured(AUTHENTICATOR="dummy", DUMMY_PASSWORD="trial-password", OAUTH2_ALLOWED_GROUPS="pyiron-users")
    assert c.JupyterHub.template_vars["allowed_groups"] == []


def test_logo_default_is_jupyterhubs():
    assert "logo_file" not in configured().JupyterHub


def test_logo_is_served_by_the_hub():
    assert configured(SITE_LOGO="/srv/jupyterhub/logo.png").JupyterHub.logo_file == "/srv/jupyterhub/logo.png"


# --- every page ------------------------------------------------------------------------------
def test_every_page_is_titled_with_the_site_name():
    c = configured(SITE_NAME="CM pyiron hub")
    for page in ("login.html", "error.html", "404.html", "logout.html"):
        soup = render(c, page, status_code=500, status_message="Internal Server Error", message="")
        assert soup.title.get_text(strip=True) == "CM pyiron hub", page
        assert soup.find(id="site-name").get_text(strip=True) == "CM pyiron hub", page


def test_site_name_is_escaped_everywhere():
    soup = render(configured(SITE_NAME=SCRIPT), "login.html")
    assert not soup.find("script", string="alert(1)")
    assert soup.find(id="site-name").get_text() == SCRIPT  # shown as text
    assert soup.title.get_text() == SCRIPT


def test_help_link_in_the_header():
    soup = render(configured(HELP_URL="mailto:hub@example.org"), "login.html")
    assert soup.find(id="help-link")["href"] == "mailto:hub@example.org"


def test_no_help_link_unless_set():
    assert render(configured(), "login.html").find(id="help-link") is None


# --- login ------------------------------------------------------------------------------------
def test_login_page_says_pyiron_and_keeps_jupyterhubs_button():
    soup = render(configured(HELP_CONTACT="the CM team", HELP_URL="https://wiki.example.org/hub"), "login.html")
    welcome = soup.find(id="pyiron-welcome")
    assert welcome.h1.get_text(strip=True) == "pyiron hub"
    assert "pyiron" in welcome.get_text() and "Keycloak" in welcome.get_text()
    assert soup.find("a", href="/hub/oauth_login").get_text(strip=True) == "Sign in with Keycloak"
    helper = soup.find(id="ask-for-help")
    assert helper.a["href"] == "https://wiki.example.org/hub" and helper.a.get_text() == "the CM team"


def test_login_form_of_the_dummy_authenticator_still_renders():
    soup = render(configured(), "login.html", login_service=None, authenticator=SimpleNamespace(request_otp=False))
    assert soup.find("input", attrs={"name": "password"}) is not None


# --- spawn ------------------------------------------------------------------------------------
def test_spawn_page_heading_says_pyiron():
    soup = render(
        configured(),
        "spawn.html",
        for_user=None,
        spawner_options_form="<p id=form>f</p>",
        url="/hub/spawn",
        error_message="No such environment: 'nope'. Options include: pyiron base.",
    )
    assert soup.find(id="pyiron-spawn-heading").h1.get_text(strip=True) == "Start your pyiron server"
    assert soup.find(id="form") is not None
    error = soup.find(class_="spawn-error-msg").get_text(" ", strip=True)
    assert error == "Error: No such environment: 'nope'. Options include: pyiron base."


# --- home -------------------------------------------------------------------------------------
def test_home_shows_the_running_environment():
    server = SimpleNamespace(active=True, user_options={"environment": "pyiron_base", "profile": "pyiron base"})
    soup = render(configured(), "home.html", default_server=server, url="/user/bob/", allow_named_servers=False)
    assert soup.find(id="running-environment").strong.get_text() == "pyiron base"
    # Said by the page's script only once "Stop My Server" is used, without a reload.
    assert soup.find(id="stopping-server").has_attr("hidden") and soup.find(id="server-stopped").has_attr("hidden")


def test_home_of_a_stopped_server():
    server = SimpleNamespace(active=False, user_options={})
    soup = render(configured(), "home.html", default_server=server, url="/hub/spawn", allow_named_servers=False)
    assert soup.find(id="running-environment") is None
    stopped = soup.find(id="server-stopped")
    assert "Start it to choose a pyiron environment" in text(stopped) and not stopped.has_attr("hidden")


# --- errors -----------------------------------------------------------------------------------
def refusal_page(c: Config, username: str = "mallory") -> BeautifulSoup:
    refused = NotAdmitted(username, "id-token")
    # What JupyterHub's write_error passes for this exception.
    return render(
        c,
        "error.html",
        status_code=403,
        status_message=refused.reason,
        message=refused.get_message(),
        exception=refused,
    )


def test_refusal_names_the_allowed_groups_and_the_help_contact():
    c = configured(
        OAUTH2_ALLOWED_GROUPS="/pyiron-users,staff", HELP_CONTACT="the CM team", HELP_URL="mailto:hub@example.org"
    )
    soup = refusal_page(c)
    assert soup.h1.get_text(strip=True) == "This account cannot use pyiron hub"
    assert [g.get_text() for g in soup.select(".allowed-group")] == ["pyiron-users", "staff"]
    assert "members of the groups pyiron-users, staff." in text(soup)
    assert "signed in as mallory" in text(soup)
    helper = soup.find(id="ask-for-help")
    assert (helper.a["href"], helper.a.get_text()) == ("mailto:hub@example.org", "the CM team")


def test_refusal_says_it_once():
    soup = refusal_page(configured(OAUTH2_ALLOWED_GROUPS="pyiron-users"))
    assert len(soup.find_all("h1")) == 1
    assert text(soup).count("may not use") == 1
    assert "403" not in soup.h1.get_text()


def test_refusal_offers_to_sign_out_and_use_another_account():
    button = refusal_page(configured(OAUTH2_ALLOWED_GROUPS="pyiron-users")).find(id="sign-out-another-account")
    assert (button["href"], button.get_text(strip=True)) == ("/hub/logout", "Sign out and use another account")


def test_refusal_with_one_group_and_named_users():
    c = configured(OAUTH2_ALLOWED_GROUPS="pyiron-users", ALLOWED_USERS="carol")
    assert "open to members of the group pyiron-users and to users named by the administrators." in text(
        refusal_page(c)
    )


def test_refusal_without_a_help_contact_points_to_the_administrators():
    soup = refusal_page(configured(OAUTH2_ALLOWED_GROUPS="pyiron-users", SITE_NAME="CM hub"))
    assert (
        soup.find(id="ask-for-help").get_text(" ", strip=True)
        == "To be given access, ask the administrators of CM hub."
    )


def test_refused_user_name_is_escaped():
    soup = refusal_page(configured(OAUTH2_ALLOWED_GROUPS="pyiron-users"), username=SCRIPT)
    assert soup.find("script", string="alert(1)") is None
    assert f"signed in as {SCRIPT}" in text(soup)


def test_other_errors_say_the_message_once_with_a_way_back():
    message = "The login service (Keycloak) cannot be reached right now, so nobody can log in."
    error = web.HTTPError(503, message)
    # JupyterHub passes status_message = reason or message: the same text twice.
    soup = render(
        configured(HELP_CONTACT="the CM team"),
        "error.html",
        status_code=503,
        status_message=message,
        message=message,
        exception=error,
    )
    assert soup.h1.get_text(strip=True) == "503: Service Unavailable"
    assert text(soup).count("cannot be reached") == 1
    assert soup.find(id="back-home")["href"] == "/hub/home"
    assert soup.find(id="sign-out-another-account") is None
    assert "If this keeps happening, ask the CM team." in text(soup)


def test_an_error_with_a_short_reason_keeps_it_as_the_heading():
    soup = render(
        configured(),
        "error.html",
        status_code=500,
        status_message="Spawn failed",
        message="The container did not start.",
        exception=None,
    )
    assert soup.h1.get_text(strip=True) == "500: Spawn failed"


@pytest.mark.parametrize("status", [404, 405, 500, 599])
def test_error_heading_for_any_status(status):
    soup = render(configured(), "error.html", status_code=status, status_message="", message="", exception=None)
    assert soup.h1.get_text(strip=True).startswith(f"{status}: ")


# --- error pages in words, with the user menu -----------------------------------------------
SCOPES_403 = "Action is not authorized with current scopes; requires any of [admin-ui]"


def test_a_403_says_in_words_what_the_scopes_mean_and_keeps_the_user_menu():
    bob = SimpleNamespace(name="bob", json_escaped_name="bob", spawner=SimpleNamespace(options_form=""))
    soup = render(
        configured(),
        "error.html",
        status_code=403,
        status_message=SCOPES_403,
        message=SCOPES_403,
        exception=web.HTTPError(403, SCOPES_403),
        user=bob,
    )
    assert soup.h1.get_text(strip=True) == "403: Forbidden"
    assert soup.find(id="error-explained").get_text() == (
        "This page is for the administrators of this hub, and your account is not one of them."
    )
    assert soup.find("details").code.get_text() == SCOPES_403  # folded away, for whoever debugs
    assert soup.find(id="login_widget").get_text(" ", strip=True) == "bob Logout"
    assert soup.find(id="logout")["href"] == "/hub/logout" and soup.find(id="back-home")["href"] == "/hub/home"


def test_an_error_page_without_a_user_has_no_user_menu():
    soup = render(
        configured(),
        "error.html",
        status_code=403,
        status_message=SCOPES_403,
        message=SCOPES_403,
        exception=web.HTTPError(403, SCOPES_403),
    )
    assert soup.find(id="login_widget") is None and soup.find(id="logout") is None


def test_the_404_page_keeps_jupyterhubs_joke_and_gains_words_and_a_way_back():
    soup = render(
        configured(HELP_CONTACT="the CM team"),
        "404.html",
        status_code=404,
        status_message="Not Found",
        message="",
        exception=web.HTTPError(404),
    )
    assert "lots of moons" in text(soup)
    assert soup.find(id="error-explained").get_text().startswith("There is no page at this address.")
    assert soup.find(id="back-home")["href"] == "/hub/home"
    assert "If this keeps happening, ask the CM team." in text(soup)


@pytest.mark.parametrize(
    "message, expected",
    [
        ("Action is not authorized with current scopes; requires any of [admin:users]", "for the administrators"),
        (
            "Action is not authorized with current scopes; requires any of [access:servers!server=alice/]",
            "another user's server",
        ),
        ("Action is not authorized with current scopes; requires any of [read:metrics]", "not allowed to do this"),
    ],
)
def test_scope_jargon_in_words(message, expected):
    assert expected in explain_error(403, message)


@pytest.mark.parametrize(
    "status, message",
    [(403, "Not admitted"), (500, "The container did not start."), (404, "No such cluster: x. Clusters: demo")],
)
def test_messages_in_plain_words_already_are_left_as_they_are(status, message):
    assert explain_error(status, message) is None


def test_the_admin_pages_expanded_rows_wrap_long_words():
    soup = render(configured(), "admin.html", api_page_limit=50, server_version="6")
    assert "overflow-wrap: anywhere" in soup.find("style").get_text()
