"""`pyiron-hub keycloak-client`: the client the hub needs, as Keycloak takes it (no Keycloak here:
tests/e2e/test_production.py applies it to a real one and logs in through it)."""

from __future__ import annotations

import json

import pytest

from pyiron_hub_config.cli import main
from pyiron_hub_config.keycloak_client import Realm, client_representation
from pyiron_hub_config.problems import ConfigError

VALUES = {
    "OAUTH2_ISSUER_URL": "https://kc.example.org/realms/lab",
    "CLIENT_ID": "hub",
    "CLIENT_SECRET": "s" * 64,
    "OAUTH_CALLBACK_URL": "https://hub.example.org/hub/oauth_callback",
}


def test_the_realm_comes_from_the_issuer_or_the_old_authorize_url():
    assert Realm.from_settings(VALUES) == Realm("https://kc.example.org", "lab")
    old = {"OAUTH2_AUTHORIZE_URL": "https://kc.example.org/auth/realms/lab/protocol/openid-connect/auth"}
    assert Realm.from_settings(old) == Realm("https://kc.example.org/auth", "lab")
    assert Realm.from_settings(VALUES, "http://127.0.0.1:8080/") == Realm("http://127.0.0.1:8080", "lab")
    with pytest.raises(ConfigError):
        Realm.from_settings({"OAUTH2_ISSUER_URL": "https://kc.example.org/"})


def test_the_client_is_confidential_with_the_hubs_redirect_logout_and_groups():
    client = client_representation(VALUES, "https://hub.example.org/")
    assert (client["clientId"], client["publicClient"], client["secret"]) == ("hub", False, "s" * 64)
    assert (client["standardFlowEnabled"], client["implicitFlowEnabled"], client["directAccessGrantsEnabled"]) == (
        True,
        False,
        False,
    )
    assert client["redirectUris"] == ["https://hub.example.org/hub/oauth_callback"]
    assert client["attributes"]["post.logout.redirect.uris"] == "https://hub.example.org/*"
    assert {"profile", "email"} <= set(client["defaultClientScopes"])
    [mapper] = client["protocolMappers"]
    assert (mapper["protocolMapper"], mapper["config"]["claim.name"], mapper["config"]["userinfo.token.claim"]) == (
        "oidc-group-membership-mapper",
        "groups",
        "true",
    )


def test_the_groups_claim_follows_the_hubs_setting():
    client = client_representation({**VALUES, "OAUTH2_GROUPS_CLAIM": "roles_and_groups"}, "https://hub.example.org")
    assert client["protocolMappers"][0]["config"]["claim.name"] == "roles_and_groups"


def test_the_demo_realms_client_has_the_same_settings():
    """The recipe is the client the demo and its tests log in through (demo/keycloak)."""
    from pathlib import Path

    realm = json.loads((Path(__file__).resolve().parents[2] / "demo/keycloak/pyiron-realm.json").read_text())
    [demo] = [c for c in realm["clients"] if c["clientId"] == "pyiron-hub"]
    ours = client_representation({}, "http://localhost:8000")
    for key in (
        "publicClient",
        "clientAuthenticatorType",
        "standardFlowEnabled",
        "implicitFlowEnabled",
        "directAccessGrantsEnabled",
        "serviceAccountsEnabled",
        "baseUrl",
        "defaultClientScopes",
    ):
        assert ours[key] == demo[key], key
    assert ours["redirectUris"][0] in demo["redirectUris"]
    assert ours["protocolMappers"][0]["protocolMapper"] == demo["protocolMappers"][0]["protocolMapper"]


def test_the_command_prints_the_settings_in_words(tmp_path, capsys):
    env = tmp_path / "pyiron.env"
    env.write_text("".join(f"{k}='{v}'\n" for k, v in VALUES.items()))
    assert main(["keycloak-client", "--env-file", str(env)]) == 0
    out = capsys.readouterr().out
    assert "Keycloak https://kc.example.org, realm lab: client hub" in out
    assert "Valid redirect URIs:       https://hub.example.org/hub/oauth_callback" in out
    assert "--apply" in out


def test_json_is_what_keycloaks_import_takes(tmp_path, capsys):
    env = tmp_path / "pyiron.env"
    env.write_text("".join(f"{k}='{v}'\n" for k, v in VALUES.items()))
    assert main(["keycloak-client", "--env-file", str(env), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["clientId"] == "hub"


def test_without_the_hubs_url_it_says_what_to_give(tmp_path, capsys):
    env = tmp_path / "pyiron.env"
    env.write_text("OAUTH2_ISSUER_URL='https://kc.example.org/realms/lab'\n")
    assert main(["keycloak-client", "--env-file", str(env)]) == 1
    assert "--hub-url: the hub's public URL is needed" in capsys.readouterr().err


def test_apply_without_a_password_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KEYCLOAK_ADMIN_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    env = tmp_path / "pyiron.env"
    env.write_text("".join(f"{k}='{v}'\n" for k, v in VALUES.items()))
    assert main(["keycloak-client", "--env-file", str(env), "--apply"]) == 1
    assert "KEYCLOAK_ADMIN_PASSWORD: --apply needs" in capsys.readouterr().err
