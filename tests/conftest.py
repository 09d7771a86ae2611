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
