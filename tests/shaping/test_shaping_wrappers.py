"""Reward wrappers on a toy vector env: sparse, oracle PBRS (telescoping), held potentials, naive, resets."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from robo_reward.rewards.shaping import ShapingConfig
from robo_reward.rewards.sources import OracleProgress
from robo_reward.rewards.wrappers import ProgressRewardWrapper, reward_timings


class LineEnv(gym.Env):
    """Walk along 0..10; progress = x/10; success (terminated, reward 1) at 10; truncated after 40."""

    def __init__(self):
        self.observation_space = spaces.Dict({"observation.state": spaces.Box(0, 10, (1,), np.float32)})
        self.action_space = spaces.Box(-1, 1, (1,), np.float32)
        self.x, self.t = 0, 0

    def _obs_info(self):
        obs = {"observation.state": np.array([self.x], np.float32)}
        return obs, {"progress": self.x / 10, "success": self.x >= 10}

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = int(self.np_random.integers(0, 3)), 0
        return self._obs_info()

    def step(self, action):
        self.x = int(np.clip(self.x + np.round(action[0]), 0, 10))
        self.t += 1
        obs, info = self._obs_info()
        return obs, float(info["success"]), bool(info["success"]), self.t >= 40, info


def make(n=2, mode=AutoresetMode.DISABLED):
    return SyncVectorEnv([LineEnv] * n, autoreset_mode=mode)


class CountingSource(OracleProgress):
    def __init__(self, n):
        super().__init__(n)
        self.update_masks, self.reset_masks = [], []

    def reset(self, mask, obs, info):
        self.reset_masks.append(mask.copy())
        return super().reset(mask, obs, info)

    def update(self, mask, obs, info):
        self.update_masks.append(mask.copy())
        return super().update(mask, obs, info)


def run_episode(env, actions_fn, gamma):
    """Step both envs until each has ended once; per env: discounted return, steps, Φ(s0), success."""
    obs, info = env.reset(seed=0)
    phi0 = info["progress"].copy()
    ret, disc, done = np.zeros(env.num_envs), np.ones(env.num_envs), np.zeros(env.num_envs, bool)
    steps = np.zeros(env.num_envs, int)
    success = np.zeros(env.num_envs, bool)
    t = 0
    while not done.all():
        obs, r, term, trunc, info = env.step(actions_fn(t))
        ret += np.where(done, 0, disc * r)
        disc = np.where(done, disc, disc * gamma)
        steps += ~done
        success |= term & ~done
        done |= term | trunc
        t += 1
        if (term | trunc).any() and not done.all():  # ended envs restart; their steps no longer count
            obs, _ = env.reset(options={"reset_mask": term | trunc})
    return ret, steps, phi0, success


def forward(t):
    return np.array([[1.0], [1.0 if t % 3 else -1.0]], np.float32)


def test_sparse_is_the_env_reward():
    env = ProgressRewardWrapper(make(), source=None)
    ret, steps, _, success = run_episode(env, forward, gamma=1.0)
    np.testing.assert_allclose(ret, success.astype(float))
    t = reward_timings(env)
    assert t["sim"] > 0 and t["reward"] == 0


@pytest.mark.parametrize("every", [1, 4])
def test_oracle_pbrs_telescopes(every):
    gamma = 0.9
    cfg = ShapingConfig(kind="pbrs", gamma=gamma)
    env = ProgressRewardWrapper(make(), OracleProgress(2), cfg, potential_every=every)
    ret, steps, phi0, success = run_episode(env, forward, gamma)
    # Σ γ^t r'_t = Σ γ^t r_success − Φ(s_0), with Φ(terminal) := 0
    sparse = np.where(success, gamma ** (steps - 1), 0.0)
    np.testing.assert_allclose(ret, sparse - phi0, atol=1e-9)
    assert success.all()


def test_truncated_episode_keeps_the_last_potential():
    gamma = 0.9
    env = ProgressRewardWrapper(make(), OracleProgress(2), ShapingConfig(gamma=gamma))
    still = lambda t: np.zeros((2, 1), np.float32)  # noqa: E731
    ret, steps, phi0, success = run_episode(env, still, gamma)
    assert not success.any() and (steps == 40).all()
    np.testing.assert_allclose(ret, gamma**40 * phi0 - phi0, atol=1e-9)


def test_time_limit_as_terminal_pays_back_the_start_potential():
    """With the time limit as the end of a finite-horizon task, Φ := 0 at the truncation too, so a
    timed-out episode's shaped return telescopes to −Φ(s_0): no reward for progress that did not finish."""
    gamma = 0.9
    env = ProgressRewardWrapper(make(), OracleProgress(2), ShapingConfig(gamma=gamma, time_limit="terminal"))
    forward_then_still = lambda t: np.full((2, 1), 1.0 if t < 3 else 0.0, np.float32)  # noqa: E731
    ret, steps, phi0, success = run_episode(env, forward_then_still, gamma)
    assert not success.any() and (steps == 40).all()
    np.testing.assert_allclose(ret, -phi0, atol=1e-9)


def test_naive_pays_progress_every_step():
    env = ProgressRewardWrapper(make(), OracleProgress(2), ShapingConfig(kind="potential", gamma=1.0))
    env.reset(seed=0)
    obs, r, *_, info = env.step(np.ones((2, 1), np.float32))
    np.testing.assert_allclose(r, info["progress"])


def test_progress_success_terminates_and_pays_once():
    class Early(OracleProgress):  # a learned source that believes the task is done at x ≥ 5
        def update(self, mask, obs, info):
            return np.minimum(1.0, 2 * super().update(mask, obs, info))

    env = ProgressRewardWrapper(make(), Early(2), ShapingConfig(gamma=1.0, success_source="progress"))
    env.reset(seed=0)
    for _ in range(10):
        before = env.potential.copy()
        obs, r, term, trunc, info = env.step(np.ones((2, 1), np.float32))
        if term.any():
            break
    assert term.any() and not info["success"].any()  # the env does not think it is done
    np.testing.assert_array_equal(info["progress_success"], term)
    np.testing.assert_allclose(r[term], 1.0 - before[term])  # bonus, then Φ(terminal) := 0
    with pytest.raises(ValueError):
        ProgressRewardWrapper(
            make(mode=AutoresetMode.NEXT_STEP), Early(2), ShapingConfig(success_source="progress")
        )


def test_thinned_updates_are_batched_and_resets_are_masked():
    src = CountingSource(2)
    env = ProgressRewardWrapper(make(), src, ShapingConfig(), potential_every=4)
    env.reset(seed=0)
    for _ in range(8):
        env.step(np.zeros((2, 1), np.float32))
    assert len(src.update_masks) == 2 and all(m.all() for m in src.update_masks)  # steps 4 and 8
    env.reset(options={"reset_mask": np.array([False, True])})
    np.testing.assert_array_equal(src.reset_masks[-1], [False, True])
    assert env.episode_steps.tolist() == [8, 0]


def test_next_step_autoreset_mode():
    gamma = 0.9
    env = ProgressRewardWrapper(
        make(n=1, mode=AutoresetMode.NEXT_STEP), OracleProgress(1), ShapingConfig(gamma=gamma)
    )
    obs, info = env.reset(seed=0)
    rewards, ended_at = [], None
    for t in range(20):
        obs, r, term, trunc, info = env.step(np.ones((1, 1), np.float32))
        rewards.append(r[0])
        if term[0]:
            ended_at = t
            break
    obs, r, term, trunc, info = env.step(np.ones((1, 1), np.float32))  # the autoreset step
    assert ended_at is not None and r[0] == 0.0 and env.episode_steps[0] == 0
    np.testing.assert_allclose(env.potential[0], info["progress"][0])
