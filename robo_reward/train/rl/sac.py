"""Soft actor-critic pieces shared by the off-policy learners: networks and the maths as pure functions.

- `EnsembleCritic`: E Q-networks evaluated in one batched pass (weights (E, in, out)), LayerNorm after
  every hidden layer — the normalisation that keeps high update-to-data ratios from over-estimating
  (Ball et al. 2023, RLPD).
- The actor (`SquashedGaussianActor`) lives with the steered policy it belongs to
  (`robo_reward.models.flow_policy.steering`).
- `soft_target`: y = r + d·(1 − term)·(min over the ensemble of Q'(s', a') − α·log π(a'|s')); the
  minimum over all E critics is the pessimistic backup (E = 2 is clipped double Q).
- `critic_loss`, `actor_loss`, `temperature_loss`: every term spelled out; `polyak` for target nets.

Shapes: observations (B, O), actions (B, A), ensemble outputs (E, B).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class EnsembleLinear(nn.Module):
    """E independent linear layers applied to (E, B, in) → (E, B, out) with one batched matmul."""

    def __init__(self, ensemble: int, fan_in: int, fan_out: int):
        super().__init__()
        bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default initialisation, per member
        self.weight = nn.Parameter(torch.empty(ensemble, fan_in, fan_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(ensemble, 1, fan_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleCritic(nn.Module):
    """Q_e(s, a) for e = 1..E: [obs, action] → hidden (LayerNorm, ReLU) × depth → 1."""

    def __init__(self, obs_dim: int, action_dim: int, ensemble: int = 4, hidden: int = 256, depth: int = 2):
        super().__init__()
        self.ensemble = ensemble
        layers: list[nn.Module] = []
        fan_in = obs_dim + action_dim
        for _ in range(depth):
            layers += [EnsembleLinear(ensemble, fan_in, hidden), nn.LayerNorm(hidden), nn.ReLU()]
            fan_in = hidden
        layers.append(EnsembleLinear(ensemble, fan_in, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """(B, O), (B, A) → (E, B)."""
        x = torch.cat([obs, action], dim=-1)
        return self.net(x.unsqueeze(0).expand(self.ensemble, -1, -1)).squeeze(-1)


def soft_target(
    reward: torch.Tensor,
    discount: torch.Tensor,
    terminated: torch.Tensor,
    next_q: torch.Tensor,
    next_logp: torch.Tensor,
    alpha: float | torch.Tensor,
) -> torch.Tensor:
    """y = r + d·(1 − term)·(min_e Q'_e(s', a') − α·log π(a'|s')), a' ~ π(·|s'). next_q (E, B) → (B,).
    With a prior regulariser `next_logp` is the cost log π(a'|s') − log p₀(a') instead.

    `discount` is γⁿ for a decision that ran n env steps; a terminated decision does not bootstrap
    (a time-limit truncation does, since its state is not terminal)."""
    soft_v = next_q.min(dim=0).values - alpha * next_logp
    return reward + discount * (1.0 - terminated.float()) * soft_v


def critic_loss(q: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Σ over the ensemble of the mean squared TD error: q (E, B), target (B,) (no gradient)."""
    return ((q - target.detach().unsqueeze(0)) ** 2).mean(dim=1).sum()


def actor_loss(q: torch.Tensor, logp: torch.Tensor, alpha: float | torch.Tensor) -> torch.Tensor:
    """E_s[α·log π(a|s) − mean_e Q_e(s, a)], a ~ π(·|s) reparameterised: q (E, B), logp (B,)."""
    return (alpha * logp - q.mean(dim=0)).mean()


def temperature_loss(log_alpha: torch.Tensor, cost: torch.Tensor, target_cost: float) -> torch.Tensor:
    """−E[log α·(c − c̄)]: α grows while the regulariser's cost c exceeds its target c̄.

    Entropy regularisation: c = log π(a|s), c̄ = −H̄ (α grows when the entropy falls below H̄).
    Prior regularisation: c = log π(a|s) − log p₀(a), a sample of KL(π ‖ p₀), c̄ = the KL budget."""
    return -(log_alpha * (cost.detach() - target_cost)).mean()


@torch.no_grad()
def polyak(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target ← (1 − τ)·target + τ·source, parameter by parameter."""
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        t.lerp_(s, tau)
