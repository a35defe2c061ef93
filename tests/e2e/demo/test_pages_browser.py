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
import time

import pytest
import requests

from ..conftest import DOCKER, REPO, inspect
from .conftest import (
    DEMO_IMAGES,
    HUB,
    KEYCLOAK,
    PASSWORDS,
    PROJECT,
    STATE,
    _demo_compose,
    _wait_hub_healthy,
    container,
)
from .test_keycloak import Browser

BROWSER = REPO / "tests" / "browser"
ARTIFACTS = REPO / "test-artifacts" / "pages-browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# What scripts/demo sets, so that the pages have something to show.
SITE_NAME = "pyiron hub (demo)"
HELP_CONTACT = "alice, the admin of this demo"
HELP_URL = "mailto:alice@example.org"  # alice's address in the demo realm

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
    env = {
        **os.environ,
        "HUB_URL": HUB,
        "KEYCLOAK_URL": KEYCLOAK,
        "PASSWORDS": json.dumps(PASSWORDS),
        "CHROMIUM": CHROMIUM,
        **(env or {}),
    }
    r = subprocess.run(
        ["node", str(BROWSER / "pages.mjs"), scenario, str(ARTIFACTS), tag],
        cwd=BROWSER,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = r.stdout.strip().splitlines()
    try:
        out = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        pytest.fail(f"the browser script printed no result ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    for name, path in out["screenshots"].items():
        print(f"screenshot {scenario}/{name}: {path}")
    if r.returncode:
        pytest.fail(
            f"browser scenario {scenario!r} stopped at {out.get('url')}:\n{out.get('error')}\n"
            f"screenshots: {json.dumps(out['screenshots'], indent=1)}\n{r.stderr[-2000:]}"
        )
    out["data"]["_screenshots"] = out["screenshots"]
    out["data"]["_visited"] = out["visited"]
    return out["data"]


def test_login_page_says_whose_hub_it_is(demo, browser_ready):
    page = browse("login")
    assert page["title"] == SITE_NAME
    assert page["siteName"] == SITE_NAME
    assert "pyiron" in page["welcome"] and "Keycloak" in page["welcome"]
    assert page["signIn"] == "Sign in with Keycloak"
    assert page["helpHref"] == HELP_URL
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
    assert "This account is not in that group." in refused["body"]  # one group, said so
    assert refused["askForHelp"] == f"To be given access, ask {HELP_CONTACT}."
    assert refused["button"] == "Sign out and use another account"
    # Reloaded (the page sits at /hub/oauth_callback?code=..., its state cookie used up):
    # the same refusal, never "400: OAuth state missing from cookies".
    reloaded = seen["reloaded"]
    assert reloaded["url"] == refused["url"] and reloaded["status"] == 403
    assert reloaded["headings"] == refused["headings"] and "signed in as mallory" in reloaded["body"]
    assert reloaded["button"] == "Sign out and use another account"
    assert "OAuth" not in reloaded["body"] and "cookie" not in reloaded["body"]
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
    # ENVIRONMENT_GROUPS (scripts/demo): bob is in pyiron-research, the picker says whose it is.
    assert any(choice.startswith("pyiron md pyiron-research") for choice in spawn["choices"]), spawn["choices"]
    bad = seen["bad"]
    assert bad["status"] == 400
    # Display names, which ?environment= and the API accept too.
    assert (
        bad["error"]
        == "Error: No such environment: 'nope'. Options include: pyiron atomistics, pyiron md, pyiron base."
    )
    assert bad["formShownAgain"]
    assert "/user/bob/lab" in seen["lab"]["url"]
    assert seen["home"]["running"].startswith("Your server runs pyiron base.")


def test_a_group_environment_is_not_offered_to_others_and_a_forged_form_is_refused(demo, browser_ready):
    seen = browse("groupEnvironment")
    assert seen["choices"] == ["pyiron_atomistics", "pyiron_base"]  # carol is not in pyiron-research
    assert seen["status"] == 403 and seen["formShownAgain"]
    assert seen["error"] == (
        "Error: pyiron md is only for members of the groups pyiron-research. "
        "Choose another environment, or ask your admin to add you to one of them."
    )
    # Nothing started: the refusal came before the spawner.
    assert requests.get(f"{HUB}/hub/api/", timeout=10).ok and not _running("carol")


def _running(user: str) -> bool:
    from ..conftest import docker

    return bool(docker("ps", "-q", "--filter", f"name=^{container(user)}$", check=False).stdout.strip())


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


# Two pyiron writers at once on the one job database of a user's home, as pyiron writes it
# (SQLite through its own locks, a timeout for the other's transaction): from two servers.
SQLITE_WRITER = """
import sqlite3, sys
db = sqlite3.connect("/home/jovyan/.two-servers-test.db", timeout=60)
db.execute("CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, server TEXT)")
for i in range(200):
    with db:
        db.execute("INSERT INTO jobs (server) VALUES (?)", (sys.argv[1],))
print("done")
"""


def test_bob_runs_two_environments_at_once_with_the_same_home(demo, browser_ready):
    browser = Browser()
    browser.login("bob")
    if not browser.server("bob").get("ready"):
        browser.spawn("bob", "pyiron_base")
    seen = browse("namedServer")
    assert "pyiron_md" in seen["choices"] and "/user/bob/second/lab" in seen["lab"]
    assert seen["running"].startswith("Your server runs pyiron base.")
    assert seen["named"] == "Server second runs pyiron md, with the same home."
    assert "second" in seen["rows"]
    first, second = container("bob"), f"{container('bob')}--second"
    one, two = inspect(first), inspect(second)
    assert one["State"]["Running"] and two["State"]["Running"]
    assert two["Config"]["Image"] == DEMO_IMAGES["pyiron_md"]

    def home(c):
        return next(m["Name"] for m in c["Mounts"] if m["Destination"] == "/home/jovyan")

    assert home(one) == home(two)  # the same home volume, each server on a network of its own
    assert {n for n in one["NetworkSettings"]["Networks"] if "bob" in n} == {f"{PROJECT}-users-{first}"}
    assert {n for n in two["NetworkSettings"]["Networks"] if "bob" in n} == {f"{PROJECT}-users-{second}"}
    run = lambda *a: subprocess.run([DOCKER, "exec", *a], capture_output=True, text=True, timeout=120)  # noqa: E731
    assert run(first, "sh", "-c", "echo from-first > ~/two-servers.txt").returncode == 0
    assert run(second, "cat", "/home/jovyan/two-servers.txt").stdout == "from-first\n"
    # SQLite's rules hold between the two containers (one kernel, one local volume): no write is lost.
    writers = [
        subprocess.Popen([DOCKER, "exec", c, "python3", "-c", SQLITE_WRITER, c], stdout=subprocess.PIPE, text=True)
        for c in (first, second)
    ]
    assert [w.communicate(timeout=180)[0].strip() for w in writers] == ["done", "done"]
    count = run(second, "python3", "-c", COUNT_ROWS)
    assert count.stdout.split() == ["400", "ok"], count
    # Stopping one leaves the other running.
    assert browser.hub_api("/users/bob/servers/second", "DELETE").status_code in (202, 204)
    deadline = time.monotonic() + 60
    while inspect(second) and time.monotonic() < deadline:
        time.sleep(1)
    assert not inspect(second) and inspect(first)["State"]["Running"]
    run(first, "rm", "-f", "/home/jovyan/two-servers.txt", "/home/jovyan/.two-servers-test.db")


def test_bob_shares_his_server_with_carol_and_revokes_it(demo, browser_ready):
    browser = Browser()
    browser.login("bob")
    if not browser.server("bob").get("ready"):
        browser.spawn("bob", "pyiron_base")
    # The attack: alice, an admin without ADMIN_ACCESS, shares bob's server with herself.
    admin = Browser()
    admin.login("alice")
    attack = admin.hub_api("/shares/bob/", "POST", json={"user": "alice"})
    Browser().login("carol")  # one shares with a user of the hub: someone who has logged in once
    # JupyterHub answers 404 where the scope is missing: it does not say whether the server exists.
    assert attack.status_code == 404 and "No access" in attack.json()["message"], attack.text
    seen = browse("share")  # the control: bob himself shares it, with carol
    assert seen["shared"] == ["Shared with user carol Revoke"]
    assert seen["offered"] == ["bob's server"]
    assert "/user/bob/lab" in seen["opened"]
    assert seen["after"]["status"] == 403 and not seen["after"]["lab"], seen["after"]
    assert browser.hub_api("/shares/bob").json()["items"] == []


def test_a_group_folder_is_shared_by_its_members_and_no_one_else(demo, browser_ready):
    bob = Browser()
    bob.login("bob")
    if not bob.server("bob").get("ready"):
        bob.spawn("bob", "pyiron_base")
    folder = "/home/jovyan/groups/pyiron-research"
    wrote = subprocess.run(
        [
            DOCKER,
            "exec",
            container("bob"),
            "sh",
            "-c",
            f"echo from-bob > {folder}/from-bob.txt && stat -c '%a %u' {folder}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrote.returncode == 0 and wrote.stdout.split() == ["2775", "1000"], wrote  # setgid, jovyan's
    for user in ("alice", "carol"):
        browser = Browser()
        browser.login(user)
        browser.spawn(user, "pyiron_base")
    try:
        seen = browse("groupFolder")
        assert seen["alice"]["status"] == 200 and "from-bob.txt" in seen["alice"]["names"], seen
        assert seen["carol"]["groups"] == 404 and "groups" not in seen["carol"]["names"], seen
        carol = inspect(container("carol"))
        assert not [m for m in carol["Mounts"] if "group" in m["Name"]]
    finally:
        for user in ("alice", "carol"):
            admin = Browser()
            admin.login(user)
            admin.hub_api(f"/users/{user}/server", "DELETE")
        subprocess.run([DOCKER, "exec", container("bob"), "rm", "-f", f"{folder}/from-bob.txt"], timeout=60)


COUNT_ROWS = (
    "import sqlite3; db = sqlite3.connect('/home/jovyan/.two-servers-test.db'); "
    "print(db.execute('SELECT count(*) FROM jobs').fetchone()[0], db.execute('PRAGMA integrity_check').fetchone()[0])"
)


def _bob_stopped(browser: Browser) -> None:
    """Bob's server stopped, and waited for (an earlier case may have left it running or stopping)."""
    server = browser.wait_server("bob", lambda s: not s.get("pending"), "finish what it was doing")
    if server:
        browser.hub_api("/users/bob/server", "DELETE")
        browser.wait_server("bob", lambda s: not s, "stop")


def test_home_page_after_stop_says_so_without_a_reload_and_the_picker_remembers(demo, browser_ready):
    browser = Browser()
    browser.login("bob")
    _bob_stopped(browser)
    browser.spawn("bob", "pyiron_base")  # the form's choice, not the default (pyiron atomistics)
    seen = browse("stop")
    assert seen["running"].startswith("Your server runs pyiron base.")
    assert seen["stopping"].startswith("Stopping your server") and not seen["runningShownWhileStopping"]
    stopped = seen["stopped"]
    assert stopped["text"] == "Your pyiron server is stopped. Start it to choose a pyiron environment."
    assert not stopped["runningShown"] and not stopped["stoppingShown"] and not stopped["stopButtonShown"]
    assert stopped["start"] == "Start My Server"
    assert seen["checked"] == ["pyiron_base"]  # the last environment, not the catalogue's default


def test_a_refused_api_request_is_not_remembered_by_later_starts(demo, browser_ready):
    browser = Browser()
    browser.login("bob")
    _bob_stopped(browser)
    browser.spawn("bob", "pyiron_base")  # the last start that succeeded
    _bob_stopped(browser)

    def refused():
        r = browser.hub_api("/users/bob/server", "POST", json={"environment": "pyiron_bse"})
        assert r.status_code == 400 and "No such environment: 'pyiron_bse'" in r.json()["message"], r.text
        browser.wait_server("bob", lambda s: not s, "be cleaned up after the refusal")

    refused()
    # A start without options (no body; {} is the same to JupyterHub) is the last good one.
    r = browser.hub_api("/users/bob/server", "POST")
    assert r.status_code in (201, 202), r.text
    assert (
        browser.wait_server("bob", lambda s: s.get("ready"), "start", timeout=180)["user_options"]["profile"]
        == "pyiron base"
    )
    assert inspect(container("bob"))["Config"]["Image"] == DEMO_IMAGES["pyiron_base"]
    _bob_stopped(browser)

    refused()
    # The admin page's "Start Server" for bob, in alice's browser, sends no options either.
    seen = browse("adminStart")
    assert seen["bobProfile"] == "pyiron base" and not seen["errors"], seen
    browser.wait_server("bob", lambda s: s.get("ready"), "start", timeout=180)
    assert inspect(container("bob"))["Config"]["Image"] == DEMO_IMAGES["pyiron_base"]
    # Bob's expanded row (his server's state holds his SSH public key) fits the window.
    assert seen["widths"]["page"] <= seen["widths"]["window"], seen["widths"]
    _bob_stopped(browser)


def test_error_pages_keep_the_user_menu_and_say_it_in_words(demo, browser_ready):
    seen = browse("forbidden")
    forbidden, missing = seen["403"], seen["404"]
    assert forbidden["status"] == 403 and forbidden["heading"] == "403: Forbidden"
    assert forbidden["explained"] == (
        "This page is for the administrators of this hub, and your account is not one of them."
    )
    assert "requires any of" not in forbidden["visible"]  # the scope jargon stays folded away
    assert missing["status"] == 404 and missing["explained"].startswith("There is no page at this address.")
    for page in (forbidden, missing):
        assert page["user"].startswith("bob") and page["user"].endswith("Logout"), page["user"]
        assert page["logout"] == "/hub/logout" and page["backHome"] == "/hub/home"
