"""How the two spawners are made: which spawner does what, and in any order of its layers."""

from __future__ import annotations

from itertools import permutations

import pytest
from dockerspawner import DockerSpawner

from pyiron_hub_config.spawner import EnvironmentPicker, PyironSpawner
from pyiron_hub_config.swarm import PyironSwarmSpawner

# What differs between one host and a swarm: the picker calls these and defines none of them.
HOOKS = ("_image_to_run", "_use_image_mounts", "_ship_boot_step", "_set_size", "read_public_key", "read_files_skipped")


@pytest.mark.parametrize("spawner", [PyironSpawner, PyironSwarmSpawner])
def test_each_spawner_defines_every_hook_itself(spawner):
    assert [hook for hook in HOOKS if hook not in vars(spawner)] == []


def test_the_picker_leaves_the_hooks_to_the_spawners():
    assert all(getattr(EnvironmentPicker, hook).__qualname__.startswith("EnvironmentPicker.") for hook in HOOKS)


@pytest.mark.parametrize("spawner", [PyironSpawner, PyironSwarmSpawner])
def test_every_layer_is_a_docker_spawner(spawner):
    assert all(issubclass(layer, DockerSpawner) for layer in spawner.__bases__)


@pytest.mark.parametrize("spawner", [PyironSpawner, PyironSwarmSpawner])
def test_any_order_of_the_layers_runs_every_start_before_docker_spawners(spawner):
    """Each layer's start() wraps DockerSpawner's, whatever the order in the class statement."""
    for order in permutations(spawner.__bases__):
        mro = type("Reordered", order, {}).__mro__
        starts = [cls for cls in mro if "start" in vars(cls)]
        assert starts.index(DockerSpawner) > max(starts.index(layer) for layer in order if "start" in vars(layer))
