"""Clusters as data: validation of CLUSTERS_FILE, and the files each user's server gets."""

from __future__ import annotations

import base64
import warnings
from functools import cache

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from pyiron_hub_config.clusters import (
    CLUSTER_EXAMPLE,
    KNOWN_HOSTS,
    NOTEBOOK_QUIET_PATH,
    QUEUES_DIR,
    cluster_files,
    fingerprint,
    load_clusters,
    parse_public_key,
)
from pyiron_hub_config.problems import ConfigError


def _wire(*fields: bytes) -> bytes:
    return b"".join(len(f).to_bytes(4, "big") + f for f in fields)


@cache
def ssh_key(kind: str = "ssh-ed25519") -> str:
    """A public key line of the given type, the same at every call: real key material (for a
    made-up private key), as cryptography checks the points and numbers of a public key."""
    if kind == "ssh-ed25519":
        key = ed25519.Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
    elif kind.startswith("ecdsa"):
        curve = {"nistp256": ec.SECP256R1, "nistp384": ec.SECP384R1, "nistp521": ec.SECP521R1}[kind.split("-")[-1]]
        key = ec.derive_private_key(12345, curve())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


HOST_KEY = ssh_key()
OTHER_HOST_KEY = ssh_key("ecdsa-sha2-nistp256")

CLUSTER = f"""
[[clusters]]
name = "hpc1"
display_name = "HPC one"
host = "login.hpc1.example.org"
host_keys = ["{HOST_KEY}"]
remote_config_dir = "/etc/pyiron/resources/queues"
remote_path = "/scratch/{{cluster_user}}/pyiron"

[[clusters.queues]]
name = "short"
cores_max = 4
run_time_max = 3600
memory_max = "8G"

[[clusters.queues]]
name = "long"
cores_min = 2
cores_max = 64
default = true
"""


@pytest.fixture
def write(tmp_path):
    def write(text: str):
        path = tmp_path / "clusters.toml"
        path.write_text(text)
        return path

    return write


def problems_of(path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_clusters(path)
    return [str(p) for p in info.value.problems]


# --- loading ------------------------------------------------------------------------------
def test_no_file_means_no_clusters():
    assert load_clusters(None) == []


def test_a_valid_file_loads(write):
    (cluster,) = load_clusters(write(CLUSTER))
    assert cluster.name == "hpc1" and cluster.port == 22 and cluster.user == "{username}"
    assert [q.name for q in cluster.queues] == ["short", "long"]
    assert cluster.primary_queue == "long"
    assert cluster.host_keys == [HOST_KEY]


def test_ssh_keyscan_lines_are_accepted_and_the_host_field_dropped(write):
    text = CLUSTER.replace(f'["{HOST_KEY}"]', f'["login.hpc1.example.org {HOST_KEY}", "{OTHER_HOST_KEY} root@login"]')
    (cluster,) = load_clusters(write(text))
    assert cluster.host_keys == [HOST_KEY, OTHER_HOST_KEY]


def test_every_problem_is_reported_at_once_naming_cluster_queue_and_field(write):
    text = (
        CLUSTER.replace('host = "login.hpc1.example.org"', 'host = "login hpc1"')
        .replace(f'["{HOST_KEY}"]', '["ssh-ed25519 AAAAnotakey"]')
        .replace('remote_path = "/scratch/{cluster_user}/pyiron"', 'remote_path = "/scratch/{cluster_user}/../x"')
        .replace('memory_max = "8G"', 'memory_max = "lots"')
        .replace("cores_min = 2", "cores_min = 128")
    )
    problems = problems_of(write(text))
    assert len(problems) == 5, problems
    assert all(p.startswith("cluster 'hpc1' in ") for p in problems)
    joined = "\n".join(problems)
    assert "host: Value" not in joined  # pydantic's wording is replaced
    assert "host: 'login hpc1' is not a host name" in joined
    assert "host_keys.0: the ssh-ed25519 key is not valid base64" in joined or "host_keys.0: the key data" in joined
    assert "remote_path:" in joined and "no '..'" in joined
    assert "queue 'short'.memory_max: must be a number with an optional unit" in joined
    assert "queue 'long': cores_min (128) is above cores_max (64)" in joined


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("host_keys = [", "host_keys = [] #"), "host_keys: List should have at least 1 item"),
        (('name = "hpc1"', 'name = "HPC 1"'), "name: may hold only lower-case letters"),
        (('name = "short"', 'name = "sh ort"'), "queue 'sh ort'.name: may hold only letters, digits"),
        (
            ("cores_max = 4", "cores_max = 4\nnodes = 2"),
            "queue 'short'.nodes: unknown key; valid keys are name, cores_min",
        ),
        (
            ('display_name = "HPC one"', 'display_name = "HPC one"\nhostname = "x"'),
            "hostname: unknown key; valid keys are name",
        ),
        (
            ('remote_path = "/scratch/{cluster_user}/pyiron"', 'remote_path = "scratch/{cluster_user}"'),
            "must be an absolute path",
        ),
        (
            ('remote_path = "/scratch/{cluster_user}/pyiron"', 'remote_path = "/scratch/{user}"'),
            "unknown placeholder {user}; remote_path may use {cluster_user}, {username}",
        ),
        (
            ('remote_path = "/scratch/{cluster_user}/pyiron"', 'remote_path = "/scratch/$(id)"'),
            "must be an absolute path",
        ),
        (
            ('remote_config_dir = "/etc/pyiron/resources/queues"', 'remote_config_dir = "/etc/py iron"'),
            "remote_config_dir:",
        ),
        (
            ('display_name = "HPC one"', 'display_name = "HPC one"\nuser = "{login}"'),
            "unknown placeholder {login}; user may use {username}",
        ),
        (
            ('display_name = "HPC one"', 'display_name = "HPC one"\nusers = { alice = "Alice Smith" }'),
            "is not a valid account name",
        ),
        (
            ('display_name = "HPC one"', 'display_name = "HPC one"\nport = 0'),
            "port: Input should be greater than or equal to 1",
        ),
        (
            ('display_name = "HPC one"', 'display_name = "HPC one"\nkey_help = "ask {admin}"'),
            "unknown placeholder {admin}; key_help may use {cluster_user}, {username}",
        ),
        (('name = "long"', 'name = "short"'), "queue 'short' is listed twice"),
        (("cores_max = 4", "cores_max = 4\ndefault = true"), "more than one queue has default = true"),
        ((f'"{HOST_KEY}"', f'"{HOST_KEY[:-8]}"'), "host_keys.0:"),
        ((f'"{HOST_KEY}"', '"ssh-rsa ' + HOST_KEY.split()[1] + '"'), "host_keys.0:"),
        ((f'"{HOST_KEY}"', '"ssh-dss AAAAB3NzaC1kc3M="'), "key type 'ssh-dss' is not one of"),
        # One cluster account belongs to one hub user; root and system accounts to none.
        (
            (
                'display_name = "HPC one"',
                'display_name = "HPC one"\nusers = { "alice.smith" = "asmith", "a.smith" = "asmith" }',
            ),
            "'a.smith', 'alice.smith' all map to the account 'asmith'; one cluster account belongs to one hub user",
        ),
        (
            ('display_name = "HPC one"', 'display_name = "HPC one"\nusers = { alice = "root" }'),
            "users: 'root' is a reserved account",
        ),
        (
            ('display_name = "HPC one"', 'display_name = "HPC one"\nusers = { alice = "daemon" }'),
            "users: 'daemon' is a reserved account",
        ),
        (
            (
                'display_name = "HPC one"',
                'display_name = "HPC one"\nreserved_accounts = ["slurm"]\nusers = { alice = "slurm" }',
            ),
            "users: 'slurm' is a reserved account",
        ),
        (
            ('display_name = "HPC one"', 'display_name = "HPC one"\nreserved_accounts = ["Slurm Admin"]'),
            "'Slurm Admin' is not a valid account name",
        ),
        (
            ('display_name = "HPC one"', 'display_name = "HPC one"\nuser = "pyiron"'),
            "'pyiron' has no {username}: every hub user would get the same account",
        ),
    ],
)
def test_one_bad_field(write, change, expected):
    problems = problems_of(write(CLUSTER.replace(*change)))
    assert any(expected in p for p in problems), problems


def test_duplicate_cluster_names(write):
    problems = problems_of(write(CLUSTER + CLUSTER))
    assert problems == [
        f"cluster 'hpc1' in {write(CLUSTER + CLUSTER)}: the name is used twice (example: give each cluster its own name)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "needs at least one [[clusters]] entry"),
        ("[[clusters]]\nname = 'x'\n", "host: is required"),
        ("clusters = 3", "needs at least one [[clusters]] entry"),
        ("[cluster]\nname = 'x'", "unknown key; the file holds only [[clusters]] entries"),
        ("name = ", "is not valid TOML"),
    ],
)
def test_file_level_problems(write, text, expected):
    problems = problems_of(write(text))
    assert any(expected in p for p in problems), problems


def test_unreadable_file(tmp_path):
    assert problems_of(tmp_path / "missing.toml") == [
        f"CLUSTERS_FILE ({tmp_path / 'missing.toml'}): cannot read it: No such file or directory "
        "(example: a TOML file with [[clusters]] entries)"
    ]


def test_problems_carry_a_valid_example(write):
    with pytest.raises(ConfigError) as info:
        load_clusters(write(CLUSTER.replace('host = "login.hpc1.example.org"', "host = 5")))
    (problem,) = info.value.problems
    assert problem.example == '"login.cluster.example.org"'


# --- public keys --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ssh-rsa"])
def test_parse_public_key_accepts_each_type(kind):
    assert parse_public_key(ssh_key(kind))[0] == kind


def test_parse_public_key_returns_type_blob_and_comment():
    kind, blob, comment = parse_public_key(HOST_KEY + " alice@pyiron-hub\n")
    assert (kind, comment) == ("ssh-ed25519", "alice@pyiron-hub")
    assert fingerprint(blob).startswith("SHA256:") and "=" not in fingerprint(blob)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----",
        "ssh-ed25519",
        "ssh-ed25519 !!!!",
        ssh_key() + " <script>alert(1)</script>\u00e9",
        ssh_key("ssh-rsa").replace("ssh-rsa", "ssh-ed25519", 1),
        "ssh-ed25519 " + base64.b64encode(_wire(b"ssh-ed25519", b"\x01" * 31)).decode(),
        "ssh-ed25519 " + base64.b64encode(_wire(b"ssh-ed25519", b"\x01" * 32) + b"\x00").decode(),
        # Well-formed, but its point is not on the curve: no such key exists.
        "ecdsa-sha2-nistp256 "
        + base64.b64encode(_wire(b"ecdsa-sha2-nistp256", b"nistp256", b"\x04" + b"\x02" * 64)).decode(),
    ],
)
def test_parse_public_key_refuses_what_is_not_one(text):
    with pytest.raises(ValueError):
        parse_public_key(text)


def test_fingerprint_matches_openssh():
    # ssh-keygen -lf on this key prints SHA256:...; computed independently here.
    import hashlib

    _, blob, _ = parse_public_key(HOST_KEY)
    expected = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    assert fingerprint(blob) == "SHA256:" + expected


# --- the files a user's server gets -------------------------------------------------------
def files_by_path(clusters, user):
    return {f["path"]: f for f in cluster_files(clusters, user)}


def test_one_cluster_gives_queue_yaml_and_known_hosts(write):
    files = files_by_path(load_clusters(write(CLUSTER)), "alice")
    assert set(files) == {f"{QUEUES_DIR}/queue.yaml", KNOWN_HOSTS, CLUSTER_EXAMPLE, NOTEBOOK_QUIET_PATH}
    config = yaml.safe_load(files[f"{QUEUES_DIR}/queue.yaml"]["content"])
    assert config == {
        "queue_type": "REMOTE",
        "queue_primary": "long",
        "ssh_host": "login.hpc1.example.org",
        "ssh_port": 22,
        "ssh_username": "alice",
        "known_hosts": "/home/jovyan/.pyiron_hub/ssh/known_hosts",
        "ssh_key": "/home/jovyan/.ssh/id_ed25519",
        "ssh_remote_config_dir": "/etc/pyiron/resources/queues",
        "ssh_remote_path": "/scratch/alice/pyiron",
        "ssh_local_path": "/home/jovyan",
        "queues": {
            "short": {"cores_max": 4, "run_time_max": 3600, "memory_max": "8G"},
            "long": {"cores_min": 2, "cores_max": 64},
        },
    }
    assert files[KNOWN_HOSTS]["content"] == f"login.hpc1.example.org {HOST_KEY}\n"
    assert {f["mode"] for f in files.values()} == {"0644"}


def test_a_non_standard_port_is_named_as_openssh_does(write):
    text = CLUSTER.replace('display_name = "HPC one"', 'display_name = "HPC one"\nport = 2222')
    files = files_by_path(load_clusters(write(text)), "alice")
    assert files[KNOWN_HOSTS]["content"] == f"[login.hpc1.example.org]:2222 {HOST_KEY}\n"
    assert yaml.safe_load(files[f"{QUEUES_DIR}/queue.yaml"]["content"])["ssh_port"] == 2222


def test_user_names_map_by_template_and_by_table(write):
    text = CLUSTER.replace(
        'display_name = "HPC one"', 'display_name = "HPC one"\nuser = "hub_{username}"\nusers = { "bob" = "robert" }'
    )
    clusters = load_clusters(write(text))
    users = {
        u: yaml.safe_load(files_by_path(clusters, u)[f"{QUEUES_DIR}/queue.yaml"]["content"])["ssh_username"]
        for u in ("alice", "bob")
    }
    assert users == {"alice": "hub_alice", "bob": "robert"}
    alice = yaml.safe_load(files_by_path(clusters, "alice")[f"{QUEUES_DIR}/queue.yaml"]["content"])
    assert alice["ssh_remote_path"] == "/scratch/hub_alice/pyiron"


@pytest.mark.parametrize("user", ["alice smith", "a;rm -rf ~", "alice@example.org", "Ålice", "-alice", "x" * 40])
def test_a_user_without_a_safe_account_name_gets_no_cluster(write, user):
    assert cluster_files(load_clusters(write(CLUSTER)), user) == []


def test_remote_path_may_use_the_hub_name_only_if_it_is_safe(write):
    text = CLUSTER.replace("/scratch/{cluster_user}/pyiron", "/scratch/{username}").replace(
        'display_name = "HPC one"', 'display_name = "HPC one"\nusers = { "a b" = "ab2" }'
    )
    assert cluster_files(load_clusters(write(text)), "a b") == []
    assert cluster_files(load_clusters(write(text)), "ab") != []


def test_several_clusters_use_pysqas_clusters_yaml(write):
    second = (
        CLUSTER.replace('name = "hpc1"', 'name = "hpc2"')
        .replace("login.hpc1", "login.hpc2")
        .replace(f'["{HOST_KEY}"]', f'["{OTHER_HOST_KEY}"]')
    )
    files = files_by_path(load_clusters(write(CLUSTER + second)), "alice")
    assert set(files) == {
        f"{QUEUES_DIR}/clusters.yaml",
        f"{QUEUES_DIR}/hpc1.yaml",
        f"{QUEUES_DIR}/hpc2.yaml",
        KNOWN_HOSTS,
        CLUSTER_EXAMPLE,
        NOTEBOOK_QUIET_PATH,
    }
    assert yaml.safe_load(files[f"{QUEUES_DIR}/clusters.yaml"]["content"]) == {
        "cluster_primary": "hpc1",
        "cluster": {"hpc1": "hpc1.yaml", "hpc2": "hpc2.yaml"},
    }
    assert yaml.safe_load(files[f"{QUEUES_DIR}/hpc2.yaml"]["content"])["ssh_host"] == "login.hpc2.example.org"
    assert files[KNOWN_HOSTS]["content"].splitlines() == [
        f"login.hpc1.example.org {HOST_KEY}",
        f"login.hpc2.example.org {OTHER_HOST_KEY}",
    ]


def test_queue_files_need_paramiko_and_known_hosts_does_not(write):
    # Without paramiko a REMOTE queue.yaml would break `import pyiron_base` (boot.py leaves it out).
    requires = {f["path"]: f.get("requires") for f in cluster_files(load_clusters(write(CLUSTER)), "alice")}
    assert requires == {
        f"{QUEUES_DIR}/queue.yaml": ["paramiko"],
        KNOWN_HOSTS: None,
        CLUSTER_EXAMPLE: None,
        NOTEBOOK_QUIET_PATH: None,
    }


def test_the_cluster_example_is_given_once(write):
    example = next(f for f in cluster_files(load_clusters(write(CLUSTER)), "alice") if f["path"] == CLUSTER_EXAMPLE)
    assert example["once"] is True
    assert "job.server.queue = job.server.list_queues()[0]" in example["content"]


def test_files_say_they_are_managed_by_the_hub(write):
    files = cluster_files(load_clusters(write(CLUSTER)), "alice")
    assert files[0]["content"].startswith("# Written by pyiron-hub at every start")


@pytest.mark.parametrize("make", ["ed25519", "ecdsa256", "ecdsa521", "rsa"])
def test_real_keys_parse(make):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    key = {
        "ed25519": lambda: ed25519.Ed25519PrivateKey.generate(),
        "ecdsa256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "ecdsa521": lambda: ec.generate_private_key(ec.SECP521R1()),
        "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }[make]()
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    assert parse_public_key(line + " me@host")[0] == line.split()[0]


def test_key_help_names_the_users_account(write):
    text = CLUSTER.replace(
        'display_name = "HPC one"',
        'display_name = "HPC one"\nuser = "u_{username}"\n'
        'key_help = "Run add-key {cluster_user} (hub user {username})."',
    )
    [cluster] = load_clusters(write(text))
    assert cluster.key_help_for("bob") == "Run add-key u_bob (hub user bob)."
    assert cluster.key_help_for("Bad Name") == ""  # no valid account: no instructions for one


def test_no_key_help_by_default(write):
    assert load_clusters(write(CLUSTER))[0].key_help_for("bob") == ""


def test_notebooks_that_can_submit_start_without_pysqas_empty_warnings(write):
    startup = files_by_path(load_clusters(write(CLUSTER)), "alice")[NOTEBOOK_QUIET_PATH]
    assert startup["path"].startswith(".ipython/profile_default/startup/")
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        exec(compile(startup["content"], startup["path"], "exec"), {})
        # What pysqa does with each remote command's stderr (pysqa/base/remote.py).
        info = (
            "2026-12-01 07:35:53,817 - pyiron_log - INFO - hello_cluster, status: initialized, submitted: queue id 1\n"
        )
        warning = "2026-12-01 07:35:54,001 - pyiron_log - WARNING - Job aborted\n"
        for stderr in [
            "",
            "\n",
            "  \r\n",
            info,
            info + info + "\n",
            info + warning,
            "sbatch: error: Batch job submission failed: Invalid partition name\n",
        ]:
            warnings.warn(message=stderr, stacklevel=2)
        warnings.warn("a user's own warning", stacklevel=2)
    assert [str(w.message) for w in shown] == [
        info + warning,
        "sbatch: error: Batch job submission failed: Invalid partition name\n",
        "a user's own warning",
    ]


def test_no_usable_cluster_no_quiet_file(write):
    assert cluster_files(load_clusters(write(CLUSTER)), "Not Valid") == []  # no valid account name


# --- one cluster account, one hub user ----------------------------------------------------------
def mapped(write, extra: str):
    return load_clusters(write(CLUSTER.replace('display_name = "HPC one"', f'display_name = "HPC one"\n{extra}')))[0]


def test_a_hub_user_named_like_someone_elses_mapped_account_gets_no_account(write):
    cluster = mapped(write, 'users = { "alice.smith" = "asmith" }')
    assert cluster.account("alice.smith") == "asmith"  # control: the mapping's owner keeps it
    account, why = cluster.account_or_reason("asmith")
    assert account is None and "'asmith' belongs to another hub user there" in why
    assert cluster_files([cluster], "asmith") == []  # no configuration that would log in as asmith


@pytest.mark.parametrize("user", ["root", "daemon", "nobody", "www-data"])
def test_reserved_accounts_are_given_to_no_hub_user(write, user):
    account, why = mapped(write, "").account_or_reason(user)
    assert account is None and "is a reserved account there" in why


def test_a_clusters_own_reserved_accounts(write):
    cluster = mapped(write, 'reserved_accounts = ["slurm", "munge"]')
    assert [cluster.account(u) for u in ("slurm", "munge", "bob")] == [None, None, "bob"]


def test_a_template_with_a_prefix_still_gives_each_user_their_own(write):
    cluster = mapped(write, 'user = "hpc_{username}"\nusers = { "bob" = "hpc_alice" }')
    assert [cluster.account(u) for u in ("bob", "alice", "carol")] == ["hpc_alice", None, "hpc_carol"]


def test_a_named_hub_user_whose_account_a_mapping_gives_another_stops_the_start(write, minimal_env):
    from pyiron_hub_config.hub_config import load_hub_config
    from pyiron_hub_config.problems import ConfigError

    clusters = write(
        CLUSTER.replace('display_name = "HPC one"', 'display_name = "HPC one"\nusers = { "alice.smith" = "asmith" }')
    )
    with pytest.raises(ConfigError) as info:
        load_hub_config({**minimal_env, "CLUSTERS_FILE": str(clusters), "ALLOWED_USERS": "alice.smith,asmith"})
    report = info.value.report()
    assert "hub user 'asmith' (ALLOWED_USERS/ADMIN_USER) would get the account 'asmith'" in report
    # Control: without the second user, the same list starts.
    assert load_hub_config({**minimal_env, "CLUSTERS_FILE": str(clusters), "ALLOWED_USERS": "alice.smith,bob"}).clusters
