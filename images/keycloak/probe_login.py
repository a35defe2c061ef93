"""Log in to the demo realm like a browser, then act as the hub's back channel.

Manual probe, used to check the local Keycloak image against
demo/keycloak/pyiron-realm.json: authorization-code flow with PKCE S256, HTML
login form, code exchange with the client secret, userinfo, refresh grant and
RP-initiated logout. Needs `requests`.

    python3 probe_login.py bob demo-only-bob-password \
        --browser http://localhost:18080 \
        --backchannel http://172.17.0.2:8080 --backchannel-host keycloak:8080
"""

import argparse
import base64
import hashlib
import html
import json
import re
import secrets
import sys
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import requests

REALM_PATH = "/realms/pyiron/protocol/openid-connect"
CLIENT_ID = "pyiron-hub"
CLIENT_SECRET = "demo-only-client-secret-change-me"


def jwt_claims(token):
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))


def page_error(text):
    m = re.search(r'id="kc-error-message".*?<p[^>]*>(.*?)</p>', text, re.S) or re.search(
        r'class="[^"]*kc-feedback-text[^"]*"[^>]*>\s*(.*?)\s*<', text, re.S
    )
    return html.unescape(m.group(1)).strip() if m else None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("user")
    p.add_argument("password")
    p.add_argument("--browser", default="http://localhost:18080", help="Keycloak URL the browser uses")
    p.add_argument("--backchannel", default=None, help="Keycloak URL the hub uses (default: --browser)")
    p.add_argument("--backchannel-host", default=None, help="Host header for back-channel calls, e.g. keycloak:8080")
    p.add_argument("--redirect-uri", default="http://localhost:8000/hub/oauth_callback")
    p.add_argument("--no-pkce", action="store_true")
    p.add_argument("--logout", action="store_true", help="finish with RP-initiated logout")
    a = p.parse_args()
    back = a.backchannel or a.browser
    back_headers = {"Host": a.backchannel_host} if a.backchannel_host else {}

    browser = requests.Session()

    def unsecure_cookies():
        # Keycloak 26 sets its cookies "Secure; SameSite=None" even over plain http.
        # Browsers keep and send them for http://localhost (a potentially trustworthy
        # origin); python's cookiejar sends Secure cookies only over https.
        for c in browser.cookies:
            c.secure = False

    verifier = secrets.token_urlsafe(32)
    params = dict(
        client_id=CLIENT_ID,
        response_type="code",
        scope="openid",
        redirect_uri=a.redirect_uri,
        state=secrets.token_urlsafe(8),
    )
    if not a.no_pkce:
        digest = hashlib.sha256(verifier.encode()).digest()
        params["code_challenge"] = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        params["code_challenge_method"] = "S256"

    r = browser.get(a.browser + REALM_PATH + "/auth?" + urlencode(params), allow_redirects=False)
    print("GET auth ->", r.status_code, r.headers.get("Location", ""))
    m = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', r.text)
    if not m:
        print("no login form; error:", page_error(r.text))
        return 1
    action = html.unescape(m.group(1))
    print("login form posts to", urlparse(action).netloc)
    unsecure_cookies()
    r = browser.post(
        action, data={"username": a.user, "password": a.password, "credentialId": ""}, allow_redirects=False
    )
    for _ in range(10):
        if r.status_code not in (301, 302, 303, 307):
            print("login did not redirect:", r.status_code, page_error(r.text))
            return 1
        loc = r.headers["Location"]
        print("redirect ->", loc[:100] + ("..." if len(loc) > 100 else ""))
        if loc.startswith(a.redirect_uri):
            break
        unsecure_cookies()
        r = browser.get(urljoin(r.url, loc), allow_redirects=False)
    query = parse_qs(urlparse(loc).query)
    if "code" not in query:
        print("no code:", query)
        return 1
    print("iss parameter in redirect:", query.get("iss"))

    data = dict(grant_type="authorization_code", code=query["code"][0], redirect_uri=a.redirect_uri)
    if not a.no_pkce:
        data["code_verifier"] = verifier
    t = requests.post(back + REALM_PATH + "/token", data=data, auth=(CLIENT_ID, CLIENT_SECRET), headers=back_headers)
    print("token endpoint via", back, back_headers or "", "->", t.status_code)
    tok = t.json()
    if not t.ok:
        print(tok)
        return 1
    print(
        "expires_in",
        tok.get("expires_in"),
        "refresh_expires_in",
        tok.get("refresh_expires_in"),
        "scope",
        tok.get("scope"),
        "refresh_token",
        "refresh_token" in tok,
    )
    for name in ("id_token", "access_token", "refresh_token"):
        c = jwt_claims(tok[name])
        print(
            f"{name}: iss={c.get('iss')} azp={c.get('azp')} preferred_username={c.get('preferred_username')!r}"
            f" email={c.get('email')!r} groups={c.get('groups')!r}"
        )

    u = requests.get(
        back + REALM_PATH + "/userinfo", headers={"Authorization": "Bearer " + tok["access_token"], **back_headers}
    )
    print("userinfo ->", u.status_code, u.headers.get("WWW-Authenticate", ""))
    if u.ok:
        print(json.dumps(u.json(), indent=1, sort_keys=True))
    rr = requests.post(
        back + REALM_PATH + "/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        headers=back_headers,
        data=dict(grant_type="refresh_token", refresh_token=tok["refresh_token"]),
    )
    print("refresh grant ->", rr.status_code, "" if rr.ok else rr.text)

    if a.logout:
        unsecure_cookies()
        lo = browser.get(
            a.browser + REALM_PATH + "/logout",
            allow_redirects=False,
            params=dict(
                id_token_hint=tok["id_token"],
                client_id=CLIENT_ID,
                post_logout_redirect_uri="http://localhost:8000/hub/",
            ),
        )
        print("logout ->", lo.status_code, lo.headers.get("Location"), page_error(lo.text) or "")
    return 0 if u.ok and rr.ok else 1


if __name__ == "__main__":
    sys.exit(main())
