"""Nothing lost even when the disk dies: `pyiron-hub backup` and `restore` on the real stack.

Three users run pyiron jobs, save notebooks and get SSH keys (the cluster list makes the
key); one server keeps running during the backup. Then every container, volume and file
of the hub is removed, the deployment restored onto the empty engine and started again:
logins, job tables, notebooks, ~/.ssh and the key page are as they were. Bad input
(wrong passphrase, missing or unreachable repository, a full backup disk, a restore onto
a hub with data, an unknown snapshot) fails with the fix named, and changes nothing.

Everything is driven as the README tells an admin: `docker compose -f docker-compose.yml
-f compose.clusters.yml -f compose.backup.yml run --rm backup pyiron-hub ...`. The backup holds
no Docker socket: it reaches the engine through its own guard (backup-guard) and the database
as a client over the network; what that guard refuses is tried from the backup container.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time

import pytest
import requests
from bs4 import BeautifulSoup

from .conftest import COMPOSE, HUB_IMAGE, PREFIX, REPO, HubUser, Stack, docker, inspect, wait_for, write_env_files
from .jupyter import ADD_JOB as JOB
from .jupyter import Kernel

USERS = ("bkann", "bkben", "bkcid")
PROJECT = "pyironhubbk"
NETWORK = "pyiron-hub-bk-users"
DEPLOYMENT = "bk"  # users' volumes bk-jupyterhub-home-<user>: no other suite's
PASSPHRASE = "correct horse battery staple, kept off the host"
SFTP = "pyiron-hub-bk-sftp"
SFTP_IMAGE = f"{PREFIX}/slurm:latest"
JOB_TABLE = 'from pyiron_base import Project\nprint("TABLE", Project("demo").job_table()[["job", "status"]].to_json(orient="records"))'
CLUSTERS_TOML = """\
[[clusters]]
name = "hpc"
display_name = "Test cluster"
host = "hpc.invalid"
host_keys = ["{key}"]
remote_config_dir = "/etc/pyiron/resources/queues"
remote_path = "/home/{{cluster_user}}/pyiron_hub"

[[clusters.queues]]
name = "debug"
cores_max = 1
run_time_max = 60
"""
# sha256 of every file under ~/.ssh and every notebook in ~/work, read straight from the volumes.
HASHES = (
    "import hashlib, json, pathlib\n"
    "out = {}\n"
    "for root, pattern in (('/h/.ssh', '*'), ('/w', '*.ipynb')):\n"
    "    for p in sorted(pathlib.Path(root).rglob(pattern)):\n"
    "        if p.is_file(): out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()\n"
    "print(json.dumps(out))"
)


def volumes(user: str) -> tuple[str, str]:
    return f"{DEPLOYMENT}-jupyterhub-home-{user}", f"{DEPLOYMENT}-jupyterhub-user-{user}"


def container(user: str) -> str:
    return f"{DEPLOYMENT}-jupyter-{user}"


def hashes(user: str) -> dict:
    home, work = volumes(user)
    r = docker("run", "--rm", "-v", f"{home}:/h:ro", "-v", f"{work}:/w:ro", HUB_IMAGE, "python3", "-c", HASHES)
    return json.loads(r.stdout)


def remove_users() -> None:
    for user in USERS:
        docker("rm", "-f", container(user), check=False)
        for v in volumes(user):
            docker("volume", "rm", "-f", v, check=False)


class BackupStack(Stack):
    files = ("docker-compose.yml", "compose.clusters.yml", "compose.backup.yml")

    def compose(self, *args, check=True) -> subprocess.CompletedProcess:
        cmd = [
            COMPOSE,
            *(a for f in self.files for a in ("-f", str(REPO / f))),
            "--project-directory",
            str(self.dir),
            "-p",
            self.project,
            *args,
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, env=self.env())
        if check and r.returncode:
            raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def up(self) -> None:
        # Only the hub: the scheduled backup has a test of its own.
        self.compose("up", "-d", "hub-db", "hub")
        self.wait_healthy("hub-db")
        self.wait_healthy("hub")

    def pyiron_hub(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        """`pyiron-hub ...` in the backup service, as the README runs it."""
        extra = [a for k, v in (env or {}).items() for a in ("-e", f"{k}={v}")]
        return self.compose("run", "--rm", "-T", *extra, "backup", "pyiron-hub", *args, check=False)

    @contextlib.contextmanager
    def backup_env(self, **extra: str):
        """backup.env with these settings too, meanwhile: the backup guard reads the host paths it
        lets workers bind (RESTIC_REPOSITORY, BACKUP_SSH_DIR) from it when it starts."""
        path = self.dir / "backup.env"
        kept = path.read_text()
        path.write_text(kept + "".join(f"{k}='{v}'\n" for k, v in extra.items()))
        self.compose("rm", "-s", "-f", "backup-guard")  # the next `run` starts it anew
        try:
            yield
        finally:
            path.write_text(kept)
            self.compose("rm", "-s", "-f", "backup-guard")

    def down_everything(self) -> None:
        for user in USERS:
            docker("rm", "-f", container(user), check=False)
        self.compose("down", "-v", "--remove-orphans", check=False)
        remove_users()


def ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r.stdout


def fails(r: subprocess.CompletedProcess, *words: str) -> str:
    assert r.returncode != 0, f"expected a failure:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    said = r.stdout + r.stderr
    for w in words:
        assert w in said, f"{w!r} not in:\n{said[-3000:]}"
    return said


def anonymous_volumes() -> set[str]:
    # Those no container uses: a leaked one is, and another suite's containers running
    # meanwhile (scripts/test runs suites side by side) have theirs in use.
    return {v for v in docker("volume", "ls", "-q", "--filter", "dangling=true").stdout.split() if len(v) == 64}


def snapshot_ids(stack: BackupStack, env: dict | None = None) -> list[str]:
    return [line.split()[0] for line in ok(stack.pyiron_hub("snapshots", env=env)).splitlines() if line.strip()]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path = tmp_path_factory.mktemp("restic-repo")
    yield path
    subprocess.run(["rm", "-rf", str(path)])


@pytest.fixture(scope="module")
def bk(images, tmp_path_factory, repo):
    directory = tmp_path_factory.mktemp("bk-project")
    write_env_files(directory, USERS, DEPLOYMENT_NAME=DEPLOYMENT)
    key_dir = tmp_path_factory.mktemp("hostkey")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key_dir / "k")], check=True)
    host_key = " ".join((key_dir / "k.pub").read_text().split()[:2])
    (directory / "clusters.toml").write_text(CLUSTERS_TOML.format(key=host_key))
    (directory / "backup.env").write_text(f"RESTIC_REPOSITORY='{repo}'\nRESTIC_PASSWORD='{PASSPHRASE}'\n")
    s = BackupStack(directory, images, project=PROJECT, network=NETWORK, users=USERS)
    s.down_everything()
    try:
        s.up()
    except BaseException:
        print(s.dump())
        s.down_everything()
        raise
    yield s
    docker("rm", "-f", SFTP, check=False)
    s.down_everything()


def key_on_page(user: HubUser) -> str:
    r = user.session.get(f"{user.stack.url}/hub/ssh-key", timeout=60)
    assert r.status_code == 200, r.text[:500]
    field = BeautifulSoup(r.text, "html.parser").find("textarea", id="public-key")
    assert field is not None, "no key on the page"
    return field.text.strip()


def job_table(user: HubUser) -> list[dict]:
    with Kernel(user, "work/check.ipynb") as kernel:
        out = kernel.run(JOB_TABLE)
    return json.loads(out.split("TABLE ", 1)[1].splitlines()[0])


def save_notebook(user: HubUser, path: str, text: str) -> None:
    r = user.user_server(
        "PUT",
        f"/api/contents/{path}",
        json={
            "type": "notebook",
            "format": "json",
            "content": {
                "cells": [{"cell_type": "markdown", "metadata": {}, "source": text}],
                "metadata": {},
                "nbformat": 4,
                "nbformat_minor": 5,
            },
        },
    )
    assert r.status_code in (200, 201), r.text


BEFORE: dict = {}


def test_0_the_hub_image_has_the_restic_whose_words_and_exit_codes_the_hub_knows():
    """backup.py goes by restic's exit codes (>= 0.17) and, for the rest, by words tested against
    one version's output (tests/unit/samples/): the image must carry that version."""
    sample = json.loads((REPO / "tests/unit/samples/restic-0.18.0.json").read_text())["version"]
    out = docker("run", "--rm", "--entrypoint", "restic", HUB_IMAGE, "version").stdout
    assert out.startswith(sample + " "), out


def test_1_a_disaster_then_a_restore_brings_everything_back(bk, repo):
    users = {name: HubUser(bk, name).login() for name in USERS}
    for name, user in users.items():
        user.start(environment="pyiron_base")
        with Kernel(user, "work/analysis.ipynb") as kernel:
            assert "RESULT finished 3" in kernel.run(JOB, timeout=300)
        save_notebook(user, f"work/notes-{name}.ipynb", f"{name}'s notes")
        assert [row["status"] for row in job_table(user)] == ["finished"]
        BEFORE[name] = {"key": key_on_page(user)}
        if name != USERS[-1]:
            user.stop()  # the last one keeps running through the backup
    assert inspect(container(USERS[-1]))["State"]["Running"]
    for name in USERS:
        BEFORE[name]["hashes"] = hashes(name)
        assert any("/.ssh/id_ed25519" in p for p in BEFORE[name]["hashes"]), BEFORE[name]
    config = {n: (bk.dir / n).read_text() for n in ("pyiron.env", "shared.env", "clusters.toml")}

    out = ok(bk.pyiron_hub("backup", "--init"))
    assert "backup finished" in out and "consistent copy taken" in out, out
    assert len(snapshot_ids(bk)) == 1
    assert users[USERS[-1]].server()["ready"]  # the running server never noticed

    # The disk dies: every container, volume and file of the hub is gone. What the admin
    # kept off the host: the repository and backup.env (its location and passphrase).
    users[USERS[-1]].stop()
    bk.down_everything()
    for name in config:
        (bk.dir / name).unlink()
    assert not [v for v in docker("volume", "ls", "-q").stdout.split() if v.startswith((PROJECT, DEPLOYMENT + "-"))]

    # compose reads every service's env files, so empty ones stand in until the restore.
    for name in ("pyiron.env", "shared.env"):
        (bk.dir / name).write_text("")
    out = ok(bk.pyiron_hub("restore", "--config"))
    assert {n: (bk.dir / n).read_text() for n in config} == config, out
    # The hub's restore: the database first, then everything into it, then the hub.
    fails(bk.pyiron_hub("restore"), "the hub's database is not running", "docker compose up -d hub-db")
    bk.compose("up", "-d", "hub-db")
    bk.wait_healthy("hub-db")
    out = ok(bk.pyiron_hub("restore"))
    assert "database restored" in out and "SQLite database" in out, out
    bk.up()

    for name in USERS:
        assert hashes(name) == BEFORE[name]["hashes"], name
        user = HubUser(bk, name).login()
        user.start(environment="pyiron_base")
        assert [row["status"] for row in job_table(user)] == ["finished"], name
        assert key_on_page(user) == BEFORE[name]["key"]
        assert user.user_server("GET", f"/api/contents/work/notes-{name}.ipynb").status_code == 200
        if name != USERS[1]:
            user.stop()


def test_2_one_file_from_an_earlier_snapshot_while_others_work(bk):
    ann, ben = HubUser(bk, USERS[0]).login(), HubUser(bk, USERS[1]).login()
    assert ben.server()["ready"]
    first = snapshot_ids(bk)[-1]
    ann.start(environment="pyiron_base")
    save_notebook(ann, f"work/notes-{ann.name}.ipynb", "changed after the first snapshot")
    anonymous_before = anonymous_volumes()
    ok(bk.pyiron_hub("backup"))
    assert len(snapshot_ids(bk)) == 2
    # Its worker (the hub image, which declares a VOLUME) leaves no anonymous volume behind.
    assert anonymous_volumes() <= anonymous_before
    r = ann.user_server("DELETE", f"/api/contents/work/notes-{ann.name}.ipynb")
    assert r.status_code == 204
    out = ok(
        bk.pyiron_hub("restore", "--user", ann.name, "--path", f"work/notes-{ann.name}.ipynb", "--snapshot", first)
    )
    assert f"restored {ann.name}'s work/notes-{ann.name}.ipynb" in out
    path = f"/w/notes-{ann.name}.ipynb"
    assert hashes(ann.name)[path] == BEFORE[ann.name]["hashes"][path]  # the first version, not the second
    # ben kept working all along: his server runs and answers.
    with Kernel(ben, "work/x.ipynb") as kernel:
        assert kernel.run("print(6 * 7)").strip() == "42"
    # A whole home only with its server stopped: said plainly, nothing changed.
    fails(bk.pyiron_hub("restore", "--user", ann.name), f"{ann.name}'s server is running", "stop it")
    ann.stop()


def test_3_one_users_whole_home_comes_back(bk):
    cid = USERS[2]
    home, _ = volumes(cid)
    docker("run", "--rm", "-v", f"{home}:/h", HUB_IMAGE, "rm", "-rf", "/h/.ssh", "/h/.pyiron_hub")
    assert not any("/.ssh/" in p for p in hashes(cid))
    ok(bk.pyiron_hub("restore", "--user", cid))
    assert hashes(cid) == BEFORE[cid]["hashes"]
    user = HubUser(bk, cid).login()
    user.start(environment="pyiron_base")
    assert [row["status"] for row in job_table(user)] == ["finished"]
    user.stop()


def test_4_bad_input_destroys_nothing(bk, repo, tmp_path):
    before = snapshot_ids(bk)
    repo_files = sorted(str(p) for p in repo.rglob("*"))
    fails(
        bk.pyiron_hub("backup", env={"RESTIC_PASSWORD": "not the passphrase"}),
        "RESTIC_PASSWORD does not open the repository",
        "set the passphrase it was made with",
    )
    fails(
        bk.pyiron_hub("restore", "--user", USERS[0], env={"RESTIC_PASSWORD": "not the passphrase"}),
        "RESTIC_PASSWORD does not open the repository",
    )
    # A local repository that backup.env does not name: its guard lets no worker bind it.
    missing = tmp_path / "no-repository-here"
    fails(
        bk.pyiron_hub("backup", env={"RESTIC_REPOSITORY": str(missing)}),
        f"binding the host path {missing}",
        "backup.env",
        "docker compose up -d --force-recreate backup-guard",
    )
    assert not missing.exists()
    fails(
        bk.pyiron_hub("snapshots", env={"RESTIC_REPOSITORY": "sftp:backup@no-such-host.invalid:/srv/restic"}),
        "cannot reach the repository sftp:backup@no-such-host.invalid:/srv/restic",
    )
    fails(
        bk.pyiron_hub("restore", "--user", USERS[0], "--snapshot", "deadbeef"),
        "there is no snapshot 'deadbeef'",
        "pyiron-hub snapshots",
    )
    fails(bk.pyiron_hub("restore", "--snapshot", "deadbeef"), "the hub is running: stop it first")
    # A restore onto a hub that still has data is refused unless told.
    hashes_now = {u: hashes(u) for u in USERS}
    bk.compose("stop", "hub")
    try:
        fails(
            bk.pyiron_hub("restore"),
            "this engine still has a hub's data",
            "users' volumes exist",
            "the hub's database has",
            "--force",
            "Nothing was changed",
        )
    finally:
        bk.up()
    assert {u: hashes(u) for u in USERS} == hashes_now
    assert snapshot_ids(bk) == before and sorted(str(p) for p in repo.rglob("*")) == repo_files
    assert HubUser(bk, USERS[0]).login().api("GET", "/user").status_code == 200


def test_5_a_backup_disk_that_fills_up_keeps_the_earlier_snapshots(bk, tmp_path):
    small = tmp_path / "small-disk"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(small)], check=True)
    env = {"RESTIC_REPOSITORY": str(small / "repo")}
    try:
        with bk.backup_env(**env):
            ok(bk.pyiron_hub("backup", "--init", env=env))
            first = snapshot_ids(bk, env)
            assert len(first) == 1
            home, _ = volumes(USERS[0])
            # 64 MB that do not compress or deduplicate: more than the disk has left.
            docker(
                "run", "--rm", "-v", f"{home}:/h", HUB_IMAGE, "sh", "-c", "head -c 67108864 /dev/urandom > /h/big.bin"
            )
            fails(bk.pyiron_hub("backup", env=env), "is full", "free space there", "Earlier snapshots are intact")
            assert snapshot_ids(bk, env) == first
            ok(bk.pyiron_hub("snapshots", "--check", env=env))
    finally:
        docker("run", "--rm", "-v", f"{volumes(USERS[0])[0]}:/h", HUB_IMAGE, "rm", "-f", "/h/big.bin", check=False)
        subprocess.run(["umount", str(small)])


def test_6_an_sftp_repository(bk, tmp_path):
    # The test cluster's login node is an OpenSSH server with sftp: an account "restic" there (Debian has a system user "backup").
    docker("rm", "-f", SFTP, check=False)
    docker(
        "run",
        "-d",
        "--name",
        SFTP,
        "--network",
        NETWORK,
        "--network-alias",
        "backup-sftp",
        "-e",
        "CLUSTER_USERS=restic",
        SFTP_IMAGE,
    )
    wait_for(
        lambda: (inspect(SFTP) or {}).get("State", {}).get("Health", {}).get("Status") == "healthy",
        timeout=90,
        message="the sftp server",
    )
    ssh = tmp_path / "ssh"
    ssh.mkdir(mode=0o700)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh / "id_ed25519")], check=True)
    docker(
        "exec",
        "-u",
        "restic",
        SFTP,
        "sh",
        "-c",
        f"echo '{(ssh / 'id_ed25519.pub').read_text().strip()}' > /home/restic/.ssh/authorized_keys "
        "&& chmod 600 /home/restic/.ssh/authorized_keys",
    )
    host_key = wait_for(
        lambda: docker("exec", SFTP, "cat", "/etc/ssh/ssh_host_ed25519_key.pub", check=False).stdout,
        timeout=30,
        message="sshd's host key",
    )
    (ssh / "known_hosts").write_text("backup-sftp " + " ".join(host_key.split()[:2]) + "\n")
    env = {"RESTIC_REPOSITORY": "sftp:restic@backup-sftp:/home/restic/repo", "BACKUP_SSH_DIR": str(ssh)}
    with bk.backup_env(BACKUP_SSH_DIR=str(ssh)):
        ok(bk.pyiron_hub("backup", "--init", env=env))
        ids = snapshot_ids(bk, env)
        assert len(ids) == 1
        save = hashes(USERS[0])
        work = volumes(USERS[0])[1]
        docker("run", "--rm", "-v", f"{work}:/w", HUB_IMAGE, "sh", "-c", "rm -f /w/*.ipynb")
        ok(bk.pyiron_hub("restore", "--user", USERS[0], "--path", "work", env=env))
        assert hashes(USERS[0]) == save
        # sshd gone: the same repository is now unreachable, said so.
        docker("rm", "-f", SFTP)
        fails(bk.pyiron_hub("snapshots", env=env), "cannot reach the repository sftp:restic@backup-sftp")


def test_7_the_scheduled_backup_shows_its_last_result(bk):
    before = set(snapshot_ids(bk))
    started = time.time()
    bk.compose("up", "-d", "backup")
    try:
        token = docker("exec", bk.container("hub"), "cat", "/srv/jupyterhub/data/metrics_token").stdout.strip()

        def metrics():
            text = requests.get(f"{bk.url}/hub/metrics", headers={"Authorization": f"token {token}"}, timeout=10).text
            found = dict(line.split() for line in text.splitlines() if line.startswith("pyiron_hub_backup_last_"))
            # The earlier tests' backups wrote a result too: wait for this service's own.
            if float(found.get("pyiron_hub_backup_last_run_timestamp_seconds", 0)) >= started - 1:
                return found

        assert (
            wait_for(metrics, timeout=240, interval=3, message="the scheduled backup's metric")[
                "pyiron_hub_backup_last_exit_status"
            ]
            == "0.0"
        )
        # A new snapshot; not one more: the retention (BACKUP_KEEP_DAILY) keeps one a day.
        assert set(snapshot_ids(bk)) - before
        assert "backup finished" in bk.compose("logs", "--no-color", "backup").stdout
        wait_for(lambda: bk.health("backup") == "healthy", timeout=120, interval=3, message="backup healthy")
    finally:
        bk.compose("rm", "-s", "-f", "backup", check=False)


# --- what users plant in their homes never leads the backup, which runs as root (issue 29) ------
PLANT = """
import os, sqlite3, sys
def db(path, owner):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    c = sqlite3.connect(path); c.execute("create table owner (name text)")
    c.execute("insert into owner values (?)", (owner,)); c.commit(); c.close()
ann, ben, cid, ben_work = sys.argv[1:5]
db(f"/v/{ann}/secret.db", "ann")
# ben: a link 'x' to ann's database (as the worker sees the volumes), and his own database in 'x#'
os.symlink(f"/data/volumes/{ann}/secret.db", f"/v/{ben}/x")
db(f"/v/{ben}/x#/own.db", "ben")
db(f"/v/{ben}/y?.db", "ben")
# cid: a database whose header is garbage
db(f"/v/{cid}/broken.db", "cid")
with open(f"/v/{cid}/broken.db", "r+b") as f:
    f.seek(16); f.write(b"\\xff" * 84)
open(f"/v/{ben_work}/private.txt", "w").write("ben's own words")
os.chmod(f"/v/{ben_work}/private.txt", 0o600)
"""
OWNER = (
    "import sqlite3, sys; print('OWNER', sqlite3.connect(sys.argv[1]).execute('select name from owner').fetchone()[0])"
)


def test_8_what_users_plant_in_their_homes_never_leads_the_backup(bk):
    """A name with '#' or '?' pulls no other user's database into a snapshot; a corrupt database is
    named and skipped while the rest is backed up; a restore replaces a planted link, never follows it."""
    for name in USERS:
        HubUser(bk, name).login().stop()
    (ann, _), (ben, ben_work), (cid, _) = (volumes(u) for u in USERS)
    mounts = [a for v in (ann, ben, cid, ben_work) for a in ("-v", f"{v}:/v/{v}")]
    docker("run", "--rm", "-u", "1000:100", *mounts, HUB_IMAGE, "python3", "-c", PLANT, ann, ben, cid, ben_work)
    try:
        out = ok(bk.pyiron_hub("backup"))
        assert f"SQLite database {cid}/broken.db: SKIPPED" in out + "", out
        assert "backup finished" in out and f"SQLite database {ann}/secret.db: consistent copy taken" in out, out
        status = json.loads(
            docker("exec", bk.container("hub"), "cat", "/srv/jupyterhub/data/backup-status.json").stdout
        )
        assert status["exit_status"] == 0 and list(status["skipped_databases"]) == [f"{cid}/broken.db"], status
        assert f"{cid}/broken.db" in status["message"], status
        # ben's databases come back as his own, not ann's; the link he planted in their place is
        # replaced, and the file it pointed at (in a volume the restore worker mounts) untouched.
        docker(
            "run",
            "--rm",
            "-u",
            "1000:100",
            "-v",
            f"{ben}:/h",
            HUB_IMAGE,
            "sh",
            "-c",
            f"rm -rf '/h/x#' '/h/y?.db' && mkdir '/h/x#' && ln -s /restore/data/volumes/{ben_work}/private.txt "
            "'/h/y?.db' && ln -s /etc/shadow '/h/x#/own.db'",
        )
        ok(bk.pyiron_hub("restore", "--user", USERS[1]))
        for path in ("x#/own.db", "y?.db"):
            r = docker(
                "run",
                "--rm",
                "-v",
                f"{ben}:/h:ro",
                HUB_IMAGE,
                "sh",
                "-c",
                f"test ! -L '/h/{path}' && python3 -c \"{OWNER}\" '/h/{path}'",
                check=False,
            )
            assert "OWNER ben" in r.stdout, (path, r.stdout, r.stderr)
        r = docker("run", "--rm", "-v", f"{ben_work}:/w:ro", HUB_IMAGE, "stat", "-c", "%a %s", "/w/private.txt")
        assert r.stdout.split() == ["600", str(len("ben's own words"))], r.stdout
    finally:
        docker(
            "run",
            "--rm",
            *mounts,
            HUB_IMAGE,
            "sh",
            "-c",
            f"rm -rf /v/{ann}/secret.db /v/{ben}/x '/v/{ben}/x#' '/v/{ben}/y?.db' /v/{cid}/broken.db "
            f"/v/{ben_work}/private.txt",
            check=False,
        )


# --- the backup holds no socket; its guard lets through only the backup's workers (issue 29) ------
# Run in the backup service (`compose run backup python3 -c ...`): what a process that took over
# the backup could ask of the engine. Each attempt prints its HTTP status (403: refused).
ATTACKS = """
import json, os, socket, sys
import docker
from docker.types import Mount
c = docker.from_env(timeout=60)
me = c.containers.get(socket.gethostname())
image, project, network = me.attrs["Image"], me.labels["com.docker.compose.project"], os.environ["DOCKER_NETWORK_NAME"]
db = c.containers.list(filters={"label": [f"com.docker.compose.project={project}", "com.docker.compose.service=hub-db"]})[0]
hub = c.containers.list(filters={"label": [f"com.docker.compose.project={project}", "com.docker.compose.service=hub"]})[0]
guard = c.containers.list(filters={"label": [f"com.docker.compose.project={project}", "com.docker.compose.service=backup-guard"]})[0]
out = {"socket": os.path.exists("/var/run/docker.sock"), "DOCKER_HOST": os.environ.get("DOCKER_HOST")}
def attempt(name, call):
    try:
        found = call()
        out[name] = "let through"
        if hasattr(found, "remove"):
            found.remove(force=True)
    except docker.errors.APIError as err:
        out[name] = err.response.status_code if err.response is not None else str(err)
worker = dict(network_mode=network, security_opt=["no-new-privileges:true"], healthcheck={"test": ["NONE"]})
attempt("control: a worker", lambda: c.containers.create(image, ["true"], mounts=[Mount("/d", f"{project}_hub-data", read_only=True)], **worker))
attempt("bind /", lambda: c.containers.create(image, ["true"], volumes={"/": {"bind": "/host", "mode": "rw"}}, **worker))
attempt("bind the socket", lambda: c.containers.create(image, ["true"], mounts=[Mount("/s", "/var/run/docker.sock", type="bind")], **worker))
attempt("privileged", lambda: c.containers.create(image, ["true"], privileged=True, **worker))
attempt("the database's image", lambda: c.containers.create(db.attrs["Image"], ["true"], **worker))
attempt("the host's network", lambda: c.containers.create(image, ["true"], **{**worker, "network_mode": "host"}))
attempt("the database's network", lambda: c.containers.create(image, ["true"], **{**worker, "network_mode": f"container:{db.id}"}))
attempt("exec in hub-db", lambda: c.api.exec_create(db.id, ["pg_dumpall"]))
attempt("write into hub-db", lambda: db.put_archive("/tmp", b""))
attempt("write into the hub", lambda: hub.put_archive("/tmp", b""))
attempt("stop hub-db", lambda: db.stop(timeout=1))
attempt("remove the hub", lambda: c.api.remove_container(hub.id, force=True))
attempt("remove its guard", lambda: c.api.remove_container(guard.id, force=True))
attempt("pull an image", lambda: c.api.pull("busybox", tag="latest"))
attempt("a network", lambda: c.api.create_network("pyiron-hub-bk-attack"))
print("RESULT", json.dumps(out))
"""


def test_9_the_backup_holds_no_socket_and_its_guard_lets_only_its_workers_through(bk):
    """What a process that took over the backup asks of the engine: refused, but for the worker the
    backup makes (the control; test_1 to test_8 back up and restore through this very path)."""
    r = bk.compose("run", "--rm", "-T", "backup", "python3", "-c", ATTACKS, check=False)
    line = next((x for x in r.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, f"{r.stdout}\n{r.stderr}"
    out = json.loads(line[len("RESULT ") :])
    assert out.pop("socket") is False and out.pop("DOCKER_HOST") == "tcp://backup-guard:2375"
    assert out.pop("control: a worker") == "let through"
    assert out == dict.fromkeys(out, 403), out
    assert inspect(bk.container("hub-db"))["State"]["Running"] and inspect(bk.container("hub"))["State"]["Running"]
    # And the hub's guard, in turn, leaves the backup's guard alone.
    r = docker(
        "exec",
        bk.container("hub"),
        "python3",
        "-c",
        "import docker, sys\n"
        "try:\n"
        f"    docker.from_env().api.remove_container({bk.container('backup-guard')!r}, force=True)\n"
        "except docker.errors.APIError as err:\n"
        "    print('STATUS', err.response.status_code)\n",
        check=False,
    )
    assert "STATUS 403" in r.stdout, (r.stdout, r.stderr)
