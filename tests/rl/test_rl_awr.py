"""AWR from a replay buffer: the buffer, a toy that must move toward the high-return chunks, and a sim run."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from robo_reward.models.flow_policy import FlowPolicy, make_config
from robo_reward.train.rl.actor_critic import FlowActorCritic
from robo_reward.train.rl.awr import ReplayBuffer, awr_update
from robo_reward.train.rl.rollout import Transition


def transition(feature: torch.Tensor, chunk: torch.Tensor) -> Transition:
    return Transition(
        features=feature, chain=torch.stack([torch.zeros_like(chunk), chunk]), logp=0.0, value=0.0
    )


def test_buffer_keeps_the_newest_and_round_trips(tmp_path):
    buf = ReplayBuffer(capacity=3)
    ts = [transition(torch.full((2,), float(i)), torch.full((1, 1), float(i))) for i in range(4)]
    buf.add(ts[:2], np.array([0.0, 1.0]))
    buf.add(ts[2:], np.array([2.0, 3.0]))
    assert len(buf) == 3 and buf.returns.tolist() == [1.0, 2.0, 3.0]
    assert buf.features[:, 0].tolist() == [1.0, 2.0, 3.0] and buf.chunks.flatten().tolist() == [1.0, 2.0, 3.0]
    buf.save(tmp_path)
    again = ReplayBuffer(capacity=3)
    again.load(tmp_path)
    assert torch.equal(again.returns, buf.returns) and torch.equal(again.chunks, buf.chunks)
    with pytest.raises(ValueError, match="awr_buffer"):
        ReplayBuffer(0)


def test_awr_moves_the_policy_toward_high_return_chunks():
    """Two chunk modes at one state, +0.8 (return 1) and −0.8 (return 0): plain flow matching on both would
    keep the mean near 0; advantage weighting must move the sampled mean toward +0.8."""
    torch.manual_seed(0)
    policy = FlowPolicy(make_config("flow-tiny", state_dim=4, action_dim=2, chunk_size=2))
    policy.set_normalization({"state_mean": torch.zeros(4), "state_std": torch.ones(4),
                              "action_mean": torch.zeros(2), "action_std": torch.ones(2)})  # fmt: skip
    actor = FlowActorCritic(policy)
    d = policy.config.feature_dim
    feature = torch.randn(d)
    good, bad = torch.full((2, 2), 0.8), torch.full((2, 2), -0.8)
    ts = [transition(feature, good if i % 2 == 0 else bad) for i in range(64)]
    ret = np.array([1.0 if i % 2 == 0 else 0.0 for i in range(64)])
    cfg = SimpleNamespace(minibatch_size=32, update_epochs=2, value_coef=0.5, awr_beta=0.5, awr_max_weight=20.0,
                          awr_steps=150, bc_weight=0.0, max_grad_norm=1.0)  # fmt: skip
    opt = torch.optim.Adam(list(policy.expert.parameters()) + list(actor.value.parameters()), lr=3e-3)
    buf = ReplayBuffer(256)
    stats = awr_update(
        actor, opt, buf, ts, ret, cfg, actor_on=True, generator=torch.Generator().manual_seed(0)
    )
    assert len(buf) == 64 and stats["charts/awr_weight_max"] > 1.0
    with torch.no_grad():
        f = feature.expand(256, d)
        x = policy.sample_normalized(f, torch.randn(256, 2, 2, generator=torch.Generator().manual_seed(1)))
    assert float(x.mean()) > 0.4  # (an unweighted fit of the two modes would give ≈ 0)


def test_awr_run_on_the_sim_saves_and_resumes_its_buffer(tmp_path):
    from robo_reward.sim import STATE_NAMES
    from robo_reward.train.rl.awr import BUFFER_FILE
    from robo_reward.train.rl.configuration_rl import RLConfig
    from robo_reward.train.rl.trainer import train
    from robo_reward.utils.logging import read_metrics

    torch.manual_seed(0)
    init = tmp_path / "init"
    FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES))).save_pretrained(init)
    cfg = dict(task="reach", init=str(init), reward="oracle", algorithm="awr", awr_steps=3, rollouts=4,
               num_envs=2, max_steps=12, image_size=32, chunks_per_update=2, checkpoint_every=1,
               minibatch_size=4, critic_warmup_updates=0)  # fmt: skip
    out = tmp_path / "run"
    summary = train(RLConfig(**cfg), out, show_progress=False)
    rows = read_metrics(out / "metrics.jsonl")
    assert summary["episodes"] == 4 and "losses/awr" in rows[-1] and "losses/policy" not in rows[-1]
    assert all(np.isfinite(v) for r in rows for v in r.values())
    saved = ReplayBuffer(10_000)
    saved.load(out / "checkpoint")
    assert (out / "checkpoint" / BUFFER_FILE).exists() and len(saved) == rows[-1]["charts/buffer"]
    train(RLConfig(**(cfg | {"rollouts": 6})), out, resume=True, show_progress=False)
    assert read_metrics(out / "metrics.jsonl")[-1]["charts/buffer"] > len(saved)  # the buffer grew on resume


def test_bc_regularizer_cached_features_equal_encoding(tmp_path):
    from robo_reward.data.episode import Episode
    from robo_reward.data.lerobot_io import write_dataset
    from robo_reward.train.rl.demo_term import BCRegularizer

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    episodes = [
        Episode(
            views={
                v: rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8) for v in ("front", "side", "wrist")
            },
            state=rng.standard_normal((6, 10)).astype(np.float32),
            action=rng.standard_normal((6, 7)).astype(np.float32),
            task="reach the ball",
            task_name="reach",
            outcome="success",
        )  # fmt: skip
        for _ in range(2)
    ]
    policy = FlowPolicy(make_config("flow-tiny", state_dim=10)).eval()
    data = write_dataset(episodes, tmp_path / "ds")
    cached = BCRegularizer(policy, str(data), batch_size=4, seed=0, frozen_trunk=True)
    idx = np.array([0, 3, 7])
    with torch.no_grad():
        direct = policy.encode(cached.data.batch(idx)[0])
    torch.testing.assert_close(cached.features[idx], direct, rtol=1e-5, atol=1e-5)
    assert torch.isfinite(cached.loss())
