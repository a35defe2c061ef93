"""Asking the identity provider itself whether the configuration fits it.

Used by `pyiron-hub check --online` and, as warnings, at the hub's start: a wrong realm
URL or client secret is otherwise only seen as a failed login with a vague error.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request

from .problems import Problem
from .settings import Settings

TIMEOUT = 5


def _context(settings: Settings) -> ssl.SSLContext:
    # Verification always on; an admin's CA bundle is added, never a bypass.
    return ssl.create_default_context(cafile=str(settings.ca_bundle) if settings.ca_bundle else None)


def _token_url(settings: Settings) -> str:
    return settings.token_url or f"{settings.issuer_url}/protocol/openid-connect/token"


def provider_problems(settings: Settings) -> list[Problem]:
    """Problems Keycloak reveals: unreachable, no such realm, issuer mismatch, wrong client credentials."""
    if settings.authenticator != "keycloak":
        return []
    context = _context(settings)
    problems = []
    if settings.issuer_url:
        url = f"{settings.issuer_url}/.well-known/openid-configuration"
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT, context=context) as r:
                issuer = json.load(r).get("issuer", "").rstrip("/")
            if issuer != settings.issuer_url:
                problems.append(
                    Problem("OAUTH2_ISSUER_URL", f"Keycloak names its issuer {issuer!r}, not this URL", issuer)
                )
        except urllib.error.HTTPError as err:
            problems.append(
                Problem(
                    "OAUTH2_ISSUER_URL",
                    f"no realm there (HTTP {err.code} for {url}); Keycloak 17+ has no /auth prefix",
                    "https://keycloak.example.org/realms/pyiron",
                )
            )
        except (urllib.error.URLError, OSError, ValueError) as err:
            problems.append(Problem("OAUTH2_ISSUER_URL", f"cannot reach Keycloak: {getattr(err, 'reason', err)}"))
    problems += _client_problems(settings, context)
    return problems


def _client_problems(settings: Settings, context: ssl.SSLContext) -> list[Problem]:
    # A client-credentials request authenticates the client without any user. RFC 6749 says
    # invalid_client for a wrong id or secret; Keycloak 26 answers unauthorized_client both
    # for that ("Invalid client or Invalid client credentials") and for a right client
    # whose service account is off, as it should be for the hub. Only the text differs.
    url = _token_url(settings)
    secret = settings.client_secret.get_secret_value()
    basic = base64.b64encode(f"{urllib.parse.quote(settings.client_id)}:{urllib.parse.quote(secret)}".encode()).decode()
    request = urllib.request.Request(
        url,
        data=b"grant_type=client_credentials",
        method="POST",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=context):
            return []
    except urllib.error.HTTPError as err:
        try:
            body = json.load(err)
        except ValueError:
            body = {}
        error, description = body.get("error", ""), body.get("error_description", "")
        if error == "invalid_client" or "invalid client" in description.lower():
            return [
                Problem(
                    "CLIENT_SECRET",
                    f"Keycloak refused the client '{settings.client_id}' with this secret (invalid_client)",
                    "the secret under Clients > pyiron-hub > Credentials",
                )
            ]
        if error in ("unauthorized_client", "unsupported_grant_type", "invalid_grant", "invalid_scope"):
            return []
        where = "OAUTH2_TOKEN_URL" if settings.token_url else "OAUTH2_ISSUER_URL"
        return [Problem(where, f"the token endpoint {url} answered HTTP {err.code} {error}".rstrip())]
    except (urllib.error.URLError, OSError, ValueError) as err:
        where = "OAUTH2_TOKEN_URL" if settings.token_url else "OAUTH2_ISSUER_URL"
        return [Problem(where, f"cannot reach Keycloak's token endpoint {url}: {getattr(err, 'reason', err)}")]
