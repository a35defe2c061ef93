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


# On one host the hub reaches Docker through the guard (docker-guard, on the docker-api
# network); a swarm's hub creates services, which the guard does not serve, and holds the
# manager's socket (README "Security notes", "Running on a swarm").
GUARD_ONLY = {"networks": ["docker-api"], "environment": ["DOCKER_HOST"]}


@pytest.mark.parametrize("service", ["hub", "hub-db"])
@pytest.mark.parametrize("key", ["image", "env_file", "networks"])
def test_same_images_env_files_and_networks(service, key):
    compose = COMPOSE["services"][service][key]
    if service == "hub" and key == "networks":
        compose = [n for n in compose if n not in GUARD_ONLY["networks"]]
    assert SWARM["services"][service][key] == compose


def test_the_hub_gets_the_same_environment_plus_the_swarm_spawner_but_no_guard():
    compose = {k: v for k, v in COMPOSE["services"]["hub"]["environment"].items() if k not in GUARD_ONLY["environment"]}
    assert COMPOSE["services"]["hub"]["environment"]["DOCKER_HOST"] == "tcp://docker-guard:2375"
    assert SWARM["services"]["hub"]["environment"] == {**compose, "SPAWNER": "swarm"}


@pytest.mark.parametrize("service", ["hub", "hub-db"])
def test_same_volumes_but_the_swarms_hub_holds_the_managers_socket(service):
    socket = ["${DOCKER_SOCKET:-/var/run/docker.sock}:/var/run/docker.sock"] if service == "hub" else []
    assert SWARM["services"][service]["volumes"] == socket + COMPOSE["services"][service]["volumes"]


def test_on_one_host_only_the_guard_holds_the_socket():
    holders = [
        name
        for name, service in COMPOSE["services"].items()
        if any("docker.sock" in v for v in service.get("volumes", []))
    ]
    assert holders == ["docker-guard"]


def test_the_same_named_volumes():
    assert SWARM["volumes"] == COMPOSE["volumes"]


def test_the_database_network_stays_internal_and_users_get_an_attachable_overlay():
    assert SWARM["networks"]["db"] == {"driver": "overlay", "internal": True}
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
