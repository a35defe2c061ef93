"""compose.swarm.yml says the same as docker-compose.yml, apart from what a swarm needs.

Two files because no overlay works with both docker-compose 1.29 and Docker 20.10's
`stack deploy` (see the stack file's header); this keeps them from drifting apart.
"""

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SWARM = yaml.safe_load((REPO / "compose.swarm.yml").read_text())


@pytest.mark.parametrize("service", ["hub", "hub-db", "docker-guard"])
@pytest.mark.parametrize("key", ["image", "networks"])
def test_same_images_and_networks(service, key):
    assert SWARM["services"][service][key] == COMPOSE["services"][service][key]


def test_same_env_files_but_the_swarms_guard_takes_the_hubs_settings_as_one():
    # On one host the guard reads pyiron.env bound as a file; `stack deploy` reads it as an env file.
    assert SWARM["services"]["hub"]["env_file"] == COMPOSE["services"]["hub"]["env_file"]
    assert SWARM["services"]["hub-db"]["env_file"] == COMPOSE["services"]["hub-db"]["env_file"]
    assert SWARM["services"]["docker-guard"]["env_file"] == ["pyiron.env"]


def test_the_hub_gets_the_same_environment_plus_the_swarm_spawner():
    compose = COMPOSE["services"]["hub"]["environment"]
    assert compose["DOCKER_HOST"] == "tcp://docker-guard:2375"
    assert SWARM["services"]["hub"]["environment"] == {**compose, "SPAWNER": "swarm"}
    assert SWARM["services"]["docker-guard"]["environment"] == COMPOSE["services"]["docker-guard"]["environment"]


def test_the_swarms_guard_serves_the_swarm_hub():
    one_host = COMPOSE["services"]["docker-guard"]["command"]
    assert one_host[:3] == ["python3", "-m", "pyiron_hub_config.docker_guard"]
    assert SWARM["services"]["docker-guard"]["command"] == [*one_host[:3], "--for", "swarm"]
    assert SWARM["services"]["docker-guard"]["healthcheck"] == COMPOSE["services"]["docker-guard"]["healthcheck"]
    assert SWARM["services"]["docker-guard"]["read_only"] is True
    assert SWARM["services"]["docker-guard"]["deploy"]["placement"]["constraints"] == ["node.role == manager"]


@pytest.mark.parametrize("service", ["hub", "hub-db"])
def test_same_volumes(service):
    assert SWARM["services"][service]["volumes"] == COMPOSE["services"][service]["volumes"]


def test_only_the_guard_holds_the_socket_on_one_host_and_on_a_swarm():
    for stack, socket in ((COMPOSE, "/var/run/docker.sock"), (SWARM, "${DOCKER_SOCKET:-/var/run/docker.sock}")):
        holders = {
            name: [v for v in service.get("volumes", []) if "docker.sock" in v]
            for name, service in stack["services"].items()
        }
        assert {name: v for name, v in holders.items() if v} == {"docker-guard": [f"{socket}:/var/run/docker.sock"]}


def test_the_same_named_volumes():
    assert SWARM["volumes"] == COMPOSE["volumes"]


def test_the_database_and_guard_networks_stay_internal_and_users_get_an_attachable_overlay():
    assert SWARM["networks"]["db"] == {"driver": "overlay", "internal": True}
    assert SWARM["networks"]["docker-api"] == {**COMPOSE["networks"]["docker-api"], "driver": "overlay"}
    assert SWARM["networks"]["users"] == {**COMPOSE["networks"]["users"], "driver": "overlay", "attachable": True}


def test_one_hub_on_a_manager():
    deploy = SWARM["services"]["hub"]["deploy"]
    assert deploy.get("replicas", 1) == 1
    assert "node.role == manager" in [
        c.replace("==", " == ").replace("  ", " ") for c in deploy["placement"]["constraints"]
    ]


ENCRYPTED = yaml.safe_load((REPO / "compose.swarm-encrypted.yml").read_text())


def test_the_encrypted_overlay_only_adds_encryption_to_both_overlays():
    # Named whole (stack deploy replaces a network named again), so it must say the same.
    assert set(ENCRYPTED) == {"version", "networks"}
    assert ENCRYPTED["networks"] == {
        name: {**network, "driver_opts": {"encrypted": ""}} for name, network in SWARM["networks"].items()
    }
