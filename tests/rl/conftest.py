"""Fixtures of the steering tests: a tiny random flow policy and batches of observations for it."""

import pytest
import torch

from robo_reward.data.episode import EPISODE_STEP_KEY
from robo_reward.models.flow_policy import FlowPolicy, make_config
from robo_reward.sim import STATE_NAMES


@pytest.fixture(scope="module")
def tiny_policy():
    torch.manual_seed(0)
    return FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES))).eval()


def _batch(policy, B=3, seed=0, steps=None):
    """B random observations for `policy` (its views at 32², a state, the reach instruction); with
    `steps`, each observation's episode step too."""
    g = torch.Generator().manual_seed(seed)
    batch = {f"observation.images.{v}": torch.randint(0, 255, (B, 32, 32, 3), generator=g, dtype=torch.uint8)
             for v in policy.config.views}  # fmt: skip
    batch |= {"observation.state": torch.randn(B, len(STATE_NAMES), generator=g), "task": ["reach"] * B}
    return batch if steps is None else batch | {EPISODE_STEP_KEY: torch.full((B,), steps)}


@pytest.fixture
def policy_batch():
    """The batch factory `(policy, B=3, seed=0, steps=None) → batch` (a fixture, so modules need not import it)."""
    return _batch
