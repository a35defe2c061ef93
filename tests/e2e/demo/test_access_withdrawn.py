"""Access taken away in Keycloak takes effect without a logout (AUTH_REFRESH_AGE).

A hub, its database and the demo realm's Keycloak from the test images (no environments
are started, so the demo's image builds are not needed): people log in through Keycloak's
own form, then a Keycloak admin takes something away through Keycloak's admin REST API,
and within the (here short) refresh age their next request to the hub is refused.
Each case has its control: someone Keycloak still admits stays signed in.
"""

from __future__ import annotations

import time
from urllib.parse import urlparse

import pytest
import requests

from pyiron_hub_config.authenticator import WITHDRAWN

from .conftest import REFRESH_AGE
from .keycloak_stack import ADMIN_PASSWORD
from .test_keycloak import Browser, _keycloak_admin


@pytest.fixture(scope="module")
def hub(keycloak_hub):
    return keycloak_hub


def admin(hub, method, path, **kw) -> requests.Response:
    return _keycloak_admin(method, path, keycloak=hub.keycloak, password=ADMIN_PASSWORD, **kw)


def keycloak_id(hub, kind: str, name: str) -> str:
    found = admin(
        hub, "GET", f"/{kind}", params={"search" if kind == "groups" else "username": name, "exact": "true"}
    ).json()
    return next(item["id"] for item in found if item.get("name", item.get("username")) == name)


class Membership:
    """Take `user` out of `group` in Keycloak for the block; put them back afterwards."""

    def __init__(self, hub, user: str, group: str):
        self.path = f"/users/{keycloak_id(hub, 'users', user)}/groups/{keycloak_id(hub, 'groups', group)}"
        self.hub = hub

    def __enter__(self):
        assert admin(self.hub, "DELETE", self.path).status_code == 204

    def __exit__(self, *exc):
        assert admin(self.hub, "PUT", self.path).status_code == 204


def signed_in(hub, user: str) -> tuple[Browser, str]:
    """A browser session of `user`'s, and an API token of theirs (as a script of theirs holds one)."""
    browser = Browser(hub=hub.url, keycloak=f"localhost:{hub.keycloak_port}")
    landed = browser.login(user)
    assert landed.status_code == 200 and landed.url.startswith(f"{hub.url}/hub/"), (landed.status_code, landed.url)
    token = browser.hub_api(f"/users/{user}/tokens", "POST", json={"expires_in": 600}).json()["token"]
    return browser, token


def with_token(hub, token: str, path: str) -> requests.Response:
    return requests.get(f"{hub.url}/hub/api{path}", headers={"Authorization": f"token {token}"}, timeout=30)


def past_the_refresh_age():
    time.sleep(REFRESH_AGE + 1)


def withdrawn_on_the_admins_key_list(alice: Browser, user: str) -> bool:
    """Is `user` marked as withdrawn in their auth state, as an admin reads it?

    That mark is what leaves them out of the clusters' key list (ssh_keys.key_list, tested
    with a cluster in tests/unit/test_ssh_keys.py and tests/e2e/test_hpc.py); this stack has none.
    """
    model = alice.hub_api(f"/users/{user}").json()
    assert "auth_state" in model, sorted(model)  # admins read auth state (README "Security notes")
    return WITHDRAWN in (model["auth_state"] or {})


def test_a_user_removed_from_the_allowed_group_loses_access_without_logging_out(hub):
    bob, bobs_token = signed_in(hub, "bob")
    alice, alices_token = signed_in(hub, "alice")
    # Both have a server running (issue 29): bob's stops after ACCESS_WITHDRAWN_GRACE, alice's stays.
    bob.spawn("bob", "pyiron_base")
    alice.spawn("alice", "pyiron_base")
    assert not withdrawn_on_the_admins_key_list(alice, "bob")
    with Membership(hub, "bob", "pyiron-users"):
        past_the_refresh_age()
        # His browser: the hub no longer knows him and sends him to the login; the round
        # through Keycloak (whose session he still has) ends on the "not admitted" page.
        assert urlparse(bob.go(f"{hub.url}/hub/home").url).path == "/hub/login"
        assert bob.hub_api("/user").status_code == 403
        again = bob.go(f"{hub.url}/hub/oauth_login")
        assert again.status_code == 403 and "This account cannot use" in again.text, (again.status_code, again.url)
        # His token (a script's, or his server's check of its visitors): refused too.
        assert with_token(hub, bobs_token, "/user").status_code == 403
        # Control: alice, still in the group, stays signed in, by browser and by token.
        assert alice.hub_api("/user").json()["name"] == "alice"
        assert with_token(hub, alices_token, "/user").json()["name"] == "alice"
        # His server stops once the grace is over; his key is off the clusters' key list at once.
        assert withdrawn_on_the_admins_key_list(alice, "bob")
        alice.wait_server("bob", lambda server: not server, "stop after the grace", timeout=90)
        # Control: alice's server, hers still allowed, runs on.
        assert alice.server("alice").get("ready"), alice.server("alice")
    # Back in the group, he logs in again as usual, and is on the key list again.
    again, _ = signed_in(hub, "bob")
    assert again.hub_api("/user").json()["name"] == "bob"
    assert not withdrawn_on_the_admins_key_list(alice, "bob")
    alice.hub_api("/users/alice/server", "DELETE")
    alice.wait_server("alice", lambda server: not server, "stop")


def test_admin_rights_taken_away_in_keycloak_end_in_the_hub(hub):
    alice, token = signed_in(hub, "alice")
    # An admin through the hub's group pyiron-admins (its hub-admin role: ADMIN_ACCESS is off).
    assert "admin-ui" in alice.hub_api("/user").json()["scopes"]
    assert with_token(hub, token, "/users").status_code == 200  # an admin lists all users
    with Membership(hub, "alice", "pyiron-admins"):
        past_the_refresh_age()
        me = alice.hub_api("/user")
        assert me.status_code == 200 and "admin-ui" not in me.json()["scopes"]  # still a user, no longer an admin
        assert "pyiron-admins" not in me.json()["groups"]
        assert with_token(hub, token, "/users").status_code == 403
        assert with_token(hub, token, "/user").json()["name"] == "alice"  # control: her own access stays
    past_the_refresh_age()
    assert "admin-ui" in alice.hub_api("/user").json()["scopes"]  # given back in Keycloak: admin again


def test_a_user_disabled_in_keycloak_loses_access_without_logging_out(hub):
    bob, bobs_token = signed_in(hub, "bob")
    alice, _ = signed_in(hub, "alice")
    path = f"/users/{keycloak_id(hub, 'users', 'bob')}"
    assert admin(hub, "PUT", path, json={"enabled": False}).status_code == 204
    try:
        past_the_refresh_age()
        assert with_token(hub, bobs_token, "/user").status_code == 403
        # His browser is sent to the login, and Keycloak does not let him in again.
        assert urlparse(bob.go(f"{hub.url}/hub/home").url).path == "/hub/login"
        assert bob.hub_api("/user").status_code == 403
        page = bob.go(f"{hub.url}/hub/oauth_login")
        assert urlparse(page.url).netloc == f"localhost:{hub.keycloak_port}", page.url
        assert alice.hub_api("/user").json()["name"] == "alice"  # control
        # Keycloak refused his account itself (not a session that ended): withdrawn, key off the list.
        assert withdrawn_on_the_admins_key_list(alice, "bob")
    finally:
        assert admin(hub, "PUT", path, json={"enabled": True}).status_code == 204
