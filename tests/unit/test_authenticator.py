"""Keycloak login: endpoints derived from the realm URL, groups from the userinfo claim."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from tornado import web
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

from pyiron_hub_config.authenticator import (
    REFUSED_ID_TOKEN_COOKIE,
    KeycloakCallbackHandler,
    KeycloakOAuthenticator,
    NotAdmitted,
    id_token_claims,
    refused_sign_in,
    strip_group_path,
)

REALM = "https://keycloak.example.org/realms/pyiron"
OIDC = f"{REALM}/protocol/openid-connect"


def authenticator(**traits) -> KeycloakOAuthenticator:
    c = Config()
    for name, value in traits.items():
        c.KeycloakOAuthenticator[name] = value
    return KeycloakOAuthenticator(config=c)


@pytest.mark.parametrize("realm_url", [REALM, REALM + "/"])
@pytest.mark.parametrize(
    "trait, path",
    [
        ("authorize_url", "auth"),
        ("token_url", "token"),
        ("userdata_url", "userinfo"),
        ("end_session_url", "logout"),
    ],
)
def test_endpoint_derived_from_realm(realm_url, trait, path):
    assert getattr(authenticator(realm_url=realm_url), trait) == f"{OIDC}/{path}"


@pytest.mark.parametrize("trait", ["authorize_url", "token_url", "userdata_url", "end_session_url"])
def test_explicit_endpoint_wins(trait):
    explicit = f"https://other.example.org/{trait}"
    assert getattr(authenticator(realm_url=REALM, **{trait: explicit}), trait) == explicit


@pytest.mark.parametrize("trait", ["authorize_url", "token_url", "userdata_url", "end_session_url"])
def test_explicit_endpoint_does_not_move_the_others(trait):
    others = {"authorize_url", "token_url", "userdata_url", "end_session_url"} - {trait}
    a = authenticator(realm_url=REALM, **{trait: "https://other.example.org/x"})
    assert {getattr(a, name).startswith(OIDC) for name in others} == {True}


@pytest.mark.parametrize("trait", ["authorize_url", "token_url", "userdata_url", "end_session_url"])
def test_no_realm_no_derived_endpoint(trait):
    assert getattr(authenticator(), trait) == ""


def test_username_claim_default():
    assert authenticator().username_claim == "preferred_username"


def test_username_claim_override():
    assert authenticator(username_claim="email").username_claim == "email"


def test_scope_default_asks_for_openid():
    assert authenticator().scope == ["openid", "profile", "email"]


def test_login_service_name():
    assert authenticator().login_service == "Keycloak"


def test_groups_claim_default():
    assert authenticator().groups_claim == "groups"


@pytest.mark.parametrize(
    "name, plain",
    [("/pyiron-users", "pyiron-users"), ("pyiron-users", "pyiron-users"), ("/parent/child", "parent/child")],
)
def test_strip_group_path(name, plain):
    assert strip_group_path(name) == plain


async def test_groups_from_auth_state_with_full_paths():
    auth_state = {"oauth_user": {"groups": ["/pyiron-users", "/pyiron-admins", "plain", 7, None]}}
    assert await authenticator(manage_groups=True).get_user_groups(auth_state) == {
        "pyiron-users",
        "pyiron-admins",
        "plain",
    }


async def test_groups_from_a_custom_claim():
    auth_state = {"oauth_user": {"groups": ["/ignored"], "roles": ["/pyiron-users"]}}
    assert await authenticator(manage_groups=True, groups_claim="roles").get_user_groups(auth_state) == {"pyiron-users"}


@pytest.mark.parametrize("auth_state", [{"oauth_user": {}}, {"oauth_user": {"groups": None}}, {"oauth_user": None}, {}])
async def test_no_groups_claim_no_groups(auth_state):
    assert await authenticator(manage_groups=True).get_user_groups(auth_state) == set()


# --- the whole login decision, with the userinfo request stubbed out -------------------------
def logged_in_as(user_info: dict, **traits) -> KeycloakOAuthenticator:
    a = authenticator(realm_url=REALM, manage_groups=True, **traits)

    async def token_to_user(token_info):  # the only network call of a login
        return user_info

    a.token_to_user = token_to_user
    return a


TOKEN = {"access_token": "at", "token_type": "Bearer", "id_token": "it", "scope": "openid profile email"}


async def test_member_of_an_allowed_group_may_log_in():
    a = logged_in_as({"preferred_username": "alice", "groups": ["/pyiron-users"]}, allowed_groups={"pyiron-users"})
    model = await a._token_to_auth_model(TOKEN)
    assert (model["name"], await a.check_allowed(model["name"], model)) == ("alice", True)


async def test_non_member_may_not_log_in():
    a = logged_in_as({"preferred_username": "mallory", "groups": ["/guests"]}, allowed_groups={"pyiron-users"})
    model = await a._token_to_auth_model(TOKEN)
    with pytest.raises(NotAdmitted) as info:
        await a.check_allowed(model["name"], model)
    # A 403 the error page recognises, naming the user; the id token is kept for the sign-out.
    assert (info.value.status_code, info.value.not_admitted) == (403, True)
    assert (info.value.username, info.value.id_token) == ("mallory", "it")


class FakeHandler:
    """Only what get_authenticated_user touches of a request handler."""

    def __init__(self):
        self.hub = SimpleNamespace(base_url="/hub/")
        self.request = SimpleNamespace(protocol="https")
        self.cookies = {}

    def set_secure_cookie(self, name, value, **options):
        self.cookies[name] = (value, options)


async def test_a_refused_login_leaves_its_id_token_for_the_sign_out():
    a = logged_in_as({"preferred_username": "mallory"}, allowed_groups={"pyiron-users"})
    handler = FakeHandler()
    a.authenticate = lambda handler, data: a._token_to_auth_model(TOKEN)  # the code exchange, stubbed
    with pytest.raises(NotAdmitted):
        await a.get_authenticated_user(handler, {"code": "c"})
    value, options = handler.cookies[REFUSED_ID_TOKEN_COOKIE]
    assert value == "it"
    assert options == {"expires_days": None, "path": "/hub/", "httponly": True, "secure": True}


async def test_an_admitted_login_leaves_no_cookie():
    a = logged_in_as({"preferred_username": "bob", "groups": ["/pyiron-users"]}, allowed_groups={"pyiron-users"})
    handler = FakeHandler()
    a.authenticate = lambda handler, data: a._token_to_auth_model(TOKEN)  # the code exchange, stubbed
    assert (await a.get_authenticated_user(handler, {"code": "c"}))["name"] == "bob"
    assert handler.cookies == {}


async def test_member_of_an_admin_group_is_admin():
    a = logged_in_as({"preferred_username": "bob", "groups": ["/pyiron-admins"]}, admin_groups={"pyiron-admins"})
    assert (await a._token_to_auth_model(TOKEN))["admin"] is True


async def test_auth_state_keeps_the_id_token_for_logout():
    a = logged_in_as({"preferred_username": "alice", "groups": []}, allow_all=True)
    assert (await a._token_to_auth_model(TOKEN))["auth_state"]["id_token"] == "it"


# --- a reload of the refusal page (the OAuth callback) ------------------------------------
def _id_token(claims: dict) -> str:
    import base64
    import json

    part = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJSUzI1NiJ9.{part}.signature"


def test_id_token_claims_are_read_without_padding():
    assert id_token_claims(_id_token({"preferred_username": "mallory", "x": "y" * 7})) == {
        "preferred_username": "mallory",
        "x": "y" * 7,
    }


@pytest.mark.parametrize("token", ["", "no-dots", "a.!!!.c", "a.bnVsbA.c", "a.WzFd.c"])  # null, [1]
def test_id_token_claims_of_garbage_are_empty(token):
    assert id_token_claims(token) == {}


def _handler(cookie: str | None):
    return SimpleNamespace(
        authenticator=authenticator(),
        get_secure_cookie=lambda name, max_age_days=None: cookie.encode() if cookie else None,
    )


def test_a_reload_after_a_refusal_refuses_the_same_user_again():
    token = _id_token({"preferred_username": "Mallory"})
    refused = refused_sign_in(_handler(token))
    assert isinstance(refused, NotAdmitted) and refused.status_code == 403
    assert (refused.username, refused.id_token) == ("mallory", token)  # normalised, as at the refusal


@pytest.mark.parametrize("cookie", [None, "", "a.b.c", _id_token({"sub": "123"})])
def test_a_reload_without_a_refusal_to_show_has_none(cookie):
    assert refused_sign_in(_handler(cookie)) is None


def test_the_callback_handler_is_ours():
    assert authenticator().callback_handler is KeycloakCallbackHandler


# --- refresh: access Keycloak takes away is taken away here too ---------------------------------
class FakeUser:
    def __init__(self, name="bob"):
        self.name = name
        self.auth_state = {"token_response": TOKEN, "access_token": "at", "refresh_token": "rt"}
        self.spawners = {}

    async def get_auth_state(self):
        return self.auth_state

    async def save_auth_state(self, auth_state):
        self.auth_state = auth_state


def request_by(user, token: bool, method: str = "GET", path: str = "/hub/api/user"):
    """What refresh_user reads of the hub's request handler: who made it, how, and what."""
    return SimpleNamespace(
        _jupyterhub_user=user, _token_authenticated=token, request=SimpleNamespace(method=method, path=path)
    )


def refreshing(groups: list[str]) -> KeycloakOAuthenticator:
    return logged_in_as(
        {"preferred_username": "bob", "groups": groups},
        enable_auth_state=True,
        allowed_groups={"pyiron-users"},
        admin_groups={"pyiron-admins"},
    )


async def test_refresh_keeps_a_user_still_in_the_group():
    model = await refreshing(["/pyiron-users"]).refresh_user(FakeUser())
    assert (model["name"], model["admin"], model["groups"]) == ("bob", False, ["pyiron-users"])


async def test_refresh_follows_admin_rights_taken_away():
    assert (await refreshing(["/pyiron-users"]).refresh_user(FakeUser()))["admin"] is False
    assert (await refreshing(["/pyiron-users", "/pyiron-admins"]).refresh_user(FakeUser()))["admin"] is True


async def test_refresh_of_a_user_removed_from_the_group_sends_the_browser_to_login():
    user = FakeUser()
    assert await refreshing(["/guests"]).refresh_user(user, request_by(user, token=False)) is False


async def test_refresh_of_a_user_removed_from_the_group_refuses_their_token():
    user = FakeUser()
    with pytest.raises(web.HTTPError) as info:
        await refreshing(["/guests"]).refresh_user(user, request_by(user, token=True))
    assert info.value.status_code == 403


async def test_an_admins_request_about_a_removed_user_is_not_refused():
    user, admin = FakeUser(), FakeUser("alice")
    assert await refreshing(["/guests"]).refresh_user(user, request_by(admin, token=True)) is False


async def test_refresh_keycloak_refuses_is_a_logout():
    """Disabled or signed out in Keycloak: neither the access nor the refresh token works."""
    a = refreshing(["/pyiron-users"])

    async def refused(*args, **kwargs):
        raise HTTPClientError(400, "Bad Request")

    a.token_to_user = refused
    a.get_token_info = refused
    user = FakeUser()
    assert await a.refresh_user(user, request_by(user, token=False)) is False
    with pytest.raises(web.HTTPError):
        await a.refresh_user(user, request_by(user, token=True))


async def test_a_servers_activity_report_is_not_refused():
    """Else the culler would stop a server still computing after its owner signed out of Keycloak."""
    user = FakeUser()
    report = request_by(user, token=True, method="POST", path="/hub/api/users/bob/activity")
    assert await refreshing(["/guests"]).refresh_user(user, report) is False  # stale, but not refused


async def test_a_user_who_never_logged_in_is_not_refused():
    """No stored tokens (a user made through the API): Keycloak was not asked, so JupyterHub's rule stands."""

    class NeverLoggedIn(FakeUser):
        async def get_auth_state(self):
            return None

    user = NeverLoggedIn()
    assert await refreshing(["/pyiron-users"]).refresh_user(user, request_by(user, token=True)) is False


# --- access withdrawn: the server stops after the grace, unless let in again (issue 29) ---------
class FakeSpawner:
    def __init__(self):
        self.active, self._stop_pending = True, False


class StoppingHandler(SimpleNamespace):
    """A request of the user's own; stop_single_user as the hub's handlers have it."""

    async def stop_single_user(self, user, name):
        self.stopped.append((user.name, name))
        user.spawners[name].active = False


def withdrawing(user, grace: float, groups=("/guests",)):
    a = refreshing(list(groups))
    a.withdrawn_grace = grace
    handler = StoppingHandler(
        _jupyterhub_user=user,
        _token_authenticated=False,
        stopped=[],
        request=SimpleNamespace(method="GET", path="/hub/home"),
    )
    user.spawners[""] = FakeSpawner()
    return a, handler


async def _until(condition, seconds=5.0):
    import asyncio

    for _ in range(int(seconds / 0.01)):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


async def test_a_user_removed_from_the_group_has_their_server_stopped_after_the_grace():
    from pyiron_hub_config.authenticator import WITHDRAWN, access_withdrawn

    user = FakeUser()
    a, handler = withdrawing(user, grace=0.2)
    assert await a.refresh_user(user, handler) is False
    assert access_withdrawn(user.auth_state) and isinstance(user.auth_state[WITHDRAWN], float)
    assert handler.stopped == []  # not before the grace
    assert await _until(lambda: handler.stopped == [("bob", "")])


async def test_a_user_let_in_again_within_the_grace_keeps_their_server():
    user = FakeUser()
    a, handler = withdrawing(user, grace=0.2)
    await a.refresh_user(user, handler)
    user.auth_state = {"token_response": TOKEN}  # a new login stores a new auth_state
    assert not await _until(lambda: handler.stopped, seconds=0.5)


async def test_a_user_still_in_the_group_keeps_their_server():
    user = FakeUser()
    a, handler = withdrawing(user, grace=0.0, groups=("/pyiron-users",))
    assert (await a.refresh_user(user, handler))["name"] == "bob"
    assert not await _until(lambda: handler.stopped, seconds=0.3)
    assert "pyiron_hub_access_withdrawn" not in user.auth_state


def _keycloak_refuses(a, description: str):
    import io
    import json

    from tornado.httpclient import HTTPRequest, HTTPResponse

    async def userinfo_refused(token_info):
        raise HTTPClientError(401, "Unauthorized")

    async def refused(url, **kwargs):
        body = json.dumps({"error": "invalid_grant", "error_description": description}).encode()
        raise HTTPClientError(400, "Bad Request", HTTPResponse(HTTPRequest(url), 400, buffer=io.BytesIO(body)))

    a.token_to_user = userinfo_refused
    a.httpfetch = refused


@pytest.mark.parametrize(
    "description, withdrawn",
    [
        ("User disabled", True),
        ("Unknown user", True),
        ("Session not active", False),
        ("Token is not active", False),  # a session ended: not the account
    ],
)
async def test_an_account_keycloak_refuses_is_withdrawn_a_session_ended_is_not(description, withdrawn):
    from pyiron_hub_config.authenticator import access_withdrawn

    user = FakeUser()
    a, handler = withdrawing(user, grace=0.0, groups=("/pyiron-users",))
    _keycloak_refuses(a, description)
    assert await a.refresh_user(user, handler) is False  # logged out either way
    assert access_withdrawn(user.auth_state) is withdrawn
    await _until(lambda: handler.stopped, seconds=5 if withdrawn else 0.3)
    assert handler.stopped == ([("bob", "")] if withdrawn else [])
