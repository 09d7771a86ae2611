"""Shared test settings: headless rendering, one torch thread, quiet progress bars."""

import os

import robo_reward  # noqa: F401  (sets headless rendering defaults before any test imports mujoco)

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    yield


@pytest.fixture(scope="session")
def pretrained_weights(tmp_path_factory):
    """Every registered pretrained image backbone, converted (and checked) into a fresh folder that
    `ROBO_REWARD_PRETRAINED` points at for the rest of the session; yields {name: manifest}."""
    from robo_reward.models.pretrained.configuration_pretrained import BACKBONES
    from robo_reward.models.pretrained.convert_efficientnet_lite import convert

    os.environ["ROBO_REWARD_PRETRAINED"] = str(tmp_path_factory.mktemp("pretrained"))
    return {name: convert(spec) for name, spec in BACKBONES.items()}
