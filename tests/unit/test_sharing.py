"""Share my server: JupyterHub's sharing, granted to users only with SERVER_SHARING, never to admins."""

from __future__ import annotations

from types import SimpleNamespace

from traitlets.config import Config

from pyiron_hub_config import configure
from pyiron_hub_config.apply import ADMIN_SCOPES_WITHOUT_ACCESS, HUB_ADMIN_ROLE
from pyiron_hub_config.sharing import ShareHandler

from .helpers import MINIMAL_ENV, with_env
from .test_pages import configured as templates_configured
from .test_pages import render, text

BOB = SimpleNamespace(name="bob", json_escaped_name="bob", spawner=SimpleNamespace(options_form=""))


def configured(**changes) -> Config:
    c = Config()
    configure(c, with_env(MINIMAL_ENV, **changes))
    return c


def roles(c: Config) -> dict[str, dict]:
    return {role["name"]: role for role in c.JupyterHub.load_roles}


def test_sharing_is_off_by_default():
    c = configured()
    assert "user" not in roles(c)  # JupyterHub's own user role: "self", no shares
    assert all(path != r"/share" for path, *_ in c.JupyterHub.extra_handlers)


def test_server_sharing_gives_users_shares_of_their_own_servers_and_the_page():
    c = configured(SERVER_SHARING="true")
    assert roles(c)["user"]["scopes"] == ["self", "shares!user", "read:users:name", "read:groups:name"]
    assert (r"/share", ShareHandler) in [tuple(h[:2]) for h in c.JupyterHub.extra_handlers]


def test_admins_get_no_shares_from_it_without_admin_access():
    role = roles(configured(SERVER_SHARING="true", OAUTH2_ADMIN_GROUPS="pyiron-admins"))[HUB_ADMIN_ROLE]
    assert not {s for s in role["scopes"] if "shares" in s or s.startswith("access:servers")}
    assert role["scopes"] == ADMIN_SCOPES_WITHOUT_ACCESS


def test_the_top_bar_links_the_share_page_only_with_sharing():
    assert render(templates_configured(SERVER_SHARING="true"), "page.html", user=BOB).find(id="share-link")
    assert render(templates_configured(), "page.html", user=BOB).find(id="share-link") is None


def test_the_share_page_names_the_running_servers_escaped():
    soup = render(
        templates_configured(SERVER_SHARING="true"),
        "pyiron_share.html",
        user=BOB,
        servers=[{"name": "", "label": "default", "profile": "<b>pyiron base</b>", "url": "/user/bob/"}],
    )
    assert soup.find(class_="share-server")["data-server"] == ""
    assert "Server default (<b>pyiron base</b>)" in text(soup)  # text, not markup
    assert soup.find("b") is None
