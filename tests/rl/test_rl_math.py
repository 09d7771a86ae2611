"""Pure RL maths against hand-computed values: chunk returns, GAE, PPO clip, the flow-noise chain."""

import math

import numpy as np
import pytest
import torch

from robo_reward.train.rl.flow_noise import (
    NoiseStd,
    chain_entropy,
    chain_log_prob,
    chain_log_prob_elements,
    chain_means_stds,
    euler_times,
    sample_chain,
)
from robo_reward.train.rl.ppo import chunk_return, gae, normalize_advantages, ppo_clip_loss, value_loss


def test_chunk_return():
    ret, disc = chunk_return(np.array([1.0, 0.0, 2.0]), gamma=0.5)
    assert ret == pytest.approx(1.0 + 0.0 + 0.25 * 2.0)
    assert disc == pytest.approx(0.125)


def test_gae_hand_computed():
    # three transitions; the second ends its episode by truncation, the third terminates
    r = np.array([1.0, 0.5, 2.0])
    v = np.array([0.2, 0.4, 0.6])
    v_next = np.array([0.4, 0.9, 123.0])  # 0.9 = V(final obs) of the truncated episode
    d = np.array([0.9, 0.81, 0.9])  # γ^n per chunk (chunks of 1 and 2 steps at γ = 0.9)
    term = np.array([False, False, True])
    end = np.array([False, True, True])
    lam = 0.5
    adv, ret = gae(r, v, v_next, d, term, end, lam)
    d3 = 2.0 - 0.6  # terminal: no bootstrap
    d2 = 0.5 + 0.81 * 0.9 - 0.4  # truncated: bootstraps from the final observation
    d1 = 1.0 + 0.9 * 0.4 - 0.2
    a3, a2 = d3, d2  # the recursion stops at the episode end
    a1 = d1 + 0.9 * 0.5 * a2
    np.testing.assert_allclose(adv, [a1, a2, a3])
    np.testing.assert_allclose(ret, adv + v)


def test_gae_lambda_one_is_discounted_return_minus_value():
    r = np.array([1.0, 2.0, 3.0])
    v = np.array([0.5, 0.5, 0.5])
    v_next = np.array([0.5, 0.5, 0.0])
    d = np.full(3, 0.9)
    adv, _ = gae(r, v, v_next, d, [0, 0, 1], [0, 0, 1], lam=1.0)
    np.testing.assert_allclose(adv[0], 1 + 0.9 * 2 + 0.81 * 3 - 0.5)


def test_ppo_clip_loss_hand_computed():
    logp_old = torch.zeros(4)
    ratios = torch.tensor([1.5, 0.5, 1.1, 0.7])
    adv = torch.tensor([1.0, 1.0, -1.0, -2.0])
    loss, stats = ppo_clip_loss(torch.log(ratios), logp_old, adv, clip=0.2)
    # min(ρA, clip(ρ)A): 1.2 ; 0.5 ; -1.1 ; -1.6
    assert loss.item() == pytest.approx(-(1.2 + 0.5 - 1.1 - 1.6) / 4)
    assert stats["clipfrac"] == pytest.approx(0.75)
    k3 = np.mean([(r - 1) - math.log(r) for r in ratios.tolist()])
    assert stats["approx_kl"] == pytest.approx(k3, rel=1e-5)


def test_ppo_clip_gradient_vanishes_outside_the_trust_region():
    logp_new = torch.log(torch.tensor([1.5, 1.1])).requires_grad_()
    loss, _ = ppo_clip_loss(logp_new, torch.zeros(2), torch.tensor([1.0, 1.0]), clip=0.2)
    loss.backward()
    assert logp_new.grad[0] == 0.0 and logp_new.grad[1] < 0.0


def test_ppo_clip_loss_element_level_hand_computed():
    # two samples × two likelihood terms; each sample's advantage is shared by its terms
    ratios = torch.tensor([[1.5, 0.9], [0.5, 1.3]])
    adv = torch.tensor([[2.0], [-1.0]])
    loss, stats = ppo_clip_loss(torch.log(ratios), torch.zeros(2, 2), adv, clip=0.2)
    # min(ρA, clip(ρ)A): 2·1.2 = 2.4 ; 2·0.9 = 1.8 ; min(−0.5, −0.8) = −0.8 ; min(−1.3, −1.2) = −1.3
    assert loss.item() == pytest.approx(-(2.4 + 1.8 - 0.8 - 1.3) / 4)
    assert stats["clipfrac"] == pytest.approx(0.75)
    k3 = np.mean([(r - 1) - math.log(r) for r in ratios.flatten().tolist()])
    assert stats["approx_kl"] == pytest.approx(k3, rel=1e-5)


def test_value_loss_clipped():
    v, r, old = torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([1.0])
    assert value_loss(v, r).item() == pytest.approx(2.0)
    # clipped value 1.2 → (1.2)² = 1.44 < 4, the max keeps the unclipped 4
    assert value_loss(v, r, old, clip=0.2).item() == pytest.approx(2.0)
    v2 = torch.tensor([0.5])  # moved towards the target past the clip: clipped (0.8)² is larger
    assert value_loss(v2, r, old, clip=0.2).item() == pytest.approx(0.5 * 0.64)


def test_normalize_advantages():
    a = normalize_advantages(torch.tensor([1.0, 2.0, 3.0]))
    assert a.mean().abs() < 1e-6 and a.std().item() == pytest.approx(1.0, rel=1e-5)


# ---------------------------------------------------------------- the Gaussian chain


def toy_velocity(f, x, t):
    """A velocity field with every input mattering: v = f·x·(1 + t) + f."""
    shape = (-1,) + (1,) * (x.dim() - 1)
    return f.mean(-1).view(shape) * x * (1 + t.view(shape)) + f[:, :1].view(shape)


def test_euler_times():
    torch.testing.assert_close(euler_times(4), torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0]))


def test_chain_log_prob_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    B, K, H, A = 3, 4, 2, 5
    chain = torch.randn(B, K + 1, H, A, generator=g)
    means = torch.randn(B, K, H, A, generator=g)
    stds = torch.rand(B, K, H, A, generator=g) + 0.1
    direct = torch.distributions.Normal(means, stds).log_prob(chain[:, 1:]).sum((1, 2, 3))
    torch.testing.assert_close(chain_log_prob(chain, means, stds), direct)
    ent = torch.distributions.Normal(means, stds).entropy().sum((1, 2, 3))
    torch.testing.assert_close(chain_entropy(stds), ent)


@pytest.mark.parametrize("mode", ["param", "head"])
def test_sampled_chain_log_prob_equals_recomputed_and_direct(mode):
    torch.manual_seed(0)
    B, K, H, A, d = 4, 3, 2, 3, 6
    std = NoiseStd(d, H, A, K, mode=mode, init=0.1)
    if mode == "head":  # make σ depend on the features and t, not only on the init bias
        torch.nn.init.normal_(std.net[-1].weight, std=0.5)
    f = torch.randn(B, d)
    noise = torch.randn(B, H, A)
    chain, logp = sample_chain(toy_velocity, std, f, noise, K, torch.Generator().manual_seed(1))
    assert chain.shape == (B, K + 1, H, A)
    torch.testing.assert_close(chain[:, 0], noise)
    # recompute μ, σ for the stored chain with gradients (the PPO update path)
    means, stds = chain_means_stds(toy_velocity, std, f, chain)
    torch.testing.assert_close(chain_log_prob(chain, means, stds), logp)
    # direct: each step's Gaussian written out by hand with torch.distributions
    ts = euler_times(K)
    direct = torch.zeros(B)
    for k in range(K):
        x = chain[:, k]
        mu = x + (ts[k + 1] - ts[k]) * toy_velocity(f, x, ts[k].expand(B))
        sigma = std(f, ts[k].expand(B), k)
        mvn = torch.distributions.MultivariateNormal(mu.flatten(1), torch.diag_embed(sigma.flatten(1) ** 2))
        direct = direct + mvn.log_prob(chain[:, k + 1].flatten(1))
    torch.testing.assert_close(logp, direct, rtol=1e-4, atol=1e-3)


def test_sampled_log_prob_elements_are_the_terms_of_logp():
    torch.manual_seed(0)
    B, K, H, A, d = 3, 4, 2, 3, 5
    std = NoiseStd(d, H, A, K, mode="param", init=0.07)
    f, noise = torch.randn(B, d), torch.randn(B, H, A)
    chain, logp, elements = sample_chain(
        toy_velocity, std, f, noise, K, torch.Generator().manual_seed(2), return_elements=True
    )
    assert elements.shape == (B, K * H * A)
    torch.testing.assert_close(elements.sum(1), logp)
    means, stds = chain_means_stds(toy_velocity, std, f, chain)
    torch.testing.assert_close(chain_log_prob_elements(chain, means, stds), elements, rtol=1e-4, atol=1e-4)
    # term (b, k, h, a) is the log-density of one scalar Gaussian: check one by hand
    b, k, h, a = 1, 2, 1, 0
    x_k = chain[b : b + 1, k]
    mu = x_k + (euler_times(K)[k + 1] - euler_times(K)[k]) * toy_velocity(
        f[b : b + 1], x_k, euler_times(K)[k : k + 1]
    )
    sigma = 0.07
    z = (chain[b, k + 1, h, a] - mu[0, h, a]) / sigma
    direct = -0.5 * z**2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)
    assert elements[b, k * H * A + h * A + a].item() == pytest.approx(direct.item(), abs=1e-4)


def test_zero_noise_chain_is_the_euler_sampler():
    K, f, noise = 5, torch.randn(2, 4), torch.randn(2, 3, 2)
    chain, logp = sample_chain(toy_velocity, None, f, noise, K)
    x, ts = noise, euler_times(K)
    for k in range(K):
        x = x - (1.0 / K) * toy_velocity(f, x, ts[k].expand(2))
    torch.testing.assert_close(chain[:, -1], x)
    assert torch.all(logp == 0)


def test_noise_std_starts_at_init_within_bounds():
    s = NoiseStd(8, 4, 7, 10, mode="head", std_min=0.01, std_max=0.2, init=0.05)
    out = s(torch.randn(3, 8), torch.rand(3), 0)
    torch.testing.assert_close(out, torch.full((3, 4, 7), 0.05))
    with pytest.raises(ValueError):
        NoiseStd(8, 4, 7, 10, init=0.5, std_max=0.2)


def test_log_prob_gradient_reaches_velocity_and_noise_parameters():
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 3)

    def velocity(f, x, t):
        return lin(x) * t.view(-1, 1, 1)

    std = NoiseStd(4, 2, 3, 3, mode="param", init=0.1)
    f, noise = torch.randn(5, 4), torch.randn(5, 2, 3)
    chain, _ = sample_chain(velocity, std, f, noise, 3)
    means, stds = chain_means_stds(velocity, std, f, chain)
    chain_log_prob(chain, means, stds).sum().backward()
    assert lin.weight.grad.abs().sum() > 0 and std.logits.grad.abs().sum() > 0


@pytest.mark.parametrize("ratio_level", ["element", "chain"])
def test_flow_noise_ppo_learns_a_toy_bandit(ratio_level):
    """PPO through the noisy Euler chain moves the sampled actions to the rewarded target."""
    torch.manual_seed(0)
    B, K, H, A, d = 64, 3, 2, 2, 4
    target = torch.tensor([1.0, -1.0])
    theta = torch.nn.Parameter(torch.zeros(H, A))

    def velocity(f, x, t):  # x_K = x_0 + θ (plus the injected noise): θ is the mean action offset
        return -theta.expand_as(x)

    std = NoiseStd(d, H, A, K, mode="param", init=0.1, std_max=0.3)
    opt = torch.optim.Adam([theta, *std.parameters()], lr=0.05)
    f = torch.zeros(B, d)
    g = torch.Generator().manual_seed(0)

    def distance() -> float:
        return float((theta.detach() - target).norm(dim=-1).mean())

    start = distance()
    for _ in range(30):
        chain, logp, elements = sample_chain(
            velocity, std, f, 0.1 * torch.randn(B, H, A, generator=g), K, g, return_elements=True
        )
        adv = normalize_advantages(-((chain[:, -1] - target) ** 2).sum((1, 2)))
        old = elements if ratio_level == "element" else logp
        for _ in range(4):
            means, stds = chain_means_stds(velocity, std, f, chain)
            new = chain_log_prob_elements(chain, means, stds)
            new = new if ratio_level == "element" else new.sum(1)
            loss, _ = ppo_clip_loss(new, old, adv[:, None] if ratio_level == "element" else adv, 0.2)
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert start == pytest.approx(math.sqrt(2.0))
    assert distance() < 0.3 * start
