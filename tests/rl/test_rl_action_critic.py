"""noise-sac with its critics on the executed actions (`critic_space="action"`, after DSRL-NA): what
the critics score is the policy's own executed steps, the actor's gradient reaches it through the frozen
sampler, the learner finds a region defined on decoded actions, and the exported policy acts and is
value-guided in that space."""

import pytest
import torch

from robo_reward.data.episode import EPISODE_STEP_KEY
from robo_reward.models.flow_policy import FlowPolicy, make_config
from robo_reward.models.flow_policy.steering import SteeredPolicy, SteeringConfig, load_policy
from robo_reward.models.flow_policy.value_guide import ValueGuide
from robo_reward.sim import STATE_NAMES
from robo_reward.train.rl.configuration_rl import LogConfig, RLConfig, RolloutConfig
from robo_reward.train.rl.rollout import Transition
from robo_reward.train.rl.steered_sac import NoiseSAC, NoiseSACConfig, ResidualSACConfig
from robo_reward.train.rl.trainer import train


def test_the_critics_score_the_executed_steps_the_policy_itself_samples(tiny_policy, policy_batch):
    steered = SteeredPolicy(tiny_policy, SteeringConfig(mode="noise", steer_steps=2, critic_space="action"))
    c = tiny_policy.config
    batch = policy_batch(tiny_policy)
    features, _, _ = steered.observe(batch)
    noise = torch.randn(3, steered.steer_dim, generator=torch.Generator().manual_seed(3))
    scored = steered.critic_action(features, noise)
    # independently: the policy's own sampler from the same full noise (zero beyond the steered steps)
    full = torch.zeros(3, c.chunk_size, c.action_dim)
    full[:, :2] = noise.view(3, 2, c.action_dim)
    executed = tiny_policy.normalize_action(tiny_policy.sample(batch, noise=full))[:, :2].flatten(1)
    torch.testing.assert_close(scored, executed, rtol=1e-4, atol=1e-4)
    assert steered.critic_dim == 2 * c.action_dim == scored.shape[1]
    noise_space = SteeredPolicy(tiny_policy, SteeringConfig(mode="noise", steer_steps=2))
    assert noise_space.critic_action(features, noise) is noise


def test_the_actor_climbs_the_critics_through_the_frozen_sampler(tiny_policy, policy_batch):
    steered = SteeredPolicy(tiny_policy, SteeringConfig(mode="noise", steer_steps=2, critic_space="action"))
    features, obs, _ = steered.observe(policy_batch(tiny_policy))
    action, _ = steered.actor(obs, generator=torch.Generator().manual_seed(0))
    steered.critic_action(features, action).sum().backward()
    grads = [p.grad for p in steered.actor.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    assert all(p.grad is None for p in steered.base.parameters())  # the policy stays frozen


def test_only_noise_steering_scores_executed_actions():
    with pytest.raises(ValueError, match="critic_space"):
        ResidualSACConfig(critic_space="action")
    with pytest.raises(ValueError, match="critic_space"):
        NoiseSACConfig(critic_space="chunk")
    with pytest.raises(ValueError, match="critic_space"):
        SteeringConfig(mode="residual", critic_space="action")


def test_noise_sac_finds_a_region_of_executed_actions(tiny_policy, policy_batch):
    """A bandit on what is executed: reward 1 where the first executed action's first two dimensions
    exceed their 75th percentile under the policy's prior noise (≈ 6 % of the first guesses)."""
    torch.manual_seed(0)
    algo_cfg = NoiseSACConfig(hidden=64, critics=2, batch_size=32, utd=1, warmstart_episodes=0, warmstart_updates=0,
                              lr_actor=1e-3, lr_critic=1e-3, critic_space="action")  # fmt: skip
    algo = NoiseSAC(tiny_policy, RLConfig(init="x"), algo_cfg, 2, 10, torch.Generator().manual_seed(0))
    batch = policy_batch(tiny_policy, B=8) | {EPISODE_STEP_KEY: torch.zeros(8)}
    features, obs, _ = algo.steered.observe(batch)
    prior = algo.steered.critic_action(features.repeat(40, 1), torch.randn(320, algo.steered.steer_dim))
    threshold = prior[:, :2].quantile(0.75, dim=0)

    def rewarded(executed):
        return (executed[:, :2] > threshold).all(1).float()

    hits = []
    for _ in range(30):
        decision = algo.act(batch)
        w = torch.stack([r["action"] for r in decision.records])
        r = rewarded(algo.steered.critic_action(features, w))
        hits.append(r.mean().item())
        algo.observe([Transition(decision.obs[j], decision.records[j], env=j, reward=float(r[j]),
                                 discount=0.97, terminated=True) for j in range(8)])  # fmt: skip
        if algo.ready():
            algo.update()
    mode, _ = algo.actor(obs, deterministic=True)
    assert hits[0] < 0.25
    assert sum(hits[-8:]) / 8 > 0.6
    assert rewarded(algo.steered.critic_action(features, mode)).mean().item() > 0.8


def test_an_action_critic_run_trains_resumes_exports_and_acts_guided(tmp_path, policy_batch):
    torch.manual_seed(0)
    init = tmp_path / "init"
    FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES))).save_pretrained(init)
    algo = NoiseSACConfig(hidden=32, batch_size=16, warmstart_episodes=1, warmstart_updates=5, utd=1,
                          critic_space="action")  # fmt: skip

    def cfg(rollouts):
        return RLConfig(task="reach", init=str(init), reward="oracle", rollouts=rollouts, algo=algo,
                        rollout=RolloutConfig(num_envs=2, max_steps=8, image_size=32),
                        log=LogConfig(checkpoint_every=1))  # fmt: skip

    assert train(cfg(3), tmp_path / "run", show_progress=False)["episodes"] == 3
    assert train(cfg(4), tmp_path / "run", resume=True, show_progress=False)["episodes"] == 4
    policy = load_policy(tmp_path / "run" / "policy")
    assert isinstance(policy, SteeredPolicy) and policy.steering.critic_space == "action"
    assert isinstance(policy.guide, ValueGuide)
    batch = policy_batch(policy.base, B=2) | {EPISODE_STEP_KEY: torch.zeros(2)}
    greedy = policy.sample(batch)
    policy.steering.candidates = 4
    guided = policy.sample(batch, generator=torch.Generator().manual_seed(1))
    assert guided.shape == greedy.shape and torch.isfinite(guided).all()
