"""The swarm keeps its secrets: `init --swarm` moves them from the env files into secrets/,
compose.swarm.yml makes swarm secrets of them, and the hub reads them through *_FILE."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from pyiron_hub_config.cli import main
from pyiron_hub_config.envfiles import parse_env_file
from pyiron_hub_config.settings import SECRET_VARIABLES, load_settings
from pyiron_hub_config.swarm_secrets import SWARM_SECRETS, split_secrets

from .test_cli_init import OLD_CONFIG

REPO = Path(__file__).resolve().parents[2]
STACK = yaml.safe_load((REPO / "compose.swarm.yml").read_text())
BY_VARIABLE = {s.variable: s for s in SWARM_SECRETS}
GIVEN = {"CLIENT_SECRET": "client-secret-value", "POSTGRES_PASSWORD": "db-password-value", "SITE_NAME": "a hub"}


def counter():
    n = iter(range(1000))
    return lambda: f"generated-{next(n)}"


# --- split_secrets: pure ---------------------------------------------------------------------
def test_every_secret_the_hub_reads_is_a_swarm_secret():
    assert [s.variable for s in SWARM_SECRETS] == list(SECRET_VARIABLES)


def test_given_secrets_move_to_files_and_the_env_keeps_only_where_they_are():
    plan = split_secrets(GIVEN, {}, counter())
    assert plan.problems == [] and plan.missing == []
    assert plan.new_files["client_secret"] == "client-secret-value"
    assert plan.new_files["postgres_password"] == "db-password-value"
    assert plan.env == {"SITE_NAME": "a hub", **{s.file_variable: f"/run/secrets/{s.name}" for s in SWARM_SECRETS}}


def test_the_hubs_own_secrets_are_generated_the_client_secret_never():
    plan = split_secrets({}, {}, counter())
    assert plan.missing == ["CLIENT_SECRET"] and "CLIENT_SECRET_FILE" not in plan.env
    assert set(plan.new_files) == {s.name for s in SWARM_SECRETS} - {"client_secret"}
    assert len(set(plan.new_files.values())) == len(plan.new_files)


def test_the_dummy_login_gets_a_client_secret_it_never_uses():
    # compose.swarm.yml mounts one whatever the authenticator.
    plan = split_secrets({"AUTHENTICATOR": "dummy"}, {}, counter())
    assert plan.missing == [] and plan.new_files["client_secret"].startswith("generated-")


def test_a_second_run_keeps_every_file_and_writes_nothing():
    first = split_secrets(GIVEN, {}, counter())
    again = split_secrets(first.env, first.new_files, counter())
    assert (again.new_files, again.problems, again.env) == ({}, [], first.env)
    assert sorted(again.kept) == sorted(first.new_files)


def test_the_same_value_in_env_file_and_secret_file_is_no_conflict():
    plan = split_secrets(GIVEN, {"client_secret": "client-secret-value\n"}, counter())
    assert plan.problems == [] and "client_secret" in plan.kept and "client_secret" not in plan.new_files


def test_every_ambiguous_secret_is_refused_at_once():
    plan = split_secrets(
        {**GIVEN, "METRICS_API_TOKEN_FILE": "/srv/tokens/metrics"},
        {"client_secret": "another", "postgres_password": "another too"},
        counter(),
    )
    problems = {p.where: p for p in plan.problems}
    assert set(problems) == {"CLIENT_SECRET", "POSTGRES_PASSWORD", "METRICS_API_TOKEN_FILE"}
    assert "differs from secrets/client_secret: keep one" in problems["CLIENT_SECRET"].message
    assert problems["METRICS_API_TOKEN_FILE"].example == "METRICS_API_TOKEN_FILE=/run/secrets/metrics_token"
    assert "another" not in str(plan.problems) and "client-secret-value" not in str(plan.problems)


@pytest.mark.parametrize("value", [" padded", "padded\n", "\tx"])
def test_a_secret_with_spaces_at_its_ends_is_refused(value):
    # The hub strips a secret file; Postgres' image keeps leading spaces: they would disagree.
    plan = split_secrets({"POSTGRES_PASSWORD": value}, {}, counter())
    assert [p.where for p in plan.problems] == ["POSTGRES_PASSWORD"]


def test_an_empty_secret_file_is_refused():
    plan = split_secrets({}, {"crypt_key": "\n"}, counter())
    assert [p.where for p in plan.problems] == ["secrets/crypt_key"]


# --- compose.swarm.yml mounts exactly these ---------------------------------------------------
def test_the_stack_declares_each_secret_from_its_file():
    assert STACK["secrets"] == {s.name: {"file": f"./secrets/{s.name}"} for s in SWARM_SECRETS}


def test_the_hub_gets_every_secret_postgres_only_its_password_both_readable_by_root_alone():
    hub, db = (STACK["services"][name]["secrets"] for name in ("hub", "hub-db"))
    assert hub == [{"source": s.name, "mode": 0o400} for s in SWARM_SECRETS]
    assert db == [{"source": "postgres_password", "mode": 0o400}]


def test_no_secret_in_any_services_environment_in_the_stack_file():
    for _name, svc in STACK["services"].items():
        assert not set(svc.get("environment", {})) & {v for s in SWARM_SECRETS for v in (s.variable, s.file_variable)}


# --- `pyiron-hub init --swarm` ----------------------------------------------------------------
@pytest.fixture
def swarm_dir(tmp_path):
    """init --swarm from the old deployment's config.json: a directory ready for stack deploy."""
    import json

    (tmp_path / "config.json").write_text(json.dumps(OLD_CONFIG))
    assert main(["init", "--swarm", "--from", str(tmp_path / "config.json")]) == 0
    return tmp_path


def test_init_swarm_leaves_no_secret_in_any_env_file(swarm_dir):
    secrets = {p.name: p.read_text() for p in (swarm_dir / "secrets").iterdir()}
    assert secrets["client_secret"] == OLD_CONFIG["pyiron"]["CLIENT_SECRET"]
    assert secrets["postgres_password"] == OLD_CONFIG["shared"]["POSTGRES_PASSWORD"]
    assert set(secrets) == {s.name for s in SWARM_SECRETS}
    for env_file in ("pyiron.env", "shared.env", "build.env"):
        text = (swarm_dir / env_file).read_text()
        assert not [name for name, value in secrets.items() if value in text], env_file
    assert parse_env_file(swarm_dir / "shared.env")["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert parse_env_file(swarm_dir / "pyiron.env")["CLIENT_SECRET_FILE"] == "/run/secrets/client_secret"


def test_init_swarm_secret_files_are_private(swarm_dir):
    assert stat.S_IMODE((swarm_dir / "secrets").stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in (swarm_dir / "secrets").iterdir()} == {0o600}


def test_init_swarm_twice_changes_nothing(swarm_dir):
    def everything():
        return {p.relative_to(swarm_dir): p.read_bytes() for p in sorted(swarm_dir.rglob("*")) if p.is_file()}

    before = everything()
    assert main(["init", "--swarm", "--dir", str(swarm_dir)]) == 0
    assert everything() == before


def test_init_swarm_files_pass_check_on_the_host(swarm_dir, clean_environ, capsys):
    files = [arg for name in ("pyiron.env", "shared.env") for arg in ("--env-file", str(swarm_dir / name))]
    assert main(["check", *files]) == 0, capsys.readouterr().err


def test_the_hub_reads_each_secret_from_its_mount(swarm_dir, clean_environ):
    # What the hub sees on the swarm: the env files, with /run/secrets/<name> as secrets/<name>.
    env = {**parse_env_file(swarm_dir / "pyiron.env"), **parse_env_file(swarm_dir / "shared.env")}
    env = {k: v.replace("/run/secrets/", f"{swarm_dir}/secrets/") for k, v in env.items()}
    settings = load_settings(env, check_paths=True)
    secrets = {p.name: p.read_text() for p in (swarm_dir / "secrets").iterdir()}
    assert settings.client_secret.get_secret_value() == secrets["client_secret"]
    assert settings.postgres_password.get_secret_value() == secrets["postgres_password"]
    assert settings.cookie_secret.get_secret_value() == secrets["cookie_secret"]
    assert settings.crypt_key.get_secret_value() == secrets["crypt_key"]
    assert settings.proxy_token.get_secret_value() == secrets["proxy_token"]
    assert settings.metrics_token.get_secret_value() == secrets["metrics_token"]
    assert settings.key_sync_token.get_secret_value() == secrets["key_sync_token"]


def test_a_secret_put_back_into_an_env_file_differently_is_refused_and_nothing_written(swarm_dir, capsys):
    with (swarm_dir / "pyiron.env").open("a") as f:
        f.write("CLIENT_SECRET=rotated-in-keycloak\n")
    before = {p: p.read_bytes() for p in swarm_dir.rglob("*") if p.is_file()}
    assert main(["init", "--swarm", "--dir", str(swarm_dir)]) == 1
    err = capsys.readouterr().err
    assert "CLIENT_SECRET: is set in the env file and differs from secrets/client_secret" in err
    assert "rotated-in-keycloak" not in err
    assert {p: p.read_bytes() for p in swarm_dir.rglob("*") if p.is_file()} == before


def test_fresh_init_swarm_says_to_run_again_once_the_client_secret_is_there(tmp_path, capsys):
    assert main(["init", "--swarm", "--dir", str(tmp_path)]) == 0
    assert "moves CLIENT_SECRET into" in capsys.readouterr().out
    assert "CLIENT_SECRET_FILE" not in parse_env_file(tmp_path / "pyiron.env")
    with (tmp_path / "pyiron.env").open("a") as f:
        f.write("CLIENT_SECRET=from-keycloak\n")
    assert main(["init", "--swarm", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "secrets/client_secret").read_text() == "from-keycloak"
    assert "from-keycloak" not in (tmp_path / "pyiron.env").read_text()


def test_plain_init_is_unchanged_secrets_stay_in_the_env_files(tmp_path):
    # docker-compose.yml on one host reads them there, as before.
    import json

    (tmp_path / "config.json").write_text(json.dumps(OLD_CONFIG))
    assert main(["init", "--from", str(tmp_path / "config.json")]) == 0
    assert not (tmp_path / "secrets").exists()
    assert parse_env_file(tmp_path / "pyiron.env")["CLIENT_SECRET"] == OLD_CONFIG["pyiron"]["CLIENT_SECRET"]


def test_init_swarm_writes_build_env_for_the_shell_and_no_compose_dot_env(swarm_dir):
    # `docker stack deploy` reads no env file: the README sources build.env; COMPOSE_FILE has no part there.
    assert (swarm_dir / "build.env").is_file() and not (swarm_dir / ".env").exists()
    assert "COMPOSE_FILE" not in parse_env_file(swarm_dir / "build.env")
