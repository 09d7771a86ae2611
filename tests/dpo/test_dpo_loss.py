"""Diffusion-DPO loss: log 2 at the reference, the right gradient direction, shared noise and t."""

import copy
import math

import pytest
import torch
from torch import nn

from robo_reward.train.dpo.loss import (
    DPOLossConfig,
    diffusion_dpo_loss,
    dpo_step_loss,
    sample_shared_noise_and_t,
)


class ToyFlow(nn.Module):
    """A tiny flow-matching model with the FlowPolicy loss signature (x_t = t·noise + (1−t)·a)."""

    def __init__(self, state_dim=3, horizon=2, action_dim=2):
        super().__init__()
        self.shape = (horizon, action_dim)
        n = horizon * action_dim
        self.net = nn.Sequential(nn.Linear(state_dim + n + 1, 64), nn.Tanh(), nn.Linear(64, n))
        self.calls = []

    def flow_matching_loss(self, batch, action_chunk, noise=None, t=None):
        self.calls.append((noise.clone(), t.clone()))
        B = action_chunk.shape[0]
        x_t = t.view(B, 1, 1) * noise + (1 - t.view(B, 1, 1)) * action_chunk
        u = noise - action_chunk
        v = self.net(torch.cat([batch["observation.state"], x_t.flatten(1), t.view(B, 1)], -1)).view(
            B, *self.shape
        )
        return ((v - u) ** 2).flatten(1).mean(1)


def make_pairs(B=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = {"observation.state": torch.randn(B, 3, generator=g), "task": ["t"] * B}
    return batch, torch.randn(B, 2, 2, generator=g), torch.randn(B, 2, 2, generator=g) + 2.0


def test_hand_values():
    loss, stats = diffusion_dpo_loss(
        torch.tensor([0.5]), torch.tensor([0.6]), torch.tensor([0.7]), torch.tensor([0.6]), beta=10.0
    )
    margin = -10.0 * ((0.5 - 0.6) - (0.7 - 0.6))  # = 2
    assert stats["implicit_margin"].item() == pytest.approx(margin)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-margin)))
    assert stats["implicit_accuracy"].item() == 1.0


def test_loss_is_log2_when_policy_equals_reference():
    torch.manual_seed(0)
    policy = ToyFlow()
    reference = copy.deepcopy(policy)
    batch, w, l = make_pairs()
    loss, stats = dpo_step_loss(policy, reference, batch, w, l, DPOLossConfig(beta=50.0))
    assert loss.item() == pytest.approx(math.log(2.0), abs=1e-6)
    assert torch.all(stats["implicit_margin"] == 0)


def test_shared_noise_and_t_for_winner_loser_policy_and_reference():
    torch.manual_seed(0)
    policy = ToyFlow()
    reference = copy.deepcopy(policy)
    batch, w, l = make_pairs(B=5)
    dpo_step_loss(policy, reference, batch, w, l, DPOLossConfig(), torch.Generator().manual_seed(3))
    (noise, t), (noise_ref, t_ref) = policy.calls[0], reference.calls[0]
    torch.testing.assert_close(noise[:5], noise[5:])  # winner rows vs loser rows
    torch.testing.assert_close(t[:5], t[5:])
    torch.testing.assert_close(noise, noise_ref)  # policy vs reference
    torch.testing.assert_close(t, t_ref)
    assert len(torch.unique(t[:5])) == 5  # but different pairs get different draws


def test_beta_1p5_1_time_distribution():
    _, t = sample_shared_noise_and_t((20000, 1, 1), generator=torch.Generator().manual_seed(0))
    assert t.min() >= 0.0 and t.max() <= 1.0
    assert t.mean().item() == pytest.approx(1.5 / 2.5, abs=0.01)  # E[Beta(a, b)] = a / (a + b)


def test_loss_gradient_signs_on_the_errors():
    errs = [torch.tensor([v], requires_grad=True) for v in (0.5, 0.6, 0.7, 0.6)]
    loss, _ = diffusion_dpo_loss(*errs, beta=10.0)
    loss.backward()
    s = torch.sigmoid(torch.tensor(-2.0)).item()  # σ(−margin), margin = 2
    assert errs[0].grad.item() == pytest.approx(10.0 * s)  # descending lowers the winner error
    assert errs[2].grad.item() == pytest.approx(-10.0 * s)  # ... and raises the loser error


class TwoRegionFlow(nn.Module):
    """Velocity = two linear fields gated by the region of x_t: winners and losers mostly use
    different parameters, so each error can move on its own (in one shared network DPO only
    guarantees the *relative* move, and both errors may rise together)."""

    def __init__(self, n=4):
        super().__init__()
        self.lin = nn.ModuleList([nn.Linear(n + 1, n) for _ in range(2)])

    def flow_matching_loss(self, batch, action_chunk, noise=None, t=None):
        B = action_chunk.shape[0]
        x_t = t.view(B, 1, 1) * noise + (1 - t.view(B, 1, 1)) * action_chunk
        inp = torch.cat([x_t.flatten(1), t.view(B, 1)], -1)
        gate = torch.sigmoid(4 * x_t.flatten(1).mean(1, keepdim=True))
        v = (1 - gate) * self.lin[0](inp) + gate * self.lin[1](inp)
        return ((v.view_as(noise) - (noise - action_chunk)) ** 2).flatten(1).mean(1)


def test_training_lowers_winner_error_and_raises_loser_error():
    torch.manual_seed(0)
    policy = TwoRegionFlow()
    reference = copy.deepcopy(policy).requires_grad_(False)
    g = torch.Generator().manual_seed(1)
    B = 64
    batch = {"observation.state": torch.zeros(B, 1)}
    w = torch.randn(B, 2, 2, generator=g) * 0.3 - 3.0
    l = torch.randn(B, 2, 2, generator=g) * 0.3 + 3.0
    noise, t = sample_shared_noise_and_t(tuple(w.shape), generator=torch.Generator().manual_seed(7))

    def errors():
        with torch.no_grad():
            return (
                policy.flow_matching_loss(batch, w, noise, t).mean(),
                policy.flow_matching_loss(batch, l, noise, t).mean(),
            )

    ew0, el0 = errors()
    opt = torch.optim.SGD(policy.parameters(), lr=1e-2)
    for step in range(10):
        loss, stats = dpo_step_loss(
            policy, reference, batch, w, l, DPOLossConfig(beta=5.0), torch.Generator().manual_seed(step)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    ew1, el1 = errors()
    assert ew1 < ew0 and el1 > el0
    assert loss.item() < 0.1 * math.log(2.0)
    assert stats["implicit_accuracy"].mean() == 1.0


def test_sft_term_added():
    torch.manual_seed(0)
    policy = ToyFlow()
    reference = copy.deepcopy(policy)
    batch, w, l = make_pairs(B=4)
    loss, stats = dpo_step_loss(policy, reference, batch, w, l, DPOLossConfig(sft_weight=0.5))
    assert loss.item() == pytest.approx(math.log(2.0) + 0.5 * stats["sft"].item(), rel=1e-6)


def test_beta_0_is_flow_matching_on_the_winners_alone():
    """β = 0 zeroes the DPO term's gradient: what is left is the plain winner loss, losers untouched."""
    torch.manual_seed(0)
    policy = ToyFlow()
    reference = copy.deepcopy(policy).requires_grad_(False)
    batch, w, l = make_pairs(B=8)
    loss, stats = dpo_step_loss(
        policy,
        reference,
        batch,
        w,
        l,
        DPOLossConfig(beta=0.0, sft_weight=1.0),
        torch.Generator().manual_seed(3),
    )
    loss.backward()
    grads = [p.grad.clone() for p in policy.parameters()]
    policy.zero_grad()
    noise, t = policy.calls[0][0][:8], policy.calls[0][1][:8]  # the winners' half of the shared draw
    policy.flow_matching_loss(batch, w, noise, t).mean().backward()
    for got, want in zip(grads, [p.grad for p in policy.parameters()], strict=True):
        torch.testing.assert_close(got, want)
    assert loss.item() == pytest.approx(math.log(2.0) + stats["sft"].item(), rel=1e-6)


def test_winner_guard_hand_values():
    """Winner error up 0.1, loser up 0.3, β = 10, λ = 2: margin 2, guard 10·2·0.1 = 2, logit 0 → log 2."""
    args = torch.tensor([0.7]), torch.tensor([0.6]), torch.tensor([0.9]), torch.tensor([0.6])
    loss, stats = diffusion_dpo_loss(*args, beta=10.0, winner_guard=2.0)
    assert stats["implicit_margin"].item() == pytest.approx(2.0)
    assert loss.item() == pytest.approx(math.log(2.0))
    # a winner whose error fell pays nothing: the same loss as plain DPO
    args = torch.tensor([0.5]), torch.tensor([0.6]), torch.tensor([0.7]), torch.tensor([0.6])
    guarded, _ = diffusion_dpo_loss(*args, beta=10.0, winner_guard=2.0)
    plain, _ = diffusion_dpo_loss(*args, beta=10.0)
    assert guarded.item() == pytest.approx(plain.item())


def test_winner_guard_keeps_winners_likely_where_plain_dpo_drops_them():
    """Near-identical winners and losers in one shared network: plain DPO widens the margin by raising
    both errors (the winners become less likely); with the guard the winners' error falls."""

    def train(guard: float) -> tuple[float, float]:
        torch.manual_seed(0)
        policy = ToyFlow()
        reference = copy.deepcopy(policy).requires_grad_(False)
        g = torch.Generator().manual_seed(10)
        batch = {"observation.state": torch.randn(64, 3, generator=g)}
        w = torch.randn(64, 2, 2, generator=g)
        l = w + 0.3 * torch.randn(64, 2, 2, generator=g)
        noise, t = sample_shared_noise_and_t(tuple(w.shape), generator=torch.Generator().manual_seed(7))

        def winner_error() -> float:
            with torch.no_grad():
                return policy.flow_matching_loss(batch, w, noise, t).mean().item()

        before = winner_error()
        opt = torch.optim.Adam(policy.parameters(), lr=3e-3)
        cfg = DPOLossConfig(beta=20.0, winner_guard=guard)
        for step in range(300):
            loss, _ = dpo_step_loss(policy, reference, batch, w, l, cfg, torch.Generator().manual_seed(step))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return before, winner_error()

    before, plain = train(0.0)
    assert plain > before + 0.05  # the failure the guard is for
    before, guarded = train(5.0)
    assert guarded < before
