"""The flow policy as a PPO actor-critic: noisy Euler chain (actor), value head on trunk features (critic).

The trunk runs once per chunk (as in BC inference) without gradients; its features are stored with
each decision, so a PPO update costs only action-expert passes.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from robo_reward.train.rl.flow_noise import (
    NoiseStd,
    ValueHead,
    chain_entropy,
    chain_log_prob_elements,
    chain_means_stds,
    sample_chain,
)
from robo_reward.utils.checkpoint import load_folder, save_folder

HEADS_DIR = "rl_heads"


class FlowActorCritic(nn.Module):
    def __init__(
        self,
        policy,
        num_steps: int | None = None,
        noise_mode: str = "param",
        std_init: float = 0.05,
        std_min: float = 0.01,
        std_max: float = 0.2,
        init_noise_scale: float = 1.0,
    ):
        super().__init__()
        self.init_noise_scale = float(init_noise_scale)
        c = policy.config
        self.policy = policy
        self.num_steps = int(num_steps or c.num_inference_steps)
        self.horizon, self.action_dim = c.chunk_size, c.action_dim
        self.noise = NoiseStd(
            c.feature_dim, c.chunk_size, c.action_dim, self.num_steps, noise_mode, std_min, std_max, std_init
        )
        self.value = ValueHead(c.feature_dim)
        self._heads_config = {
            "num_steps": self.num_steps, "noise_mode": noise_mode, "std_init": std_init,
            "std_min": std_min, "std_max": std_max, "init_noise_scale": self.init_noise_scale,
        }  # fmt: skip

    @torch.no_grad()
    def encode(self, obs: dict) -> torch.Tensor:
        return self.policy.encode(obs)

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def act(
        self, obs: dict, deterministic: bool = False, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """features (B, d), chain (B, K+1, H, A), logp (B,), logp_elements (B, K·H·A) (the terms of
        logp), value (B,), action (B, H, A) in real units."""
        features = self.encode(obs)
        noise = self.init_noise_scale * torch.randn(
            (features.shape[0], self.horizon, self.action_dim), generator=generator, device=features.device
        )
        std_fn = None if deterministic else self.noise
        chain, logp, elements = sample_chain(
            self.policy.velocity, std_fn, features, noise, self.num_steps, generator, return_elements=True
        )
        action = self.policy.unnormalize_action(chain[:, -1])
        return {
            "features": features,
            "chain": chain,
            "logp": logp,
            "logp_elements": elements,
            "value": self.value(features),
            "action": action,
        }

    @torch.no_grad()
    def values(self, obs: dict) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encode(obs)
        return features, self.value(features)

    def evaluate(self, features: torch.Tensor, chain: torch.Tensor) -> dict[str, torch.Tensor]:
        """logp (B,), logp_elements (B, K·H·A), entropy (B,), value (B,) of stored chains under the
        current parameters."""
        means, stds = chain_means_stds(self.policy.velocity, self.noise, features, chain)
        elements = chain_log_prob_elements(chain, means, stds)
        return {
            "logp": elements.sum(1),
            "logp_elements": elements,
            "entropy": chain_entropy(stds),
            "value": self.value(features.detach()),
        }

    def mean_std(self) -> float:
        with torch.no_grad():
            f = torch.zeros(1, self.policy.config.feature_dim, device=self.policy.device)
            t = torch.ones(1, device=f.device)
            return float(torch.stack([self.noise(f, t, k).mean() for k in range(self.num_steps)]).mean())

    # ------------------------------------------------------------------ save / load
    def save(self, folder: str | Path, extras: dict | None = None) -> Path:
        """`<folder>/policy` (a plain FlowPolicy checkpoint: `policy eval` reads it) + `<folder>/rl_heads`."""
        folder = Path(folder)
        self.policy.save_pretrained(folder / "policy", extras=extras)
        heads = {f"noise.{k}": v for k, v in self.noise.state_dict().items()}
        heads |= {f"value.{k}": v for k, v in self.value.state_dict().items()}
        save_folder(folder / HEADS_DIR, self._heads_config, heads)
        return folder

    def load_heads(self, folder: str | Path) -> None:
        _, tensors = load_folder(Path(folder) / HEADS_DIR)
        self.noise.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("noise.")})
        self.value.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("value.")})
