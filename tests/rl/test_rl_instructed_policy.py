"""Noise-space SAC on a policy that reads its instruction (MiniLM text encoder) in a grounding scene: the
warm start runs, and every transition it stores is the trunk's view of the instruction being trained."""

from __future__ import annotations

import numpy as np
import torch

from robo_reward.models.flow_policy import FlowPolicy
from robo_reward.models.flow_policy.steering import load_policy
from robo_reward.sim import make_env, task_spec
from robo_reward.train.rl.configuration_rl import LogConfig, RLConfig, RolloutConfig
from robo_reward.train.rl.replay import ReplayBuffer
from robo_reward.train.rl.steered_sac import NoiseSACConfig
from robo_reward.train.rl.trainer import TRAIN_SEED_BASE, train
from robo_reward.utils.logging import read_metrics

TASK, OTHER = "pick_place_color:blue", "pick_place_color:red"


def _first_observation(policy: FlowPolicy, instruction: str) -> dict:
    env = make_env(TASK, image_size=32)
    obs, _ = env.reset(seed=TRAIN_SEED_BASE)  # the trainer's first episode seed (RLConfig seed 0)
    env.close()
    batch = {
        k: v[None] for k, v in obs.items() if k == "observation.state" or k.startswith("observation.images.")
    }
    return batch | {"task": [instruction]}


def test_noise_sac_warm_start_on_an_instructed_policy(tiny_instructed_policy, tmp_path):
    algo = NoiseSACConfig(hidden=32, batch_size=8, warmstart_episodes=1, warmstart_updates=2, utd=1)
    cfg = RLConfig(task=TASK, init=str(tiny_instructed_policy), rollouts=2, reward="oracle", algo=algo,
                   rollout=RolloutConfig(num_envs=1, max_steps=6, image_size=32), log=LogConfig(checkpoint_every=1))  # fmt: skip
    summary = train(cfg, tmp_path / "rl", show_progress=False)
    assert summary["episodes"] == 2
    rows = read_metrics(tmp_path / "rl" / "metrics.jsonl")
    assert any(k.startswith("losses/") for r in rows for k in r)
    assert all(np.isfinite(v) for r in rows for v in r.values())

    base = FlowPolicy.from_pretrained(tiny_instructed_policy)
    assert base.config.text_encoder == "minilm"
    replay = ReplayBuffer.load(tmp_path / "rl" / "checkpoint" / "learner")
    with torch.no_grad():
        ours = base.encode(_first_observation(base, task_spec(TASK).instruction))[0]
        theirs = base.encode(_first_observation(base, task_spec(OTHER).instruction))[0]
    first = replay.data["obs"][0][: ours.numel()]  # the trunk's features lead (the state follows: use_state)
    torch.testing.assert_close(first, ours, rtol=1e-4, atol=1e-4)
    assert (first - theirs).abs().max() > 1e-2  # the other instruction would have stored other features

    steered = load_policy(tmp_path / "rl" / "policy")  # what `policy eval` and the ROS node load
    noise = torch.zeros(1, base.config.chunk_size, base.config.action_dim)
    a = steered.base.sample(_first_observation(base, task_spec(TASK).instruction), noise=noise)
    b = steered.base.sample(_first_observation(base, task_spec(OTHER).instruction), noise=noise)
    assert not torch.allclose(a, b)
