"""Same-state groups: group advantages by hand, groups that really share a start, a self-imitation toy,
and short sim runs of both group updates."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from robo_reward.models.flow_policy import FlowPolicy, make_config
from robo_reward.train.rl.actor_critic import FlowActorCritic
from robo_reward.train.rl.awr import ReplayBuffer
from robo_reward.train.rl.group import EpisodeChunks, group_advantages, group_update
from robo_reward.train.rl.rollout import Transition


def test_group_advantages_standardise_within_each_group():
    returns = np.array([1.0, 3.0, 0.5, 0.5, 2.0, 2.0, 2.0, 6.0])
    groups = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    adv = group_advantages(returns, groups)
    # group 0: mean 2, std 1 → −1, +1; group 1: all equal → 0; group 2: mean 3, std √3
    s = np.sqrt(3.0)
    np.testing.assert_allclose(adv, [-1, 1, 0, 0, -1 / s, -1 / s, -1 / s, 3 / s])


def _tiny_actor(action_dim=2, chunk=2):
    policy = FlowPolicy(make_config("flow-tiny", state_dim=4, action_dim=action_dim, chunk_size=chunk))
    policy.set_normalization({"state_mean": torch.zeros(4), "state_std": torch.ones(4),
                              "action_mean": torch.zeros(action_dim), "action_std": torch.ones(action_dim)})  # fmt: skip
    return policy, FlowActorCritic(policy)


def test_self_imitation_moves_toward_the_better_episodes_of_a_group():
    """One group, one state: two episodes chose +0.8 (return 1), two chose −0.8 (return 0). Only the
    above-mean episodes enter the buffer, so the sampled mean must move toward +0.8."""
    torch.manual_seed(0)
    policy, actor = _tiny_actor()
    feature = torch.randn(policy.config.feature_dim)

    def episode(value: float, ret: float) -> EpisodeChunks:
        chunk = torch.full((2, 2), value)
        ts = [Transition(features=feature, chain=torch.stack([torch.zeros_like(chunk), chunk]), logp=0.0,
                         value=0.0) for _ in range(16)]  # fmt: skip
        return EpisodeChunks(seed=0, transitions=ts, ret=ret)

    episodes = [episode(0.8, 1.0), episode(-0.8, 0.0), episode(0.8, 1.0), episode(-0.8, 0.0)]
    cfg = SimpleNamespace(minibatch_size=32, awr_steps=150, bc_weight=0.0, max_grad_norm=1.0)
    opt = torch.optim.Adam(policy.expert.parameters(), lr=3e-3)
    buf = ReplayBuffer(256)
    stats = group_update(
        actor, opt, buf, episodes, np.zeros(4, int), cfg, generator=torch.Generator().manual_seed(0)
    )
    assert len(buf) == 32 and torch.all(buf.chunks > 0)  # the two better episodes' chunks only
    assert stats["charts/groups_with_signal"] == 1.0
    with torch.no_grad():
        d = policy.config.feature_dim
        x = policy.sample_normalized(
            feature.expand(256, d), torch.randn(256, 2, 2, generator=torch.Generator().manual_seed(1))
        )
    assert float(x.mean()) > 0.6


def test_group_without_signal_adds_nothing():
    policy, actor = _tiny_actor()
    f = torch.zeros(policy.config.feature_dim)
    ts = [Transition(features=f, chain=torch.zeros(2, 2, 2), logp=0.0, value=0.0)]
    episodes = [EpisodeChunks(seed=0, transitions=list(ts), ret=0.0) for _ in range(2)]
    cfg = SimpleNamespace(minibatch_size=4, awr_steps=2, bc_weight=0.0, max_grad_norm=1.0)
    before = [p.clone() for p in policy.expert.parameters()]
    stats = group_update(actor, torch.optim.Adam(policy.expert.parameters()), ReplayBuffer(8), episodes,
                         np.zeros(2, int), cfg)  # fmt: skip
    assert stats["charts/buffer"] == 0 and stats["charts/groups_with_signal"] == 0.0
    assert all(torch.equal(a, b) for a, b in zip(before, policy.expert.parameters(), strict=True))


@pytest.mark.parametrize("update", ["imitate", "ppo"])
def test_group_run_on_the_sim_shares_starts_and_resumes(tmp_path, update):
    from robo_reward.sim import STATE_NAMES
    from robo_reward.train.rl.configuration_rl import RLConfig
    from robo_reward.train.rl.trainer import train
    from robo_reward.utils.logging import read_metrics

    torch.manual_seed(0)
    init = tmp_path / "init"
    FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES))).save_pretrained(init)
    cfg = dict(task="reach", init=str(init), reward="oracle", algorithm="group", group_update=update,
               group_size=2, awr_steps=3, rollouts=4, num_envs=4, max_steps=10, image_size=32,
               checkpoint_every=1, minibatch_size=4, critic_warmup_updates=0)  # fmt: skip
    out = tmp_path / "run"
    summary = train(RLConfig(**cfg), out, show_progress=False)
    assert summary["episodes"] == 4 and summary["updates"] == 1
    rows = read_metrics(out / "metrics.jsonl")
    key = "losses/self_imitation" if update == "imitate" else "losses/policy"
    assert all(np.isfinite(v) for r in rows for v in r.values())
    assert "charts/group_return_mean" in rows[-1] if update == "imitate" else key in rows[-1]
    summary = train(RLConfig(**(cfg | {"rollouts": 8})), out, resume=True, show_progress=False)
    assert summary["episodes"] == 8 and summary["updates"] == 2
    eps = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(eps) == 8


def test_envs_of_a_group_start_from_one_state():
    from robo_reward.rewards.wrappers import ProgressRewardWrapper
    from robo_reward.sim import STATE_NAMES
    from robo_reward.train.rl.group import GroupCollector
    from robo_reward.train.rl.trainer import make_vector_env

    torch.manual_seed(0)
    policy = FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES)))
    envs = ProgressRewardWrapper(make_vector_env("push", 4, 32, max_steps=4), None)
    collector = GroupCollector(envs, FlowActorCritic(policy), ["push"] * 4, 0.99, 2, group_size=2, seed=7)
    starts = []
    original = envs.reset

    def spy(**kw):
        obs, info = original(**kw)
        if kw.get("options") is None:
            starts.append(np.asarray(obs["observation.images.front"]).astype(float))
        return obs, info

    envs.reset = spy
    episodes = collector.collect()
    envs.close()
    s = starts[0]
    assert np.allclose(s[0], s[1]) and np.allclose(s[2], s[3]) and not np.allclose(s[0], s[2])
    assert [e.seed for e in episodes] == [7, 7, 8, 8] and all(e.length == 4 for e in episodes)
    with pytest.raises(ValueError, match="group_size"):
        GroupCollector(envs, FlowActorCritic(policy), ["push"] * 4, 0.99, 2, group_size=3)
