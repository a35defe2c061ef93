"""`pyiron-hub init`: the old deployment's config.json -> .env (its build.env), pyiron.env, shared.env;
and a new set-up from flags or a person's answers."""

from __future__ import annotations

import copy
import json
import re
import stat

import pytest

from pyiron_hub_config.cli import main
from pyiron_hub_config.envfiles import format_env_file, parse_env_file

ENV_FILES = (".env", "pyiron.env", "shared.env")
# What init adds to the old build section: the stack's files and compose's project, and the
# defaults compose would take anyway, written out.
STACK = {
    "COMPOSE_PROJECT_NAME": "pyiron-hub",
    "HUB_IMAGE": "pyiron-hub:latest",
    "HUB_BIND": "127.0.0.1",
    "HUB_PORT": "8000",
}
KC = "https://keycloak.example.org/realms/pyiron/protocol/openid-connect"

# The old README's config.json, filled in as an admin would have.
OLD_CONFIG = {
    "build": {
        "HOST_KEY_PATH": "/etc/ssl/private/hub.key",
        "HOST_CERT_PATH": "/etc/ssl/certs/hub.crt",
        "NGINX_NETWORK": "pmd-server_nginx-net",
    },
    "pyiron": {
        "OAUTH2_TOKEN_URL": f"{KC}/token",
        "OAUTH2_AUTHORIZE_URL": f"{KC}/auth",
        "OAUTH2_USERDATA_URL": f"{KC}/userinfo",
        "OAUTH_CALLBACK_URL": "https://hub.example.org/hub/oauth_callback",
        "CLIENT_ID": "pyiron-hub",
        "CLIENT_SECRET": "s3cr$t #not a comment",
        "PYIRON_BASE": "pyiron/base:2024-06",
        "PYIRON_ATOMISTIC": "pyiron/pyiron:2024-06",
        "PYIRON_CONTINUUM": "pyiron/continuum:2024-06",
        "PYIRON_EXPERIMENTAL": "pyiron/experimental:2024-06",
        "MEM_LIMIT": "2G",
        "CPU_LIMIT": "1",
        "ADMIN_USER": "alice",
    },
    "shared": {"POSTGRES_PASSWORD": "pa$$word #1 with ${HOME} and `id`"},
}


@pytest.fixture
def seed(tmp_path):
    """write(config) -> path of config.json in a fresh directory; OLD_CONFIG by default."""

    def write(config=OLD_CONFIG, text=None):
        path = tmp_path / "deploy" / "config.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(config, indent=4) if text is None else text)
        return path

    return write


def snapshot(directory) -> dict:
    """Every file in directory (hidden ones too), with its bytes and mode."""
    return {p.name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in sorted(directory.iterdir())}


def init_from(path) -> int:
    return main(["init", "--from", str(path)])


# --- a good config.json ------------------------------------------------------------------------
def test_init_from_writes_three_files_beside_config_json(seed):
    path = seed()
    assert init_from(path) == 0
    assert sorted(p.name for p in path.parent.iterdir()) == [".env", "config.json", "pyiron.env", "shared.env"]


def test_files_are_private(seed):
    path = seed()
    init_from(path)
    assert {name: stat.S_IMODE((path.parent / name).stat().st_mode) for name in ENV_FILES} == dict.fromkeys(
        ENV_FILES, 0o600
    )


def test_each_section_lands_in_its_file(seed):
    path = seed()
    init_from(path)
    # The old deployment had both its certificate and nginx's network: both overlays.
    assert parse_env_file(path.parent / ".env") == {
        **OLD_CONFIG["build"],
        **STACK,
        "COMPOSE_FILE": "docker-compose.yml:compose.tls.yml:compose.nginx.yml",
    }
    assert parse_env_file(path.parent / "shared.env") == OLD_CONFIG["shared"]


def test_old_access_rule_is_kept_visibly(seed):
    # The old deployment let every user of the realm in.
    path = seed()
    init_from(path)
    assert parse_env_file(path.parent / "pyiron.env") == {**OLD_CONFIG["pyiron"], "OAUTH2_ALLOW_ALL": "true"}


def test_given_access_rule_is_not_widened(seed):
    config = copy.deepcopy(OLD_CONFIG)
    config["pyiron"]["OAUTH2_ALLOWED_GROUPS"] = "pyiron-users"
    path = seed(config)
    init_from(path)
    assert "OAUTH2_ALLOW_ALL" not in parse_env_file(path.parent / "pyiron.env")


def test_running_twice_gives_identical_files(seed):
    path = seed()
    init_from(path)
    first = snapshot(path.parent)
    assert init_from(path) == 0
    assert snapshot(path.parent) == first


def test_no_key_is_written_twice(seed):
    path = seed()
    for _ in range(3):
        init_from(path)
    for name in ENV_FILES:
        keys = [
            line.split("=", 1)[0]
            for line in (path.parent / name).read_text().splitlines()
            if line and not line.startswith("#")
        ]
        assert len(keys) == len(set(keys)), name


@pytest.mark.parametrize(
    "value",
    [
        "a$b",
        "${HOME}",
        "$$",
        "a #b",
        "#start",
        "with spaces",
        " padded ",
        'say "hi"',
        '"quoted"',
        "back\\slash",
        "`id`",
        "$(id)",
        "a=b=c",
        "ünïcødé",
    ],
)
def test_awkward_values_parse_back_identically(seed, value):
    config = copy.deepcopy(OLD_CONFIG)
    config["pyiron"]["CLIENT_SECRET"] = value
    path = seed(config)
    assert init_from(path) == 0
    assert parse_env_file(path.parent / "pyiron.env")["CLIENT_SECRET"] == value


def test_values_are_single_quoted(seed):
    path = seed()
    init_from(path)
    assert "CLIENT_SECRET='s3cr$t #not a comment'\n" in (path.parent / "pyiron.env").read_text()


def test_written_files_pass_check(seed, clean_environ, capsys):
    path = seed()
    init_from(path)
    args = ["check", "--env-file", str(path.parent / "pyiron.env"), "--env-file", str(path.parent / "shared.env")]
    assert main(args) == 0
    assert "pyiron/continuum:2024-06" in capsys.readouterr().out


def test_numbers_are_written_as_the_old_script_wrote_them(seed):
    # create_hub.py wrote f"{key}={value}", so "CPU_LIMIT": 2 worked in the old deployment.
    config = copy.deepcopy(OLD_CONFIG)
    config["pyiron"]["CPU_LIMIT"] = 2
    path = seed(config)
    assert init_from(path) == 0
    assert parse_env_file(path.parent / "pyiron.env")["CPU_LIMIT"] == "2"


# --- the database password ---------------------------------------------------------------------
def without_password():
    config = copy.deepcopy(OLD_CONFIG)
    del config["shared"]
    return config


def test_password_generated_when_missing(seed):
    path = seed(without_password())
    init_from(path)
    assert re.fullmatch(r"[0-9a-f]{64}", parse_env_file(path.parent / "shared.env")["POSTGRES_PASSWORD"])


def test_generated_password_kept_on_rerun(seed):
    path = seed(without_password())
    init_from(path)
    first = (path.parent / "shared.env").read_bytes()
    init_from(path)
    assert (path.parent / "shared.env").read_bytes() == first


def test_password_file_instead_of_password(seed):
    config = without_password()
    config["shared"] = {"POSTGRES_PASSWORD_FILE": "/run/secrets/postgres_password"}
    path = seed(config)
    init_from(path)
    assert parse_env_file(path.parent / "shared.env") == {"POSTGRES_PASSWORD_FILE": "/run/secrets/postgres_password"}


# --- reruns keep the admin's edits ----------------------------------------------------------
def test_rerun_keeps_values_added_by_hand(seed):
    path = seed()
    init_from(path)
    with open(path.parent / "pyiron.env", "a") as f:
        f.write("MAX_MEM_LIMIT=8G\n")
    init_from(path)
    assert parse_env_file(path.parent / "pyiron.env")["MAX_MEM_LIMIT"] == "8G"


def test_rerun_takes_changed_values_from_config_json(seed):
    path = seed()
    init_from(path)
    config = copy.deepcopy(OLD_CONFIG)
    config["pyiron"]["MEM_LIMIT"] = "4G"
    seed(config)
    init_from(path)
    assert parse_env_file(path.parent / "pyiron.env")["MEM_LIMIT"] == "4G"


def test_dir_option_writes_elsewhere(seed, tmp_path):
    path = seed()
    assert main(["init", "--from", str(path), "--dir", str(tmp_path / "elsewhere")]) == 0
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == sorted(ENV_FILES)


# --- a bad config.json: exit 1, a clear message, nothing written ----------------------------------
def with_value(section, key, value):
    config = copy.deepcopy(OLD_CONFIG)
    config.setdefault(section, {})[key] = value
    return config


def without_key(section, key):
    config = copy.deepcopy(OLD_CONFIG)
    del config[section][key]
    return config


REFUSED = {
    "truncated": (None, json.dumps(OLD_CONFIG)[:200], "is not valid JSON"),
    "empty file": (None, "", "is not valid JSON"),
    "top level list": ([OLD_CONFIG], None, "must be a JSON object with sections build, pyiron and shared"),
    "section not an object": (
        {**OLD_CONFIG, "shared": "POSTGRES_PASSWORD=x"},
        None,
        "section 'shared': must be an object",
    ),
    "list value": (
        with_value("pyiron", "ADMIN_USER", ["alice", "bob"]),
        None,
        "pyiron.ADMIN_USER: must be a string, not list",
    ),
    "bool value": (
        with_value("pyiron", "OAUTH2_ALLOW_ALL", True),
        None,
        "pyiron.OAUTH2_ALLOW_ALL: must be a string, not bool",
    ),
    "null value": (
        with_value("pyiron", "CLIENT_SECRET", None),
        None,
        "pyiron.CLIENT_SECRET: must be a string, not NoneType",
    ),
    "object value": (
        with_value("build", "NGINX_NETWORK", {"name": "x"}),
        None,
        "build.NGINX_NETWORK: must be a string, not dict",
    ),
    "unknown section": (
        {**OLD_CONFIG, "database": {"POSTGRES_USER": "x"}},
        None,
        "section 'database': unknown section",
    ),
    "unknown key": (
        with_value("pyiron", "OAUTH2_TOKEN_ULR", f"{KC}/token"),
        None,
        "pyiron.OAUTH2_TOKEN_ULR: unknown variable",
    ),
    "lower-case key": (with_value("pyiron", "client_id", "x"), None, "pyiron.client_id: unknown variable"),
    "quote in value": (
        with_value("pyiron", "CLIENT_SECRET", "it's"),
        None,
        "CLIENT_SECRET: contains a quote or line break",
    ),
    "newline in value": (
        with_value("shared", "POSTGRES_PASSWORD", "a\nEVIL=1"),
        None,
        "POSTGRES_PASSWORD: contains a quote",
    ),
    "value the hub rejects": (with_value("pyiron", "MEM_LIMIT", "lots"), None, "MEM_LIMIT: 'lots' is not a size"),
    "image with shell": (with_value("pyiron", "PYIRON_BASE", "pyiron/base; rm -rf /"), None, "PYIRON_BASE: "),
    "no client id": (without_key("pyiron", "CLIENT_ID"), None, "CLIENT_ID: is required but not set"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_and_nothing_written(seed, capsys, case):
    config, text, message = REFUSED[case]
    path = seed(config, text)
    before = snapshot(path.parent)
    assert init_from(path) == 1
    out, err = capsys.readouterr()
    last_line = err.rstrip().splitlines()[-1]
    assert (message in err, last_line.startswith("No file was written."), "Traceback" in err) == (True, True, False)
    assert snapshot(path.parent) == before


@pytest.mark.parametrize("case", ["truncated", "list value", "unknown key", "value the hub rejects"])
def test_refused_rerun_leaves_earlier_files_alone(seed, capsys, case):
    path = seed()
    init_from(path)
    config, text, _ = REFUSED[case]
    seed(config, text)
    before = snapshot(path.parent)
    assert init_from(path) == 1
    assert snapshot(path.parent) == before


def test_every_problem_in_config_json_is_reported_at_once(seed, capsys):
    config = copy.deepcopy(OLD_CONFIG)
    config["pyiron"].update({"ADMIN_USER": ["a"], "TYPO": "x", "CPU_LIMIT": None})
    config["extra"] = {}
    assert init_from(seed(config)) == 1
    assert capsys.readouterr().err.startswith("pyiron-hub: 4 configuration problems:")


def test_placeholders_of_the_old_readme_are_refused(seed, capsys):
    placeholder = {
        "build": {
            "HOST_KEY_PATH": "path/to/key",
            "HOST_CERT_PATH": "path/to/cert",
            "NGINX_NETWORK": "name of nginx network; external",
        },
        "pyiron": {
            "OAUTH2_TOKEN_URL": "toke_url",
            "OAUTH2_AUTHORIZE_URL": "AUTHORIZE_url",
            "OAUTH2_USERDATA_URL": "USERDATA_url",
            "OAUTH_CALLBACK_URL": "CALLBACK_url",
            "CLIENT_ID": "id",
            "CLIENT_SECRET": "secret",
            "PYIRON_BASE": "base_image:tag",
            "MEM_LIMIT": "2G",
            "CPU_LIMIT": "1",
            "ADMIN_USER": "user_name",
        },
        "shared": {"POSTGRES_PASSWORD": "password"},
    }
    path = seed(placeholder)
    assert init_from(path) == 1
    err = capsys.readouterr().err
    assert [
        v
        for v in ("OAUTH2_TOKEN_URL", "OAUTH2_AUTHORIZE_URL", "OAUTH2_USERDATA_URL", "OAUTH_CALLBACK_URL")
        if f"  - {v}: " not in err
    ] == []
    assert not (path.parent / "pyiron.env").exists()


def test_missing_config_json(tmp_path, capsys):
    assert init_from(tmp_path / "config.json") == 1
    assert "cannot read it: No such file or directory" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# --- init without --from ----------------------------------------------------------------------
def test_fresh_init_writes_files_with_a_generated_password(tmp_path, capsys):
    assert main(["init", "--dir", str(tmp_path)]) == 0
    files = {name: parse_env_file(tmp_path / name) for name in ENV_FILES}
    assert (files[".env"], files["pyiron.env"], list(files["shared.env"])) == (
        {**STACK, "COMPOSE_FILE": "docker-compose.yml"},
        {},
        ["POSTGRES_PASSWORD"],
    )
    assert re.fullmatch(r"[0-9a-f]{64}", files["shared.env"]["POSTGRES_PASSWORD"])


def test_fresh_init_says_what_to_do_next(tmp_path, capsys):
    main(["init", "--dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "First fill in pyiron.env (or run init again with its flags):\n" in out
    assert "\n  OAUTH2_ISSUER_URL: not set" in out
    assert out.rstrip().endswith("  docker compose up -d")


def test_fresh_init_files_are_private(tmp_path):
    main(["init", "--dir", str(tmp_path)])
    assert {stat.S_IMODE((tmp_path / n).stat().st_mode) for n in ENV_FILES} == {0o600}


def test_fresh_init_defaults_to_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(ENV_FILES)


def test_fresh_init_twice_keeps_the_password(tmp_path):
    main(["init", "--dir", str(tmp_path)])
    first = snapshot(tmp_path)
    main(["init", "--dir", str(tmp_path)])
    assert snapshot(tmp_path) == first


def test_fresh_init_creates_the_directory(tmp_path):
    assert main(["init", "--dir", str(tmp_path / "new" / "dir")]) == 0
    assert (tmp_path / "new" / "dir" / "shared.env").is_file()


# --- env files for `docker stack deploy` (the Docker CLI reads them literally) ------------------
def docker_cli_env_file(path) -> dict:
    """How the Docker CLI's env-file reader takes a file: everything after '=' as it is."""
    values = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key] = value
    return values


@pytest.mark.parametrize("value", ["a$b", "${HOME}", "with spaces", "a=b=c", "ünïcødé", "`id`", "#start"])
def test_swarm_files_read_the_same_by_compose_and_the_docker_cli(seed, value):
    config = copy.deepcopy(OLD_CONFIG)
    config["pyiron"]["SITE_NAME"] = value  # not a secret: those leave the env files (test_swarm_secrets.py)
    path = seed(config)
    assert main(["init", "--swarm", "--from", str(path)]) == 0
    assert docker_cli_env_file(path.parent / "pyiron.env")["SITE_NAME"] == value
    assert parse_env_file(path.parent / "pyiron.env")["SITE_NAME"] == value


@pytest.mark.parametrize("value", [" padded ", "a #b", '"quoted"'])
def test_swarm_files_refuse_what_unquoted_files_cannot_hold(seed, value, capsys):
    config = copy.deepcopy(OLD_CONFIG)
    config["pyiron"]["SITE_NAME"] = value
    path = seed(config)
    before = snapshot(path.parent)
    assert main(["init", "--swarm", "--from", str(path)]) == 1
    assert "SITE_NAME: starts or ends with a space" in capsys.readouterr().err
    assert snapshot(path.parent) == before


# --- a new set-up from flags (scripts) or answers (a person at a terminal) --------------------
FLAGS = [
    "--issuer-url",
    "https://keycloak.example.org/realms/pyiron",
    "--hub-url",
    "https://hub.example.org",
    "--allowed-group",
    "pyiron-users",
    "--admin-group",
    "pyiron-admins",
    "--admins",
    "alice",
    "--image",
    "pyiron_base=registry.example.org/base:7",
    "--hub-port",
    "8443",
    "--no-input",
]


def init_new(directory, *extra) -> int:
    return main(["init", "--dir", str(directory), *FLAGS, *extra])


def test_flags_write_a_set_up_the_hub_accepts(tmp_path, capsys):
    assert init_new(tmp_path) == 0
    pyiron = parse_env_file(tmp_path / "pyiron.env")
    assert {k: v for k, v in pyiron.items() if k != "CLIENT_SECRET"} == {
        "OAUTH2_ISSUER_URL": "https://keycloak.example.org/realms/pyiron",
        "CLIENT_ID": "pyiron-hub",
        "OAUTH_CALLBACK_URL": "https://hub.example.org/hub/oauth_callback",
        "OAUTH2_ALLOWED_GROUPS": "pyiron-users",
        "OAUTH2_ADMIN_GROUPS": "pyiron-admins",
        "ADMIN_USER": "alice",
        "PYIRON_BASE": "registry.example.org/base:7",
    }
    assert re.fullmatch(r"[0-9a-f]{64}", pyiron["CLIENT_SECRET"])  # generated: keycloak-client gives it to Keycloak
    assert parse_env_file(tmp_path / ".env")["HUB_PORT"] == "8443"
    args = ["check", "--env-file", str(tmp_path / "pyiron.env"), "--env-file", str(tmp_path / "shared.env")]
    assert main(args) == 0
    assert "First fill in" not in capsys.readouterr().out


def test_next_is_exactly_the_commands_to_run(tmp_path, capsys):
    init_new(tmp_path, "--backups", "--backup-repository", "/srv/backups/hub", "--hub-image", "hub:2")
    out = capsys.readouterr().out
    run = 'docker run --rm -v "$PWD:/cfg" -w /cfg hub:2 pyiron-hub'
    assert out.split("Next, in this directory (beside docker-compose.yml), run:\n")[1].splitlines() == [
        f"  {run} keycloak-client --env-file pyiron.env    # the client Keycloak needs; --apply creates it",
        f"  {run} check --env-file pyiron.env --env-file shared.env",
        '  docker run --rm -v /var/run/docker.sock:/var/run/docker.sock -v "$PWD:/cfg" -w /cfg hub:2 pyiron-hub '
        "pull --missing --env-file pyiron.env",
        "  docker compose up -d",
        "  docker compose run --rm backup pyiron-hub backup --init",
    ]


def test_flags_twice_change_nothing(tmp_path):
    init_new(tmp_path, "--backups", "--backup-repository", "/srv/backups/hub")
    first = snapshot(tmp_path)
    assert init_new(tmp_path, "--backups", "--backup-repository", "/srv/backups/hub") == 0
    assert snapshot(tmp_path) == first
    assert main(["init", "--dir", str(tmp_path), "--no-input"]) == 0  # and without the flags: kept as written
    assert snapshot(tmp_path) == first


def test_a_flag_changes_only_its_own_value(tmp_path):
    init_new(tmp_path)
    before = {name: parse_env_file(tmp_path / name) for name in ENV_FILES}
    main(["init", "--dir", str(tmp_path), "--no-input", "--hub-port", "9000"])
    after = {name: parse_env_file(tmp_path / name) for name in ENV_FILES}
    assert after[".env"] == {**before[".env"], "HUB_PORT": "9000"}
    assert (after["pyiron.env"], after["shared.env"]) == (before["pyiron.env"], before["shared.env"])


@pytest.mark.parametrize(
    "extra, stack",
    [
        ([], "docker-compose.yml"),
        (
            ["--tls", "cert", "--cert", "/etc/ssl/hub.pem", "--key", "/etc/ssl/hub.key"],
            "docker-compose.yml:compose.tls.yml",
        ),
        (["--tls", "nginx", "--nginx-network", "nginx-net"], "docker-compose.yml:compose.nginx.yml"),
        (["--backups", "--backup-repository", "/srv/b"], "docker-compose.yml:compose.backup.yml"),
        (["--clusters"], "docker-compose.yml:compose.clusters.yml"),
    ],
)
def test_compose_file_names_the_chosen_overlays(tmp_path, extra, stack):
    init_new(tmp_path, *extra)
    assert parse_env_file(tmp_path / ".env")["COMPOSE_FILE"] == stack


def test_choices_are_kept_and_files_added_by_hand_stay(tmp_path):
    init_new(tmp_path, "--tls", "cert", "--cert", "/c", "--key", "/k", "--backups", "--backup-repository", "/srv/b")
    dotenv = parse_env_file(tmp_path / ".env")
    (tmp_path / ".env").write_text(format_env_file({**dotenv, "COMPOSE_FILE": dotenv["COMPOSE_FILE"] + ":mine.yml"}))
    main(["init", "--dir", str(tmp_path), "--no-input", "--no-backups"])
    assert parse_env_file(tmp_path / ".env")["COMPOSE_FILE"] == "docker-compose.yml:compose.tls.yml:mine.yml"


def test_an_old_guard_overlay_is_dropped_the_guard_is_in_the_base_file(tmp_path):
    (tmp_path / ".env").write_text("COMPOSE_FILE='docker-compose.yml:compose.tls.yml:compose.guard.yml'\n")
    main(["init", "--dir", str(tmp_path), "--no-input"])
    assert parse_env_file(tmp_path / ".env")["COMPOSE_FILE"] == "docker-compose.yml:compose.tls.yml"


def test_backups_get_a_private_backup_env_with_a_generated_passphrase(tmp_path, capsys):
    init_new(tmp_path, "--backups", "--backup-repository", "/srv/backups/hub")
    backup = parse_env_file(tmp_path / "backup.env")
    assert backup["RESTIC_REPOSITORY"] == "/srv/backups/hub" and len(backup["RESTIC_PASSWORD"]) == 64
    assert backup["BACKUP_AT"] == "03:00"  # nightly; the first backup is Next's `backup --init`
    assert stat.S_IMODE((tmp_path / "backup.env").stat().st_mode) == 0o600
    assert "Keep a copy of RESTIC_PASSWORD (backup.env) off this host" in capsys.readouterr().out


def test_backups_without_a_repository_are_refused(tmp_path, capsys):
    assert init_new(tmp_path, "--backups") == 1
    assert "--backup-repository: is required with --backups" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_every_bad_flag_is_refused_at_once_and_nothing_written(tmp_path, capsys):
    assert (
        main(
            [
                "init",
                "--dir",
                str(tmp_path),
                "--no-input",
                "--issuer-url",
                "keycloak",
                "--image",
                "nope=x:1",
                "--hub-url",
                "https://hub.example.org/path",
                "--set",
                "NO_SUCH=1",
                "--project-name",
                "Pyiron Hub",
                "--set",
                "MEM_LIMIT=lots",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    for where in (
        "OAUTH2_ISSUER_URL",
        "--image nope=x:1",
        "--hub-url",
        "--set NO_SUCH=1",
        "--project-name",
        "MEM_LIMIT",
    ):
        assert f"  - {where}: " in err, where
    assert list(tmp_path.iterdir()) == []


def test_an_old_build_env_moves_into_dot_env(tmp_path, capsys):
    (tmp_path / "build.env").write_text("HUB_PORT='8001'\nNGINX_NETWORK='proxy'\n")
    main(["init", "--dir", str(tmp_path), "--no-input"])
    dotenv = parse_env_file(tmp_path / ".env")
    assert (dotenv["HUB_PORT"], dotenv["COMPOSE_FILE"]) == ("8001", "docker-compose.yml:compose.nginx.yml")
    assert "build.env: its values are now in .env" in capsys.readouterr().out


def test_a_person_at_a_terminal_is_asked(tmp_path, monkeypatch, capsys):
    replies = iter(
        [
            "https://kc.example.org/realms/lab",
            "",
            "https://hub.example.org",
            "",
            "lab-admins",
            "",
            "cert",
            "/etc/ssl/hub.pem",
            "/etc/ssl/hub.key",
            "yes",
            "/srv/backups/hub",
        ]
    )
    asked = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda text: asked.append(text) or next(replies))
    monkeypatch.setattr("getpass.getpass", lambda text: asked.append(text) or "")
    assert main(["init", "--dir", str(tmp_path)]) == 0
    assert asked[1] == "The hub's client id in that realm [pyiron-hub]: "
    pyiron = parse_env_file(tmp_path / "pyiron.env")
    assert (
        pyiron["OAUTH2_ISSUER_URL"],
        pyiron["CLIENT_ID"],
        pyiron["OAUTH2_ALLOWED_GROUPS"],
        pyiron["OAUTH2_ADMIN_GROUPS"],
        len(pyiron["CLIENT_SECRET"]),
    ) == ("https://kc.example.org/realms/lab", "pyiron-hub", "pyiron-users", "lab-admins", 64)
    assert parse_env_file(tmp_path / ".env")["COMPOSE_FILE"] == "docker-compose.yml:compose.tls.yml:compose.backup.yml"
    assert not any("Port" in text for text in asked)  # with the hub's own TLS, the port is 443 (HTTPS_PORT)
    # A second time, Enter everywhere keeps everything.
    first = snapshot(tmp_path)
    monkeypatch.setattr("builtins.input", lambda text: "")
    assert main(["init", "--dir", str(tmp_path)]) == 0
    assert snapshot(tmp_path) == first


def test_a_script_is_never_asked(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    monkeypatch.setattr("builtins.input", lambda text: pytest.fail("asked"))
    assert main(["init", "--dir", str(tmp_path)]) == 0
