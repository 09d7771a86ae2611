"""DPO pairs for a policy that reads its instruction (MiniLM text encoder), from both tasks of a
grounding scene: each pair keeps the instruction it was sampled under, and the DPO loss reads it."""

from __future__ import annotations

import numpy as np
import torch

from robo_reward.data.preferences import PreferencePairs
from robo_reward.models.flow_policy import FlowPolicy
from robo_reward.sim import task_spec
from robo_reward.train.dpo.configuration_dpo import PairsConfig
from robo_reward.train.dpo.pairs import pairs_from_task

TASKS = ("pick_place_color:red", "pick_place_color:blue")


def test_pairs_of_both_instructions_keep_their_own_instruction(tiny_instructed_policy):
    policy = FlowPolicy.from_pretrained(tiny_instructed_policy)
    cfg = PairsConfig(scorer="oracle", k=3, episodes=1, max_steps=6, image_size=32, min_margin=0.0)
    parts = [pairs_from_task(policy, task, cfg) for task in TASKS]
    for task, part in zip(TASKS, parts, strict=True):
        assert len(part) >= 1 and set(part.task) == {task_spec(task).instruction}
    pairs = PreferencePairs.concat(parts)
    obs, winner, _ = pairs.batch(np.arange(len(pairs)))
    assert obs["task"] == [
        task_spec(t).instruction for t, p in zip(TASKS, parts, strict=True) for _ in range(len(p))
    ]
    # the flow-matching likelihood the DPO loss compares is conditioned on each pair's instruction
    noise = torch.randn(winner.shape, generator=torch.Generator().manual_seed(0))
    t = torch.full((len(pairs),), 0.5)
    with torch.no_grad():
        own = policy.flow_matching_loss(obs, winner, noise=noise, t=t)
        swapped = policy.flow_matching_loss(obs | {"task": obs["task"][::-1]}, winner, noise=noise, t=t)
    assert torch.isfinite(own).all()
    assert not torch.allclose(own, swapped)
