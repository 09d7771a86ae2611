"""Flow-noise sampling (ReinFlow / πRL): Euler denoising with learned Gaussian noise at every step.

The flow policy integrates dx/dt = v(x, t) from noise (t = 1) to an action chunk (t = 0) with K Euler
steps. Adding N(0, σ_k²) noise after each step turns the sampler into a Markov chain of Gaussians,

    x_{k+1} ~ N(μ_k, σ_k²),   μ_k = x_k + (t_{k+1} − t_k)·v_θ(f, x_k, t_k),

whose log-likelihood given the starting noise x_0 is exact: Σ_k log N(x_{k+1}; μ_k, σ_k²). PPO's
ratio needs nothing more, provided the whole chain x_0..x_K is stored with the transition. With σ = 0
the chain is the plain deterministic sampler, so evaluation uses the unchanged BC policy path.

Shapes: features (B, d); chains (B, K+1, H, A); means and stds (B, K, H, A); t scalars per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from robo_reward.models.flow_policy.flow import euler_times

VelocityFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (f, x_t, t) -> v
StdFn = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]  # (f, t (B,), step k) -> σ (B, H, A)

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(x; mean, std²)."""
    return -((x - mean) ** 2) / (2.0 * std**2) - torch.log(std) - _HALF_LOG_2PI


def chain_log_prob_elements(chain: torch.Tensor, means: torch.Tensor, stds: torch.Tensor) -> torch.Tensor:
    """The terms of the chain log-likelihood, log N(x_{k+1,d}; μ_{k,d}, σ_{k,d}²) → (B, K·H·A)."""
    return gaussian_log_prob(chain[:, 1:], means, stds).flatten(1)


def chain_log_prob(chain: torch.Tensor, means: torch.Tensor, stds: torch.Tensor) -> torch.Tensor:
    """Σ_k Σ_dims log N(x_{k+1}; μ_k, σ_k²) → (B,). chain (B, K+1, ...), means/stds (B, K, ...)."""
    return chain_log_prob_elements(chain, means, stds).sum(1)


def chain_entropy(stds: torch.Tensor) -> torch.Tensor:
    """Entropy of x_1..x_K given x_0 when σ does not depend on x: Σ (½ log 2πe + log σ) → (B,)."""
    return (torch.log(stds) + 0.5 + _HALF_LOG_2PI).flatten(1).sum(1)


@torch.no_grad()
def sample_chain(
    velocity: VelocityFn,
    std_fn: StdFn | None,
    features: torch.Tensor,
    noise: torch.Tensor,
    num_steps: int,
    generator: torch.Generator | None = None,
    return_elements: bool = False,
) -> tuple[torch.Tensor, ...]:
    """Run the noisy Euler chain from `noise` (B, H, A). Returns (chain (B, K+1, H, A), logp (B,)),
    and with `return_elements` also the per-element terms of logp (B, K·H·A).

    `std_fn=None` samples deterministically (σ = 0, logp = 0): the policy's own sampler.
    """
    B = noise.shape[0]
    ts = euler_times(num_steps).to(noise.device)
    x = noise
    chain = [x]
    terms = []
    for k in range(num_steps):
        t = ts[k].expand(B)
        mean = x + (ts[k + 1] - ts[k]) * velocity(features, x, t)
        if std_fn is None:
            x = mean
            terms.append(torch.zeros_like(mean).flatten(1))
        else:
            std = std_fn(features, t, k)
            eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            x = mean + std * eps
            terms.append(gaussian_log_prob(x, mean, std).flatten(1))
        chain.append(x)
    elements = torch.cat(terms, 1)
    out = (torch.stack(chain, 1), elements.sum(1))
    return (*out, elements) if return_elements else out


def chain_means_stds(
    velocity: VelocityFn, std_fn: StdFn, features: torch.Tensor, chain: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """μ_k and σ_k for a stored chain under the current parameters, with gradients.

    The K velocity calls are batched into one (B·K) call: the trunk features are reused per step.
    """
    B, K1 = chain.shape[:2]
    K = K1 - 1
    ts = euler_times(K).to(chain.device)
    x = chain[:, :K].reshape(B * K, *chain.shape[2:])
    t = ts[:K].repeat(B)  # (B·K,) step-major inside each sample
    f = features.repeat_interleave(K, 0)
    dt = (ts[1:] - ts[:K]).repeat(B).view(B * K, *([1] * (chain.dim() - 2)))
    means = (x + dt * velocity(f, x, t)).view(B, K, *chain.shape[2:])
    stds = torch.stack([std_fn(features, ts[k].expand(B), k) for k in range(K)], 1)
    return means, stds


class NoiseStd(nn.Module):
    """σ_k in [σ_min, σ_max] for each denoising step, per action dimension.

    mode "param": one learned value per (step, action dim), shared across observations and chunk steps;
    mode "head": a small MLP of (trunk features, t) → (H, A), so exploration can depend on the scene.
    Both start at `init` (through the same squashing) so RL begins near the BC policy.
    """

    def __init__(
        self,
        feature_dim: int,
        horizon: int,
        action_dim: int,
        num_steps: int,
        mode: str = "param",
        std_min: float = 0.01,
        std_max: float = 0.2,
        init: float = 0.05,
        hidden: int = 128,
    ):
        super().__init__()
        if not std_min < init < std_max:
            raise ValueError(f"need std_min < init < std_max, got {std_min}, {init}, {std_max}")
        self.mode, self.horizon, self.action_dim = mode, horizon, action_dim
        self.std_min, self.std_max = std_min, std_max
        frac = (init - std_min) / (std_max - std_min)
        bias = math.log(frac / (1.0 - frac))  # sigmoid⁻¹, so σ = init at the start
        if mode == "param":
            self.logits = nn.Parameter(torch.full((num_steps, action_dim), bias))
        elif mode == "head":
            self.net = nn.Sequential(
                nn.Linear(feature_dim + 1, hidden), nn.SiLU(), nn.Linear(hidden, horizon * action_dim)
            )
            nn.init.zeros_(self.net[-1].weight)
            nn.init.constant_(self.net[-1].bias, bias)
        else:
            raise ValueError(f"noise mode must be 'param' or 'head', got {mode!r}")

    def forward(self, features: torch.Tensor, t: torch.Tensor, step: int) -> torch.Tensor:
        B = features.shape[0]
        if self.mode == "param":
            logits = self.logits[step].view(1, 1, -1).expand(B, self.horizon, -1)
        else:
            logits = self.net(torch.cat([features, t.view(B, 1).to(features.dtype)], -1))
            logits = logits.view(B, self.horizon, self.action_dim)
        return self.std_min + (self.std_max - self.std_min) * torch.sigmoid(logits)


class ValueHead(nn.Module):
    """V(s) from the trunk features (B, d) → (B,)."""

    def __init__(self, feature_dim: int, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(feature_dim),
            nn.Linear(feature_dim, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)
