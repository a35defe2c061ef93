"""Keycloak login: GenericOAuthenticator with endpoints derived from the realm URL.

Modelled on oauthenticator's Auth0 class: one base URL, the rest derived in @default, so an
admin gives the realm URL once. Explicitly set URLs (the old deployment's) still win.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import time

from oauthenticator.generic import GenericOAuthenticator
from oauthenticator.oauth2 import OAuthCallbackHandler, OAuthLoginHandler, OAuthLogoutHandler
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httputil import url_concat
from traitlets import Dict, Float, Unicode, default

# A refused sign-in leaves its id token here (signed, HttpOnly, a few minutes), so that
# "Sign out and use another account" can end the Keycloak session without Keycloak asking
# "Do you want to log out?": RP-initiated logout needs the id token as a hint for that.
REFUSED_ID_TOKEN_COOKIE = "pyiron-hub-refused-id-token"
REFUSED_ID_TOKEN_MAX_AGE_DAYS = 10 / (24 * 60)


# In a user's auth_state: when Keycloak was last seen to take their access away (Unix time).
# Kept until they log in again (a login stores a new auth_state); the key list leaves them
# out meanwhile (ssh_keys.py), and their servers stop once ACCESS_WITHDRAWN_GRACE has passed.
WITHDRAWN = "pyiron_hub_access_withdrawn"

# Keycloak's words when it refuses a refresh because of the account itself (TokenManager:
# a disabled or deleted user), as opposed to a session that merely ended (idle or signed
# out: "Session not active", "Token is not active"). Only the former withdraws access: a
# server must keep computing after its owner's Keycloak session expired overnight.
ACCOUNT_REFUSED = ("user disabled", "account disabled", "unknown user", "user not found")

# What Keycloak answered to refresh_user's token request (get_token_info), for refresh_user.
_refusal: contextvars.ContextVar[dict | None] = contextvars.ContextVar("keycloak_refusal", default=None)


def keycloak_error(err: HTTPClientError) -> str:
    """Keycloak's error_description (or error) from a refused token request; '' if none."""
    try:
        body = json.loads(err.response.body) if err.response is not None and err.response.body else {}
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    return str(body.get("error_description") or body.get("error") or "")[:200]


def strip_group_path(name: str) -> str:
    """Keycloak's full group path '/pyiron-users' -> 'pyiron-users'."""
    return name.lstrip("/")


class NotAdmitted(web.HTTPError):
    """403: Keycloak knows the user, but the hub does not admit them (no allowed group).

    The error page (templates/hub/error.html) recognises it by `not_admitted` and explains
    who may use the hub and how to sign out of Keycloak to try another account.
    """

    not_admitted = True

    def __init__(self, username: str, id_token: str | None = None):
        super().__init__(
            403,
            "%s signed in, but is in none of the groups allowed on this hub",
            username,
            reason="Not admitted to this hub",
        )
        self.username = username
        self.id_token = id_token


def refused_sign_in(handler) -> NotAdmitted | None:
    """The refusal of the last few minutes' sign-in in this browser, from its signed cookie."""
    token = handler.get_secure_cookie(REFUSED_ID_TOKEN_COOKIE, max_age_days=REFUSED_ID_TOKEN_MAX_AGE_DAYS)
    if not token:
        return None
    claims, claim = id_token_claims(token.decode()), handler.authenticator.username_claim
    username = claim(claims) if callable(claim) else claims.get(claim)
    if not isinstance(username, str) or not username:
        return None
    return NotAdmitted(handler.authenticator.normalize_username(username), token.decode())


def id_token_claims(id_token: str) -> dict:
    """The claims of an id token the hub itself stored in a signed cookie (so not re-verified)."""
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def access_withdrawn(auth_state: dict | None) -> bool:
    """Has Keycloak taken this user's access away since their last login (see WITHDRAWN)?"""
    return isinstance(auth_state, dict) and isinstance(auth_state.get(WITHDRAWN), (int, float))


def _own_token_request(handler, user) -> bool:
    """Is this request made with a token of `user` themselves (not a cookie, not an admin)?"""
    return getattr(handler, "_token_authenticated", False) and getattr(handler, "_jupyterhub_user", None) is user


def _activity(handler) -> bool:
    """A server's activity report: not access (it opens nothing), and refusing it would let the
    idle culler stop a server still computing after its owner signed out of Keycloak."""
    request = getattr(handler, "request", None)
    return request is not None and request.method == "POST" and request.path.rstrip("/").endswith("/activity")


class KeycloakLoginHandler(OAuthLoginHandler):
    """Before sending the browser to Keycloak, make sure Keycloak answers at all."""

    async def get(self):
        if not await self.authenticator.provider_reachable():
            # Otherwise the browser lands on a connection error far from the hub.
            raise web.HTTPError(
                503,
                "The login service (Keycloak) cannot be reached right now, so nobody can log in. "
                "The hub and running servers are fine; please try again in a few minutes.",
            )
        return super().get()


class KeycloakCallbackHandler(OAuthCallbackHandler):
    """Keycloak's redirect back to the hub; a reload of it never ends in protocol jargon.

    The sign-in's state cookie is used up by the first visit, so a reload (the refusal page
    sits at this URL) would answer "400: OAuth state missing from cookies". Instead: someone
    just refused sees the same refusal again, anyone else starts over at the login page.
    """

    async def get(self):
        if self.get_argument("state", None) and not self.get_state_cookie():
            refused = refused_sign_in(self)
            if refused is not None:
                raise refused
            self.log.info("OAuth callback without its state cookie (a reload?): back to the login page")
            self.redirect(self.settings["login_url"])
            return
        await super().get()


class KeycloakLogoutHandler(OAuthLogoutHandler):
    """Log out of the hub, then end the Keycloak session (RP-initiated logout)."""

    async def get(self):
        # Read the id_token before the hub forgets the user: Keycloak needs it as a hint.
        self._id_token = None
        user = self.current_user
        if user is not None:
            auth_state = await user.get_auth_state()
            self._id_token = (auth_state or {}).get("id_token")
        else:
            # Someone the hub refused has no hub session, only a Keycloak one.
            token = self.get_secure_cookie(REFUSED_ID_TOKEN_COOKIE, max_age_days=REFUSED_ID_TOKEN_MAX_AGE_DAYS)
            self._id_token = token.decode() if token else None
        self.clear_cookie(REFUSED_ID_TOKEN_COOKIE, path=self.hub.base_url)
        await super().get()

    async def render_logout_page(self):
        end_session_url = self.authenticator.end_session_url
        if not end_session_url:
            return await super().render_logout_page()
        back = self.authenticator.logout_redirect_url or (
            f"{self.request.protocol}://{self.request.host}{self.hub.base_url}"
        )
        params = {"client_id": self.authenticator.client_id, "post_logout_redirect_uri": back}
        if self._id_token:
            params["id_token_hint"] = self._id_token
        self.redirect(url_concat(end_session_url, params))


class KeycloakOAuthenticator(GenericOAuthenticator):
    """Log in with a Keycloak realm over OpenID Connect."""

    login_service = Unicode("Keycloak", config=True)
    login_handler = KeycloakLoginHandler
    callback_handler = KeycloakCallbackHandler
    logout_handler = KeycloakLogoutHandler

    realm_url = Unicode(
        "",
        config=True,
        help="""The realm's issuer URL, e.g. https://keycloak.example.org/realms/pyiron
        (Keycloak 17+ has no /auth prefix). authorize_url, token_url, userdata_url and
        end_session_url are derived from it unless set.""",
    )
    end_session_url = Unicode(
        "",
        config=True,
        help="Keycloak's end-session endpoint; logout from the hub ends the Keycloak session there.",
    )
    groups_claim = Unicode(
        "groups", config=True, help="Userinfo claim holding the user's groups (a Keycloak group mapper)."
    )
    withdrawn_grace = Float(
        300,
        config=True,
        help="""Seconds a user's running servers keep running after Keycloak took their access away
        (ACCESS_WITHDRAWN_GRACE), counted from the refresh that saw it; then the hub stops them.""",
    )

    _withdrawn_stops = Dict()  # user name -> the pending stop's timer (one per user)

    async def check_allowed(self, username, auth_model):
        if await super().check_allowed(username, auth_model):
            return True
        # Refuse with the hub's own error page instead of oauthenticator's bare message.
        raise NotAdmitted(username, ((auth_model or {}).get("auth_state") or {}).get("id_token"))

    async def refresh_user(self, user, handler=None, **kwargs):
        """Refresh the Keycloak tokens, and withdraw access Keycloak no longer grants.

        oauthenticator's refresh_user re-reads userinfo (so groups and admin rights follow
        Keycloak) but never asks check_allowed again, so a user removed from the allowed
        groups kept their session. Here a refreshed user who is no longer allowed, or one
        whose tokens Keycloak no longer refreshes (disabled, signed out, session ended), is
        treated as logged out.
        """
        refusal: dict = {}
        asked = _refusal.set(refusal)
        try:
            refreshed = await super().refresh_user(user, handler, **kwargs)
        finally:
            _refusal.reset(asked)
        withdrawn = None
        if isinstance(refreshed, dict) and not await self._still_allowed(refreshed):
            self.log.warning("%s is no longer in an allowed group in Keycloak: hub access withdrawn", user.name)
            refreshed, withdrawn = False, "no longer in an allowed group"
        elif refreshed is False and refusal.get("why", "").lower() in ACCOUNT_REFUSED:
            self.log.warning("Keycloak refuses %s's account (%s): hub access withdrawn", user.name, refusal["why"])
            withdrawn = refusal["why"]
        if withdrawn is not None:
            await self._withdraw(user, withdrawn, handler)
        if (
            refreshed is False
            and handler is not None
            and _own_token_request(handler, user)
            and not _activity(handler)
            and await user.get_auth_state()
        ):
            # JupyterHub sends a stale *browser* session to the login, but lets a request
            # made with the user's own token (an API client, their server's check of its
            # visitors) go on as before unless auth_refresh_strict; strict would also stop
            # admins starting others' servers. Only the user's own requests are refused, and
            # only where Keycloak was asked: a user with no stored tokens (made through the
            # API, never logged in) has nothing Keycloak could take back.
            raise web.HTTPError(403, f"{user.name} must log in again: Keycloak no longer confirms their access")
        return refreshed

    async def get_token_info(self, handler, params):
        try:
            return await super().get_token_info(handler, params)
        except HTTPClientError as err:
            refusal = _refusal.get()
            if refusal is not None:  # inside refresh_user: it tells an account refused from a session ended
                refusal["why"] = keycloak_error(err)
            raise

    async def _withdraw(self, user, why: str, handler) -> None:
        """Mark the user's access as withdrawn (first time: now) and stop their servers after the grace."""
        auth_state = await user.get_auth_state()
        if auth_state is None:
            return  # no stored tokens: nothing Keycloak could have taken back
        since = auth_state.get(WITHDRAWN)
        if not isinstance(since, (int, float)):
            since = auth_state[WITHDRAWN] = time.time()
            await user.save_auth_state(auth_state)
        if handler is None or user.name in self._withdrawn_stops:
            return
        delay = max(0.0, since + self.withdrawn_grace - time.time())
        self.log.warning("%s's servers stop in %.0f s (ACCESS_WITHDRAWN_GRACE): %s", user.name, delay, why)
        loop = asyncio.get_running_loop()
        self._withdrawn_stops[user.name] = loop.call_later(
            delay, lambda: asyncio.ensure_future(self._stop_withdrawn(user, handler))
        )

    async def _stop_withdrawn(self, user, handler) -> None:
        """The grace is over: stop the user's servers unless they have been let in again meanwhile."""
        self._withdrawn_stops.pop(user.name, None)
        if not access_withdrawn(await user.get_auth_state()):
            return  # logged in again, or Keycloak let them in at a later refresh
        for name, spawner in list(user.spawners.items()):
            if not spawner.active or spawner._stop_pending:
                continue
            self.log.warning("Stopping %s's server %r: access withdrawn in Keycloak", user.name, name)
            try:
                # The hub's own way (proxy route, spawner, database), as the admin page's stop button.
                await handler.stop_single_user(user, name)
            except Exception as err:  # the next refresh (activity report, request) tries again
                self.log.error("Could not stop %s's server %r: %s", user.name, name, err)

    async def _still_allowed(self, auth_model: dict) -> bool:
        try:
            return bool(await self.check_allowed(auth_model["name"], auth_model))
        except NotAdmitted:
            return False

    async def get_authenticated_user(self, handler, data):
        try:
            return await super().get_authenticated_user(handler, data)
        except NotAdmitted as refused:
            if refused.id_token and handler is not None:
                handler.set_secure_cookie(
                    REFUSED_ID_TOKEN_COOKIE,
                    refused.id_token,
                    expires_days=None,
                    path=handler.hub.base_url,
                    httponly=True,
                    secure=handler.request.protocol == "https",
                )
            raise

    async def provider_reachable(self) -> bool:
        """Does Keycloak's token endpoint answer (any HTTP status) on the hub's back channel?"""
        request = HTTPRequest(
            self.token_url,
            method="GET",
            request_timeout=5,
            validate_cert=self.validate_server_cert,
            **self.http_request_kwargs,
        )
        try:
            # raise_error=False keeps HTTP error statuses from raising: any answer will do.
            await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as err:  # no answer: refused, unresolvable, timed out
            self.log.error("Keycloak unreachable at %s: %s", self.token_url, err)
            return False
        return True

    def _realm_endpoint(self, path: str) -> str:
        return f"{self.realm_url.rstrip('/')}/protocol/openid-connect/{path}" if self.realm_url else ""

    @default("authorize_url")
    def _authorize_url_default(self):
        return self._realm_endpoint("auth")

    @default("token_url")
    def _token_url_default(self):
        return self._realm_endpoint("token")

    @default("userdata_url")
    def _userdata_url_default(self):
        return self._realm_endpoint("userinfo")

    @default("end_session_url")
    def _end_session_url_default(self):
        return self._realm_endpoint("logout")

    @default("username_claim")
    def _username_claim_default(self):
        return "preferred_username"

    @default("scope")
    def _scope_default(self):
        return ["openid", "profile", "email"]

    @default("auth_state_groups_key")
    def _groups_key_default(self):
        return self._groups_from_auth_state

    def _groups_from_auth_state(self, auth_state: dict) -> list[str]:
        groups = (auth_state.get(self.user_auth_state_key) or {}).get(self.groups_claim) or []
        return [strip_group_path(g) for g in groups if isinstance(g, str)]
