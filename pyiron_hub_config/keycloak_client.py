"""The Keycloak client the hub needs, as data: `pyiron-hub keycloak-client` prints it, and
with a Keycloak admin's credentials creates or updates it through Keycloak's admin REST API.

The representation is the demo realm's client (demo/keycloak/pyiron-realm.json), which the
tests log in through, with this hub's URL and secret: a confidential client (authorization
code flow only, PKCE), the redirect URI <hub>/hub/oauth_callback, the post-logout redirect
back to the hub, and a "groups" mapper putting the user's groups into the userinfo (the hub
admits and makes admins by them). Printed, it is what Keycloak's "Clients > Import client"
takes. Standard library only (urllib, as provider.py): nothing to install on the host.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from .problems import ConfigError, Problem

TIMEOUT = 15


@dataclass(frozen=True)
class Realm:
    base: str  # Keycloak's root URL, e.g. https://keycloak.example.org
    name: str  # the realm

    @classmethod
    def from_settings(cls, values: Mapping[str, str], keycloak_url: str | None = None) -> Realm:
        """From OAUTH2_ISSUER_URL (or the old deployment's OAUTH2_AUTHORIZE_URL); --keycloak-url
        names Keycloak's root where this machine reaches it under another name."""
        url = values.get("OAUTH2_ISSUER_URL") or values.get("OAUTH2_AUTHORIZE_URL") or ""
        base, sep, rest = url.partition("/realms/")
        name = rest.split("/", 1)[0]
        if not sep or not name:
            raise ConfigError(
                [
                    Problem(
                        "OAUTH2_ISSUER_URL",
                        "is needed to know the realm (a Keycloak URL .../realms/<realm>)",
                        "https://keycloak.example.org/realms/pyiron",
                    )
                ]
            )
        return cls((keycloak_url or base).rstrip("/"), urllib.parse.unquote(name))


def client_representation(values: Mapping[str, str], hub_url: str) -> dict:
    """The client as Keycloak's ClientRepresentation (admin API and "Import client" alike)."""
    hub_url = hub_url.rstrip("/")
    claim = values.get("OAUTH2_GROUPS_CLAIM") or "groups"
    client = {
        "clientId": values.get("CLIENT_ID") or "pyiron-hub",
        "name": "pyiron JupyterHub",
        "description": "JupyterHub (oauthenticator GenericOAuthenticator), written by `pyiron-hub keycloak-client`",
        "enabled": True,
        "protocol": "openid-connect",
        # Confidential: the hub holds a secret and is the only one that redeems codes.
        "publicClient": False,
        "bearerOnly": False,
        "clientAuthenticatorType": "client-secret",
        "standardFlowEnabled": True,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
        "consentRequired": False,
        "frontchannelLogout": True,
        "rootUrl": hub_url,
        "baseUrl": "/hub/",
        "redirectUris": [f"{hub_url}/hub/oauth_callback"],
        "webOrigins": [hub_url],
        "attributes": {
            "pkce.code.challenge.method": "S256",
            # The hub's logout sends the browser to Keycloak's end-session endpoint and back.
            "post.logout.redirect.uris": f"{hub_url}/*",
            "use.refresh.tokens": "true",
        },
        # The realm's defaults give profile and email, the scopes the hub asks for (OAUTH2_SCOPES).
        "defaultClientScopes": ["basic", "acr", "web-origins", "roles", "profile", "email"],
        "optionalClientScopes": ["offline_access"],
        "protocolMappers": [
            {
                "name": claim,
                "protocol": "openid-connect",
                "protocolMapper": "oidc-group-membership-mapper",
                "consentRequired": False,
                "config": {
                    "claim.name": claim,
                    "full.path": "false",
                    "id.token.claim": "true",
                    "access.token.claim": "true",
                    "userinfo.token.claim": "true",
                    "introspection.token.claim": "true",
                },
            }
        ],
    }
    if values.get("CLIENT_SECRET"):
        client["secret"] = values["CLIENT_SECRET"]
    return client


def summary(realm: Realm, client: dict) -> list[str]:
    """The same settings in words, for an admin clicking through Keycloak's console."""
    mapper = client["protocolMappers"][0]
    return [
        f"Keycloak {realm.base}, realm {realm.name}: client {client['clientId']}",
        "  Client authentication: On (confidential); Standard flow only; PKCE S256",
        f"  Valid redirect URIs:       {client['redirectUris'][0]}",
        f"  Valid post logout redirect URIs: {client['attributes']['post.logout.redirect.uris']}",
        f"  Web origins:               {client['webOrigins'][0]}",
        "  Credentials > Client secret: CLIENT_SECRET of pyiron.env"
        if "secret" in client
        else "  Credentials > Client secret: copy it into CLIENT_SECRET of pyiron.env",
        f"  Client scopes: profile, email (the realm's defaults); mapper '{mapper['name']}': Group Membership, "
        f"token claim name '{mapper['config']['claim.name']}', full group path off, added to the userinfo",
    ]


class KeycloakAdmin:
    """Keycloak's admin REST API, as an admin user of `admin_realm` (admin-cli's password grant)."""

    def __init__(
        self, realm: Realm, user: str, password: str, admin_realm: str = "master", context: ssl.SSLContext | None = None
    ):
        self.realm, self.context = realm, context or ssl.create_default_context()
        form = {"grant_type": "password", "client_id": "admin-cli", "username": user, "password": password}
        token_url = f"{realm.base}/realms/{urllib.parse.quote(admin_realm)}/protocol/openid-connect/token"
        try:
            answer = self._send(
                "POST",
                token_url,
                urllib.parse.urlencode(form).encode(),
                {"Content-Type": "application/x-www-form-urlencoded"},
            )
        except urllib.error.HTTPError as err:
            raise ConfigError(
                [
                    Problem(
                        "--admin-user",
                        f"Keycloak refused the admin's login (HTTP {err.code}) at {token_url}",
                        "an admin of the master realm, and its password",
                    )
                ]
            ) from None
        self.token = answer["access_token"]

    def _send(self, method: str, url: str, body: bytes | None = None, headers: dict | None = None):
        request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT, context=self.context) as r:
                text = r.read()
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, OSError) as err:
            raise ConfigError(
                [
                    Problem(
                        "OAUTH2_ISSUER_URL",
                        f"cannot reach Keycloak at {url}: {getattr(err, 'reason', err)}",
                        "--keycloak-url where this machine reaches it",
                    )
                ]
            ) from None
        return json.loads(text) if text else None

    def api(self, method: str, path: str, data=None):
        url = f"{self.realm.base}/admin/realms/{urllib.parse.quote(self.realm.name)}{path}"
        body = json.dumps(data).encode() if data is not None else None
        return self._send(
            method, url, body, {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        )

    def apply(self, client: dict) -> str:
        """Create the client, or bring an existing one of that id to these settings; says which."""
        query = urllib.parse.urlencode({"clientId": client["clientId"]})
        found = self.api("GET", f"/clients?{query}")
        if not found:
            self.api("POST", "/clients", client)
            return "created"
        uuid = found[0]["id"]
        mappers = client["protocolMappers"]
        self.api("PUT", f"/clients/{uuid}", {k: v for k, v in client.items() if k != "protocolMappers"})
        # A mapper of the same name is replaced, so a second run changes nothing.
        for old in self.api("GET", f"/clients/{uuid}/protocol-mappers/models") or []:
            if old["name"] in {m["name"] for m in mappers}:
                self.api("DELETE", f"/clients/{uuid}/protocol-mappers/models/{old['id']}")
        for mapper in mappers:
            self.api("POST", f"/clients/{uuid}/protocol-mappers/models", mapper)
        return "updated"
