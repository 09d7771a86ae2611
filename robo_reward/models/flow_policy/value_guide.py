"""The RL run's critics, shipped beside its actor so that they can pick each decision's action.

A steered policy acts with its actor's mode. The ensemble of critics that trained the actor can rank
other actions too: with `SteeringConfig.candidates` K > 1 the policy draws K − 1 actions from its actor
beside the mode, scores each with the critics' value Q(s, time left, a) — their mean or, pessimistic,
their minimum — and decodes the best one. This is value-guided steering in the sense of V-GPS
(Nakamoto et al. 2024, which re-ranks a generalist policy's samples with a learnt Q-function), here over
the actor's own samples, so the candidates stay where the critics were trained.

The critics see the share of the episode still to run (the RL learner treats the time limit as the end of
a finite-horizon task), so a guided policy needs each observation's episode step (`EPISODE_STEP_KEY`: the
env steps executed since the reset); the sim's evaluation and rollouts pass it.

`EnsembleCritic`: E Q-networks evaluated in one batched pass (weights (E, in, out)), LayerNorm after every
hidden layer — the normalisation that keeps high update-to-data ratios from over-estimating (Ball et al.
2023, RLPD). Folder: `config.json` (sizes, horizon) + `model.safetensors` (the critics).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from robo_reward.utils.checkpoint import load_folder, save_folder

GUIDE_STATISTICS = ("mean", "min")


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


class ValueGuide(nn.Module):
    """Q_e(s, time left, a): the critics of a steered policy's RL run, on the actor's observation."""

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        horizon: int,
        ensemble: int = 4,
        hidden: int = 256,
        depth: int = 2,
    ):
        super().__init__()
        if horizon < 1:
            raise ValueError(f"the guide's horizon (env steps per episode) must be ≥ 1, got {horizon}")
        self.sizes = {"obs_dim": obs_dim, "action_dim": action_dim, "horizon": horizon,
                      "ensemble": ensemble, "hidden": hidden, "depth": depth}  # fmt: skip
        self.horizon = horizon
        self.critic = EnsembleCritic(obs_dim + 1, action_dim, ensemble, hidden, depth)

    def time_left(self, steps) -> torch.Tensor:
        """Share of the episode's steps still to run, in [0, 1]: (B,)."""
        device = next(self.critic.parameters()).device
        steps = torch.as_tensor(steps, dtype=torch.float32, device=device).reshape(-1)
        return (1.0 - steps / self.horizon).clamp(0.0, 1.0)

    @staticmethod
    def critic_input(obs: torch.Tensor, time_left: torch.Tensor) -> torch.Tensor:
        return torch.cat([obs, time_left.reshape(-1, 1)], dim=1)

    def forward(self, obs: torch.Tensor, steps, action: torch.Tensor) -> torch.Tensor:
        """(B, O), B episode steps, (B, A) → the critics' values (E, B)."""
        return self.critic(self.critic_input(obs, self.time_left(steps)), action)

    @torch.no_grad()
    def choose(
        self,
        obs: torch.Tensor,
        steps,
        candidates: torch.Tensor,
        statistic: str = "min",
        critic_actions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The best of K candidate actions per observation: obs (B, O), candidates (B, K, A) → (B, A),
        ranked by the critics' `statistic` ("mean" or the pessimistic "min") over the ensemble; the critics
        read `critic_actions` (B, K, C) in place of the candidates where they score another space."""
        if statistic not in GUIDE_STATISTICS:
            raise ValueError(f"guide statistic must be one of {GUIDE_STATISTICS}, got {statistic!r}")
        b, k, _ = candidates.shape
        scored = candidates if critic_actions is None else critic_actions
        steps = self.time_left(steps).repeat_interleave(k)
        q = self.critic(self.critic_input(obs.repeat_interleave(k, 0), steps), scored.reshape(b * k, -1))
        score = (q.mean(0) if statistic == "mean" else q.min(0).values).view(b, k)
        return candidates[torch.arange(b, device=candidates.device), score.argmax(1)]

    def save_pretrained(self, folder: str | Path) -> Path:
        return save_folder(folder, self.sizes, self.critic.state_dict())

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device = "cpu") -> ValueGuide:
        sizes, tensors = load_folder(folder)
        try:
            guide = cls(**sizes)
        except TypeError as e:
            raise ValueError(
                f"{folder}/config.json is not a value guide's ({e}): re-export the policy"
            ) from e
        guide.critic.load_state_dict(tensors, strict=True)
        return guide.to(device).eval()
