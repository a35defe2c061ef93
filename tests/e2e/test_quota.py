"""Hard per-user disk quotas (STORAGE_QUOTA) on a file system that enforces them.

The users' storage is a btrfs file system in a loop file (quotas enabled), made and removed
by the module's fixture; the real stack runs with compose.quota.yml, so the quota service
(a container with CAP_SYS_ADMIN) makes each user's home a subvolume with a 20 MiB qgroup
limit, and the hub mounts it through the Docker guard. The engine here is overlay2 on a
file system without project quotas, so SERVER_DISK_LIMIT is `unbounded` in this stack: the
writable layer's limit is not tested here (docs: Disk quotas says so). The stack has the
backup's overlay too (compose.backup.yml, its services started only by `run`): the homes and
group folders are backed up and restored.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests
from bs4 import BeautifulSoup

from .conftest import REPO, HubUser, Stack, _free_port, docker, up_or_dump, wait_for_http, write_env_files

PROJECT = "pyironhubqu"
NETWORK = "pyiron-hub-qu-users"
FULL, OTHER = "qufull", "quother"
GROUP = "qulab"  # OTHER's research group (GROUP_FOLDERS), its folder limited to GROUP_FOLDER_QUOTA
MiB = 1 << 20

pytestmark = pytest.mark.skipif(
    shutil.which("mkfs.btrfs") is None, reason="needs btrfs-progs (scripts/test installs it)"
)


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


# The backup's own deployment name: the shared engine has other suites' unprefixed users'
# volumes (jupyterhub-home-<user>), which a snapshot of no DEPLOYMENT_NAME would take (and a
# restore write back). Under this name it takes no user's volume: the hub's data and the quota's homes.
BACKUP_ENV = {"DEPLOYMENT_NAME": "qubackup"}


class QuotaStack(Stack):
    files = ("docker-compose.yml", "compose.quota.yml", "compose.backup.yml")

    def __init__(self, *args, root: str, **kw):
        super().__init__(*args, **kw)
        self.root = root

    def env(self) -> dict:
        return {**super().env(), "STORAGE_QUOTA_ROOT": self.root}

    def up(self) -> None:
        # Not the scheduled backup (compose.backup.yml's `backup`): it runs by `pyiron_hub` only.
        self.compose("up", "-d", "hub-db", "hub")
        self.wait_healthy("hub-db")
        self.wait_healthy("hub")

    def pyiron_hub(self, *args: str) -> subprocess.CompletedProcess:
        """`pyiron-hub ...` in the backup service, as the docs run it."""
        extra = [a for k, v in BACKUP_ENV.items() for a in ("-e", f"{k}={v}")]
        return self.compose("run", "--rm", "-T", *extra, "backup", "pyiron-hub", *args, check=False)


@contextlib.contextmanager
def loop_btrfs(size: str, prefix: str, quotas: bool = True):
    """A btrfs of size in a loop file, quotas enabled unless told not, in a new temporary
    directory; yields (that directory, the mount point). Unmounted (a loop mount frees its
    device on umount) and removed after."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    image, mount = base / "fs.img", base / "mnt"
    mount.mkdir()
    run("truncate", "-s", size, str(image))
    run("mkfs.btrfs", "-q", "-f", str(image))
    run("mount", "-o", "loop", str(image), str(mount))
    try:
        if quotas:
            run("btrfs", "quota", "enable", str(mount))
        yield base, mount
    finally:
        run("umount", str(mount), check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def btrfs_root():
    """The users' storage: a 300 MB btrfs with quotas enabled."""
    with loop_btrfs("300M", "pyiron-hub-quota-") as (_, mount):
        yield str(mount)


def cleanup(stack: Stack) -> None:
    docker("rm", "-f", f"jupyter-{FULL}", f"jupyter-{OTHER}", check=False)
    stack.compose("down", "-v", "--remove-orphans", check=False)


@pytest.fixture(scope="module")
def qu(images, btrfs_root, tmp_path_factory):
    directory = tmp_path_factory.mktemp("quota")
    repository = tmp_path_factory.mktemp("quota-restic") / "repo"
    (directory / "backup.env").write_text(f"RESTIC_REPOSITORY='{repository}'\nRESTIC_PASSWORD='a passphrase'\n")
    write_env_files(
        directory,
        (FULL, OTHER),
        STORAGE_QUOTA="20M",
        GROUP_FOLDERS=GROUP,
        GROUP_FOLDER_QUOTA="8M",
        SERVER_DISK_LIMIT="unbounded",
        USAGE_REFRESH_SECONDS="10",
    )
    s = QuotaStack(directory, images, project=PROJECT, network=NETWORK, users=(FULL, OTHER), root=btrfs_root)
    cleanup(s)
    yield from up_or_dump(s, cleanup)


def write(user: str, path: str, mib: int, append: bool = False) -> subprocess.CompletedProcess:
    """dd in the user's own server, as the user (jovyan): what a runaway job does."""
    flags = "oflag=append conv=notrunc" if append else ""
    return docker(
        "exec",
        "-u",
        "1000",
        f"jupyter-{user}",
        "sh",
        "-c",
        f"dd if=/dev/zero of=/home/jovyan/{path} bs=1M count={mib} {flags} && sync",
        check=False,
    )


def size(user: str, path: str) -> int:
    return int(docker("exec", f"jupyter-{user}", "stat", "-c", "%s", f"/home/jovyan/{path}").stdout)


def test_a_full_quota_stops_one_user_only_and_raising_it_keeps_their_files(qu, btrfs_root):
    full, other = HubUser(qu, FULL).login(), HubUser(qu, OTHER).login()
    full.start(environment="pyiron_base")
    other.start(environment="pyiron_base")
    # Each user has a subvolume of their own under the root, with a home in it that is theirs.
    home = Path(btrfs_root) / FULL / "home"
    assert home.parent.stat().st_ino == 256  # a subvolume's root directory
    assert home.stat().st_uid == 1000 and oct(home.stat().st_mode & 0o777) == "0o700"
    assert write(FULL, "keep.txt", 1).returncode == 0

    r = write(FULL, "big.bin", 40)
    assert r.returncode != 0 and "Disk quota exceeded" in r.stderr, r.stderr
    assert 15 * MiB <= size(FULL, "big.bin") <= 20 * MiB
    # What JupyterLab shows when it saves a notebook into the full home: the quota, and what to do
    # (the boot step's Jupyter Server config words the system's "[Errno 122] Disk quota exceeded").
    r = full.user_server("PUT", "/api/contents/note.txt", json={"type": "file", "format": "text", "content": "x" * MiB})
    assert r.status_code == 507, r.text
    assert r.json()["message"] == (
        "Your disk quota of 20M is full: delete files (e.g. in ~/pyiron/projects or caches) "
        "or ask your admin to raise it."
    ), r.text
    # A full user still gets their server (to delete what they no longer need).
    full.stop()
    try:
        full.start(environment="pyiron_base")
    except AssertionError:
        print(qu.dump())
        raise
    # Another user keeps writing, and the hub keeps answering.
    assert write(OTHER, "data.bin", 10).returncode == 0
    assert requests.get(f"{qu.url}/hub/health", timeout=10).status_code == 200
    assert full.session.get(f"{qu.url}/hub/home", timeout=30).status_code == 200

    # The home page says where the user stands (the figures come in the background).
    deadline, box = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        page = full.session.get(f"{qu.url}/hub/home", timeout=30).text
        box = BeautifulSoup(page, "html.parser").find(id="storage-quota")
        if box:
            break
        time.sleep(2)
    assert box is not None and "of your 20.0 MiB disk quota" in " ".join(box.get_text().split())

    # An admin raises the quota; the files stay and writes continue.
    r = docker("exec", qu.container("hub"), "pyiron-hub", "quota", "set", FULL, "60M", check=False)
    assert r.returncode == 0 and "of 60M" in r.stdout, r.stdout + r.stderr
    before = size(FULL, "big.bin")
    assert write(FULL, "big.bin", 20, append=True).returncode == 0
    assert size(FULL, "big.bin") == before + 20 * MiB and size(FULL, "keep.txt") == MiB
    shown = docker("exec", qu.container("hub"), "pyiron-hub", "quota", "show").stdout
    assert FULL in shown and "60M" in shown and OTHER in shown

    # Admins see every home against its quota on the usage page.
    admin = HubUser(qu, "admin").login()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page = BeautifulSoup(admin.session.get(f"{qu.url}/hub/usage", timeout=30).text, "html.parser")
        homes = {row["data-home"]: " ".join(row.get_text().split()) for row in page.select("tr.quota-row")}
        if "60.0 MiB" in homes.get(FULL, ""):
            break
        time.sleep(2)
    assert "60.0 MiB" in homes[FULL] and "20.0 MiB" in homes[OTHER], homes

    token = docker("exec", qu.container("hub"), "cat", "/srv/jupyterhub/data/metrics_token").stdout.strip()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = requests.get(f"{qu.url}/hub/metrics", headers={"Authorization": f"token {token}"}, timeout=30).text
        if f'pyiron_hub_user_quota_bytes{{user="{FULL}"}} 6.291456e+07' in text:
            break
        time.sleep(2)
    assert f'pyiron_hub_user_quota_bytes{{user="{FULL}"}} 6.291456e+07' in text
    assert f'pyiron_hub_user_quota_used_bytes{{user="{OTHER}"}}' in text


def test_a_group_folder_is_limited_on_its_own_and_a_full_one_leaves_the_home_writable(qu, btrfs_root):
    """The dummy login carries no groups: the admin puts the member in the group through
    JupyterHub's API, which is where Keycloak's groups land too (manage_groups)."""
    admin, member = HubUser(qu, "admin").login(), HubUser(qu, OTHER).login()
    r = admin.api("POST", f"/groups/{GROUP}", json={"users": [OTHER]})
    assert r.status_code in (201, 409), r.text
    if r.status_code == 409:
        assert admin.api("POST", f"/groups/{GROUP}/users", json={"users": [OTHER]}).status_code == 200
    member.stop()  # group folders are mounted at a start
    member.start(environment="pyiron_base")
    folder = Path(btrfs_root) / "_groups" / f"jupyterhub-group-{GROUP}" / "folder"
    assert folder.parent.stat().st_ino == 256  # a subvolume of its own, beside no user's home
    assert folder.stat().st_uid == 1000 and oct(folder.stat().st_mode & 0o7777) == "0o2775"
    r = write(OTHER, f"groups/{GROUP}/big.bin", 20)
    assert r.returncode != 0 and "Disk quota exceeded" in r.stderr, r.stderr
    assert size(OTHER, f"groups/{GROUP}/big.bin") <= 8 * MiB
    r = member.user_server(
        "PUT", f"/api/contents/groups/{GROUP}/note.txt", json={"type": "file", "format": "text", "content": "x" * MiB}
    )
    assert r.status_code == 507 and f"group folder ~/groups/{GROUP} (8M) is full" in r.json()["message"], r.text
    # The member's own home has its own quota, untouched by the group's.
    assert write(OTHER, "after-group.bin", 2).returncode == 0, "the home must stay writable"
    shown = docker("exec", qu.container("hub"), "pyiron-hub", "quota", "show").stdout
    (row,) = [line for line in shown.splitlines() if line.startswith(f"group {GROUP} ")]
    assert row.split()[-1] == "8M", shown
    # An admin raises the group's quota; its files stay and the member writes on.
    r = docker("exec", qu.container("hub"), "pyiron-hub", "quota", "set-group", GROUP, "30M", check=False)
    assert r.returncode == 0 and "of 30M" in r.stdout, r.stdout + r.stderr
    assert write(OTHER, f"groups/{GROUP}/more.bin", 10).returncode == 0
    # Admins see the group folder against its quota on the usage page (figures come in the background).
    deadline, found = time.monotonic() + 60, {}
    while time.monotonic() < deadline:
        page = BeautifulSoup(admin.session.get(f"{qu.url}/hub/usage", timeout=30).text, "html.parser")
        found = {row["data-group"]: row.find_all("td")[-1].get_text() for row in page.select("tr.group-quota-row")}
        if found.get(GROUP) == "30.0 MiB":
            break
        time.sleep(2)
    assert found.get(GROUP) == "30.0 MiB", found


def test_the_guard_lets_the_hub_bind_only_homes_under_the_quota_root(qu, btrfs_root):
    # From the hub's container, as a hub taken over would try: the root itself, or beside it.
    attack = (
        "import docker,sys; c=docker.from_env(); "
        "src=sys.argv[1]; "
        "c.containers.create('pyiron-hub-test/debian:trixie', 'true', "
        "mounts=[docker.types.Mount('/x', src, type='bind', read_only=False)])"
    )
    for source in (btrfs_root, f"{btrfs_root}/{FULL}", f"{btrfs_root}/{FULL}/home/..", "/etc/home"):
        r = docker("exec", qu.container("hub"), "python3", "-c", attack, source, check=False)
        assert r.returncode != 0 and "docker-guard refused" in r.stderr, (source, r.stderr)


def test_the_homes_and_group_folders_are_backed_up_and_restored_into_new_subvolumes(qu, btrfs_root):
    """After the tests above (FULL's quota raised to 60M, OTHER's group folder made, 30M): a file in a
    home and one in a group folder, backed up; both subvolumes deleted; a restore of the group's
    folder, then of everything, has the quota service make them again, with the limit they had, and
    puts the files back, the user's."""
    from pyiron_hub_config.quota_service import btrfs

    home = Path(btrfs_root) / FULL / "home"
    folder = Path(btrfs_root) / "_groups" / f"jupyterhub-group-{GROUP}" / "folder"
    assert folder.is_dir(), "the group folder test above makes it"
    files = (  # whose server writes it, where in their home, where on the host, what
        (FULL, "work/kept.txt", home / "work" / "kept.txt", "a home's file"),
        (OTHER, f"groups/{GROUP}/kept.txt", folder / "kept.txt", "the group's file"),
    )
    for user, path, _, text in files:
        script = f'mkdir -p $(dirname {path}) && printf %s "$0" > {path}'
        r = docker("exec", "-u", "1000", "-w", "/home/jovyan", f"jupyter-{user}", "sh", "-c", script, text, check=False)
        assert r.returncode == 0, r.stderr
    owners = {path: owner_and_mode(path) for _, _, path, _ in files}
    assert {uid for uid, _, _ in owners.values()} == {1000}
    # A subvolume without its home (made by hand, half deleted): named and left out, the rest backed up.
    ghost = Path(btrfs_root) / "qughost"
    run("btrfs", "subvolume", "create", str(ghost))
    try:
        out = qu.pyiron_hub("backup", "--init")
    finally:
        run("btrfs", "subvolume", "delete", str(ghost))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (
        f"homes of {FULL}, qughost, {OTHER}" in out.stdout and f"group folders jupyterhub-group-{GROUP}" in out.stdout
    )
    assert f"{ghost}/home: SKIPPED" in out.stdout and "1 home(s) or group folder(s)" in out.stdout, out.stdout

    # One group's folder waits for its members' servers (the engine's volume filter finds the bind).
    out = qu.pyiron_hub("restore", "--group", GROUP)
    assert out.returncode == 1 and f"folder are running (jupyter-{OTHER})" in out.stderr, out.stdout + out.stderr

    # The control: the backup's guard binds nothing beside those shapes, the root itself neither.
    attack = (
        "import docker,sys; c=docker.from_env()\n"
        "for src in sys.argv[1:]:\n"
        "    try: c.containers.create('x', 'true', mounts=[docker.types.Mount('/x', src, type='bind')])\n"
        "    except docker.errors.APIError as e: print('REFUSED' if 'binding the host path' in str(e) else e)\n"
    )
    r = qu.compose("run", "--rm", "-T", "backup", "python3", "-c", attack, btrfs_root, f"{btrfs_root}/{FULL}", "/etc")
    assert r.stdout.split() == ["REFUSED"] * 3, r.stdout + r.stderr

    docker("rm", "-f", f"jupyter-{FULL}", f"jupyter-{OTHER}")
    qu.compose("stop", "hub")
    for subvolume in (home.parent, folder.parent):
        run("btrfs", "subvolume", "delete", str(subvolume))
    assert not home.exists() and not folder.exists()

    out = qu.pyiron_hub("restore", "--group", GROUP)  # that folder alone, with the limit it had (raised above)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (folder / "kept.txt").read_text() == "the group's file" and not home.exists()
    assert btrfs.usage(btrfs_root, str(folder.parent)).limit == 30 * MiB

    out = qu.pyiron_hub("restore", "--force")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for _, _, path, text in files:
        assert path.read_text() == text and owner_and_mode(path) == owners[path], path
    assert home.parent.stat().st_ino == 256 and folder.parent.stat().st_ino == 256  # subvolumes again
    assert (home.stat().st_uid, oct(home.stat().st_mode & 0o777)) == (1000, "0o700")
    assert btrfs.usage(btrfs_root, str(home.parent)).limit == 60 * MiB  # as raised above, not STORAGE_QUOTA
    assert (home / "big.bin").stat().st_size > 15 * MiB  # the rest of the home came back too


def owner_and_mode(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid, st.st_mode


@pytest.fixture
def btrfs_without_quotas():
    """A btrfs on which nobody ran `btrfs quota enable`: a limit there would not be enforced."""
    with loop_btrfs("150M", "pyiron-hub-plain-", quotas=False) as (_, mount):
        yield mount


# The least a hub's configuration needs with a quota, for the checks made outside a stack.
HUB_WITH_QUOTA = {
    "AUTHENTICATOR": "dummy",
    "DUMMY_PASSWORD": "a-long-password",
    "ALLOWED_USERS": "ann",
    "POSTGRES_PASSWORD": "x" * 16,
    "STORAGE_QUOTA": "10G",
}


def start_check(root: Path) -> str:
    """The hub's start check (`pyiron-hub check` in the hub container) against a quota service on root."""
    from pyiron_hub_config.cli import checked_hub_config
    from pyiron_hub_config.problems import ConfigError

    port = _free_port()
    service = subprocess.Popen(
        [sys.executable, "-m", "pyiron_hub_config.quota_service", "--root", str(root), "--listen", f"127.0.0.1:{port}"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", "the quota service")
        environ = {
            **HUB_WITH_QUOTA,
            "SERVER_DISK_LIMIT": "20G",
            "STORAGE_QUOTA_ROOT": str(root),
            "QUOTA_SERVICE_URL": f"http://127.0.0.1:{port}",
        }
        with pytest.raises(ConfigError) as caught:
            checked_hub_config(environ, on_docker_host=False)
        return caught.value.report()
    finally:
        service.terminate()
        service.wait(10)


def test_a_quota_the_host_cannot_enforce_is_reported(tmp_path, btrfs_without_quotas):
    """The quota service on a directory that is no btrfs, and on a btrfs without quotas: the
    hub's start (and `pyiron-hub check`) names STORAGE_QUOTA and says why; nothing starts."""
    plain = tmp_path / "no-btrfs"
    plain.mkdir()
    report = start_check(plain)
    assert "STORAGE_QUOTA: is set but cannot be enforced" in report and "not on a btrfs" in report, report
    report = start_check(btrfs_without_quotas)
    assert "STORAGE_QUOTA: is set but cannot be enforced" in report, report
    assert "quotas are not enabled" in report and "btrfs quota enable" in report, report


# --- The writable layer: SERVER_DISK_LIMIT on an engine whose data root is on btrfs ----------
LAYER_LIMIT = 150 * MiB  # the btrfs driver counts the image's own files too (about 80 MiB here)


@pytest.fixture(scope="module")
def btrfs_engine():
    """A second dockerd with the btrfs storage driver, its data root a 600 MB btrfs in a loop
    file, in a network namespace of its own with no bridge (its containers run without a
    network). Stopped by its pid, then unmounted."""
    with loop_btrfs("600M", "pyiron-hub-engine-") as (base, mount):
        sock, pid = base / "docker.sock", base / "docker.pid"
        engine = None
        try:
            log = (base / "dockerd.log").open("w")
            engine = subprocess.Popen(
                # A network namespace of its own: a dockerd with --bridge none deletes any docker0
                # it sees, and the host's belongs to the machine's engine. (unshare execs dockerd,
                # so its pid is the engine's; the namespace ends with it.)
                ["unshare", "--net", "--", "dockerd", "--data-root", str(mount / "docker"), "--exec-root", str(base / "exec"), "-H", f"unix://{sock}",
                 "--pidfile", str(pid), "--storage-driver", "btrfs", "--bridge", "none", "--iptables=false",
                 "--ip6tables=false"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            deadline = time.monotonic() + 60
            while run("docker", "-H", f"unix://{sock}", "info", check=False).returncode:
                assert time.monotonic() < deadline and engine.poll() is None, (base / "dockerd.log").read_text()[-2000:]
                time.sleep(0.5)
            saved = subprocess.Popen(["docker", "save", "pyiron-hub-test/debian:trixie"], stdout=subprocess.PIPE)
            subprocess.run(
                ["docker", "-H", f"unix://{sock}", "load"], stdin=saved.stdout, check=True, capture_output=True
            )
            saved.wait()
            yield str(sock)
        finally:
            if engine is not None:
                engine.terminate()  # dockerd stops its containers and its containerd
                engine.wait(60)


def test_a_server_filling_tmp_stops_at_the_layer_limit_the_guard_lets_through(btrfs_engine):
    """The host config the hub sends with SERVER_DISK_LIMIT, through the real guard, on an engine
    that enforces it: dd into /tmp stops at the limit (the hub's own stack here runs on overlay2
    without project quotas, where the engine refuses `storage_opt`)."""
    import docker as docker_py
    from traitlets.config import Config

    from pyiron_hub_config.apply import apply_spawner, spawner_section
    from pyiron_hub_config.hub_config import load_hub_config

    environ = {**HUB_WITH_QUOTA, "SERVER_DISK_LIMIT": str(LAYER_LIMIT)}
    c = Config()
    hub = load_hub_config(environ, check_paths=False)
    apply_spawner(c, hub)
    host_config = dict(spawner_section(c, hub).extra_host_config)
    assert host_config["storage_opt"] == {"size": str(LAYER_LIMIT)}

    port = _free_port()
    guard = subprocess.Popen(
        [sys.executable, "-m", "pyiron_hub_config.docker_guard", "--upstream", btrfs_engine, "--listen",
         f"127.0.0.1:{port}"],
        cwd=REPO,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                via_guard = docker_py.DockerClient(base_url=f"tcp://127.0.0.1:{port}", timeout=30)
                break
            except Exception:
                assert time.monotonic() < deadline and guard.poll() is None
                time.sleep(0.2)
        engine = docker_py.DockerClient(base_url=f"unix://{btrfs_engine}", timeout=60)

        def fill_tmp(**extra) -> tuple[int, str]:
            created = via_guard.api.create_container(
                "pyiron-hub-test/debian:trixie",
                ["sh", "-c", "dd if=/dev/zero of=/tmp/fill bs=1M count=300; sync; stat -c 'size %s' /tmp/fill"],
                host_config=via_guard.api.create_host_config(network_mode="none", **extra),
            )
            via_guard.api.start(created["Id"])
            container = engine.containers.get(created["Id"])
            status = container.wait(timeout=60)["StatusCode"]
            out = container.logs().decode()
            container.remove(force=True)
            return status, out

        status, out = fill_tmp(**host_config)
        assert "Disk quota exceeded" in out, out
        written = int(out.split("size ")[-1].split()[0])
        assert written < LAYER_LIMIT  # the image's own files count too (the btrfs driver's way)
        # The control: the same container without the limit writes all 300 MiB.
        unlimited = {k: v for k, v in host_config.items() if k != "storage_opt"}
        status, out = fill_tmp(**unlimited)
        assert status == 0 and "size 314572800" in out, out
        # And the guard still lets through no storage option but the size.
        with pytest.raises(docker_py.errors.APIError, match="docker-guard refused"):
            via_guard.api.create_container(
                "pyiron-hub-test/debian:trixie",
                "true",
                host_config=via_guard.api.create_host_config(storage_opt={"size": "1G", "dm.basesize": "1G"}),
            )
    finally:
        guard.terminate()
        guard.wait(10)
