"""SUBDOMAIN_HOST: each user's server on an origin of its own, in the real browser.

The hub is http://hub.test:<port>, bob's server http://bob.hub.test:<port>; Chromium maps
the wildcard test domain to the loopback (--host-resolver-rules), and so does the test's
own HTTP client. bob, a hostile user, serves a page from his own server without any login
(a static path set up in his persistent ~/.jupyter). alice, an admin, signed in to the hub
through Keycloak, opens it: its script tries to read the hub's /hub/token and
/hub/api/user and to make a token in her name (with a tossed _xsrf cookie), and fails;
the hub shows no token made. Controls: bob's own server works on its subdomain, the
page's script does run (it reads its own origin), and alice's own hub session works.
"""

from __future__ import annotations

import json
import textwrap
from urllib.parse import urlparse

import pytest

from ..conftest import TEST_DOMAIN as DOMAIN
from ..conftest import docker
from .test_keycloak import Browser
from .test_pages_browser import browse, browser_ready  # noqa: F401 (a fixture)

NOTE = "made-by-bobs-page"
STATIC = "/home/jovyan/.bobs-static"

# What bob's page does in the browser of whoever opens it.
ATTACK_PAGE = (
    textwrap.dedent("""\
    <!doctype html><title>bob's page</title><pre id="out"></pre>
    <script>
    (async () => {
      const hub = location.protocol + '//' + location.host.split('.').slice(1).join('.');
      const out = {origin: location.origin, hub};
      async function attempt(name, url, options) {
        try {
          const r = await fetch(url, {credentials: 'include', ...options});
          out[name] = r.type === 'opaque' ? 'sent, answer unreadable' : `read ${r.status}: ${(await r.text()).slice(0, 300)}`;
        } catch (err) { out[name] = `blocked: ${err.message}`; }
      }
      await attempt('token_page', hub + '/hub/token');
      await attempt('api_user', hub + '/hub/api/user');
      // A "simple" request is sent without asking CORS first; with a tossed _xsrf cookie.
      document.cookie = '_xsrf=tossed-by-bob; domain=__DOMAIN__; path=/';
      await attempt('new_token', hub + '/hub/api/users/alice/tokens?_xsrf=tossed-by-bob',
                    {method: 'POST', mode: 'no-cors', body: JSON.stringify({note: '__NOTE__'})});
      await attempt('own_origin', location.pathname);  // control: the script runs, on bob's origin
      document.getElementById('out').textContent = JSON.stringify(out);
      const done = document.createElement('i'); done.id = 'done'; document.body.append(done);
    })();
    </script>
""")
    .replace("__DOMAIN__", DOMAIN)
    .replace("__NOTE__", NOTE)
)


@pytest.fixture(scope="module")
def hub(keycloak_hub):
    return keycloak_hub


def test_a_page_on_one_users_origin_cannot_act_on_the_hub_as_its_visitor(hub, browser_ready):  # noqa: F811
    bob = Browser(hub=hub.url, keycloak=f"localhost:{hub.keycloak_port}")
    bob.login("bob")
    bob.spawn("bob", "pyiron_base")
    # Control: bob's own server works, on its own origin.
    lab = bob.go(f"{hub.url}/user/bob/lab")
    assert lab.status_code == 200 and urlparse(lab.url).netloc == f"bob.{DOMAIN}:{hub.port}", lab.url
    # bob sets his server up to serve a page to anyone, without a login (his persistent home).
    container = f"{hub.project}-jupyter-bob"
    config = f"c.ServerApp.extra_static_paths = [{STATIC!r}]\n"
    docker(
        "exec",
        "-u",
        "1000",
        container,
        "sh",
        "-c",
        f"mkdir -p ~/.jupyter {STATIC} && "
        f"printf '%s' {_sh(config)} >> ~/.jupyter/jupyter_server_config.py && "
        f"printf '%s' {_sh(ATTACK_PAGE)} > {STATIC}/page.html",
    )
    assert bob.hub_api("/users/bob/server", "DELETE").status_code in (202, 204)
    bob.wait_server("bob", lambda s: not s, "stop")
    bob.spawn("bob", "pyiron_base")
    page_url = f"http://bob.{DOMAIN}:{hub.port}/user/bob/static/page.html"
    assert "bob's page" in Browser().go(page_url).text  # served to anyone, as bob meant

    seen = browse(
        "origins",
        env={
            "HUB_URL": hub.url,
            "KEYCLOAK_URL": hub.keycloak,
            "ATTACK_URL": page_url,
            "CHROMIUM_HOST_RULES": f"MAP {DOMAIN} 127.0.0.1, MAP *.{DOMAIN} 127.0.0.1",
        },
    )
    attack = seen["attack"]
    assert attack["origin"] == f"http://bob.{DOMAIN}:{hub.port}"
    assert attack["own_origin"].startswith("read 200"), attack  # the script ran
    assert attack["token_page"].startswith("blocked"), attack
    assert attack["api_user"].startswith("blocked"), attack
    # Sent, but the hub made no token in alice's name (and alice is still herself there).
    assert seen["me"] == {"status": 200, "name": "alice", "admin": True}, seen
    assert NOTE not in json.dumps(seen["tokens"]), seen["tokens"]


def _sh(text: str) -> str:
    """One shell word holding text."""
    return "'" + text.replace("'", "'\"'\"'") + "'"
