"""PPO maths as small pure functions: GAE over chunk-level transitions, the clipped surrogate, value loss.

A transition is one executed action chunk: its reward is the discounted sum of the per-step rewards
inside the chunk, Σ_j γ^j r_{t+j}, and the discount to the next transition is γ^n for the n env
steps the chunk ran (fewer than its length when the episode ended inside it).
"""

from __future__ import annotations

import numpy as np
import torch


def chunk_return(step_rewards: np.ndarray, gamma: float) -> tuple[float, float]:
    """(Σ_j γ^j r_j, γ^n) for the rewards of one executed chunk (n = len(step_rewards))."""
    r = np.asarray(step_rewards, dtype=np.float64)
    return float(np.sum(r * gamma ** np.arange(len(r)))), float(gamma ** len(r))


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    discounts: np.ndarray,
    terminated: np.ndarray,
    episode_end: np.ndarray,
    lam: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimation over one environment's sequence of transitions.

    All arrays are (T,) in time order. `next_values[i]` is V of the state after transition i (for a
    truncated episode: V of its final observation); `discounts[i]` = γ^{n_i}; `terminated[i]` stops
    bootstrapping (Φ and V of a terminal state are 0); `episode_end[i]` (terminated or truncated)
    stops the advantage recursion at an episode boundary. λ is applied per transition.

        δ_i = r_i + d_i·(1 − term_i)·V'_i − V_i
        A_i = δ_i + d_i·λ·(1 − end_i)·A_{i+1}
    Returns (advantages, returns = advantages + values).
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    not_term = 1.0 - np.asarray(terminated, dtype=np.float64)
    not_end = 1.0 - np.asarray(episode_end, dtype=np.float64)
    discounts = np.asarray(discounts, dtype=np.float64)
    deltas = rewards + discounts * not_term * np.asarray(next_values, dtype=np.float64) - values
    adv = np.zeros_like(deltas)
    running = 0.0
    for i in range(len(deltas) - 1, -1, -1):
        running = deltas[i] + discounts[i] * lam * not_end[i] * running
        adv[i] = running
    return adv, adv + values


def ppo_clip_loss(
    logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor, clip: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped surrogate −E[min(ρA, clip(ρ, 1−ε, 1+ε)A)], ρ = exp(logp_new − logp_old).

    Shapes broadcast: one ratio per sample (logp (B,), advantages (B,)), or one per likelihood term
    (logp (B, D), advantages (B, 1): every term of a sample shares its advantage, as tokens do).
    Also returns the clip fraction and the k3 estimate of KL(old ‖ new) (Schulman's low-variance one),
    both averaged over the ratios.
    """
    log_ratio = logp_new - logp_old
    ratio = torch.exp(log_ratio)
    surrogate = torch.minimum(ratio * advantages, torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * advantages)
    loss = -surrogate.mean()
    with torch.no_grad():
        stats = {
            "clipfrac": float(((ratio - 1.0).abs() > clip).float().mean()),
            "approx_kl": float(((ratio - 1.0) - log_ratio).mean()),
            "ratio_mean": float(ratio.mean()),
        }
    return loss, stats


def value_loss(
    values: torch.Tensor,
    returns: torch.Tensor,
    old_values: torch.Tensor | None = None,
    clip: float | None = None,
) -> torch.Tensor:
    """½·E[(V − R)²], optionally with PPO's value clipping around the rollout-time values."""
    unclipped = (values - returns) ** 2
    if old_values is None or clip is None:
        return 0.5 * unclipped.mean()
    clipped = (old_values + torch.clamp(values - old_values, -clip, clip) - returns) ** 2
    return 0.5 * torch.maximum(unclipped, clipped).mean()


def normalize_advantages(adv: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    if adv.numel() < 2:
        return adv
    return (adv - adv.mean()) / (adv.std() + eps)
