"""Chunk-level rollouts on a toy vector env: rewards per chunk, discounts, bootstraps, episode ends."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from robo_reward.rewards.wrappers import ProgressRewardWrapper
from robo_reward.train.rl.compare import mean_curve, rollouts_to_fraction
from robo_reward.train.rl.rollout import ChunkCollector
from robo_reward.train.rl.trainer import compute_advantages


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


class StubActor:
    """Always +1 (env 0) or 0 (env 1); V(s) = x / 10 so bootstraps are recognisable."""

    class policy:  # mimics `actor.policy.device`
        device = torch.device("cpu")

    def __init__(self, horizon=3):
        self.horizon = horizon

    def _value(self, batch):
        return batch["observation.state"][:, 0].float() / 10

    def act(self, batch, deterministic=False, generator=None):
        B = len(batch["task"])
        step = torch.tensor([1.0 if t == "go" else 0.0 for t in batch["task"]])
        return {
            "features": torch.zeros(B, 1),
            "chain": torch.zeros(B, 2, self.horizon, 1),
            "logp": torch.zeros(B),
            "logp_elements": torch.zeros(B, self.horizon),
            "value": self._value(batch),
            "action": step.view(B, 1, 1).expand(B, self.horizon, 1).clone(),
        }

    def values(self, batch):
        return torch.zeros(len(batch["task"]), 1), self._value(batch)


def make_collector(n_exec=3, gamma=0.5):
    envs = SyncVectorEnv([LineEnv, LineEnv], autoreset_mode=AutoresetMode.DISABLED)
    envs = ProgressRewardWrapper(envs, None)
    return ChunkCollector(envs, StubActor(), ["go", "stay"], gamma=gamma, n_action_steps=n_exec)


def test_chunk_transitions_rewards_and_bootstraps():
    col = make_collector()
    episodes = []
    seqs = col.collect(chunks_per_env=3, on_episode=lambda r: episodes.append(r) and False)
    go, stay = seqs
    # env 0 walks +1 per step: chunks of 3 steps, success at step 5 (mid second chunk)
    assert [len(t.rewards) for t in go[:2]] == [3, 2]
    assert go[0].discount == pytest.approx(0.125) and go[1].discount == pytest.approx(0.25)
    assert go[1].reward == pytest.approx(0.5 * 1.0) and go[1].terminated and go[1].next_value == 0.0
    assert go[0].next_value == pytest.approx(0.3)  # V at x = 3: the start of the next chunk
    assert go[2].value == pytest.approx(0.0)  # a new episode started after the reset
    # env 1 stays: truncated at step 7 inside its third chunk, bootstrapped from the final obs
    assert [len(t.rewards) for t in stay[:3]] == [3, 3, 1]
    assert stay[2].episode_end and not stay[2].terminated and stay[2].next_value == pytest.approx(0.0)
    assert {e.env: e.success for e in episodes} == {0: True, 1: False}
    transitions, adv, ret = compute_advantages(seqs, lam=0.9)
    assert len(transitions) == len(adv) == len(ret) == sum(len(s) for s in seqs)
    assert all(t.next_value is not None for t in transitions)


def test_open_chunks_carry_over_between_collects():
    col = make_collector(n_exec=3)
    first = col.collect(chunks_per_env=1)
    assert [len(s) for s in first] == [1, 1]
    second = col.collect(chunks_per_env=1)
    assert len(second[0][0].rewards) == 2  # the chunk that ends with success at step 5
    assert col.episodes_done == 1


def test_episode_budget_stops_collection():
    col = make_collector()
    col.collect(chunks_per_env=100, on_episode=lambda rec: rec.index >= 2)
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
