"""The compose env files: what `init` writes must read back exactly as compose reads it."""

from __future__ import annotations

import pytest

from pyiron_hub_config.envfiles import (
    ENV_FILES,
    format_env_file,
    home_file,
    known_variables,
    parse_env_file,
    unsafe_value_problems,
)
from pyiron_hub_config.settings import SECRET_VARIABLES, variable_names


def parsed(tmp_path, text: str) -> dict[str, str]:
    (tmp_path / "x.env").write_text(text)
    return parse_env_file(tmp_path / "x.env")


@pytest.mark.parametrize(
    "text, values",
    [
        ("A=1\n", {"A": "1"}),
        ("A='x y'\n", {"A": "x y"}),
        ('A="x y"\n', {"A": "x y"}),
        ("A=x # comment\n", {"A": "x"}),
        ("A='x # kept'\n", {"A": "x # kept"}),
        ("# comment\n\nA=1\n", {"A": "1"}),
        ("export A=1\n", {"A": "1"}),
        ("A=\n", {"A": ""}),
        ("A=a=b\n", {"A": "a=b"}),
        ("A=1\nA=2\n", {"A": "2"}),
        ("not a line\n", {}),
    ],
)
def test_parse_env_file(tmp_path, text, values):
    assert parsed(tmp_path, text) == values


def test_format_sorts_and_quotes(tmp_path):
    assert format_env_file({"B": "2", "A": "x $y"}).splitlines()[1:] == ["A='x $y'", "B='2'"]


def test_format_starts_with_a_comment():
    assert format_env_file({}).startswith("# ")


@pytest.mark.parametrize("value", ["", "plain", "a b", "$HOME", "${X:-y}", "a#b", "a #b", '"q"', "\\n", "  lead"])
def test_format_then_parse_round_trips(tmp_path, value):
    assert parsed(tmp_path, format_env_file({"KEY": value})) == {"KEY": value}


@pytest.mark.parametrize("value", ["it's", "a\nb", "a\rb"])
def test_values_an_env_file_cannot_hold(value):
    assert [p.where for p in unsafe_value_problems({"KEY": value})] == ["KEY"]


def test_home_files():
    assert (home_file("POSTGRES_PASSWORD"), home_file("NGINX_NETWORK"), home_file("CLIENT_ID")) == (
        "shared.env",
        ".env",
        "pyiron.env",
    )
    assert {home_file(v) for v in known_variables()} <= set(ENV_FILES)


def test_every_setting_and_secret_file_is_a_known_variable():
    assert set(variable_names()) | {f"{v}_FILE" for v in SECRET_VARIABLES} <= known_variables()


COMPOSE_READS = (  # docker-compose 1.29's own reader, run with the Python it is installed for
    "import json, sys\nfrom compose.config.environment import env_vars_from_file\n"
    "print(json.dumps(env_vars_from_file(sys.argv[1], interpolate=False)))"
)


def compose_reads(path) -> dict[str, str]:
    import json
    import shutil
    import subprocess

    python = shutil.which("python3", path="/usr/bin")
    if not python or subprocess.run([python, "-c", "import compose"], capture_output=True).returncode:
        pytest.skip("docker-compose (v1) is not installed for /usr/bin/python3")
    out = subprocess.run([python, "-c", COMPOSE_READS, str(path)], capture_output=True, text=True, check=True).stdout
    # compose marks a literal '$' as '$$' when it does not interpolate; the container gets '$'.
    return {k: v.replace("$$", "$") for k, v in json.loads(out).items() if v is not None}


@pytest.mark.parametrize(
    "text",
    [
        "A=1\n",
        "A='x y'\n",
        'A="x y"\n',
        "A=x # comment\n",
        "A='x # kept'\n",
        "# comment\n\nA=1\n",
        "export A=1\n",
        "A=\n",
        "A=a=b\n",
        "A=1\nA=2\n",
        "not a line\n",
        'A="a\\nb"\n',
        "A='$HOME'\n",
        format_env_file({"KEY": "x $y #z", "OTHER": "  lead", "Q": '"q"'}),
    ],
)
def test_parse_env_file_reads_as_compose_does(tmp_path, text):
    (tmp_path / "x.env").write_text(text)
    assert parse_env_file(tmp_path / "x.env") == compose_reads(tmp_path / "x.env")
