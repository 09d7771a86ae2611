"""The robosuite adapter: same keys, spaces and info as the native envs, at a tiny image size."""

from __future__ import annotations

import numpy as np
import pytest

from robo_reward.sim import STATE_NAMES, make_env, task_spec

pytest.importorskip("robosuite")


@pytest.mark.parametrize("name", ["robosuite/Lift", "robosuite/Stack", "robosuite/Door"])
def test_robosuite_env(name):
    env = make_env(name, image_size=16)
    try:
        obs, info = env.reset(seed=0)
        assert set(obs) == set(env.observation_space.spaces)
        for key, space in env.observation_space.spaces.items():
            assert obs[key].shape == space.shape and obs[key].dtype == space.dtype
        assert obs["observation.state"].shape == (len(STATE_NAMES),)
        assert info["task"] == task_spec(name).instruction and info["progress"] <= 0.05
        state = env.unwrapped.get_sim_state()
        obs, r, term, trunc, info = env.step(np.array([0, 0, -0.5, 0, 0, 0, -1], np.float32))
        assert 0.0 <= info["progress"] <= 1.0 and not term and np.isfinite(obs["observation.state"]).all()
        env.unwrapped.set_sim_state(state)
        again, *_ = env.step(np.array([0, 0, -0.5, 0, 0, 0, -1], np.float32))
        np.testing.assert_allclose(again["observation.state"], obs["observation.state"], atol=1e-5)
    finally:
        env.close()
