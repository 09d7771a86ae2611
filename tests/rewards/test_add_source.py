"""A new progress source is one decorated class (the README's "Add a progress source"): registered by
name, it is built by `make_source` and its Φ becomes the RL wrapper's shaped reward, γΦ(s') − Φ(s)."""

import numpy as np
import pytest

from robo_reward.data.episode import STATE_KEY
from robo_reward.rewards.shaping import ShapingConfig
from robo_reward.rewards.sources import SOURCES, make_source, register_source
from robo_reward.rewards.wrappers import ProgressRewardWrapper
from robo_reward.train.rl.trainer import make_vector_env


def height(obs: dict) -> np.ndarray:
    """The toy Φ: the end effector's height (the state's last entry), clipped to [0, 1]."""
    return np.clip(np.asarray(obs[STATE_KEY], dtype=np.float64)[:, -1], 0.0, 1.0)


@pytest.fixture
def toy_source():
    @register_source("toy-height")
    class HeightProgress:
        def __init__(self, num_envs: int, instruction: str, checkpoint=None, device: str = "cpu"):
            self.num_envs = num_envs

        def reset(self, mask, obs, info):
            return height(obs)

        def update(self, mask, obs, info):
            return height(obs)

    yield HeightProgress
    del SOURCES["toy-height"]


def test_a_registered_source_shapes_the_rl_reward(toy_source):
    source = make_source("toy-height", 2, "reach the yellow ball")
    assert isinstance(source, toy_source)
    envs = ProgressRewardWrapper(
        make_vector_env("reach", 2, 16, max_steps=5), source, ShapingConfig(gamma=0.9), potential_every=1
    )
    obs, _ = envs.reset(seed=[0, 1])
    phi, moved = height(obs), 0.0
    for a in np.random.default_rng(0).uniform(-0.5, 0.5, (3, 2, 7)).astype(np.float32):
        obs, reward, terminated, truncated, info = envs.step(a)
        assert not (terminated | truncated).any()
        next_phi = height(obs)
        np.testing.assert_allclose(reward, 0.9 * next_phi - phi, atol=1e-12)  # no success on reach here
        moved, phi = moved + np.abs(next_phi - phi).sum(), next_phi
    assert moved > 1e-3  # Φ changed, so the reward above checked the shaping, not a constant
    envs.close()


def test_the_name_is_taken_once_and_unknown_names_are_refused(toy_source):
    with pytest.raises(ValueError, match="registered twice"):
        register_source("toy-height")(toy_source)
    with pytest.raises(Exception, match="toy-nothing"):
        make_source("toy-nothing", 1, "")
