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


@pytest.fixture
def steered_policy_folder(tmp_path):
    """(policy, folder): a tiny SteeredPolicy (an RL fine-tune's format) saved to `folder`, its actor
    moved off its seeded init so that only loading its weights reproduces its chunks."""
    import torch

    from robo_reward.models.flow_policy import FlowPolicy, make_config
    from robo_reward.models.flow_policy.steering import SteeredPolicy, SteeringConfig
    from robo_reward.sim import STATE_NAMES

    torch.manual_seed(0)
    policy = SteeredPolicy(FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES))), SteeringConfig())
    with torch.no_grad():
        for p in policy.actor.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    return policy.eval(), policy.save_pretrained(tmp_path / "steered")
