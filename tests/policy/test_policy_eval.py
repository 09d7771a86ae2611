"""Evaluation: Wilson interval by hand, chunk scheduling, and a closed-loop smoke run in the sim."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from robo_reward.models.flow_policy import FlowPolicy, make_config
from robo_reward.sim.policy_evaluation import _ChunkScheduler, evaluate, wilson_interval


def test_wilson_interval_by_hand():
    lo, hi = wilson_interval(8, 10)
    assert (lo, hi) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_receding_horizon_executes_the_first_n_actions():
    s = _ChunkScheduler(n_action_steps=2, temporal_ensemble=None)
    chunk = np.arange(8, dtype=float)[:, None]
    assert s.needs_chunk()
    s.push(chunk)
    assert s.pop()[0] == 0 and not s.needs_chunk()
    assert s.pop()[0] == 1 and s.needs_chunk()


def test_temporal_ensemble_weights_older_chunks_more():
    k = 0.5
    s = _ChunkScheduler(n_action_steps=1, temporal_ensemble=k)
    s.push(np.full((4, 1), 0.0))
    assert s.pop()[0] == 0.0
    s.push(np.full((4, 1), 1.0))  # covers steps 1..4; the first chunk covers 0..3
    w = np.exp(-k * np.arange(2))
    assert s.pop()[0] == pytest.approx((w[0] * 0.0 + w[1] * 1.0) / w.sum())


def test_evaluate_runs_batched_rollouts_in_the_sim(tmp_path, capsys):
    pytest.importorskip("mujoco")
    from robo_reward.sim import STATE_NAMES

    torch.manual_seed(0)
    policy = FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES), source_image_size=32))
    out = evaluate(policy, "reach", episodes=3, num_envs=2, seed=5, max_steps=6, record=1, sheet_dir=tmp_path)
    assert out["episodes"] == 3 and len(out["per_episode"]) == 3
    assert [r["seed"] for r in out["per_episode"]] == [5, 6, 7]
    assert all(r["steps"] <= 6 for r in out["per_episode"])
    assert 0.0 <= out["success_rate"] <= 1.0 and 0.0 <= out["mean_final_progress"] <= 1.0
    lo, hi = out["success_ci95"]
    assert lo <= out["success_rate"] <= hi
    assert len(out["sheets"]) == 1 and (tmp_path / "reach_ep00.png").exists()
    successes = sum(r["success"] for r in out["per_episode"])
    line = rf"eval reach: 3/3 \(100%\), \d+:\d\d elapsed, {successes} successes"  # progress, in a log
    assert re.search(line, capsys.readouterr().err)
    again = evaluate(policy, "reach", episodes=3, num_envs=2, seed=5, max_steps=6)
    assert again["per_episode"] == out["per_episode"]  # seeded envs and seeded chunk noise
    ens = evaluate(policy, "reach", episodes=1, num_envs=1, seed=5, max_steps=3, temporal_ensemble=0.1)
    assert ens["per_episode"][0]["steps"] == 3


def test_gain_interval_matches_newcombes_worked_example():
    from robo_reward.sim.policy_evaluation import gain_interval

    # Newcombe (1998), Stat. Med. 17:873, example (a): 56/70 − 48/80, method 10 → 0.0524 to 0.3339
    d, lo, hi = gain_interval((56, 70), (48, 80))
    assert (
        d == pytest.approx(0.2)
        and lo == pytest.approx(0.0524, abs=5e-5)
        and hi == pytest.approx(0.3339, abs=5e-5)
    )
    d, lo, hi = gain_interval((5, 10), (5, 10))
    assert d == 0 and lo == pytest.approx(-hi)  # no gain: a symmetric interval around zero
