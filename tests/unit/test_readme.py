"""The README's configuration reference names every variable the hub and compose read."""

import re
from pathlib import Path

import pytest

from pyiron_hub_config.envfiles import BUILD_VARIABLES
from pyiron_hub_config.settings import SECRET_VARIABLES, variable_names

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
COMPOSE = (REPO / "docker-compose.yml").read_text() + (REPO / "compose.tls.yml").read_text() + (
    REPO / "compose.nginx.yml").read_text() + (REPO / "compose.swarm.yml").read_text() + (
    REPO / "compose.swarm-registry.yml").read_text() + (REPO / "compose.swarm-shared.yml").read_text() + (
    REPO / "compose.swarm-encrypted.yml").read_text() + (
    REPO / "compose.clusters.yml").read_text() + (
    REPO / "compose.backup.yml").read_text()


@pytest.mark.parametrize("variable", sorted(set(variable_names()) | {f"{v}_FILE" for v in SECRET_VARIABLES}))
def test_every_hub_variable_is_documented(variable):
    assert f"`{variable}`" in README


@pytest.mark.parametrize("variable", sorted(set(re.findall(r"(?<!\$)\$\{([A-Z_]+)", COMPOSE))))
def test_every_compose_variable_is_documented_and_known_to_init(variable):
    assert f"`{variable}`" in README
    assert variable in BUILD_VARIABLES  # so `pyiron-hub init` files it into build.env
