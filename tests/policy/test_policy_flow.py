"""Flow-matching maths against hand-computed values on 1-D toys."""

from __future__ import annotations

import math

import pytest
import torch

from robo_reward.models.flow_policy import flow


def test_interpolate_and_target_by_hand():
    a = torch.tensor([[2.0]])
    noise = torch.tensor([[-1.0]])
    t = torch.tensor([0.25])
    # x_t = 0.25·(−1) + 0.75·2 = 1.25 ; u = −1 − 2 = −3
    assert flow.interpolate(a, noise, t).item() == pytest.approx(1.25)
    assert flow.target_velocity(a, noise).item() == pytest.approx(-3.0)
    assert torch.equal(flow.interpolate(a, noise, torch.tensor([0.0])), a)
    assert torch.equal(flow.interpolate(a, noise, torch.tensor([1.0])), noise)


def test_interpolate_broadcasts_time_per_sample():
    a = torch.zeros(2, 3, 1)
    noise = torch.ones(2, 3, 1)
    x = flow.interpolate(a, noise, torch.tensor([0.1, 0.9]))
    assert torch.allclose(x[0], torch.full((3, 1), 0.1)) and torch.allclose(x[1], torch.full((3, 1), 0.9))


def test_mse_is_per_sample():
    v = torch.tensor([[[1.0], [3.0]], [[0.0], [0.0]]])
    u = torch.zeros(2, 2, 1)
    assert flow.flow_matching_mse(v, u).tolist() == pytest.approx([5.0, 0.0])


def test_euler_times_and_constant_velocity_reaches_action():
    assert flow.euler_times(4).tolist() == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    # the exact velocity of a straight path is constant: Euler recovers the action exactly
    a, noise = torch.tensor([[0.5]]), torch.tensor([[2.0]])
    u = flow.target_velocity(a, noise)
    out = flow.euler_integrate(lambda x, t: u.expand_as(x), noise, num_steps=10)
    assert out.item() == pytest.approx(0.5)


def test_euler_linear_velocity_by_hand():
    # v(x, t) = x: each step of size 1/N multiplies x by (1 − 1/N)
    out = flow.euler_integrate(lambda x, t: x, torch.tensor([[3.0]]), num_steps=10)
    assert out.item() == pytest.approx(3.0 * 0.9**10)
    # v(x, t) = t: x_0 = x_1 − Σ_k t_k/N with t_k = 1 − k/N → 1 − (1/N)·Σ_{k=0}^{N-1}(1 − k/N)
    N = 4
    out = flow.euler_integrate(lambda x, t: t[:, None].expand_as(x), torch.tensor([[1.0]]), num_steps=N)
    expected = 1.0 - sum(1 - k / N for k in range(N)) / N  # 1 − (1 + .75 + .5 + .25)/4 = 0.375
    assert out.item() == pytest.approx(expected)


def test_sample_time_is_beta_1_5_1():
    g = torch.Generator().manual_seed(0)
    t = flow.sample_time(200_000, 1.5, 1.0, generator=g)
    assert t.min() >= 0.0 and t.max() <= 1.0
    assert t.mean().item() == pytest.approx(1.5 / 2.5, abs=3e-3)  # mean a/(a+b)
    var = 1.5 * 1.0 / (2.5**2 * 3.5)
    assert t.var().item() == pytest.approx(var, rel=0.03)
    assert (t < 0.5).float().mean().item() == pytest.approx(0.5**1.5, abs=5e-3)  # CDF t^1.5
    g2 = torch.Generator().manual_seed(0)
    assert torch.equal(
        flow.sample_time(10, generator=g2), flow.sample_time(10, generator=torch.Generator().manual_seed(0))
    )
    assert not math.isnan(flow.sample_time(5, 2.0, 2.0).mean().item())
