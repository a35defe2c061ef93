"""The hub side of clusters: config wiring, what a spawner passes on, and the SSH key pages.

The pages are rendered here with JupyterHub's own template loader and templates; the e2e
test reads them from a real hub, with keys made in real servers.
"""

from __future__ import annotations

import io
import json
import tarfile
from types import SimpleNamespace

import pytest
from bs4 import BeautifulSoup
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
from jupyterhub._data import DATA_FILES_PATH
from traitlets.config import Config

from pyiron_hub_config import configure
from pyiron_hub_config.clusters import load_clusters
from pyiron_hub_config.problems import ConfigError
from pyiron_hub_config.spawner import PyironSpawner
from pyiron_hub_config.ssh_keys import (
    KeyFileProblem,
    PublicKey,
    SSHKeyHandler,
    SSHKeysAdminHandler,
    cluster_rows,
    public_key_from_archive,
)
from pyiron_hub_config.swarm import PyironSwarmSpawner

from .helpers import with_env
from .test_clusters import CLUSTER, HOST_KEY, ssh_key

USER_KEY = ssh_key() + " alice@pyiron-hub"


@pytest.fixture
def clusters_file(tmp_path):
    path = tmp_path / "clusters.toml"
    path.write_text(CLUSTER)
    return path


# --- configuration --------------------------------------------------------------------------
def test_no_clusters_by_default(minimal_env):
    c = Config()
    hub = configure(c, minimal_env)
    assert hub.clusters == [] and c.PyironSpawner.clusters == []
    assert [path for path, *_ in c.JupyterHub.extra_handlers] == ["/usage"]  # the admins' usage page only
    assert c.JupyterHub.template_vars["ssh_key_page"] is False


def test_clusters_file_gives_spawner_clusters_and_the_key_pages(minimal_env, clusters_file):
    c = Config()
    hub = configure(c, with_env(minimal_env, CLUSTERS_FILE=str(clusters_file)))
    assert [cl.name for cl in hub.clusters] == ["hpc1"]
    assert c.PyironSpawner.clusters == hub.clusters
    assert [(path, cls) for path, cls, _ in c.JupyterHub.extra_handlers][:2] == [
        ("/ssh-key", SSHKeyHandler),
        ("/ssh-keys", SSHKeysAdminHandler),
    ]
    assert all(kw == {"clusters": hub.clusters} for *_, kw in c.JupyterHub.extra_handlers[:2])
    assert c.JupyterHub.template_paths[0].endswith("pyiron_hub_config/templates/hub")
    assert c.JupyterHub.template_vars["ssh_key_page"] is True  # the top bar links the pages


def test_swarm_servers_get_the_clusters_too(minimal_env, clusters_file):
    c = Config()
    hub = configure(c, with_env(minimal_env, CLUSTERS_FILE=str(clusters_file), SPAWNER="swarm"))
    spawner = PyironSwarmSpawner(config=c, user=SimpleNamespace(name="alice"))
    assert spawner.clusters == hub.clusters and [cl.name for cl in spawner.clusters] == ["hpc1"]


def test_cluster_problems_come_with_the_settings_problems(minimal_env, clusters_file, capsys):
    clusters_file.write_text(CLUSTER.replace("cores_max = 4", "cores_max = 0"))
    with pytest.raises(SystemExit):
        configure(Config(), with_env(minimal_env, CLUSTERS_FILE=str(clusters_file), MEM_LIMIT="lots"))
    report = capsys.readouterr().err
    assert "2 configuration problems" in report
    assert "MEM_LIMIT" in report and "cluster 'hpc1'" in report and "queue 'short'.cores_max" in report


def test_a_missing_clusters_file_is_a_problem(minimal_env, tmp_path):
    from pyiron_hub_config import load_hub_config

    with pytest.raises(ConfigError) as info:
        load_hub_config(with_env(minimal_env, CLUSTERS_FILE=str(tmp_path / "nope.toml")))
    assert [p.where for p in info.value.problems] == [f"CLUSTERS_FILE ({tmp_path / 'nope.toml'})"]


# --- what a spawner passes to the boot step ---------------------------------------------------
def spawner(clusters, name="alice") -> PyironSpawner:
    return PyironSpawner(clusters=clusters, user=SimpleNamespace(name=name))


def test_spawner_without_clusters_passes_nothing():
    assert spawner([]).cluster_environment() == {}


def test_spawner_passes_files_and_asks_for_a_key(clusters_file):
    env = spawner(load_clusters(clusters_file)).cluster_environment()
    assert env["PYIRON_HUB_SSH_KEY"] == "1"
    files = json.loads(env["PYIRON_HUB_FILES"])
    assert [f["path"] for f in files] == [
        ".pyiron_hub/resources/queues/queue.yaml",
        ".pyiron_hub/ssh/known_hosts",
        "notebooks_hpc/submit_to_a_cluster.ipynb",
        ".ipython/profile_default/startup/00-pyiron-hub-quiet-cluster-warnings.py",
    ]
    assert env["TQDM_DELAY"] == "2"  # no progress bars for the few files of a job
    assert "ssh_username: alice" in files[0]["content"]


def test_spawner_for_a_user_without_a_valid_account_passes_nothing(clusters_file):
    assert spawner(load_clusters(clusters_file), name="a b").cluster_environment() == {}


def test_the_public_key_is_kept_in_the_spawner_state():
    sp = spawner([])
    assert "ssh_public_key" not in sp.get_state()
    sp.ssh_public_key = USER_KEY
    state = sp.get_state()
    again = spawner([])
    again.load_state(state)
    assert again.ssh_public_key == USER_KEY


# --- reading the key out of a container ------------------------------------------------------
def archive(content: bytes | None = None, link: str | None = None, extra: bool = False) -> list[bytes]:
    """A tar stream as Docker's get_archive returns it, in chunks."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("id_ed25519.pub")
        if link is not None:
            info.type, info.linkname = tarfile.SYMTYPE, link
            tar.addfile(info)
        else:
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        if extra:
            other = tarfile.TarInfo("other")
            other.size = 1
            tar.addfile(other, io.BytesIO(b"x"))
    data = buf.getvalue()
    return [data[i : i + 1000] for i in range(0, len(data), 1000)]


def test_key_from_archive():
    key = public_key_from_archive(archive(USER_KEY.encode() + b"\n"))
    assert key.line == USER_KEY and key.kind == "ssh-ed25519" and key.comment == "alice@pyiron-hub"
    assert key.bare == HOST_KEY  # the same made-up key material


def test_a_link_is_not_followed():
    assert public_key_from_archive(archive(link="id_ed25519")) is None


def test_more_than_one_file_is_not_a_key():
    assert public_key_from_archive(archive(USER_KEY.encode(), extra=True)) is None


@pytest.mark.parametrize(
    "content",
    [
        b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----\n",
        b"\xff\xfe binary",
        b"",
        b"ssh-ed25519 " + b"A" * 20000,
    ],
)
def test_what_is_not_a_public_key_is_refused_without_echoing_it(content):
    with pytest.raises(KeyFileProblem) as info:
        public_key_from_archive(archive(content))
    assert "PRIVATE" not in str(info.value) and "AAAA" not in str(info.value)


def test_the_key_sync_service_may_read_keys_and_nothing_else(minimal_env, clusters_file, tmp_path):
    import stat

    from pyiron_hub_config.ssh_keys import KEY_SYNC_SCOPE

    c = Config()
    configure(c, with_env(minimal_env, CLUSTERS_FILE=str(clusters_file)))
    role = next(r for r in c.JupyterHub.load_roles if r["name"] == "cluster-key-sync")
    assert (role["scopes"], role["services"]) == ([KEY_SYNC_SCOPE], ["cluster-key-sync"])
    assert KEY_SYNC_SCOPE.startswith("custom:") and KEY_SYNC_SCOPE in c.JupyterHub.custom_scopes
    token = next(s for s in c.JupyterHub.services if s["name"] == "cluster-key-sync")["api_token"]
    stored = tmp_path / "data" / "key_sync_token"  # generated once, private, for the cluster's admin
    assert (len(token), stored.read_text().strip(), stat.S_IMODE(stored.stat().st_mode)) == (64, token, 0o600)


def test_no_key_sync_service_without_clusters(minimal_env):
    c = Config()
    configure(c, minimal_env)
    assert "cluster-key-sync" not in [s["name"] for s in c.JupyterHub.services]


# --- the pages ---------------------------------------------------------------------------------
@pytest.fixture
def render(minimal_env, clusters_file):
    """render(name, **namespace) -> parsed HTML, through JupyterHub's own loader and templates."""
    c = Config()
    configure(c, with_env(minimal_env, CLUSTERS_FILE=str(clusters_file)))
    base = f"{DATA_FILES_PATH}/templates"
    env = Environment(
        loader=ChoiceLoader(
            [
                PrefixLoader({"templates": FileSystemLoader([base])}, "/"),
                FileSystemLoader([*c.JupyterHub.template_paths, base]),
            ]
        ),
        autoescape=True,
    )
    common = dict(
        **c.JupyterHub.template_vars,
        base_url="/hub/",
        prefix="/",
        user=SimpleNamespace(name="alice", spawner=SimpleNamespace(options_form="")),
        static_url=lambda p, **kw: p,
        login_url="/hub/login",
        logout_url="/hub/logout",
        version_hash="",
        services=[],
        parsed_scopes={},
        expanded_scopes=set(),
        xsrf="x",
        announcement=None,
    )

    def run(name, **ns):
        return BeautifulSoup(env.get_template(name).render(**{**common, **ns}), "html.parser")

    run.clusters = load_clusters(clusters_file)
    return run


def test_key_page_shows_the_key_and_a_copy_button(render):
    key = PublicKey.parse(USER_KEY)
    page = render(
        "pyiron_ssh_key.html",
        key=key,
        source="running",
        clusters=cluster_rows(render.clusters, "alice"),
        server_active=True,
    )
    assert page.find("textarea", id="public-key").text == USER_KEY
    assert page.find("button", id="copy-key")["data-copy"] == "public-key"
    cluster = page.find("section", id="cluster-hpc1")
    assert cluster.find("code", class_="account").text == "alice"
    assert f"echo '{HOST_KEY}' >> ~/.ssh/authorized_keys" in cluster.find("pre").text
    # The long command wraps in its box instead of scrolling sideways.
    assert "white-space: pre-wrap" in cluster.find("pre")["style"]
    assert cluster.find(class_="key-help") is None  # the site said nothing more
    assert page.find("a", href="/hub/ssh-key").text == "SSH key"  # in the top bar


def test_key_page_says_how_the_site_adds_keys_in_plain_text(render):
    rows = [
        {**row, "key_help": "Run scripts/demo cluster-key alice <b>now</b>."}
        for row in cluster_rows(render.clusters, "alice")
    ]
    page = render(
        "pyiron_ssh_key.html", key=PublicKey.parse(USER_KEY), source="running", clusters=rows, server_active=True
    )
    assert page.find(class_="key-help").text == "Run scripts/demo cluster-key alice <b>now</b>."
    assert page.find("b") is None


def test_key_page_says_why_there_is_no_account(render):
    page = render(
        "pyiron_ssh_key.html",
        key=PublicKey.parse(USER_KEY),
        source="running",
        clusters=cluster_rows(render.clusters, "root"),
        server_active=True,
    )
    cluster = page.find("section", id="cluster-hpc1")
    assert cluster.find("code", class_="account") is None and cluster.find("pre") is None
    assert "'root' is a reserved account there" in cluster.find(class_="no-account").text


def test_key_page_without_a_key_says_how_to_get_one(render):
    page = render(
        "pyiron_ssh_key.html",
        key=None,
        source="none",
        clusters=cluster_rows(render.clusters, "alice"),
        server_active=False,
    )
    assert page.find("textarea") is None
    assert "Start your server" in page.find(id="no-key").text


def test_key_page_escapes_what_came_from_the_server(render):
    key = PublicKey(
        kind="ssh-ed25519", data=HOST_KEY.split()[1], comment="<script>alert(1)</script>", fingerprint="SHA256:x"
    )
    page = render(
        "pyiron_ssh_key.html",
        key=key,
        source="<b>problem</b>",
        clusters=cluster_rows(render.clusters, "alice"),
        server_active=True,
    )
    assert page.find("script", string="alert(1)") is None and page.find("b") is None
    assert "<script>alert(1)</script>" in page.find("textarea").text


def test_admin_page_lists_users_and_accounts(render):
    rows = [
        {"name": "alice", "key": PublicKey.parse(USER_KEY), "source": "stored", "accounts": {"hpc1": "alice"}},
        {"name": "a b", "key": None, "source": "none", "accounts": {"hpc1": None}},
    ]
    page = render("pyiron_ssh_keys.html", rows=rows, clusters=render.clusters, parsed_scopes={"admin:users": set()})
    cells = [[td.text.strip() for td in tr.find_all("td")] for tr in page.find_all("tr", class_="user-key")]
    assert cells[0][0] == "alice" and cells[0][1].startswith("ssh-ed25519 SHA256:") and cells[0][2] == "alice"
    assert cells[1] == ["a b", "none yet", "no valid name"]
    assert page.find("a", href="?cluster=hpc1") is not None
    assert page.find("a", href="/hub/ssh-keys") is not None  # admins see the link in the top bar


def test_what_the_boot_step_left_out_is_read_and_shown(render):
    from pyiron_hub_config.ssh_keys import skipped_from_archive

    status = {
        "written": [".pyiron_hub/ssh/known_hosts"],
        "skipped": {
            ".pyiron_hub/resources/queues/queue.yaml": "needs the Python module paramiko, which this environment lacks"
        },
    }
    skipped = skipped_from_archive(archive(json.dumps(status).encode()))
    assert skipped == status["skipped"]
    page = render(
        "pyiron_ssh_key.html",
        key=PublicKey.parse(USER_KEY),
        source="running",
        skipped=skipped,
        clusters=cluster_rows(render.clusters, "alice"),
        server_active=True,
    )
    warning = page.find(id="clusters-unavailable").text
    assert "pip install --user paramiko" in warning and "~/.pyiron_hub/resources/queues/queue.yaml" in warning


@pytest.mark.parametrize("content", [b"not json", b"[]", b'{"skipped": 3}', b""])
def test_a_bad_status_file_shows_nothing(content):
    from pyiron_hub_config.ssh_keys import skipped_from_archive

    assert skipped_from_archive(archive(content)) == {}


def test_the_key_list_takes_a_token_as_the_key_sync_sends_one():
    # JupyterHub's page handlers take only cookies unless they say otherwise.
    assert SSHKeysAdminHandler._accept_token_auth is True and SSHKeyHandler._accept_token_auth is False


def test_the_key_list_leaves_out_users_whose_access_keycloak_withdrew(render):
    from pyiron_hub_config.ssh_keys import key_list

    key = PublicKey.parse(USER_KEY)
    rows = [
        {"name": "alice", "key": key, "accounts": {"hpc1": "alice"}, "withdrawn": False},
        {"name": "bob", "key": key, "accounts": {"hpc1": "bob"}, "withdrawn": True},
    ]
    assert key_list(rows, "hpc1") == f"alice {key.bare} pyiron-hub:alice\n"  # alice's stays: the control
    page = render("pyiron_ssh_keys.html", rows=rows, clusters=render.clusters, parsed_scopes={"admin:users": set()})
    marks = [tr.find(class_="access-withdrawn") is not None for tr in page.find_all("tr", class_="user-key")]
    assert marks == [False, True]
