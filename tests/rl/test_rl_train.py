"""End to end on the real sim with a tiny random policy: train, checkpoint, resume, CLI, σ = 0 sampling."""

import json

import numpy as np
import pytest
import torch

from robo_reward.models.flow_policy import FlowPolicy, make_config
from robo_reward.sim import STATE_NAMES
from robo_reward.train.rl.actor_critic import FlowActorCritic
from robo_reward.train.rl.configuration_rl import RLConfig
from robo_reward.train.rl.trainer import train
from robo_reward.utils.logging import read_metrics


@pytest.fixture(scope="module")
def tiny_init(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("rl") / "init"
    FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES))).save_pretrained(path)
    return path


def small_cfg(init, **kw):
    base = dict(task="reach", init=str(init), rollouts=4, num_envs=2, max_steps=12, image_size=32,
                chunks_per_update=2, checkpoint_every=1, minibatch_size=4)  # fmt: skip
    return RLConfig(**(base | kw))


def test_deterministic_chain_equals_policy_sample(tiny_init):
    policy = FlowPolicy.from_pretrained(tiny_init)
    actor = FlowActorCritic(policy)
    obs = {
        f"observation.images.{v}": torch.randint(0, 255, (2, 32, 32, 3), dtype=torch.uint8)
        for v in policy.config.views
    }
    obs |= {"observation.state": torch.randn(2, len(STATE_NAMES)), "task": ["reach the yellow ball"] * 2}
    g = torch.Generator().manual_seed(0)
    out = actor.act(obs, deterministic=True, generator=g)
    noise = torch.randn(
        (2, policy.config.chunk_size, policy.config.action_dim), generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(out["action"], policy.sample(obs, noise=noise), rtol=1e-5, atol=1e-5)
    stochastic = actor.act(obs, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(stochastic["logp"]).all() and not torch.allclose(
        stochastic["action"], out["action"]
    )
    # the stored chain's log-prob recomputed by the update path equals the sampling-time one
    ev = actor.evaluate(stochastic["features"], stochastic["chain"])
    torch.testing.assert_close(ev["logp"], stochastic["logp"], rtol=1e-4, atol=1e-2)
    torch.testing.assert_close(ev["logp_elements"].sum(1), ev["logp"])
    # τ = 0: the chain starts at x_0 = 0, so the σ = 0 chain is the policy's sampler from zero noise
    zero = FlowActorCritic(policy, init_noise_scale=0.0).act(obs, deterministic=True)
    torch.testing.assert_close(
        zero["action"], policy.sample(obs, noise=torch.zeros_like(noise)), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("reward", ["oracle", "sparse"])
def test_train_writes_metrics_checkpoint_and_resumes(tiny_init, tmp_path, reward):
    out = tmp_path / reward
    summary = train(small_cfg(tiny_init, reward=reward), out, show_progress=False)
    assert summary["episodes"] == 4 and summary["updates"] >= 2
    assert set(summary["timings"]) == {"sim", "reward", "policy", "update"}
    rows = read_metrics(out / "metrics.jsonl")
    assert all(np.isfinite(v) for r in rows for v in r.values())
    assert "losses/policy" in rows[-1] and "charts/noise_std" in rows[-1]
    assert (out / "checkpoint" / "policy" / "model.safetensors").exists()
    FlowPolicy.from_pretrained(out / "checkpoint" / "policy")  # a plain policy checkpoint
    resumed = train(small_cfg(tiny_init, reward=reward, rollouts=6), out, resume=True, show_progress=False)
    assert resumed["episodes"] == 6 and resumed["updates"] > summary["updates"]
    assert len((out / "episodes.jsonl").read_text().splitlines()) == 6


def test_cli_compare(tiny_init, tmp_path):
    from robo_reward.cli import main

    js = tmp_path / "cmp.json"
    main(["rl", "compare", "--task", "reach", "--init", str(tiny_init), "--rewards", "sparse,naive", "--seeds", "1",
          "--rollouts", "2", "--max-steps", "8", "--image-size", "32", "--chunks-per-update", "2",
          "--out", str(tmp_path / "cmp"), "--json", str(js)])  # fmt: skip
    result = json.loads(js.read_text())
    assert [r["reward"] for r in result["table"]] == ["sparse", "naive"]
    assert (tmp_path / "cmp" / "success_vs_rollouts.png").exists()
