"""SAC maths against hand values and independent implementations; the steered policy's noise space."""

import math

import pytest
import torch
from torch.distributions import AffineTransform, Normal, TanhTransform, TransformedDistribution

from robo_reward.models.flow_policy import FlowPolicy
from robo_reward.models.flow_policy.steering import (
    SteeredPolicy,
    SteeringConfig,
    atanh_action,
    noise_to_chunk_shape,
    squashed_log_prob,
)
from robo_reward.models.flow_policy.value_guide import EnsembleCritic
from robo_reward.train.rl import sac


def test_soft_target_hand_computed():
    reward, discount = torch.tensor([1.0, 0.5]), torch.tensor([0.9, 0.81])
    terminated = torch.tensor([0.0, 1.0])
    next_q = torch.tensor([[2.0, 3.0], [1.0, 5.0]])  # (E=2, B=2): the minimum is [1, 3]
    next_logp = torch.tensor([0.5, -1.0])
    y = sac.soft_target(reward, discount, terminated, next_q, next_logp, alpha=0.2)
    # row 0: 1 + 0.9·(1 − 0.2·0.5) = 1.81; row 1 terminated: no bootstrap
    torch.testing.assert_close(y, torch.tensor([1.81, 0.5]))


def test_critic_actor_and_temperature_losses_hand_computed():
    q, y = torch.tensor([[1.0, 2.0], [3.0, 0.0]]), torch.tensor([1.0, 1.0])
    assert sac.critic_loss(q, y).item() == pytest.approx((0 + 1) / 2 + (4 + 1) / 2)
    logp = torch.tensor([-3.0, -1.0])
    # α·logp − mean_e Q = 0.5·[−3, −1] − [2, 1] → mean of [−3.5, −1.5] = −2.5
    assert sac.actor_loss(q, logp, 0.5).item() == pytest.approx(-2.5)
    log_alpha = torch.tensor(math.log(0.5), requires_grad=True)
    loss = sac.temperature_loss(log_alpha, logp, target_cost=-1.0)  # −log α·mean(logp + 1) = −log α·(−1)
    assert loss.item() == pytest.approx(math.log(0.5))
    loss.backward()
    # entropy 2 > target 1: a gradient step must lower α
    assert log_alpha.grad.item() == pytest.approx(1.0)


def test_squashed_log_prob_matches_torch_distributions():
    torch.manual_seed(0)
    mean, log_std, bound = torch.randn(5, 3), torch.randn(5, 3) * 0.5, 1.5
    u = mean + log_std.exp() * torch.randn(5, 3)
    dist = TransformedDistribution(
        Normal(mean, log_std.exp()), [TanhTransform(), AffineTransform(0.0, bound)]
    )
    expected = dist.log_prob(bound * torch.tanh(u)).sum(-1)
    torch.testing.assert_close(squashed_log_prob(u, mean, log_std, bound), expected, rtol=1e-4, atol=1e-4)
    assert torch.isfinite(
        squashed_log_prob(torch.full((1, 2), 40.0), torch.zeros(1, 2), torch.zeros(1, 2), 1.0)
    ).all()


def test_ensemble_members_are_independent_linear_stacks():
    torch.manual_seed(0)
    critic = EnsembleCritic(obs_dim=3, action_dim=2, ensemble=3, hidden=8, depth=1)
    obs, act = torch.randn(4, 3), torch.randn(4, 2)
    q = critic(obs, act)
    lin1, ln, _, lin2 = critic.net
    x = torch.cat([obs, act], -1)
    for e in range(3):  # member e by hand: its own weights, a shared-shape LayerNorm, ReLU
        h = torch.relu(ln(x @ lin1.weight[e] + lin1.bias[e, 0]))
        torch.testing.assert_close(q[e], (h @ lin2.weight[e] + lin2.bias[e, 0]).squeeze(-1))


def test_polyak_hand_computed():
    target, source = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    for p, value in ((target, 0.0), (source, 1.0)):
        torch.nn.init.constant_(p.weight, value)
        torch.nn.init.constant_(p.bias, value)
    sac.polyak(target, source, tau=0.1)
    assert target.weight.item() == pytest.approx(0.1) and target.bias.item() == pytest.approx(0.1)


def test_noise_action_mapping_round_trips():
    u = torch.linspace(-3.0, 3.0, 168).view(3, 56)  # float32 tanh keeps ~1e-3 of u up to |u| ≈ 4
    torch.testing.assert_close(atanh_action(1.5 * torch.tanh(u), 1.5), u, rtol=1e-3, atol=1e-3)
    flat = torch.arange(2 * 8 * 7, dtype=torch.float32).view(2, 56)
    chunk = noise_to_chunk_shape(flat, horizon=8)
    assert chunk.shape == (2, 8, 7) and chunk[1, 3, 4] == flat[1, 3 * 7 + 4]
    torch.testing.assert_close(chunk.flatten(1), flat)


def test_prior_noise_decodes_to_the_policy_own_sample(tiny_policy, policy_batch):
    """A warm-start transition is exact: its stored noise, decoded, is the chunk BC sampling gives."""
    steered = SteeredPolicy(tiny_policy, SteeringConfig(mode="noise", bound=1.0))
    batch = policy_batch(tiny_policy)
    features, obs, _ = steered.observe(batch)
    noise = steered.prior_noise(3, torch.Generator().manual_seed(7))
    chunk = steered.decode(features, noise)
    torch.testing.assert_close(chunk, tiny_policy.sample(batch, generator=torch.Generator().manual_seed(7)))
    assert obs.shape == (3, steered.obs_dim) and noise.shape == (3, steered.steer_dim)


def test_residual_zero_is_the_base_chunk_and_moves_only_executed_steps(tiny_policy, policy_batch):
    steered = SteeredPolicy(tiny_policy, SteeringConfig(mode="residual", bound=0.3, n_action_steps=2))
    features, obs, base = steered.observe(policy_batch(tiny_policy), torch.Generator().manual_seed(1))
    torch.testing.assert_close(steered.decode(features, torch.zeros(3, steered.steer_dim), base),
                               tiny_policy.unnormalize_action(base))  # fmt: skip
    moved = steered.decode(features, torch.full((3, steered.steer_dim), 0.2), base)
    diff = tiny_policy.normalize_action(moved) - base
    torch.testing.assert_close(diff[:, :2], torch.full_like(diff[:, :2], 0.2), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(diff[:, 2:], torch.zeros_like(diff[:, 2:]), rtol=1e-4, atol=1e-4)
    assert obs.shape[1] == tiny_policy.config.feature_dim + steered.steer_dim


def test_steered_policy_round_trips_and_acts_deterministically(tiny_policy, tmp_path, policy_batch):
    from robo_reward.models.flow_policy.steering import load_policy

    steered = SteeredPolicy(tiny_policy, SteeringConfig(mode="noise", bound=1.0))
    torch.nn.init.normal_(steered.actor.mean.weight)
    batch = policy_batch(tiny_policy)
    a = steered.sample(batch)
    torch.testing.assert_close(a, steered.sample(batch))
    loaded = load_policy(steered.save_pretrained(tmp_path / "steered"))
    assert isinstance(loaded, SteeredPolicy)
    torch.testing.assert_close(loaded.sample(batch), a)
    assert isinstance(load_policy(tiny_policy.save_pretrained(tmp_path / "plain")), FlowPolicy)


def test_steered_policy_acts_with_the_executed_steps_it_was_trained_with(tiny_policy, tmp_path):
    """A fine-tune run with 4 executed steps per chunk reports 4 to evaluation and serving after a round
    trip, while its base policy keeps its own config."""
    from robo_reward.models.flow_policy.steering import load_policy

    assert tiny_policy.config.n_action_steps != 4
    steered = SteeredPolicy(tiny_policy, SteeringConfig(mode="noise", n_action_steps=4, steer_steps=4))
    assert steered.config.n_action_steps == 4
    assert steered.base.config.n_action_steps == tiny_policy.config.n_action_steps
    loaded = load_policy(steered.save_pretrained(tmp_path / "steered"))
    assert loaded.config.n_action_steps == 4
    assert loaded.config.chunk_size == tiny_policy.config.chunk_size


def test_noise_sac_finds_the_rewarded_noise_region(tiny_policy, policy_batch):
    """A bandit in noise space: reward 1 only where w_0 > 0.5 and w_1 < −0.5 (≈ 8 % of the actor's
    first guesses). The learner's own act/observe/update must move its steering there."""
    from robo_reward.train.rl.configuration_rl import RLConfig
    from robo_reward.train.rl.rollout import Transition
    from robo_reward.train.rl.steered_sac import NoiseSAC, NoiseSACConfig

    torch.manual_seed(0)
    algo_cfg = NoiseSACConfig(hidden=64, critics=2, batch_size=64, utd=1, warmstart_episodes=0, warmstart_updates=0,
                              lr_actor=1e-3, lr_critic=1e-3)  # fmt: skip
    algo = NoiseSAC(tiny_policy, RLConfig(init="x"), algo_cfg, 2, 10, torch.Generator().manual_seed(0))
    batch = policy_batch(tiny_policy, B=16) | {"episode_step": torch.zeros(16)}

    def rewarded(w):
        return ((w[:, 0] > 0.5) & (w[:, 1] < -0.5)).float()

    hits = []
    for _ in range(20):
        decision = algo.act(batch)
        w = torch.stack([r["action"] for r in decision.records])
        hits.append(rewarded(w).mean().item())
        algo.observe([Transition(decision.obs[j], decision.records[j], env=j, reward=float(rewarded(w)[j]),
                                 discount=0.97, terminated=True) for j in range(16)])  # fmt: skip
        if algo.ready():
            algo.update()
    mode, _ = algo.actor(algo.steered.observe(batch)[1], deterministic=True)
    assert hits[0] < 0.2  # the first guesses: about chance
    assert sum(hits[-8:]) / 8 > 0.6
    assert rewarded(mode).mean().item() == 1.0


def test_prior_regularizer_cost_is_a_kl_sample_to_the_policy_prior(tiny_policy):
    from robo_reward.train.rl.configuration_rl import RLConfig
    from robo_reward.train.rl.steered_sac import NoiseSAC, NoiseSACConfig

    algo = NoiseSAC(tiny_policy, RLConfig(init="x"), NoiseSACConfig(regularizer="prior", target_kl_per_dim=0.5),
                    2, 10, torch.Generator().manual_seed(0))  # fmt: skip
    a, logp = torch.tensor([[0.5, -1.0]]), torch.tensor([-2.0])
    s = tiny_policy.config.noise_scale
    log_p0 = sum(Normal(0.0, s).log_prob(torch.tensor(x)).item() for x in (0.5, -1.0))
    assert algo.cost(a, logp).item() == pytest.approx(-2.0 - log_p0, rel=1e-5)
    assert algo.target_cost == pytest.approx(0.5 * algo.steered.steer_dim)


def test_prior_kl_budget_below_the_bounded_floor_is_refused(tiny_policy):
    """A policy bounded at b puts no mass outside (−b, b): its KL to N(0, s²) is at least −log P(|z| < b)
    per dimension, 0.3817 nats for b = s (by hand: P = 0.6827)."""
    from robo_reward.train.rl.configuration_rl import RLConfig
    from robo_reward.train.rl.steered_sac import NoiseSAC, NoiseSACConfig

    s = tiny_policy.config.noise_scale

    def make(kl):
        cfg = NoiseSACConfig(regularizer="prior", bound=s, target_kl_per_dim=kl)
        return NoiseSAC(tiny_policy, RLConfig(init="x"), cfg, 2, 10, torch.Generator().manual_seed(0))

    with pytest.raises(ValueError, match="0.382 nats per dimension"):
        make(0.38)
    assert make(0.39).target_cost == pytest.approx(0.39 * make(0.39).steered.steer_dim)


def test_entropy_target_above_the_bounded_ceiling_is_refused(tiny_policy):
    """A policy bounded at b has at most the uniform's entropy, log(2b) nats per dimension: −0.5108 for
    b = 0.3 (by hand: log 0.6), where a target of 0 once drove α to 1e17."""
    from robo_reward.train.rl.configuration_rl import RLConfig
    from robo_reward.train.rl.steered_sac import ResidualSAC, ResidualSACConfig

    def make(target):
        cfg = ResidualSACConfig(regularizer="entropy", bound=0.3, target_entropy_per_dim=target)
        return ResidualSAC(tiny_policy, RLConfig(init="x"), cfg, 2, 10, torch.Generator().manual_seed(0))

    for target in (0.0, -0.51):
        with pytest.raises(ValueError, match="-0.511 nats per dimension"):
            make(target)
    algo = make(-0.52)
    assert algo.target_cost == pytest.approx(0.52 * algo.steered.steer_dim)
    assert ResidualSACConfig().target_entropy_per_dim < math.log(2 * ResidualSACConfig().bound)


def test_averaged_actor_is_the_polyak_average_of_the_actor_and_ships(tiny_policy, tmp_path, policy_batch):
    """With actor_average = r, each update moves the averaged actor r of the way to the actor (checked
    against the weights recorded around every update); the export ships it, the checkpoint keeps it."""
    from robo_reward.train.rl.configuration_rl import RLConfig
    from robo_reward.train.rl.rollout import Transition
    from robo_reward.train.rl.steered_sac import NoiseSAC, NoiseSACConfig

    cfg = NoiseSACConfig(hidden=32, critics=2, batch_size=8, utd=1, warmstart_episodes=0, warmstart_updates=0,
                         actor_average=0.25)  # fmt: skip
    algo = NoiseSAC(tiny_policy, RLConfig(init="x"), cfg, 2, 10, torch.Generator().manual_seed(0))
    batch = policy_batch(tiny_policy, B=8) | {"episode_step": torch.zeros(8)}
    d = algo.act(batch)
    algo.observe([Transition(d.obs[j], d.records[j], env=j, reward=float(j % 2), discount=0.97,
                             terminated=True) for j in range(8)])  # fmt: skip
    expected = {k: v.clone() for k, v in algo.actor.state_dict().items()}
    for _ in range(3):
        algo.sac_step()
        expected = {k: 0.75 * v + 0.25 * algo.actor.state_dict()[k] for k, v in expected.items()}
    avg = algo.actor_avg.state_dict()
    assert all(torch.allclose(avg[k], v, atol=1e-6) for k, v in expected.items())
    assert not torch.allclose(avg[next(iter(avg))], algo.actor.state_dict()[next(iter(avg))])
    last = {k: v.clone() for k, v in algo.actor.state_dict().items()}
    shipped = SteeredPolicy.from_pretrained(algo.export(tmp_path / "policy"))
    assert all(torch.equal(shipped.actor.state_dict()[k], avg[k]) for k in avg)
    assert all(torch.equal(algo.actor.state_dict()[k], v) for k, v in last.items())  # export restored it
    algo.save(tmp_path / "ckpt")
    again = NoiseSAC(tiny_policy, RLConfig(init="x"), cfg, 2, 10, torch.Generator().manual_seed(1))
    again.load(tmp_path / "ckpt")
    assert all(torch.equal(again.actor_avg.state_dict()[k], avg[k]) for k in avg)
    assert all(torch.equal(again.actor.state_dict()[k], last[k]) for k in last)


def test_steering_only_the_executed_steps_keeps_the_rest_at_zero_noise(tiny_policy, policy_batch):
    steered = SteeredPolicy(tiny_policy, SteeringConfig(mode="noise", steer_steps=2))
    A, H = tiny_policy.config.action_dim, tiny_policy.config.chunk_size
    assert steered.steer_dim == 2 * A
    features, _, _ = steered.observe(policy_batch(tiny_policy))
    w = torch.randn(3, 2 * A)
    full = torch.cat([w, torch.zeros(3, (H - 2) * A)], dim=1).view(3, H, A)
    expected = tiny_policy.unnormalize_action(tiny_policy.sample_normalized(features, full))
    torch.testing.assert_close(steered.decode(features, w), expected)


def test_replay_reads_linked_rows_as_n_step_transitions():
    from robo_reward.train.rl.replay import ReplayBuffer

    buf = ReplayBuffer(capacity=16, obs_dim=1, action_dim=1)

    def add(x, r, term=False):
        return buf.add(torch.tensor([x]), torch.zeros(1), r, 0.5, term, torch.tensor([x + 0.5]), time=1.0,
                       next_time=0.25 * x)  # fmt: skip

    a = add(0.0, 1.0)
    other = add(10.0, 7.0)  # another env's decision, in between
    b = add(1.0, 2.0)
    c = add(2.0, 4.0, term=True)
    buf.link(a, b)
    buf.link(b, c)
    # row x: n = 3 from a: 1 + 0.5·2 + 0.25·4 = 3, discount 0.125, terminated at c, next_obs of c
    expected = {0.0: (3.0, 0.125, 1.0, 2.5), 1.0: (4.0, 0.25, 1.0, 2.5), 2.0: (4.0, 0.5, 1.0, 2.5),
                10.0: (7.0, 0.5, 0.0, 10.5)}  # fmt: skip
    batch = buf.sample(64, torch.Generator().manual_seed(0), n_step=3)
    for i in range(64):
        r, d, t, nxt = expected[batch["obs"][i, 0].item()]
        assert (batch["reward"][i].item(), batch["discount"][i].item()) == (r, d)
        assert (batch["terminated"][i].item(), batch["next_obs"][i, 0].item()) == (t, nxt)
    one = buf.sample(64, torch.Generator().manual_seed(0), n_step=1)
    torch.testing.assert_close(
        one["reward"],
        one["reward"].new_tensor(
            [{0.0: 1.0, 1.0: 2.0, 2.0: 4.0, 10.0: 7.0}[x.item()] for x in one["obs"][:, 0]]
        ),
    )
    assert other == 1
