"""`pyiron-hub check`'s warnings: valid settings that are unsafe in production (safety.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pyiron_hub_config import safety
from pyiron_hub_config.cli import main

REPO = Path(__file__).resolve().parents[2]
SOCKET_OVERLAY = (
    "services:\n  hub:\n    volumes:\n      - ${DOCKER_SOCKET:-/var/run/docker.sock}:/var/run/docker.sock\n"
)


def warnings_for(**values) -> list[str]:
    return safety.setting_warnings(values)


def test_safe_settings_give_no_warning():
    assert (
        warnings_for(
            OAUTH2_ISSUER_URL="https://keycloak.example.org/realms/pyiron", CLIENT_SECRET="x" * 64, ADMIN_ACCESS="false"
        )
        == []
    )


@pytest.mark.parametrize("name", ["CLIENT_SECRET", "POSTGRES_PASSWORD", "DUMMY_PASSWORD"])
def test_a_demo_secret_is_named(name):
    [warning] = warnings_for(**{name: "demo-only-client-secret-change-me"})
    assert warning.startswith(f"{name} is a demo-only value, published in this repository")
    assert "change-me" not in warning  # never echoes a secret, even a public one


@pytest.mark.parametrize(
    "url, warned",
    [
        ("http://keycloak.example.org/realms/pyiron", True),
        ("http://10.0.0.5:8080/realms/pyiron", True),
        ("http://keycloak:8080/realms/pyiron", True),
        ("https://keycloak.example.org/realms/pyiron", False),
        ("http://localhost:8080/realms/pyiron", False),
        ("http://127.0.0.1:8080/realms/pyiron", False),
        ("http://kc.localhost/realms/pyiron", False),
    ],
)
def test_an_http_issuer_off_this_machine(url, warned):
    assert bool(warnings_for(OAUTH2_ISSUER_URL=url)) is warned


def test_each_endpoint_url_is_looked_at():
    found = warnings_for(OAUTH2_TOKEN_URL="http://kc.example.org/t", OAUTH2_AUTHORIZE_URL="https://kc.example.org/a")
    assert [w.split()[0] for w in found] == ["OAUTH2_TOKEN_URL"]


@pytest.mark.parametrize("value, warned", [("true", True), ("1", True), ("false", False), ("", False)])
def test_admin_access(value, warned):
    assert bool(warnings_for(ADMIN_ACCESS=value)) is warned


def test_a_quota_is_no_warning_now_that_the_backup_includes_its_homes():
    assert warnings_for(STORAGE_QUOTA="10G", STORAGE_QUOTA_ROOT="/srv/quota") == []


@pytest.fixture
def project(tmp_path):
    """A checkout: the repository's compose files."""
    for path in REPO.glob("*.yml"):
        shutil.copy2(path, tmp_path / path.name)
    return tmp_path


def dotenv(project, compose_file: str, **more) -> None:
    values = {"COMPOSE_FILE": compose_file, **more}
    (project / ".env").write_text("".join(f"{k}='{v}'\n" for k, v in values.items()))


def test_the_stack_init_writes_keeps_the_socket_from_the_hub(project):
    from pyiron_hub_config.init_setup import StackChoice, compose_file

    stack = compose_file(None, StackChoice(tls="cert", backups=True), {}, False)
    dotenv(project, stack)
    assert safety.compose_socket_warnings(project) == []


def test_an_overlay_that_gives_the_hub_the_socket_is_warned_about(project):
    from pyiron_hub_config.init_setup import StackChoice, compose_file

    (project / "mine.yml").write_text(SOCKET_OVERLAY)
    stack = compose_file(None, StackChoice(), {}, False) + ":mine.yml"
    dotenv(project, stack)
    [warning] = safety.compose_socket_warnings(project)
    assert warning.startswith(
        "the hub would hold the Docker socket (/var/run/docker.sock at /var/run/docker.sock, "
        "from docker-compose.yml + mine.yml)"
    )
    # Interpolated as compose does: from .env.
    dotenv(project, stack, DOCKER_SOCKET="/run/user/1000/docker.sock")
    assert "(/run/user/1000/docker.sock at" in safety.compose_socket_warnings(project)[0]


def test_a_later_file_replaces_the_mount_by_its_target(project):
    (project / "a.yml").write_text(SOCKET_OVERLAY)
    (project / "b.yml").write_text(
        "services:\n  hub:\n    volumes:\n      - type: volume\n        source: empty\n"
        "        target: /var/run/docker.sock\n"
    )
    dotenv(project, "a.yml:b.yml")
    assert safety.compose_socket_warnings(project) == []
    dotenv(project, "b.yml:a.yml")
    assert len(safety.compose_socket_warnings(project)) == 1


def test_without_the_compose_files_it_says_where_to_run(tmp_path):
    dotenv(tmp_path, "docker-compose.yml")
    [warning] = safety.compose_socket_warnings(tmp_path)
    assert warning.startswith("no docker-compose.yml beside the env files")


@pytest.mark.parametrize(
    "text, env, expected",
    [
        ("${A:-x}", {}, "x"),
        ("${A:-x}", {"A": ""}, "x"),
        ("${A-x}", {"A": ""}, ""),
        ("${A}/b", {"A": "a"}, "a/b"),
        ("$A:$$B", {"A": "a"}, "a:$B"),
        ("${A:?set A}", {"A": "a"}, "a"),
    ],
)
def test_interpolate_as_compose(text, env, expected):
    assert safety.interpolate(text, env) == expected


def test_check_prints_every_warning_and_still_passes(tmp_path, clean_environ, capsys):
    for path in REPO.glob("*.yml"):
        shutil.copy2(path, tmp_path / path.name)
    (tmp_path / "mine.yml").write_text(SOCKET_OVERLAY)
    dotenv(tmp_path, "docker-compose.yml:mine.yml")
    (tmp_path / "pyiron.env").write_text(
        "OAUTH2_ISSUER_URL='http://keycloak.example.org/realms/pyiron'\nCLIENT_ID='pyiron-hub'\n"
        "CLIENT_SECRET='demo-only-client-secret-change-me'\nOAUTH2_ALLOW_ALL='true'\nADMIN_ACCESS='true'\n"
    )
    (tmp_path / "shared.env").write_text("POSTGRES_PASSWORD='x'\n")
    assert main(["check", "--env-file", str(tmp_path / "pyiron.env"), "--env-file", str(tmp_path / "shared.env")]) == 0
    warnings = [
        line.split(": ", 1)[1] for line in capsys.readouterr().out.splitlines() if line.startswith("  WARNING: ")
    ]
    assert [w.split(" ")[0] for w in warnings] == ["CLIENT_SECRET", "OAUTH2_ISSUER_URL", "ADMIN_ACCESS", "the"]
    assert warnings[-1].startswith("the hub would hold the Docker socket")


def test_socket_here_tells_a_socket_from_a_directory(tmp_path):
    import socket as sockets

    path = tmp_path / "docker.sock"
    server = sockets.socket(sockets.AF_UNIX)
    server.bind(str(path))
    try:
        assert safety.socket_here(str(path)) and not safety.socket_here(str(tmp_path))
    finally:
        server.close()
