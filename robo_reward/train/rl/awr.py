"""Advantage-weighted regression (AWR, Peng et al. 2019) of the flow policy from a replay buffer.

The off-policy alternative to flow-noise PPO (`RLConfig.algorithm = "awr"`). Every executed chunk the
policy sampled goes into a buffer with its λ-return (from the shaped reward); after each batch of
rollouts the value head is fitted to the new returns, and the action expert takes `awr_steps` steps of
flow matching on buffer chunks weighted by exp(Â/β), Â = (R − V(s)) standardised over the buffer and the
weight capped. No likelihood ratio is needed, so every stored chunk is reused across many updates — the
point on a CPU budget of ~150 episodes — and a demonstration flow-matching term (`bc_weight`) keeps the
policy near the demos. With a sparse reward, R is the discounted success and the update is
success-weighted self-imitation; with a shaped reward, chunks that raise the progress are up-weighted
even inside failed episodes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from robo_reward.train.rl.demo_term import with_demo_term
from robo_reward.train.rl.ppo import normalize_advantages, value_loss
from robo_reward.train.rl.rollout import Transition

BUFFER_FILE = "awr_buffer.safetensors"


def awr_weights(adv: torch.Tensor, beta: float, max_weight: float) -> torch.Tensor:
    """exp(Â/β) of the standardised advantages, capped; no gradient."""
    return torch.exp(normalize_advantages(adv.detach()) / beta).clamp(max=max_weight)


class ReplayBuffer:
    """The newest `capacity` (trunk features, normalised executed chunk, return) triples."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"awr_buffer must be ≥ 1, got {capacity}")
        self.capacity = capacity
        self.features: torch.Tensor | None = None
        self.chunks: torch.Tensor | None = None
        self.returns: torch.Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.returns is None else len(self.returns)

    def add(self, transitions: list[Transition], returns: np.ndarray) -> None:
        f = torch.stack([t.features for t in transitions])
        c = torch.stack([t.chain[-1] for t in transitions])
        self.add_weighted(f, c, returns)

    def add_weighted(self, features: torch.Tensor, chunks: torch.Tensor, scores: np.ndarray) -> None:
        """Append (features, normalised chunk, score) rows; the score is a return or a weight."""
        f, c = features.float().cpu(), chunks.float().cpu()
        r = torch.as_tensor(np.asarray(scores), dtype=torch.float32)
        if self.returns is not None:
            f, c, r = torch.cat([self.features, f]), torch.cat([self.chunks, c]), torch.cat([self.returns, r])
        self.features, self.chunks, self.returns = (
            f[-self.capacity :],
            c[-self.capacity :],
            r[-self.capacity :],
        )

    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        if self.returns is not None:
            tensors = {"features": self.features, "chunks": self.chunks, "returns": self.returns}
            save_file({k: v.contiguous() for k, v in tensors.items()}, str(Path(folder) / BUFFER_FILE))

    def load(self, folder: Path) -> None:
        from safetensors.torch import load_file

        path = Path(folder) / BUFFER_FILE
        if path.exists():
            t = load_file(str(path))
            self.features, self.chunks, self.returns = t["features"], t["chunks"], t["returns"]


def buffer_flow_matching(actor, features: torch.Tensor, chunks: torch.Tensor) -> torch.Tensor:
    """Per-sample flow-matching loss (B,) of stored normalised chunks at their cached trunk features."""
    return actor.policy.flow_matching_loss({}, actor.policy.unnormalize_action(chunks), features=features)


def actor_step(actor, optimizer, loss: torch.Tensor, name: str, cfg, bc, stats: dict) -> None:
    """One optimiser step of the action expert on `loss` (logged as `name`) plus the demo term."""
    stats.setdefault(name, []).append(loss.item())
    loss = with_demo_term(loss, bc, cfg.bc_weight, stats)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(actor.actor_parameters(), cfg.max_grad_norm)
    optimizer.step()


def awr_update(
    actor, optimizer, buffer: ReplayBuffer, transitions: list[Transition], ret: np.ndarray, cfg, actor_on: bool,
    bc=None, generator: torch.Generator | None = None,
) -> dict[str, float]:  # fmt: skip
    """Fit the value head to this batch's returns, then `cfg.awr_steps` weighted flow-matching steps."""
    device = actor.policy.device
    stats: dict[str, list[float]] = {}
    feats = torch.stack([t.features for t in transitions]).to(device)
    ret_t = torch.as_tensor(ret, device=device, dtype=torch.float32)
    n, mb = len(transitions), min(cfg.minibatch_size, len(transitions))
    for _ in range(cfg.update_epochs):
        for idx in torch.randperm(n, generator=generator).split(mb):
            v_loss = value_loss(actor.value(feats[idx]), ret_t[idx])
            optimizer.zero_grad()
            (cfg.value_coef * v_loss).backward()
            optimizer.step()
            stats.setdefault("losses/value", []).append(v_loss.item())
    buffer.add(transitions, ret)
    if actor_on and len(buffer):
        with torch.no_grad():
            f_all = buffer.features.to(device)
            weights = awr_weights(
                buffer.returns.to(device) - actor.value(f_all), cfg.awr_beta, cfg.awr_max_weight
            )
        chunks_all = buffer.chunks.to(device)
        for _ in range(cfg.awr_steps):
            idx = torch.randint(0, len(buffer), (cfg.minibatch_size,), generator=generator)
            fm = buffer_flow_matching(actor, f_all[idx], chunks_all[idx])
            actor_step(actor, optimizer, (weights[idx] * fm).mean(), "losses/awr", cfg, bc, stats)
        stats["charts/awr_weight_max"] = [float(weights.max())]
        stats["charts/awr_weight_ess"] = [float(weights.sum() ** 2 / (weights**2).sum() / len(weights))]
    out = {k: float(np.mean(v)) for k, v in stats.items()}
    out["charts/buffer"] = float(len(buffer))
    return out
