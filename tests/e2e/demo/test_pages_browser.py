"""The hub's pages in a real browser (Debian's chromium), against the demo with a real Keycloak.

Each case runs one scenario of tests/browser/pages.mjs (playwright-core driving
/usr/bin/chromium, installed by scripts/test) and asserts on what the pages showed.
Screenshots of the key pages go to test-artifacts/pages-browser/ every time; their
paths are printed, and named in the failure message when a case fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

import requests

from ..conftest import DOCKER, REPO
from .conftest import HUB, KEYCLOAK, PASSWORDS, STATE, _demo_compose, _wait_hub_healthy

BROWSER = REPO / "tests" / "browser"
ARTIFACTS = REPO / "test-artifacts" / "pages-browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# What scripts/demo sets, so that the pages have something to show.
SITE_NAME = "pyiron hub (demo)"
HELP_CONTACT = "alice, the admin of this demo"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser_ready():
    if not (BROWSER / "node_modules" / "playwright-core").is_dir() or not shutil.which("node"):
        pytest.fail("playwright-core is not installed: scripts/test installs it (npm ci in tests/browser)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no browser at {CHROMIUM}: scripts/test installs Debian's chromium")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)


def browse(scenario: str, tag: str = "", env: dict | None = None) -> dict:
    """Run one scenario against the demo, or against the hub and Keycloak that `env` names."""
    env = {**os.environ, "HUB_URL": HUB, "KEYCLOAK_URL": KEYCLOAK, "PASSWORDS": json.dumps(PASSWORDS),
           "CHROMIUM": CHROMIUM, **(env or {})}
    r = subprocess.run(["node", str(BROWSER / "pages.mjs"), scenario, str(ARTIFACTS), tag], cwd=BROWSER, env=env,
                       capture_output=True, text=True, timeout=900)
    lines = r.stdout.strip().splitlines()
    try:
        out = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        pytest.fail(f"the browser script printed no result ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    for name, path in out["screenshots"].items():
        print(f"screenshot {scenario}/{name}: {path}")
    if r.returncode:
        pytest.fail(f"browser scenario {scenario!r} stopped at {out.get('url')}:\n{out.get('error')}\n"
                    f"screenshots: {json.dumps(out['screenshots'], indent=1)}\n{r.stderr[-2000:]}")
    out["data"]["_screenshots"] = out["screenshots"]
    out["data"]["_visited"] = out["visited"]
    return out["data"]


def test_login_page_says_whose_hub_it_is(demo, browser_ready):
    page = browse("login")
    assert page["title"] == SITE_NAME
    assert page["siteName"] == SITE_NAME
    assert "pyiron" in page["welcome"] and "Keycloak" in page["welcome"]
    assert page["signIn"] == "Sign in with Keycloak"
    assert page["helpHref"] == "https://pyiron.org"
    assert page["askForHelp"] == f"No account yet, or trouble signing in? Ask {HELP_CONTACT}."
    assert page["logoLoaded"]


def test_a_refused_user_is_told_why_once_and_can_sign_out_of_keycloak(demo, browser_ready):
    seen = browse("mallory")
    refused = seen["refused"]
    assert refused["status"] == 403 and refused["url"].startswith(f"{HUB}/hub/oauth_callback")
    assert refused["headings"] == [f"This account cannot use {SITE_NAME}"]  # one heading, said once
    assert refused["body"].count("may not use") == 1
    assert "signed in as mallory" in refused["body"]
    assert refused["groups"] == ["pyiron-users"]
    assert refused["askForHelp"] == f"To be given access, ask {HELP_CONTACT}."
    assert refused["button"] == "Sign out and use another account"
    # Through Keycloak's end-session endpoint and straight back: no "Do you want to log out?".
    assert any(url.startswith(f"{KEYCLOAK}/realms/pyiron/protocol/openid-connect/logout") for url in seen["_visited"])
    assert seen["signedOut"]["url"].startswith(f"{HUB}/hub/login")
    # Keycloak forgot her: it asks for a password again instead of signing her straight in.
    assert seen["again"]["url"].startswith(f"{KEYCLOAK}/realms/pyiron/")
    assert seen["again"]["passwordField"]
    # ... and another account gets in.
    assert seen["other"]["url"].startswith(f"{HUB}/") and "bob" in seen["other"]["user"]


def test_bob_picks_an_environment_after_a_bad_one_and_reaches_jupyterlab(demo, browser_ready):
    seen = browse("bob")
    spawn = seen["spawn"]
    assert spawn["title"] == SITE_NAME
    assert spawn["heading"].startswith("Start your pyiron server")
    assert any(choice.startswith("pyiron base") for choice in spawn["choices"])
    bad = seen["bad"]
    assert bad["status"] == 400
    assert bad["error"] == "Error: No such environment: 'nope'. Options include: pyiron atomistics, pyiron md, pyiron base."
    assert bad["formShownAgain"]
    assert "/user/bob/lab" in seen["lab"]["url"]
    assert seen["home"]["running"].startswith("Your server runs pyiron base.")


def test_the_admin_sees_which_environment_bob_runs(demo, browser_ready):
    seen = browse("admin")
    assert "Profile" in seen["headers"]
    assert seen["bobProfile"] == "pyiron base"


def test_the_admin_still_sees_the_environment_after_the_hub_was_killed(demo, browser_ready):
    # Killed, not stopped: a stopped hub stops users' servers, a killed one finds them again.
    hub = _demo_compose("ps", "-q", "hub").stdout.strip()
    subprocess.run([DOCKER, "kill", hub], capture_output=True, check=True)
    _demo_compose("up", "-d", "hub")
    _wait_hub_healthy()
    # The new hub process read the environment back from the server's saved state.
    assert browse("admin", "after-kill")["bobProfile"] == "pyiron base"


def test_a_site_logo_is_on_every_page(demo, browser_ready):
    # An image that is in every hub image, so that no file has to be mounted for the test.
    logo = "/opt/hub/share/jupyterhub/static/images/jupyter.png"
    env_file = STATE / "pyiron.env"
    original = env_file.read_text()
    env_file.write_text(original + f"SITE_LOGO='{logo}'\n")
    try:
        _demo_compose("up", "-d", "hub")
        _wait_hub_healthy()
        hub = _demo_compose("ps", "-q", "hub").stdout.strip()
        expected = subprocess.run([DOCKER, "exec", hub, "cat", logo], capture_output=True, check=True).stdout
        assert requests.get(f"{HUB}/hub/logo", timeout=30).content == expected
        assert browse("login", "site-logo")["logoLoaded"]
    finally:
        env_file.write_text(original)
        _demo_compose("up", "-d", "hub")
        _wait_hub_healthy()
