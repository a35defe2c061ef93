"""pyiron jobs from a user's server to a real SLURM cluster, over SSH, set up by the hub.

The cluster is images/slurm (Debian's slurm-wlm, munge and OpenSSH in one container) with
accounts hpcalice and bob. The hub gets it as data (clusters.toml through
compose.clusters.yml, its host keys read from the running cluster as an admin would with
ssh-keyscan). Each user takes the public key from the hub's SSH key page and adds it to
their account's authorized_keys on the cluster themselves, as on a real cluster. Jobs are
submitted from a kernel in the user's own server, through the hub's proxy.

The environments are the stand-ins exactly as built, without paramiko like the public
pyiron images: the hub lends it to them (pyiron_hub_config/hub_packages.py).
"""

from __future__ import annotations

import json
import re
import textwrap

import pytest
import requests
from bs4 import BeautifulSoup

from .conftest import (
    COMPOSE,
    HUB_IMAGE,
    PREFIX,
    REPO,
    HubUser,
    Stack,
    docker,
    inspect,
    remove_user_containers_and_volumes,
    wait_for,
    write_env_files,
)
from .jupyter import Kernel, KernelError

USERS = ("hpcalice", "hpcbob")
PROJECT = "pyironhubhpc"
NETWORK = "pyiron-hub-hpc-users"
CLUSTER = "pyiron-hub-hpc-cluster"
CLUSTER_HOST = "hpc-cluster"  # the name servers reach its SSH by: the relay's, joined into their networks
CLUSTER_LOGIN = "hpc-login"  # the login node's own name on the users' network, which servers never join
RELAY = "pyiron-hub-hpc-relay"
CLUSTER_IMAGE = f"{PREFIX}/slurm:latest"
# The base stand-in as built: no paramiko of its own, like pyiron/base.
HPC_ENVIRONMENT = f"{PREFIX}/base:latest"
# A hub that lends paramiko to Python 3.13 only: the bookworm stand-ins' 3.11 is then one
# it cannot serve.
NARROW_HUB = f"{HUB_IMAGE}-py313-only"
ACCOUNTS = {"hpcalice": "hpcalice", "hpcbob": "bob"}  # hpcbob's account is mapped by the table


@pytest.fixture(scope="module")
def images():
    """The cluster and the environment that can submit to it, on top of what the test command built."""
    import subprocess

    from .conftest import images_built

    if images_built():
        return HUB_IMAGE
    r = subprocess.run(
        [str(REPO / "images/build.sh"), "slurm", "hub"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "SKIP_ENSURE_DOCKER": "1"},
    )
    if r.returncode:
        pytest.fail(f"building the cluster images failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return HUB_IMAGE


class ClusterStack(Stack):
    """The stack with the clusters overlay, as README "Connecting a cluster" runs it."""

    def compose(self, *args, check=True):
        import subprocess

        cmd = [
            COMPOSE,
            "-f",
            str(REPO / "docker-compose.yml"),
            "-f",
            str(REPO / "compose.clusters.yml"),
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

    def dump(self) -> str:
        cluster = docker("logs", "--tail", "60", CLUSTER, check=False)
        slurm = docker("exec", CLUSTER, "sh", "-c", "tail -n 30 /var/log/slurm/*.log", check=False)
        return super().dump() + f"\n--- cluster\n{cluster.stdout}{cluster.stderr}\n{slurm.stdout}{slurm.stderr}"


def on_cluster(*command: str, user: str | None = None, stdin: str | None = None) -> str:
    import subprocess

    cmd = ["/usr/bin/docker", "exec", "-i"] + (["-u", user] if user else []) + [CLUSTER, *command]
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"{command}: {r.stdout}{r.stderr}"
    return r.stdout


def wait_cluster_healthy(timeout: float = 90) -> None:
    wait_for(
        lambda: (inspect(CLUSTER) or {}).get("State", {}).get("Health", {}).get("Status") == "healthy",
        timeout=timeout,
        message="the cluster to be healthy",
    )


def host_keys() -> list[str]:
    """What `ssh-keyscan` would print for the cluster: each host public key."""
    return [
        line.split()[0] + " " + line.split()[1]
        for line in on_cluster("sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub").splitlines()
    ]


CLUSTERS_TOML = """\
[[clusters]]
name = "hpc"
display_name = "Test cluster"
host = "{host}"
host_keys = [{keys}]
users = {{ hpcbob = "bob" }}
remote_config_dir = "/etc/pyiron/resources/queues"
remote_path = "/home/{{cluster_user}}/pyiron_hub"

[[clusters.queues]]
name = "debug"
cores_max = 2
run_time_max = 3600
"""


@pytest.fixture(scope="module")
def hpc(images, tmp_path_factory):
    directory = tmp_path_factory.mktemp("hpc")
    docker("rm", "-f", CLUSTER, check=False)
    docker(
        "run",
        "-d",
        "--name",
        CLUSTER,
        "--hostname",
        "slurm",
        "-e",
        f"CLUSTER_USERS={' '.join(ACCOUNTS.values())}",
        CLUSTER_IMAGE,
    )
    wait_cluster_healthy()
    keys = ", ".join(json.dumps(k) for k in host_keys())
    (directory / "clusters.toml").write_text(CLUSTERS_TOML.format(host=CLUSTER_HOST, keys=keys))
    # What users' networks are joined by: the hub and the relay, not the login node (issue 29).
    write_env_files(directory, USERS, USERS_REACH=CLUSTER_HOST)
    s = ClusterStack(directory, images, project=PROJECT, network=NETWORK, users=USERS + ("admin",))
    s.compose("down", "-v", "--remove-orphans", check=False)
    docker("rm", "-f", RELAY, check=False)
    remove_user_containers_and_volumes(USERS)
    s.up()
    # The login node on the users' network (it reaches the hub for the key sync), and the
    # demo's SSH relay to it (docker-compose.yml's cluster-ssh, as an admin runs it).
    docker("network", "connect", "--alias", CLUSTER_LOGIN, NETWORK, CLUSTER)
    docker(
        "run",
        "-d",
        "--name",
        RELAY,
        "--network",
        NETWORK,
        "--network-alias",
        CLUSTER_HOST,
        "--user",
        "65534:65534",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges:true",
        "--no-healthcheck",
        images,
        "python3",
        "-m",
        "pyiron_hub_config.relay.tcp_relay",
        "--listen",
        "22",
        "--to",
        f"{CLUSTER_LOGIN}:22",
    )
    yield s
    if __import__("os").environ.get("HPC_KEEP"):  # debugging: leave everything running
        return
    # The cluster is no part of the compose project: it leaves the users' network first, so
    # that `compose down` (the stopping hub stops users' servers) can remove the network.
    docker("rm", "-f", CLUSTER, RELAY, check=False)
    s.compose("down", "-v", "--remove-orphans", check=False)
    remove_user_containers_and_volumes(USERS + ("admin",))


@pytest.fixture(scope="module")
def alice(hpc):
    return HubUser(hpc, "hpcalice").login()


@pytest.fixture(scope="module")
def bob(hpc):
    return HubUser(hpc, "hpcbob").login()


def key_page(user: HubUser) -> BeautifulSoup:
    r = user.session.get(f"{user.stack.url}/hub/ssh-key", timeout=60)
    assert r.status_code == 200, (r.status_code, r.text[:500])
    return BeautifulSoup(r.text, "html.parser")


def public_key_from_page(user: HubUser) -> str:
    field = key_page(user).find("textarea", id="public-key")
    assert field is not None, "no key on the page"
    return field.text.strip()


def authorise(user: HubUser, key: str) -> None:
    """What the user does on the cluster, logged in there: append the key to authorized_keys."""
    account = ACCOUNTS[user.name]
    on_cluster(
        "sh",
        "-c",
        "mkdir -p ~/.ssh && chmod 700 ~/.ssh && cat >> ~/.ssh/authorized_keys && chmod 600 ~/.ssh/authorized_keys",
        user=account,
        stdin=key + "\n",
    )


def running(user: HubUser, environment: str = "pyiron_base") -> HubUser:
    """The user's server, running the environment: whatever an earlier case left (fixtures, not order)."""
    server = user.server()
    if server and server.get("ready") and server.get("user_options", {}).get("environment") == environment:
        return user
    if server:
        user.stop()
    user.start(environment=environment)
    return user


def authorised(user: HubUser) -> HubUser:
    """The user's server runs pyiron_base and its key is in their cluster account's authorized_keys."""
    key = public_key_from_page(running(user))
    listed = on_cluster("sh", "-c", "cat ~/.ssh/authorized_keys 2>/dev/null || true", user=ACCOUNTS[user.name])
    if key.split()[1] not in listed:
        authorise(user, key)
    return user


SUBMIT = textwrap.dedent("""
    import time
    from pyiron_base import Project
    pr = Project("hpc")
    job = pr.wrap_executable(job_name="{name}", executable_str="echo $(id -un)@$(hostname) > whoami.txt; sleep {sleep}")
    job.server.queue = "debug"
    t0 = time.monotonic()
    job.run()
    print("QUEUE_ID", job.server.queue_id)
""")
# pr.wait_for_job(job), not pr.wait_for_jobs(): in pyiron_base 0.15.20 the latter refreshes
# the job table from the queue after fetching, so a job that ends between the two queue
# queries is marked "aborted" although it finished (README "Connecting a cluster").
WAIT = textwrap.dedent("""
    pr.wait_for_job(job, interval_in_s=1, max_iterations=300)
    print("ELAPSED", time.monotonic() - t0)
    print("TABLE", pr.job_table()[["job", "status"]].to_json(orient="records"))
    print("WHOAMI", open(pr.load("{name}").working_directory + "/whoami.txt").read().strip())
""")
# The other way back: pr.update_from_remote() until the job table says finished.
UPDATE = textwrap.dedent("""
    for _ in range(300):
        pr.update_from_remote()
        if pr.job_table().set_index("job").status.get("{name}") == "finished":
            break
        time.sleep(1)
    print("TABLE", pr.job_table()[["job", "status"]].to_json(orient="records"))
    print("WHOAMI", open(pr.load("{name}").working_directory + "/whoami.txt").read().strip())
""")
TABLE = textwrap.dedent("""
    from pyiron_base import Project
    print("TABLE", Project("hpc").job_table()[["job", "status"]].to_json(orient="records"))
""")


@pytest.fixture(scope="module")
def whoami_job(alice) -> dict:
    """alice's job 'whoami' through SLURM, once for the cases that look at it: what was seen."""
    authorised(alice)
    with Kernel(alice, "hpc.ipynb") as kernel:
        out = kernel.run(SUBMIT.format(name="whoami", sleep=6), timeout=180)
        queue_id = value(out, "QUEUE_ID")
        # While it runs, SLURM lists it under the user's cluster account and pyiron's job name.
        listed = wait_for(
            lambda: [
                line
                for line in on_cluster("squeue", "-h", "-o", "%i %u %j %T").splitlines()
                if line.startswith(queue_id + " ")
            ],
            timeout=30,
            interval=0.5,
            message="the job in squeue",
        )
        out = kernel.run(WAIT.format(name="whoami"), timeout=400)
    return {"queue_id": queue_id, "listed": listed, "out": out}


def value(out: str, label: str) -> str:
    return out.split(label + " ", 1)[1].splitlines()[0]


def table(out: str) -> dict[str, str]:
    return {row["job"]: row["status"] for row in json.loads(value(out, "TABLE"))}


# --- the key --------------------------------------------------------------------------------
def test_before_the_first_start_the_page_says_how_to_get_a_key(alice):
    page = key_page(alice)
    assert page.find("textarea", id="public-key") is None
    assert "Start your server" in page.find(id="no-key").text
    cluster = page.find("section", id="cluster-hpc")
    assert cluster.find("code", class_="account").text == "hpcalice"


def test_the_server_makes_a_private_key_only_the_user_can_read(alice, hpc):
    key = public_key_from_page(running(alice))
    assert re.fullmatch(r"ssh-ed25519 [A-Za-z0-9+/]+=* hpcalice@pyiron-hub", key), key
    with Kernel(alice, "keys.ipynb") as kernel:
        out = kernel.run(
            textwrap.dedent("""
            import os, stat
            home = os.path.expanduser("~")
            for path in (".ssh", ".ssh/id_ed25519"):
                print("MODE", path, oct(stat.S_IMODE(os.stat(os.path.join(home, path)).st_mode)))
            print("PUB", open(os.path.join(home, ".ssh/id_ed25519.pub")).read().strip())
            print("QUEUE", open(os.path.join(home, ".pyiron_hub/resources/queues/queue.yaml")).read().count("ssh_username: hpcalice"))
            print("HOSTS", open(os.path.join(home, ".pyiron_hub/ssh/known_hosts")).read().count("hpc-cluster "))
        """)
        )
    assert "MODE .ssh 0o700" in out and "MODE .ssh/id_ed25519 0o600" in out
    assert value(out, "PUB") == key  # the page shows exactly the server's public key
    assert value(out, "QUEUE") == "1" and int(value(out, "HOSTS")) == len(host_keys())
    # The private key is nowhere but in the user's home: not in the hub's database (the
    # public one is, in the spawner's state), its logs, or the container's configuration.
    db = hpc.container("hub-db")
    state = docker(
        "exec", db, "psql", "-U", "hub", "-d", "jupyterhub", "-At", "-c", "select state from spawners"
    ).stdout
    assert key in state and "PRIVATE" not in state
    assert "PRIVATE KEY" not in hpc.compose("logs", "--no-color", "hub").stdout
    env = json.dumps(inspect("jupyter-hpcalice")["Config"]["Env"])
    assert "PRIVATE KEY" not in env and key.split()[1] not in env


def test_the_cluster_runs_the_same_pyiron_as_the_users_environment(hpc):
    probe = "import importlib.metadata as m; print(m.version('pyiron_base'), m.version('pysqa'))"
    user_side = docker("run", "--rm", HPC_ENVIRONMENT, "python", "-c", probe).stdout.strip()
    cluster_side = on_cluster("python", "-c", probe).strip()
    assert user_side == cluster_side, (user_side, cluster_side)


# --- failures before the key is registered -----------------------------------------------
def test_a_key_not_yet_authorised_is_refused_clearly(alice):
    running(alice)
    # Whatever an earlier case authorised is set aside for this one.
    on_cluster(
        "sh", "-c", "mv ~/.ssh/authorized_keys ~/.ssh/authorized_keys.aside 2>/dev/null || true", user="hpcalice"
    )
    try:
        with Kernel(alice, "hpc.ipynb") as kernel:
            with pytest.raises(KernelError) as info:
                kernel.run(SUBMIT.format(name="early", sleep=0), timeout=120)
    finally:
        on_cluster(
            "sh",
            "-c",
            "[ ! -e ~/.ssh/authorized_keys.aside ] || mv ~/.ssh/authorized_keys.aside ~/.ssh/authorized_keys",
            user="hpcalice",
        )
    assert "AuthenticationException" in str(info.value) and "Authentication failed" in str(info.value)


# --- the job, from submission to the finished job table ------------------------------------
def test_a_job_runs_under_slurm_as_the_user_and_comes_back_finished(whoami_job):
    queue_id, listed, out = whoami_job["queue_id"], whoami_job["listed"], whoami_job["out"]
    assert listed[0].split()[1] == "hpcalice" and listed[0].split()[2].startswith("pi_"), listed
    assert table(out)["whoami"] == "finished", out
    assert value(out, "WHOAMI") == "hpcalice@slurm"  # it ran as the user, on the cluster's node
    job = on_cluster("scontrol", "show", "job", queue_id)
    assert "UserId=hpcalice(" in job and "JobState=COMPLETED" in job, job
    assert f"JobId={queue_id} UserId=hpcalice(" in on_cluster("cat", "/var/log/slurm/jobcomp.log")


def test_time_from_submit_to_finished_for_a_trivial_job(alice, record_property):
    with Kernel(authorised(alice), "hpc.ipynb") as kernel:
        kernel.run(SUBMIT.format(name="trivial", sleep=0), timeout=180)
        out = kernel.run(WAIT.format(name="trivial"), timeout=400)
    assert table(out)["trivial"] == "finished"
    # Reported, never asserted (README "Connecting a cluster" quotes it).
    elapsed = float(value(out, "ELAPSED"))
    record_property("submit_to_finished_s", elapsed)
    print(f"submit to finished, trivial job: {elapsed:.1f} s")


def test_the_job_table_still_says_finished_after_a_server_restart(alice, whoami_job):
    alice.stop()
    alice.start(environment="pyiron_base")
    with Kernel(alice, "hpc.ipynb") as kernel:
        out = kernel.run(TABLE)
    assert table(out)["whoami"] == "finished", out


def test_the_example_notebook_submits_to_the_cluster(alice):
    authorised(alice)
    # The cluster example the hub gives each user once (clusters.py), like the images' examples.
    r = alice.user_server("GET", "/api/contents/notebooks_hpc/submit_to_a_cluster.ipynb")
    assert r.status_code == 200, r.text
    cells = [c for c in r.json()["content"]["cells"] if c["cell_type"] == "code"]
    with Kernel(alice, "notebooks_hpc/submit_to_a_cluster.ipynb") as kernel:
        out = "".join(kernel.run("".join(cell["source"]), timeout=400) for cell in cells)
    assert "queues: ['debug']" in out and "Hello from slurm, running as hpcalice" in out and "finished" in out, out


# --- failures, each with a clear error and nothing lost ----------------------------------------
def test_an_unknown_queue_is_named_in_the_error(alice, whoami_job):
    with Kernel(authorised(alice), "hpc.ipynb") as kernel:
        with pytest.raises(KernelError) as info:
            kernel.run(SUBMIT.format(name="nowhere", sleep=0).replace('"debug"', '"nosuchqueue"'))
        assert "nosuchqueue" in str(info.value)
        out = kernel.run(TABLE)
    assert table(out)["whoami"] == "finished"  # nothing lost


def sshd_serves_its_key_files() -> bool:
    """Does the cluster's sshd answer, with the host keys its files now hold (a reload by SIGHUP
    done: sshd re-executes itself, refusing connections meanwhile)?"""
    # One key type, one connection a look: OpenSSH 10 penalises a source that connects without
    # logging in (PerSourcePenalties), and ssh-keyscan's "# host SSH-2.0-..." lines are on stdout.
    out = on_cluster(
        "sh",
        "-c",
        "ssh-keyscan -T 5 -t ed25519 127.0.0.1 2>/dev/null | awk '!/^#/ {print $3}'; "
        "echo --; awk '{print $2}' /etc/ssh/ssh_host_ed25519_key.pub",
    )
    served, _, files = out.partition("--")
    return bool(served.split()) and served.split() == files.split()


def test_a_changed_host_key_is_refused(alice):
    running(alice)
    on_cluster(
        "sh",
        "-c",
        "mkdir -p /root/hostkeys && cp -a /etc/ssh/ssh_host_* /root/hostkeys/ "
        "&& rm /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && kill -HUP $(cat /run/sshd.pid)",
    )
    try:
        wait_for(sshd_serves_its_key_files, timeout=30, interval=0.5, message="the cluster's sshd serving its new keys")
        with Kernel(alice, "hpc.ipynb") as kernel:
            with pytest.raises(KernelError) as info:
                kernel.run(SUBMIT.format(name="spoofed", sleep=0), timeout=120)
        assert "BadHostKeyException" in str(info.value) and "does not match" in str(info.value), info.value
    finally:
        on_cluster("sh", "-c", "cp -a /root/hostkeys/ssh_host_* /etc/ssh/ && kill -HUP $(cat /run/sshd.pid)")
        wait_for(
            sshd_serves_its_key_files, timeout=30, interval=0.5, message="the cluster's sshd serving its keys again"
        )


def test_a_cluster_that_is_down_gives_a_connection_error_and_the_job_can_be_sent_again(alice, whoami_job):
    authorised(alice)
    docker("stop", CLUSTER)
    try:
        with Kernel(alice, "hpc.ipynb") as kernel:
            with pytest.raises(KernelError) as info:
                kernel.run(SUBMIT.format(name="later", sleep=0), timeout=180)
        error = str(info.value)
        assert any(
            s in error
            for s in (
                "Unable to connect",
                "Name or service not known",
                "No route to host",
                "Temporary failure in name resolution",
                # Through the relay (servers reach the login node only through cluster-ssh): it
                # takes the connection, finds the login node down and closes it before SSH's banner.
                "Error reading SSH protocol banner",
            )
        ), error
    finally:
        docker("start", CLUSTER)
        wait_cluster_healthy()
    with Kernel(alice, "hpc.ipynb") as kernel:
        out = kernel.run(
            textwrap.dedent("""
            import time
            from pyiron_base import Project
            pr = Project("hpc")
            job = pr.load("later")  # kept, with its input, although it never reached the cluster
            print("BEFORE", job.status)
            job.run(delete_existing_job=True)
            t0 = time.monotonic()
        """)
            + WAIT.format(name="later"),
            timeout=400,
        )
    assert table(out)["later"] == "finished" and table(out)["whoami"] == "finished", out


def test_one_users_key_cannot_log_in_as_another(alice, bob):
    authorised(alice)
    authorised(bob)
    assert public_key_from_page(bob) != public_key_from_page(alice)
    with Kernel(alice, "intrude.ipynb") as kernel:
        out = kernel.run(
            textwrap.dedent(f"""
            import os, paramiko
            for account in ("hpcalice", "bob"):
                ssh = paramiko.SSHClient()
                ssh.load_host_keys(os.path.expanduser("~/.pyiron_hub/ssh/known_hosts"))
                try:
                    ssh.connect("{CLUSTER_HOST}", username=account, key_filename=os.path.expanduser("~/.ssh/id_ed25519"),
                                look_for_keys=False, allow_agent=False)
                    print("LOGIN", account, "accepted")
                except paramiko.AuthenticationException:
                    print("LOGIN", account, "refused")
                finally:
                    ssh.close()
        """)
        )
    assert "LOGIN hpcalice accepted" in out and "LOGIN bob refused" in out, out


def test_the_second_user_submits_under_the_mapped_account(bob):
    with Kernel(authorised(bob), "hpc.ipynb") as kernel:
        kernel.run(SUBMIT.format(name="bobs", sleep=3), timeout=180)
        out = kernel.run(UPDATE.format(name="bobs"), timeout=400)
    assert table(out) == {"bobs": "finished"} and value(out, "WHOAMI") == "bob@slurm", out


# --- images without paramiko: the hub's, after the image's own ------------------------------
PATHS = textwrap.dedent("""
    import sys, sysconfig, paramiko
    print("PARAMIKO", paramiko.__file__)
    print("AFTER", sys.path.index(sysconfig.get_paths()["purelib"]) < sys.path.index("/opt/pyiron-hub/packages"))
    from pyiron_base import state
    print("ADAPTER", state.queue_adapter is not None)
    # What jupyter_server imports at its start: jsonschema's format checker, with the hub's
    # rfc3987 instead of rfc3987_syntax (whose parsers take seconds to build); it still checks.
    import jsonschema._format, rfc3987
    print("RFC3987", rfc3987.__file__, "rfc3987_syntax" in sys.modules)
    checker = jsonschema.FormatChecker()
    print("IRI", checker.conforms("https://bücher.example/ä?q=1", "iri"), checker.conforms("no iri", "iri"))
""")


def test_the_stand_ins_have_no_paramiko_of_their_own():
    for image in (HPC_ENVIRONMENT, f"{PREFIX}/experimental:latest"):
        r = docker("run", "--rm", "--entrypoint", "python", image, "-c", "import paramiko", check=False)
        assert r.returncode != 0 and "No module named 'paramiko'" in r.stderr, (image, r.stderr)


def test_the_base_image_gets_paramiko_from_the_hub_after_its_own_packages(alice):
    with Kernel(running(alice), "paths.ipynb") as kernel:
        out = kernel.run(PATHS)
    assert value(out, "PARAMIKO") == "/opt/pyiron-hub/packages/paramiko/__init__.py", out
    assert value(out, "AFTER") == "True" and value(out, "ADAPTER") == "True", out
    assert value(out, "RFC3987") == "/opt/pyiron-hub/packages/rfc3987.py False", out
    assert value(out, "IRI") == "True False", out
    mount = next(m for m in inspect("jupyter-hpcalice")["Mounts"] if m["Destination"] == "/opt/pyiron-hub/packages")
    assert mount["Type"] == "volume" and mount["RW"] is False and mount["Name"].startswith("pyiron-hub-packages-")


def test_an_older_python_is_served_too_and_reaches_the_cluster(alice):
    # The experimental stand-in: Debian bookworm's Python 3.11 and pyiron_base 0.11.
    authorised(alice)
    with Kernel(running(alice, "pyiron_experimental"), "old.ipynb") as kernel:
        out = kernel.run(PATHS)
        assert value(out, "AFTER") == "True" and value(out, "ADAPTER") == "True", out
        # Over SSH with the hub's paramiko: the cluster's queue, as this user. (No job: the
        # cluster runs pyiron_base 0.15, and a job runs on the pyiron it was made with.)
        out = kernel.run(
            "import sys\nfrom pyiron_base import state\n"
            "print('PY', sys.version_info[:2])\n"
            "print('QUEUES', state.queue_adapter.queue_list)\n"
            "print('SQUEUE', type(state.queue_adapter.get_status_of_my_jobs()).__name__)\n",
            timeout=120,
        )
    assert value(out, "PY") == "(3, 11)" and value(out, "QUEUES") == "['debug']", out
    assert value(out, "SQUEUE") == "DataFrame", out
    assert key_page(alice).find(id="clusters-unavailable") is None


# --- pyiron_workflow meets the cluster: a heavy step as a pyiron_base job through pysqa --------
WORKFLOW = textwrap.dedent("""
    import pyiron_workflow as pwf
    from pyiron_base import Project

    @pwf.as_function_node
    def squared_on_the_cluster(n):
        # executorlib cannot submit over SSH; a pyiron_base job can (README "Connecting a cluster").
        pr = Project("workflow_hpc")
        job = pr.wrap_executable(job_name=f"heavy_{n}", executable_str=f"echo $(({n}*{n})) $(id -un)@$(hostname) > out.txt")
        job.server.queue = "debug"
        job.run()
        pr.wait_for_job(job, interval_in_s=1, max_iterations=300)
        squared, where = open(pr.load(f"heavy_{n}").working_directory + "/out.txt").read().split()
        result = (int(squared), where)
        return result

    wf = pwf.Workflow("to_the_cluster")
    wf.heavy = squared_on_the_cluster(n=7)
    wf.set_outputs_to_unconnected_child_output()
    # In the kernel's main thread: pyiron_base's job.run() sets signal handlers, which Python
    # allows there only (pyiron_workflow runs a graph's nodes on threads by default).
    run = wf.run(pwf.RunConfig(dag_multithreaded=False))
    print("STATUS", run.status)
    print("OUTPUT", list(run.outputs.values())[0])
""")


def test_a_workflow_sends_its_heavy_step_to_the_cluster_as_a_pyiron_job(alice):
    authorised(alice)
    with Kernel(running(alice, "pyiron_workflow"), "workflow_hpc.ipynb") as kernel:
        out = kernel.run(WORKFLOW, timeout=400)
        out += kernel.run(TABLE.replace('Project("hpc")', 'Project("workflow_hpc")'))
    assert value(out, "STATUS") == "finished" and value(out, "OUTPUT") == "(49, 'hpcalice@slurm')", out
    assert table(out) == {"heavy_7": "finished"}, out


# --- admins ----------------------------------------------------------------------------------
def test_admins_get_every_users_key_per_cluster_account(hpc, alice, bob):
    running(alice), running(bob)  # a user's key is listed once their server has made it
    admin = HubUser(hpc, "admin").login()
    r = admin.session.get(f"{hpc.url}/hub/ssh-keys", params={"cluster": "hpc"}, timeout=60)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain"), r.text
    lines = {line.split()[0]: line for line in r.text.splitlines()}
    assert lines["hpcalice"].startswith("hpcalice " + " ".join(public_key_from_page(alice).split()[:2]))
    assert lines["bob"].endswith("pyiron-hub:hpcbob")
    assert alice.session.get(f"{hpc.url}/hub/ssh-keys", timeout=60).status_code == 403


# --- the key sync on the cluster (README "Registering the key") ---------------------------------
KEY_SYNC = "/usr/local/sbin/pyiron-hub-key-sync"
TOKEN_FILE = "/etc/pyiron-hub/key-sync.token"


def run_key_sync():
    """One run of the key sync on the cluster, as its cron job runs it (check=False: tests read its exit)."""
    return docker(
        "exec",
        CLUSTER,
        "python3",
        KEY_SYNC,
        "--hub",
        "http://hub:8081",
        "--cluster",
        "hpc",
        "--token-file",
        TOKEN_FILE,
        check=False,
    )


def key_sync_token(hpc) -> str:
    """The token the hub generated for the cluster's key sync, as its admin reads it."""
    return docker("exec", hpc.container("hub"), "cat", "/srv/jupyterhub/data/key_sync_token").stdout.strip()


def test_the_key_sync_token_reads_the_key_list_and_nothing_else(hpc, alice):
    auth = {"Authorization": f"token {key_sync_token(hpc)}"}
    keys = requests.get(f"{hpc.url}/hub/ssh-keys", params={"cluster": "hpc"}, headers=auth, timeout=30)
    assert keys.status_code == 200 and keys.headers["Content-Type"].startswith("text/plain"), keys.text[:300]
    for method, path in (
        ("GET", "/hub/ssh-keys"),
        ("GET", "/hub/api/users"),
        ("GET", "/hub/api/users/hpcalice"),
        ("POST", "/hub/api/users/hpcalice/tokens"),
        ("POST", "/hub/api/users/hpcalice/server"),
        ("GET", "/user/hpcalice/api/contents"),
        ("GET", "/hub/metrics"),
    ):
        r = requests.request(method, f"{hpc.url}{path}", headers=auth, timeout=30, allow_redirects=False)
        assert r.status_code in (302, 403, 404), (method, path, r.status_code)


def test_the_key_sync_never_writes_through_a_users_link_and_installs_the_others(hpc, alice, bob):
    for user in (alice, bob):  # their keys are listed once their servers have run
        public_key_from_page(running(user))
    docker("cp", str(REPO / "pyiron_hub_config/on_cluster/key_sync.py"), f"{CLUSTER}:{KEY_SYNC}")
    on_cluster(
        "sh",
        "-c",
        f"umask 077 && mkdir -p /etc/pyiron-hub /root/.ssh && cat > {TOKEN_FILE} && "
        "echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIRootsOwnKeyRootsOwnKeyRootsOwnKey root@slurm' "
        "> /root/.ssh/authorized_keys",
        stdin=key_sync_token(hpc),
    )
    roots_before = on_cluster("sha256sum", "/root/.ssh/authorized_keys")
    # bob's account (hub user hpcbob) links its authorized_keys to root's; alice's has none yet.
    on_cluster(
        "sh",
        "-c",
        "mkdir -p ~/.ssh && rm -f ~/.ssh/authorized_keys && ln -s /root/.ssh/authorized_keys ~/.ssh/authorized_keys",
        user="bob",
    )
    on_cluster("rm", "-f", "/home/hpcalice/.ssh/authorized_keys")
    try:
        sync = run_key_sync()
        assert "hpcalice: added" in sync.stdout and "bob: FAILED" in sync.stdout, sync.stdout + sync.stderr
        assert sync.returncode == 1  # a cron job's mail says so
        # Root's file is untouched, and no key of bob's is anywhere in it.
        assert on_cluster("sha256sum", "/root/.ssh/authorized_keys") == roots_before
        assert public_key_from_page(bob).split()[1] not in on_cluster("cat", "/root/.ssh/authorized_keys")
        # Control: alice's key is installed, hers alone, and her server logs in with it.
        listing = on_cluster("stat", "-c", "%U %a", "/home/hpcalice/.ssh/authorized_keys").split()
        assert listing == ["hpcalice", "600"]
        assert public_key_from_page(alice).split()[1] in on_cluster("cat", "/home/hpcalice/.ssh/authorized_keys")
        again = run_key_sync()
        assert "hpcalice: already there" in again.stdout, again.stdout  # run by cron: never twice
        with Kernel(alice, "sync.ipynb") as kernel:
            out = kernel.run(
                textwrap.dedent(f"""
                import os, paramiko
                ssh = paramiko.SSHClient()
                ssh.load_host_keys(os.path.expanduser("~/.pyiron_hub/ssh/known_hosts"))
                ssh.connect("{CLUSTER_HOST}", username="hpcalice", key_filename=os.path.expanduser("~/.ssh/id_ed25519"),
                            look_for_keys=False, allow_agent=False)
                print("WHO", ssh.exec_command("id -un")[1].read().decode().strip())
                ssh.close()
            """)
            )
        assert value(out, "WHO") == "hpcalice", out
    finally:
        on_cluster("rm", "-f", "/home/bob/.ssh/authorized_keys")
        authorise(bob, public_key_from_page(bob))


def test_servers_reach_the_cluster_but_not_the_database(alice):
    with Kernel(running(alice), "net.ipynb") as kernel:
        out = kernel.run(
            textwrap.dedent(f"""
            import socket
            for host, port in (("{CLUSTER_HOST}", 22), ("hub-db", 5432)):
                try:
                    socket.create_connection((host, port), timeout=5).close()
                    print("NET", host, "open")
                except OSError as err:
                    print("NET", host, "closed", type(err).__name__)
        """)
        )
    assert f"NET {CLUSTER_HOST} open" in out and "NET hub-db closed" in out, out


def _addresses(container: str) -> list[str]:
    return [
        n["IPAddress"] for n in (inspect(container) or {})["NetworkSettings"]["Networks"].values() if n.get("IPAddress")
    ]


REACH = """
import socket
for host, port in {targets!r}:
    try:
        socket.create_connection((host, port), timeout=3).close()
        print("NET", host, port, "open")
    except OSError as err:
        print("NET", host, port, "closed", type(err).__name__)
"""


def test_the_login_node_is_no_bridge_between_users(alice, bob):
    """issue 29: from the login node (a shell for every user) no server's port; from a server no other's.

    The login node stays off users' networks: servers reach its SSH through the relay alone,
    which forwards there and nowhere else.
    """
    servers = {user.name: _addresses(f"jupyter-{user.name}") for user in (running(alice), running(bob))}
    assert all(servers.values()), servers
    login = _addresses(CLUSTER)
    # From the login node, as bob's account there: neither server's Jupyter port, by any address.
    targets = [(ip, 8888) for ips in servers.values() for ip in ips]
    out = on_cluster("python3", "-c", REACH.format(targets=targets), user="bob")
    assert "open" not in out and out.count("closed") == len(targets), out
    # From alice's server: not bob's server, not the login node itself, not its name; only the relay.
    targets = [
        *((ip, 8888) for ip in servers["hpcbob"]),
        *((ip, 22) for ip in login),
        (CLUSTER_LOGIN, 22),
        (CLUSTER_HOST, 22),
    ]
    with Kernel(alice, "bridge.ipynb") as kernel:
        out = kernel.run(REACH.format(targets=targets))
    assert f"NET {CLUSTER_HOST} 22 open" in out, out  # the control: SSH to the cluster, through the relay
    assert out.count("open") == 1 and out.count("closed") == len(targets) - 1, out
    # The relay answers with the login node's own SSH: the host key the hub pinned.
    with Kernel(alice, "bridge.ipynb") as kernel:
        out = kernel.run(
            textwrap.dedent(f"""
            import socket
            s = socket.create_connection(("{CLUSTER_HOST}", 22), timeout=10)
            print("BANNER", s.recv(64).decode().strip())
            s.close()
        """)
        )
    assert value(out, "BANNER").startswith("SSH-2.0-OpenSSH"), out


# --- a Python the hub cannot serve: the server starts, the key page says why -----------------
def test_an_image_whose_python_the_hub_cannot_serve_starts_and_the_page_says_why(hpc, alice, tmp_path):
    import subprocess

    from .conftest import copy_build_context

    context = copy_build_context(tmp_path)
    r = subprocess.run(
        [
            "/usr/bin/docker",
            "build",
            "-q",
            "--build-arg",
            "SERVER_PYTHONS=3.13",
            "--build-arg",
            f"BASE_IMAGE={PREFIX}/debian:trixie",
            "--secret",
            "id=ca,src=/etc/ssl/certs/ca-certificates.crt",
            "-t",
            NARROW_HUB,
            str(context),
        ],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "DOCKER_BUILDKIT": "1"},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    alice.stop()
    hpc.hub_image = NARROW_HUB
    try:
        hpc.up()
        alice.login()
        alice.start(environment="pyiron_experimental")  # Python 3.11: starts all the same
        assert alice.user_server("GET", "/api/status").status_code == 200
        warning = key_page(alice).find(id="clusters-unavailable")
        assert warning is not None, "no word on the key page"
        text = " ".join(warning.text.split())
        assert "the hub supplies paramiko for Python 3.13, and this image runs Python 3.11" in text, text
        with Kernel(alice, "plain.ipynb") as kernel:  # pyiron still loads, without a cluster
            out = kernel.run("from pyiron_base import state\nprint('ADAPTER', state.queue_adapter)\n")
        assert value(out, "ADAPTER") == "None", out
        alice.stop()
    finally:
        hpc.hub_image = HUB_IMAGE
        hpc.up()
        docker("rmi", "-f", NARROW_HUB, check=False)


# --- a user no longer listed: the key sync removes what it wrote, and only that (issue 29) -------
HAND_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHandAddedHandAddedHandAddedHandAddedHand hpcalice@laptop"
STATE_FILE = "/var/lib/pyiron-hub-key-sync/hpc.json"


def test_the_key_sync_removes_the_keys_it_wrote_for_a_user_no_longer_listed(hpc, alice, bob):
    alices_key = public_key_from_page(running(alice))
    public_key_from_page(running(bob))
    docker("cp", str(REPO / "pyiron_hub_config/on_cluster/key_sync.py"), f"{CLUSTER}:{KEY_SYNC}")
    on_cluster("sh", "-c", f"umask 077 && mkdir -p /etc/pyiron-hub && cat > {TOKEN_FILE}", stdin=key_sync_token(hpc))
    on_cluster("rm", "-f", "/home/hpcalice/.ssh/authorized_keys", STATE_FILE)
    first = run_key_sync()
    assert "hpcalice: added" in first.stdout, first.stdout + first.stderr
    # A key alice added by hand (from her laptop), after the sync's.
    on_cluster("sh", "-c", "cat >> ~/.ssh/authorized_keys", user="hpcalice", stdin=HAND_KEY + "\n")
    assert on_cluster("stat", "-c", "%U %a", STATE_FILE).split() == ["root", "600"]
    bobs_before = on_cluster("cat", "/home/bob/.ssh/authorized_keys")
    # Control: while alice is allowed, run after run, her key stays.
    again = run_key_sync()
    assert "hpcalice: already there" in again.stdout and "removed" not in again.stdout, again.stdout
    assert alices_key.split()[1] in on_cluster("cat", "/home/hpcalice/.ssh/authorized_keys")
    # Her access withdrawn: an admin deletes her from the hub, so the hub lists her key no more.
    admin = HubUser(hpc, "admin").login()
    alice.stop()
    assert admin.api("DELETE", "/users/hpcalice").status_code == 204
    listed = requests.get(
        f"{hpc.url}/hub/ssh-keys",
        params={"cluster": "hpc"},
        timeout=30,
        headers={"Authorization": f"token {key_sync_token(hpc)}"},
    ).text
    assert "hpcalice" not in listed and "pyiron-hub:hpcbob" in listed, listed
    removed = run_key_sync()
    assert "hpcalice: removed (no longer listed: pyiron-hub:hpcalice)" in removed.stdout, removed.stdout
    keys = on_cluster("cat", "/home/hpcalice/.ssh/authorized_keys")
    assert alices_key.split()[1] not in keys and keys == HAND_KEY + "\n", keys  # what she added stays
    assert on_cluster("stat", "-c", "%U %a", "/home/hpcalice/.ssh/authorized_keys").split() == ["hpcalice", "600"]
    assert on_cluster("cat", "/home/bob/.ssh/authorized_keys") == bobs_before  # bob, still listed: untouched
    assert "hpcalice" not in on_cluster("cat", STATE_FILE)
