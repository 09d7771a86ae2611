"""Diffusion-DPO (Wallace et al. 2023) for a flow-matching policy.

The flow-matching error ‖v_θ(x_t) − u‖² stands in for −log-likelihood (up to a weighting and a
constant), so the DPO logit compares how much the policy improved on the winner vs the loser,
relative to a frozen reference:

    L = −log σ(−β·[(e_θ^w − e_ref^w) − (e_θ^l − e_ref^l)]),   e = ‖v(x_t) − u‖²,

with the SAME noise and the same t for winner and loser (and for policy and reference), so the
difference measures the chunks and not the luck of the draw. Optional SFT term on winners.

The winners' guard (after DPO-Positive, Pal et al. 2024): plain DPO can widen the margin by making
the winners *less* likely too, as long as the losers fall faster — the collapse seen with noisy judges.
With `winner_guard` λ > 0 the logit pays for every rise of the winner's error above the reference's:

    logit = −β·[(e_θ^w − e_ref^w) − (e_θ^l − e_ref^l)] − β·λ·max(0, e_θ^w − e_ref^w),

so the winners' implicit reward −β·(e_θ^w − e_ref^w) (logged as `reward_w`) is kept from going negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from robo_reward.models.flow_policy import flow


class FlowMatchingModel(Protocol):
    def flow_matching_loss(
        self,
        batch: dict,
        action_chunk: torch.Tensor,
        noise: torch.Tensor | None = None,
        t: torch.Tensor | None = None,
    ) -> torch.Tensor: ...


@dataclass(frozen=True)
class DPOLossConfig:
    beta: float = 100.0  # errors are per-element means of order 0.01–1, so differences are small
    sft_weight: float = 0.0  # weight of the plain flow-matching loss on winners
    winner_guard: float = 0.0  # λ of the winners' guard (module docstring); 0: plain DPO


def diffusion_dpo_loss(
    err_w: torch.Tensor,
    err_w_ref: torch.Tensor,
    err_l: torch.Tensor,
    err_l_ref: torch.Tensor,
    beta: float,
    winner_guard: float = 0.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Mean DPO loss over the batch (all inputs (B,)), plus per-pair diagnostics.

    implicit_margin = −β·[(e_θ^w − e_ref^w) − (e_θ^l − e_ref^l)]: > 0 means the policy prefers the
    winner more than the reference does (the implicit preference is right). The logit inside σ is
    the margin less the winners' guard β·λ·max(0, e_θ^w − e_ref^w).
    """
    margin = -beta * ((err_w - err_w_ref) - (err_l - err_l_ref))
    logit = margin - beta * winner_guard * torch.relu(err_w - err_w_ref) if winner_guard > 0 else margin
    loss = -F.logsigmoid(logit).mean()
    with torch.no_grad():
        stats = {
            "implicit_margin": margin.detach(),
            "implicit_accuracy": (margin > 0).float(),
            "reward_w": (-beta * (err_w - err_w_ref)).detach(),
            "reward_l": (-beta * (err_l - err_l_ref)).detach(),
        }
    return loss, stats


def sample_shared_noise_and_t(
    shape: tuple[int, ...],
    device=None,
    generator: torch.Generator | None = None,
    time_alpha: float = 1.5,
    time_beta: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One noise (B, H, A) and one flow time t (B,) ~ Beta(α, β), to be used for winner AND loser."""
    noise = torch.randn(shape, generator=generator, device=device)
    return noise, flow.sample_time(shape[0], time_alpha, time_beta, generator=generator, device=device)


def dpo_step_loss(
    policy: FlowMatchingModel,
    reference: FlowMatchingModel,
    batch: dict,
    winner: torch.Tensor,
    loser: torch.Tensor,
    config: DPOLossConfig,
    generator: torch.Generator | None = None,
    features: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The full DPO objective for one batch of pairs (winner/loser chunks (B, H, A), real units).

    Winner and loser go through the model as one batch of 2B rows that repeat the same observations,
    noise and t, so the shared noise cannot drift apart (and the trunk runs once when the model
    exposes `encode`). `features` (B, d): precomputed trunk features used by policy AND reference —
    valid when both share one frozen trunk (the CPU setting), and then no image is encoded at all.
    """
    B = winner.shape[0]
    cfg = getattr(policy, "config", None)
    noise, t = sample_shared_noise_and_t(
        tuple(winner.shape),
        winner.device,
        generator,
        getattr(cfg, "time_alpha", 1.5),
        getattr(cfg, "time_beta", 1.0),
    )
    both = {} if features is not None else _repeat_batch(batch, 2)  # features make the images unneeded
    chunks = torch.cat([winner, loser], 0)
    noise2, t2 = torch.cat([noise, noise], 0), torch.cat([t, t], 0)
    err = _errors(policy, batch, both, chunks, noise2, t2, features)
    with torch.no_grad():
        err_ref = _errors(reference, batch, both, chunks, noise2, t2, features)
    loss, stats = diffusion_dpo_loss(
        err[:B], err_ref[:B], err[B:], err_ref[B:], config.beta, config.winner_guard
    )
    if config.sft_weight > 0:
        sft = err[:B].mean()
        loss = loss + config.sft_weight * sft
        stats["sft"] = sft.detach()
    return loss, stats


def _errors(model, batch: dict, both: dict, chunks, noise, t, features=None) -> torch.Tensor:
    if features is not None or hasattr(model, "encode"):  # one trunk pass for winner and loser
        if features is None:
            features = model.encode(batch)
        return model.flow_matching_loss(both, chunks, noise=noise, t=t, features=torch.cat([features] * 2))
    return model.flow_matching_loss(both, chunks, noise=noise, t=t)


def _repeat_batch(batch: dict, n: int) -> dict:
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            out[k] = torch.cat([v] * n, 0)
        elif isinstance(v, list):
            out[k] = v * n
        else:
            out[k] = v
    return out
