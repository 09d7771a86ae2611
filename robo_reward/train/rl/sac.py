"""Soft actor-critic pieces shared by the off-policy learners: networks and the maths as pure functions.

- The critics (`EnsembleCritic`) live with the value guide that ships them
  (`robo_reward.models.flow_policy.value_guide`).
- The actor (`SquashedGaussianActor`) lives with the steered policy it belongs to
  (`robo_reward.models.flow_policy.steering`).
- `soft_target`: y = r + d·(1 − term)·(min over the ensemble of Q'(s', a') − α·log π(a'|s')); the
  minimum over all E critics is the pessimistic backup (E = 2 is clipped double Q).
- `critic_loss`, `actor_loss`, `temperature_loss`: every term spelled out; `polyak` for target nets.
- `target_cost`: the level `temperature_loss` holds, refused where a bounded actor can never reach it.

Shapes: observations (B, O), actions (B, A), ensemble outputs (E, B).
"""

from __future__ import annotations

import math

import torch
from torch import nn


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


def target_cost(regularizer: str, per_dim: float, bound: float, prior_std: float, dim: int) -> float:
    """c̄ for `temperature_loss` from a target per dimension: −H̄ (entropy) or the KL budget (prior).

    A bound·tanh action lives in (−bound, bound), so each target has a limit it cannot pass, and past it α
    only grows (at bound 0.3 and an entropy target of 0 it reached 1e17 and the critics' loss inf):
    its entropy is at most the uniform's, log(2·bound) per dimension; its KL to N(0, s²) is at least
    −log P(|z| < bound/s) per dimension (the truncated prior)."""
    if regularizer == "entropy":
        ceiling = math.log(2.0 * bound)
        if per_dim >= ceiling:
            raise ValueError(
                f"target_entropy_per_dim {per_dim} is at or above the most a policy bounded at {bound} can "
                f"have ({ceiling:.3f} nats per dimension, the uniform's): lower --target-entropy-per-dim "
                "below it or raise the --bound"
            )
        return -per_dim * dim
    floor = -math.log(math.erf(bound / (prior_std * math.sqrt(2.0))))
    if per_dim <= floor:
        raise ValueError(
            f"target_kl_per_dim {per_dim} is below what a policy bounded at {bound} can reach against its "
            f"prior ({floor:.3f} nats per dimension): raise --target-kl-per-dim above it or the --bound"
        )
    return per_dim * dim


@torch.no_grad()
def polyak(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target ← (1 − τ)·target + τ·source, parameter by parameter."""
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        t.lerp_(s, tau)
