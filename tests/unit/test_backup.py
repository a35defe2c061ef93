"""The backup's pure parts: settings, which volumes, restic's errors in plain words, SQLite copies."""

import json
import os
import sqlite3
import threading
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from pyiron_hub_config.backup import (
    BackupError,
    marked,
    next_run,
    restic_problem,
    restore_includes,
    volume_for_path,
    volumes_to_back_up,
)
from pyiron_hub_config.backup_layout import SKIPPED_MARK
from pyiron_hub_config.backup_settings import load_backup_settings, restic_environment
from pyiron_hub_config.backup_status import BackupStatusCollector, read_status
from pyiron_hub_config.backup_worker import worker as backup_worker
from pyiron_hub_config.problems import ConfigError

OK = {"RESTIC_REPOSITORY": "/srv/backups/hub", "RESTIC_PASSWORD": "secret passphrase"}


def test_settings_defaults_and_retention():
    s = load_backup_settings(OK)
    assert s.local_path == "/srv/backups/hub" and s.every == 86400 and s.at is None
    assert s.forget_args() == ["--keep-daily=7", "--keep-weekly=4", "--keep-monthly=6", "--prune"]
    s = load_backup_settings(
        {
            **OK,
            "BACKUP_KEEP_DAILY": "0",
            "BACKUP_KEEP_WEEKLY": "0",
            "BACKUP_KEEP_MONTHLY": "0",
            "BACKUP_EVERY": "30m",
            "BACKUP_AT": "03:15",
        }
    )
    assert s.forget_args() == [] and s.every == 1800 and s.at == time(3, 15)


def test_remote_repositories_are_not_local_paths():
    for repo in ("sftp:backup@host:/srv/restic", "s3:https://s3.example.org/bucket/hub"):
        assert load_backup_settings({**OK, "RESTIC_REPOSITORY": repo}).local_path is None
    assert load_backup_settings({**OK, "RESTIC_REPOSITORY": "local:/x"}).local_path == "/x"


def test_every_problem_at_once_with_an_example():
    with pytest.raises(ConfigError) as err:
        load_backup_settings({"RESTIC_REPOSITORY": "relative/path", "BACKUP_EVERY": "daily", "BACKUP_KEEP_DAILY": "-1"})
    report = err.value.report()
    for name in (
        "RESTIC_REPOSITORY: a local repository is an absolute path",
        "RESTIC_PASSWORD: is not set",
        "BACKUP_EVERY: a positive duration",
        "BACKUP_KEEP_DAILY",
    ):
        assert name in report
    assert "(example: /srv/backups/pyiron-hub)" in report


def test_password_file_is_read_here_and_never_passed_as_a_path(tmp_path):
    (tmp_path / "pw").write_text("from a file\n")
    env = {
        "RESTIC_REPOSITORY": "/r",
        "RESTIC_PASSWORD_FILE": str(tmp_path / "pw"),
        "AWS_ACCESS_KEY_ID": "k",
        "POSTGRES_PASSWORD": "not for restic",
    }
    s = load_backup_settings(env)
    assert s.password.get_secret_value() == "from a file"
    passed = restic_environment(env, s)
    assert passed == {"RESTIC_REPOSITORY": "/r", "RESTIC_PASSWORD": "from a file", "AWS_ACCESS_KEY_ID": "k"}
    with pytest.raises(ConfigError, match="RESTIC_PASSWORD_FILE: cannot read it"):
        load_backup_settings({"RESTIC_REPOSITORY": "/r", "RESTIC_PASSWORD_FILE": str(tmp_path / "none")})


@pytest.mark.parametrize(
    "status, output, fix",
    [
        (12, "", "set the passphrase it was made with"),
        (10, "", "pyiron-hub backup --init"),
        (11, "", "restic unlock"),
        (1, "Save(<data/1234>) returned error: write /r/data/12/1234: no space left on device", "free space there"),
        (1, "subprocess ssh: ssh: connect to host nowhere port 22: Connection refused", "BACKUP_SSH_DIR"),
    ],
)
def test_restic_errors_name_the_fix(status, output, fix):
    # restic's own output for each: tests/unit/test_error_words.py
    message = restic_problem(status, output, "/r")
    assert fix in message and "/r" in message
    assert restic_problem(1, "some other failure", "/r") is None


def test_only_this_deployments_volumes_are_backed_up():
    names = [
        "p_hub-data",
        "q_hub-data",
        "jupyterhub-home-a",
        "jupyterhub-user-a",
        "demo-jupyterhub-home-b",
        "pyiron-hub-image-0123456789ab",
        "p_hub-db-data",
    ]
    assert volumes_to_back_up(names, "p", None) == ["jupyterhub-home-a", "jupyterhub-user-a", "p_hub-data"]
    assert volumes_to_back_up(names, "q", "demo") == ["demo-jupyterhub-home-b", "q_hub-data"]


def test_a_path_in_the_home_names_its_volume():
    assert volume_for_path("ann", "work/a.ipynb", None) == ("jupyterhub-user-ann", "a.ipynb")
    assert volume_for_path("ann", "/home/jovyan/.ssh/id_ed25519", "d") == ("d-jupyterhub-home-ann", ".ssh/id_ed25519")
    assert volume_for_path("ann", "work", None) == ("jupyterhub-user-ann", "")
    for bad in ("", "/", "../other", "work/../../x"):
        with pytest.raises(BackupError, match="inside the user's home"):
            volume_for_path("ann", bad, None)
    assert restore_includes(["v"], {"v": ".ssh"}) == ["/data/volumes/v/.ssh", "/data/staging/sqlite/v/.ssh"]
    assert restore_includes(["v"], postgres=True)[-1] == "/data/staging/postgres"


def test_schedule():
    now = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert next_run(now, 86400, None) == now
    assert next_run(now, 86400, time(3, 0)) == datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert next_run(now, 86400, time(7, 30)) == datetime(2026, 12, 1, 7, 30, tzinfo=UTC)


def test_restic_patterns_match_only_that_file():
    assert backup_worker.restic_pattern(Path("/data/volumes/v/a*[1]?.db")) == "/data/volumes/v/a\\*\\[1\\]\\?.db"


def test_sqlite_copy_is_consistent_while_a_writer_commits(tmp_path):
    volumes, staging = tmp_path / "volumes", tmp_path / "staging"
    db = volumes / "jupyterhub-home-a" / ".pyiron_hub" / "db" / "pyiron.db"
    db.parent.mkdir(parents=True)
    (volumes / "jupyterhub-home-a" / "notes.db").write_text("not a database, only its name")
    con = sqlite3.connect(db)
    con.execute("create table jobs (id integer primary key, a int, b int)")
    con.commit()
    stop = threading.Event()

    def writer():
        w = sqlite3.connect(db, timeout=30)
        i = 0
        while not stop.is_set():
            i += 1
            # Each transaction writes a pair that must stay equal: a torn copy would show a != b.
            w.execute("insert into jobs (a, b) values (?, ?)", (i, i))
            w.execute("update jobs set b = a where id = (select max(id) from jobs)")
            w.commit()
        w.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        excludes, skipped = backup_worker.stage_sqlite(volumes, staging)
    finally:
        stop.set()
        t.join()
    copy = staging / "sqlite" / "jupyterhub-home-a" / ".pyiron_hub" / "db" / "pyiron.db"
    check = sqlite3.connect(copy)
    assert check.execute("pragma integrity_check").fetchone() == ("ok",)
    assert check.execute("select count(*) from jobs where a != b").fetchone() == (0,)
    assert backup_worker.restic_pattern(db) in excludes and f"{backup_worker.restic_pattern(db)}-journal" in excludes
    assert not any("notes.db" in e for e in excludes) and skipped == {}
    # A restore puts the copy back in place of the live file, and drops a stale journal.
    Path(str(db) + "-journal").write_text("stale")
    db.unlink()
    backup_worker.place_sqlite(staging, volumes)
    assert sqlite3.connect(db).execute("pragma integrity_check").fetchone() == ("ok",)
    assert not Path(str(db) + "-journal").exists()


def _database(path: Path, owner: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.execute("create table owner (name text)")
    con.execute("insert into owner values (?)", (owner,))
    con.commit()
    con.close()
    return path


def _owner(path: Path) -> str:
    return sqlite3.connect(path).execute("select name from owner").fetchone()[0]


@pytest.mark.parametrize("mark", ["#", "?", "%23"])
def test_a_name_with_uri_characters_never_reads_another_users_database(tmp_path, mark):
    # issue 29: bob's link 'x' to alice's database, and a database in a directory 'x#' (or 'x?'):
    # unescaped, the URI file:/.../x#/own.db opened 'x', i.e. alice's database, into bob's part.
    volumes, staging = tmp_path / "volumes", tmp_path / "staging"
    _database(volumes / "jupyterhub-home-alice" / "pyiron.db", "alice")
    bob = volumes / "jupyterhub-home-bob"
    bob.mkdir(parents=True)
    (bob / "x").symlink_to(volumes / "jupyterhub-home-alice" / "pyiron.db")
    _database(bob / f"x{mark}" / "own.db", "bob")
    _database(bob / f"y{mark}.db", "bob")
    excludes, skipped = backup_worker.stage_sqlite(volumes, staging)
    assert skipped == {}
    assert _owner(staging / "sqlite" / "jupyterhub-home-bob" / f"x{mark}" / "own.db") == "bob"
    assert _owner(staging / "sqlite" / "jupyterhub-home-bob" / f"y{mark}.db") == "bob"
    assert _owner(staging / "sqlite" / "jupyterhub-home-alice" / "pyiron.db") == "alice"  # control
    assert not (staging / "sqlite" / "jupyterhub-home-bob" / "x").exists()  # the link is no database


def test_a_corrupt_database_is_named_and_skipped_the_others_copied(tmp_path, capfd):
    volumes, staging = tmp_path / "volumes", tmp_path / "staging"
    _database(volumes / "jupyterhub-home-alice" / "pyiron.db", "alice")
    broken = _database(volumes / "jupyterhub-home-bob" / "broken.db", "bob")
    with open(broken, "r+b") as f:  # SQLite's magic stays, the rest of its header is garbage
        f.seek(16)
        f.write(b"\xff" * 84)
    _database(volumes / "jupyterhub-home-carol" / "pyiron.db", "carol")
    excludes, skipped = backup_worker.stage_sqlite(volumes, staging)
    assert list(skipped) == ["jupyterhub-home-bob/broken.db"], skipped
    assert "SQLite could not read it" in skipped["jupyterhub-home-bob/broken.db"]
    assert not (staging / "sqlite" / "jupyterhub-home-bob" / "broken.db").exists()
    assert not any("broken.db" in e for e in excludes)  # its live file stays in the snapshot
    for user in ("alice", "carol"):  # control: the others' are copied
        assert _owner(staging / "sqlite" / f"jupyterhub-home-{user}" / "pyiron.db") == user
    out = capfd.readouterr()
    assert "jupyterhub-home-bob/broken.db: SKIPPED" in out.err
    assert marked(out.out, SKIPPED_MARK) == skipped  # what the hub's status reports


def test_a_restore_replaces_a_planted_link_and_never_follows_it(tmp_path):
    # bob's live database swapped for a link to alice's file (or /etc/shadow) before a restore of bob.
    volumes, staging = tmp_path / "volumes", tmp_path / "staging"
    alice = _database(volumes / "jupyterhub-home-alice" / "pyiron.db", "alice")
    secret = tmp_path / "shadow"
    secret.write_text("root:secret")
    secret.chmod(0o600)
    _database(staging / "sqlite" / "jupyterhub-home-bob" / "db" / "pyiron.db", "bob")
    _database(staging / "sqlite" / "jupyterhub-home-bob" / "other" / "pyiron.db", "bob")
    _database(staging / "sqlite" / "jupyterhub-home-bob" / "own.db", "bob")
    bob = volumes / "jupyterhub-home-bob"
    (bob / "db").mkdir(parents=True)
    (bob / "db" / "pyiron.db").symlink_to(alice)
    (bob / "db" / "pyiron.db-journal").symlink_to(secret)
    (bob / "other").symlink_to(tmp_path)  # a directory on the path: a link to elsewhere
    (bob / "own.db").symlink_to(secret)
    problems = backup_worker.place_sqlite(staging, volumes)
    assert _owner(alice) == "alice" and secret.read_text() == "root:secret"  # untouched
    assert oct(secret.stat().st_mode & 0o777) == "0o600"
    assert not (bob / "db" / "pyiron.db").is_symlink() and _owner(bob / "db" / "pyiron.db") == "bob"  # control
    assert not (bob / "own.db").is_symlink() and _owner(bob / "own.db") == "bob"
    assert not os.path.lexists(bob / "db" / "pyiron.db-journal")  # the link removed, not its target
    assert [p.split(":")[0] for p in problems] == ["jupyterhub-home-bob/other/pyiron.db"], problems
    assert not (tmp_path / "pyiron.db").exists()


def test_skipped_databases_in_the_status(tmp_path):
    (tmp_path / "backup-status.json").write_text(
        '{"exit_status": 0, "started": 1, "finished": 2, "skipped_databases": {"v/a.db": "corrupt"}}'
    )
    metrics = {m.name: m.samples[0].value for m in BackupStatusCollector(tmp_path).collect()}
    assert (
        metrics["pyiron_hub_backup_last_skipped_databases"] == 1 and metrics["pyiron_hub_backup_last_exit_status"] == 0
    )


def test_last_result_as_metrics(tmp_path):
    assert read_status(tmp_path) is None and list(BackupStatusCollector(tmp_path).collect()) == []
    (tmp_path / "backup-status.json").write_text('{"exit_status": 1, "started": 10, "finished": 25, "last_success": 5}')
    metrics = {m.name: m.samples[0].value for m in BackupStatusCollector(tmp_path).collect()}
    assert metrics == {
        "pyiron_hub_backup_last_exit_status": 1,
        "pyiron_hub_backup_last_run_timestamp_seconds": 25,
        "pyiron_hub_backup_last_success_timestamp_seconds": 5,
        "pyiron_hub_backup_last_duration_seconds": 15,
        "pyiron_hub_backup_last_skipped_databases": 0,
        "pyiron_hub_backup_last_skipped_quota_dirs": 0,
    }


def test_restic_hung_on_a_full_disk_is_stopped(capfd):
    # A stand-in for restic 0.18.0 asleep after a failed save on a full disk.
    hung = (
        "sh",
        "-c",
        "echo 'Save(<data/70cd>) failed: write /repo/data/x: no space left on device' >&2; exec sleep 60",
    )
    assert backup_worker.restic("backup", command=hung, grace=0.2) != 0
    err = capfd.readouterr().err
    assert "no space left on device" in err and "did not end 0.2 s after" in err


def test_restic_passes_its_output_on_and_its_status(capfd):
    assert backup_worker.restic("x", command=("sh", "-c", "echo fine >&2; exit 3")) == 3
    assert "fine" in capfd.readouterr().err


def test_the_status_file_follows_no_link_the_hub_planted(tmp_path):
    """The hub shares this volume with the backup service (root, with the Docker socket): a
    link at the temporary name must not lead the status anywhere else."""
    from pyiron_hub_config.backup import STATUS_FILE, write_status

    elsewhere = tmp_path / "elsewhere"
    data = tmp_path / "data"
    data.mkdir()
    elsewhere.write_text("untouched")
    (data / f".{STATUS_FILE}.tmp").symlink_to(elsewhere)
    write_status({"ok": True}, data)
    assert elsewhere.read_text() == "untouched"
    assert json.loads((data / STATUS_FILE).read_text()) == {"ok": True}
    assert not (data / STATUS_FILE).is_symlink()


# --- STORAGE_QUOTA: homes and group folders under STORAGE_QUOTA_ROOT ---------------------------


def test_the_quotas_places_come_of_pyiron_env_and_the_root_of_compose():
    from pyiron_hub_config.backup import quota_homes

    assert quota_homes({}, {"STORAGE_QUOTA_ROOT": "/q"}) is None  # no STORAGE_QUOTA: homes are volumes
    q = quota_homes({"STORAGE_QUOTA": "20M", "GROUP_FOLDER_QUOTA": "8M"}, {"STORAGE_QUOTA_ROOT": "/q/"})
    assert (q.root, q.url, q.home_limit, q.group_limit) == ("/q", "http://quota-service:8099", 20 << 20, 8 << 20)
    assert quota_homes({"STORAGE_QUOTA": "1G"}, {"STORAGE_QUOTA_ROOT": "/q"}).group_limit == 1 << 30
    with pytest.raises(BackupError, match="STORAGE_QUOTA_ROOT: set it in .env"):
        quota_homes({"STORAGE_QUOTA": "1G", "STORAGE_QUOTA_ROOT": "/q"}, {})  # the guard would not bind it


def test_the_quotas_homes_lie_in_the_snapshot_as_under_the_root():
    from pyiron_hub_config.backup import quota_places

    places = quota_places("/q", {"homes": {"ann": 1, "-bob": None}, "groups": {"jupyterhub-group-lab": 2}})
    assert places == {
        "/q/ann/home": "_quota/ann/home",
        "/q/-bob/home": "_quota/-bob/home",
        "/q/_groups/jupyterhub-group-lab/folder": "_quota/_groups/jupyterhub-group-lab/folder",
    }
    # A restore's includes: each directory and its SQLite copies, as a volume's.
    assert restore_includes(["_quota/ann/home"], {"_quota/ann/home": "work/a.db"}) == [
        "/data/volumes/_quota/ann/home/work/a.db",
        "/data/staging/sqlite/_quota/ann/home/work/a.db",
    ]


def test_a_homes_database_is_copied_and_put_back_as_a_volumes(tmp_path):
    volumes, staging = tmp_path / "volumes", tmp_path / "staging"
    home = volumes / "_quota" / "ann" / "home"
    (home / "pyiron").mkdir(parents=True)
    with sqlite3.connect(home / "pyiron" / "pyiron.db") as db:
        db.execute("create table jobs (id)")
    excludes, skipped = backup_worker.stage_sqlite(volumes, staging)
    assert not skipped and excludes[0].endswith("_quota/ann/home/pyiron/pyiron.db")
    (home / "pyiron" / "pyiron.db").unlink()
    assert backup_worker.place_sqlite(staging, volumes) == []
    with sqlite3.connect(home / "pyiron" / "pyiron.db") as db:
        assert db.execute("select name from sqlite_master").fetchall() == [("jobs",)]


class QuotaDeployment:
    """What restore() asks of the deployment, recorded: a quota service with one home, a snapshot with it."""

    def __init__(self, manifest, root="/q"):
        from pyiron_hub_config.backup import QuotaHomes

        self.quota, self.deployment, self.project = QuotaHomes(root, "http://qs", 20 << 20, 8 << 20), None, "p"
        self.manifest, self.workers, self.log = manifest, [], lambda m: None
        self.client = type("C", (), {"containers": type("L", (), {"list": lambda self, **kw: []})()})()

    def service(self, name, running=True):
        return None if name == "hub" else object()


def test_one_users_quota_home_is_made_by_the_service_then_restored_into(monkeypatch):
    from pyiron_hub_config import backup

    manifest = {"time": "t", "project": "p", "volumes": ["p_hub-data"], "quota": {"homes": {"ann": 60 << 20}}}
    dep, made = QuotaDeployment(manifest), []
    monkeypatch.setattr(backup, "resolve_snapshot", lambda *a: "f" * 64)
    monkeypatch.setattr(backup, "read_manifest", lambda *a: manifest)
    monkeypatch.setattr(backup, "ensure_home", lambda url, name, limit: made.append((url, name, limit)))
    monkeypatch.setattr(backup, "ensure_volume", lambda *a: pytest.fail("no volume is made for a quota home"))

    def run_worker(settings, environ, command, **kw):
        assert made == [("http://qs", "ann", 60 << 20)], "the subvolume is made before the worker writes"
        dep.workers.append((json.loads(command[-1]), kw.get("volumes", {}), kw.get("host_dirs", {})))
        return 0, "", None

    dep.run_worker = run_worker
    backup.restore(dep, None, {}, None, user="ann", path="/home/jovyan/work/a.ipynb")
    [(plan, volumes, host_dirs)] = dep.workers
    assert volumes == {} and host_dirs == {"/q/ann/home": ("/restore/data/volumes/_quota/ann/home", False)}
    assert plan["include"] == [
        "/data/volumes/_quota/ann/home/work/a.ipynb",
        "/data/staging/sqlite/_quota/ann/home/work/a.ipynb",
    ]
    with pytest.raises(BackupError, match="no home of user 'bob'; it has: ann"):
        backup.restore(dep, None, {}, None, user="bob")
    dep.quota = None
    with pytest.raises(BackupError, match="this deployment has no STORAGE_QUOTA"):
        backup.restore(dep, None, {}, None, user="ann")


# --- one group's folder: restore --group ------------------------------------------------------


def test_a_groups_folder_is_its_volume_or_its_folder_under_the_quota_root():
    from pyiron_hub_config.backup import groups_part

    volumes = ["p_hub-data", "d-jupyterhub-home-ann", "d-jupyterhub-group-lab", "d-jupyterhub-group-x_2fy"]
    part = groups_part({"deployment": "d", "volumes": volumes}, "lab", None)
    assert (part.volumes, part.quota, part.paths) == (["d-jupyterhub-group-lab"], {}, {})
    # --path: relative to the folder, or as the members see it in their servers
    for path in ("results/a.txt", "/home/jovyan/groups/lab/results/a.txt"):
        part = groups_part({"deployment": "d", "volumes": volumes}, "lab", path)
        assert (part.volumes, part.paths) == (["d-jupyterhub-group-lab"], {"d-jupyterhub-group-lab": "results/a.txt"})
    with pytest.raises(BackupError, match=r"inside the group's folder, e\.g\. results/a\.txt"):
        groups_part({"deployment": "d", "volumes": volumes}, "lab", "../../jupyterhub-home-ann/x")
    # a subgroup's volume name is escaped as the hub names it
    assert groups_part({"deployment": "d", "volumes": volumes}, "x/y", None).volumes == ["d-jupyterhub-group-x_2fy"]
    with pytest.raises(BackupError, match=r"no folder of group 'labs'; it has lab, x_2fy \(the Keycloak group's name"):
        groups_part({"deployment": "d", "volumes": volumes}, "labs", None)
    with pytest.raises(BackupError, match="no home of user 'bob'; it has: d-jupyterhub-home-ann$"):
        backup_users_part({"deployment": "d", "volumes": volumes}, "bob")  # a group's volume is no user's

    # STORAGE_QUOTA: the folder under the root, with the limit it had (a.b: '.' escaped as the service's names)
    quota = {"homes": {"ann": None}, "groups": {"jupyterhub-group-lab": 7 << 20, "jupyterhub-group-a_2eb": None}}
    part = groups_part({"volumes": ["p_hub-data"], "quota": quota}, "lab", "/home/jovyan/groups/lab/r/a.txt")
    assert part.volumes == [] and part.quota == {"groups": {"jupyterhub-group-lab": 7 << 20}}
    assert part.paths == {"_quota/_groups/jupyterhub-group-lab/folder": "r/a.txt"}
    assert groups_part({"volumes": [], "quota": quota}, "a.b", None).quota == {
        "groups": {"jupyterhub-group-a_2eb": None}
    }


def backup_users_part(manifest, user):
    from pyiron_hub_config.backup import users_part

    return users_part(manifest, user, None)


def test_one_groups_quota_folder_is_made_with_its_limit_then_restored_into_unless_in_use(monkeypatch):
    from pyiron_hub_config import backup

    quota = {"homes": {"ann": 60 << 20}, "groups": {"jupyterhub-group-lab": 7 << 20}}
    manifest = {"time": "t", "project": "p", "volumes": ["p_hub-data"], "quota": quota}
    dep, made = QuotaDeployment(manifest), []
    monkeypatch.setattr(backup, "resolve_snapshot", lambda *a: "f" * 64)
    monkeypatch.setattr(backup, "read_manifest", lambda *a: manifest)
    monkeypatch.setattr(backup, "ensure_home", lambda *a: pytest.fail("a group's restore makes no home"))
    monkeypatch.setattr(backup, "ensure_group", lambda url, name, limit: made.append((url, name, limit)))
    monkeypatch.setattr(backup, "ensure_volume", lambda *a: pytest.fail("no volume is made for a quota folder"))

    def run_worker(settings, environ, command, **kw):
        # the subvolume is made (once per restore) before the worker writes
        assert [made.pop()] == [("http://qs", "jupyterhub-group-lab", 7 << 20)] and not made
        dep.workers.append((json.loads(command[-1]), kw.get("volumes", {}), kw.get("host_dirs", {}), kw.get("fetch")))
        return 0, "", None

    dep.run_worker = run_worker
    backup.restore(dep, None, {}, None, group="lab")
    [(plan, volumes, host_dirs, fetch)] = dep.workers
    folder = "/q/_groups/jupyterhub-group-lab/folder"
    assert volumes == {} and host_dirs == {
        folder: ("/restore/data/volumes/_quota/_groups/jupyterhub-group-lab/folder", False)
    }
    assert plan["include"] == [
        "/data/volumes/_quota/_groups/jupyterhub-group-lab/folder",
        "/data/staging/sqlite/_quota/_groups/jupyterhub-group-lab/folder",
    ]  # not the database dump, nor ann's home
    assert fetch is None

    # A member's server has the folder: the whole folder waits, one file does not.
    asked = []

    def running(**kw):
        asked.append(kw["filters"])
        return [type("C", (), {"name": "jupyter-bob"})()] if kw["filters"].get("volume") == folder else []

    dep.client.containers.list = running
    with pytest.raises(BackupError, match=r"servers with group lab's folder are running \(jupyter-bob\)"):
        backup.restore(dep, None, {}, None, group="lab")
    assert asked == [{"volume": folder, "status": "running"}] and len(dep.workers) == 1
    backup.restore(dep, None, {}, None, group="lab", path="r/a.txt")
    assert dep.workers[-1][0]["include"][0] == "/data/volumes/_quota/_groups/jupyterhub-group-lab/folder/r/a.txt"


def test_one_groups_volume_is_restored_into_the_volume_of_its_name(monkeypatch):
    from pyiron_hub_config import backup

    manifest = {"time": "t", "project": "p", "deployment": "d", "volumes": ["p_hub-data", "d-jupyterhub-group-lab"]}
    dep, made = QuotaDeployment(manifest), []
    dep.quota = None  # no STORAGE_QUOTA: the folder is a volume
    monkeypatch.setattr(backup, "resolve_snapshot", lambda *a: "f" * 64)
    monkeypatch.setattr(backup, "read_manifest", lambda *a: manifest)
    monkeypatch.setattr(backup, "ensure_volume", lambda dep, name, compose_volume=None: made.append(name))

    def run_worker(settings, environ, command, **kw):
        dep.workers.append((json.loads(command[-1]), kw.get("volumes", {}), kw.get("host_dirs", {})))
        return 0, "", None

    dep.run_worker = run_worker
    backup.restore(dep, None, {}, None, group="lab")
    [(plan, volumes, host_dirs)] = dep.workers
    assert made == ["d-jupyterhub-group-lab"] and host_dirs == {}
    assert volumes == {"d-jupyterhub-group-lab": ("/restore/data/volumes/d-jupyterhub-group-lab", False)}
    assert plan["include"] == ["/data/volumes/d-jupyterhub-group-lab", "/data/staging/sqlite/d-jupyterhub-group-lab"]


def test_restore_takes_a_user_or_a_group_and_path_needs_one(capsys):
    from pyiron_hub_config.cli import main

    with pytest.raises(SystemExit):
        main(["restore", "--user", "ann", "--group", "lab"])
    assert "not allowed with argument" in capsys.readouterr().err
    assert main(["restore", "--path", "a.txt"]) == 2
    assert "--path needs --user (whose home the path is in) or --group" in capsys.readouterr().err


# --- a home or group folder the backup cannot bind or read: skipped and named, the rest backed up ---


def test_an_unreadable_quota_home_is_named_and_left_out_the_others_read(tmp_path, capfd):
    from pyiron_hub_config.backup import marked
    from pyiron_hub_config.backup_layout import UNREADABLE_MARK

    volumes = tmp_path / "volumes"
    (volumes / "_quota" / "ann" / "home").mkdir(parents=True)
    (volumes / "_quota" / "bob").mkdir(parents=True)
    (volumes / "_quota" / "bob" / "home").write_text("not a directory")
    (volumes / "_quota" / "_groups" / "g").mkdir(parents=True)
    (volumes / "_quota" / "_groups" / "g" / "folder").symlink_to(tmp_path)  # never followed
    places = ["_quota/ann/home", "_quota/bob/home", "_quota/_groups/g/folder"]
    unreadable = backup_worker.unreadable_places(places, volumes)
    assert sorted(unreadable) == ["_quota/_groups/g/folder", "_quota/bob/home"], unreadable
    assert "cannot be read as a directory (Not a directory)" in unreadable["_quota/bob/home"]
    out = capfd.readouterr()
    assert "_quota/bob/home: SKIPPED" in out.err
    assert marked(out.out, UNREADABLE_MARK) == unreadable  # what the backup's status reports


def manifest_in(put: bytes) -> dict:
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(put)) as tar:
        return json.load(tar.extractfile("data/staging/manifest.json"))


class Worker:
    """The engine as run_worker meets it: no directory at a bind mount's source is an APIError."""

    def __init__(self, missing):
        self.missing, self.created = set(missing), []

    def create(self, image, command, mounts, **kw):
        import docker

        self.created.append([m["Source"] for m in mounts if m["Type"] == "bind"])
        for source in self.created[-1]:
            if source in self.missing:
                raise docker.errors.APIError(
                    "create",
                    explanation=f'invalid mount config for type "bind": bind source path does not exist: {source}',
                )
        raise AssertionError("the stand-in starts no worker")


def test_a_quota_home_the_engine_cannot_bind_is_named_in_words():
    from pyiron_hub_config.backup import Deployment, HostDirMissing

    engine = Worker({"/q/bob/home"})
    dep = Deployment(type("C", (), {"containers": engine})(), "p", None, image="img")
    settings = load_backup_settings({**OK, "RESTIC_REPOSITORY": "sftp:b@h:/r"})
    host_dirs = {"/q/ann/home": ("/data/volumes/_quota/ann/home", True), "/q/bob/home": ("/x", True)}
    with pytest.raises(HostDirMissing) as err:
        dep.run_worker(settings, OK, ["true"], host_dirs=host_dirs)
    assert err.value.path == "/q/bob/home"
    # A local repository's missing directory stays the repository's problem, not a home's.
    local = load_backup_settings(OK)
    engine.missing = {OK["RESTIC_REPOSITORY"]}
    with pytest.raises(BackupError, match="there is no restic repository at /srv/backups/hub") as err:
        dep.run_worker(local, OK, ["true"], host_dirs=host_dirs)
    assert not isinstance(err.value, HostDirMissing)


def test_a_backup_leaves_out_the_homes_it_cannot_bind_or_read_and_names_them(monkeypatch, tmp_path):
    from pyiron_hub_config import backup
    from pyiron_hub_config.backup_layout import UNREADABLE_MARK

    dep = QuotaDeployment({})
    dep.volume_names = lambda: ["p_hub-data"]
    dep.restic = lambda *a: ""
    quota = {"homes": {"ann": None, "bob": None, "cid": None}, "groups": {"jupyterhub-group-lab": 1 << 20}}
    monkeypatch.setattr(backup, "quota_limits", lambda dep: quota)
    monkeypatch.setattr(backup, "pg_dump", lambda dep: b"dump")
    monkeypatch.setattr(backup, "config_files", lambda: {})
    runs = []

    def run_worker(settings, environ, command, **kw):
        host_dirs, put = kw["host_dirs"], kw["put"]
        runs.append((json.loads(command[-1])["places"], sorted(host_dirs), manifest_in(put)))
        if "/q/bob/home" in host_dirs:  # no home in bob's subvolume
            raise backup.HostDirMissing("/q/bob/home")
        return 0, UNREADABLE_MARK + json.dumps({"_quota/cid/home": "it cannot be read (EIO)"}) + "\n", None

    dep.run_worker = run_worker
    databases, dirs = backup.backup(dep, load_backup_settings(OK), OK)
    assert databases == {} and list(dirs) == ["/q/bob/home", "/q/cid/home"], dirs
    assert "without it" in dirs["/q/bob/home"] and dirs["/q/cid/home"] == "it cannot be read (EIO)"
    (places, host_dirs, manifest) = runs[-1]
    assert len(runs) == 2 and "/q/bob/home" not in host_dirs and "/q/ann/home" in host_dirs
    assert places == ["_quota/_groups/jupyterhub-group-lab/folder", "_quota/ann/home", "_quota/cid/home"]
    # The manifest has no bob: a restore makes no empty home for him in the snapshot's name.
    assert manifest["quota"] == {
        "homes": {"ann": None, "cid": None},
        "groups": {"jupyterhub-group-lab": 1 << 20},
    }

    # The status says so, by name; the backup succeeded.
    monkeypatch.setattr(backup, "DATA_DIR", tmp_path)
    monkeypatch.setattr(backup, "write_status", lambda status: written.append(status))
    written, logged = [], []
    dep.log = logged.append
    assert backup._one_backup(dep, load_backup_settings(OK), OK, False) == 0
    [status] = written
    assert status["exit_status"] == 0 and list(status["skipped_quota_dirs"]) == ["/q/bob/home", "/q/cid/home"]
    assert "2 home(s) or group folder(s) under STORAGE_QUOTA_ROOT could not be read" in status["message"]
    assert "/q/bob/home: it does not exist" in status["message"] and any("/q/bob/home: SKIPPED" in m for m in logged)
