"""Decision-level rollouts on a toy vector env: rewards per decision, discounts, next observations, ends."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from robo_reward.rewards.wrappers import ProgressRewardWrapper
from robo_reward.train.rl.compare import mean_curve, rollouts_to_fraction
from robo_reward.train.rl.rollout import Decision, DecisionCollector


class LineEnv(gym.Env):
    """x moves by round(action); success at x = 5 (reward 1, terminated); truncated after `limit` steps."""

    def __init__(self, limit=7):
        self.observation_space = spaces.Dict({"observation.state": spaces.Box(-10, 10, (1,), np.float32)})
        self.action_space = spaces.Box(-1, 1, (1,), np.float32)
        self.limit = limit

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = 0, 0
        return {"observation.state": np.array([0.0], np.float32)}, {"progress": 0.0, "success": False}

    def step(self, action):
        self.x += int(np.round(action[0]))
        self.t += 1
        ok = self.x >= 5
        obs = {"observation.state": np.array([self.x], np.float32)}
        return obs, float(ok), ok, self.t >= self.limit, {"progress": self.x / 5, "success": ok}


def act(batch):
    """Env "go" walks +1 per step, env "stay" stands; the learner's observation is x itself."""
    x = batch["observation.state"].float()
    step = np.array([1.0 if t == "go" else 0.0 for t in batch["task"]])
    chunks = np.repeat(step[:, None, None], 3, axis=1)
    return Decision(obs=x, chunks=chunks, records=[{"x": x[j]} for j in range(len(x))])


def embed(batch):
    return batch["observation.state"].float()


def make_collector(n_exec=3, gamma=0.5):
    envs = SyncVectorEnv([LineEnv, LineEnv], autoreset_mode=AutoresetMode.DISABLED)
    return DecisionCollector(ProgressRewardWrapper(envs, None), ["go", "stay"], gamma, n_exec, seed=100)


def test_decision_transitions_rewards_and_next_observations():
    col = make_collector()
    episodes = []
    done = col.collect(6, act, embed, on_episode=lambda r: episodes.append(r) and False)
    go = [t for t in done if t.env == 0]
    stay = [t for t in done if t.env == 1]
    # env 0 walks +1 per step: decisions of 3 steps, success at step 5 (inside the second decision)
    assert [len(t.rewards) for t in go[:2]] == [3, 2]
    assert go[0].discount == pytest.approx(0.125) and go[1].discount == pytest.approx(0.25)
    assert go[1].reward == pytest.approx(0.5 * 1.0) and go[1].terminated and go[1].next_obs is None
    assert go[0].next_obs.item() == 3.0  # the observation of the next decision: x = 3
    assert go[2].obs.item() == 0.0  # a new episode started after the reset
    # env 1 stands still: truncated at step 7 inside its third decision, next_obs = its final state
    assert [len(t.rewards) for t in stay[:3]] == [3, 3, 1]
    assert stay[2].truncated and not stay[2].terminated and stay[2].next_obs.item() == 0.0
    assert {e.env: e.success for e in episodes} == {0: True, 1: False}
    assert [e.seed for e in episodes] == [100, 101]  # each episode knows its env seed


def test_a_decision_waits_for_its_next_observation():
    col = make_collector(n_exec=3)
    first = col.collect(1, act, embed)
    # both envs closed a decision after step 3; it is finished only when step 4's decision saw x
    assert col.env_steps == 2 * 4 and len(first) == 2
    assert sorted(t.next_obs.item() for t in first) == [0.0, 3.0]


def test_episode_budget_stops_collection():
    col = make_collector()
    col.collect(1000, act, embed, on_episode=lambda rec: rec.index >= 2)
    assert col.episodes_done == 2


def test_compare_curve_helpers():
    x, mean, lo, hi = mean_curve(
        [{"rollouts": [1, 2, 3, 4], "success": [0, 0, 0.5, 1]}, {"rollouts": [1, 2], "success": [0, 1]}], 4
    )
    np.testing.assert_allclose(mean, [0, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(lo, [0, 0, 0.5, 1])
    assert rollouts_to_fraction(x, mean, final=1.0) == 4  # 0.75 < 0.8
    assert rollouts_to_fraction(x, mean, final=0.9) == 3  # 0.75 ≥ 0.72
    assert rollouts_to_fraction(x, mean, final=0.0) is None
    # a running mean's first points are means of a handful: read from a full window on
    early = np.array([1.0, 0.5, 0.33, 0.5, 0.6, 0.7])
    assert rollouts_to_fraction(np.arange(1, 7), early, final=0.7) == 1
    assert rollouts_to_fraction(np.arange(1, 7), early, final=0.7, from_rollout=3) == 5  # 0.6 ≥ 0.56
