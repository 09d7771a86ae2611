"""Flow-matching maths as small pure functions (pi0 convention: t = 1 is noise, t = 0 is the action).

    x_t = t·noise + (1 − t)·a          the straight path from the action to the noise
    u   = dx_t/dt = noise − a          the velocity the network regresses
    loss = mean over (H, A) of ‖v_θ(x_t, t) − u‖²          one value per sample
Sampling integrates dx/dt = v from t = 1 (noise) to t = 0 with explicit Euler steps of size 1/N.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def sample_time(
    n: int,
    alpha: float = 1.5,
    beta: float = 1.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(n,) flow times t ~ Beta(alpha, beta); alpha > beta favours noisier times (t near 1).

    For beta = 1 the CDF is t^alpha, so t = u^(1/alpha) is exact and honours `generator`.
    """
    if beta == 1.0:
        u = torch.rand(n, generator=generator, device=device)
        return u.pow(1.0 / alpha)
    dist = torch.distributions.Beta(torch.tensor(float(alpha)), torch.tensor(float(beta)))
    return dist.sample((n,)).to(device)


def interpolate(action: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = t·noise + (1 − t)·action; action, noise (B, ...), t (B,)."""
    t = t.reshape(-1, *([1] * (action.dim() - 1))).to(action.dtype)
    return t * noise + (1.0 - t) * action


def target_velocity(action: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """u = noise − action: the constant velocity of the straight path."""
    return noise - action


def flow_matching_mse(velocity: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared error over all but the batch dimension: (B, ...) → (B,)."""
    return (velocity - target).pow(2).flatten(1).mean(dim=1)


def euler_times(num_steps: int) -> torch.Tensor:
    """(num_steps + 1,) times 1 = t_0 > t_1 > ... > t_N = 0 of the Euler grid."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be ≥ 1, got {num_steps}")
    return torch.linspace(1.0, 0.0, num_steps + 1)


def euler_step(x: torch.Tensor, velocity: torch.Tensor, dt: float) -> torch.Tensor:
    """One step x ← x − dt·v (time runs from 1 down to 0, so dt > 0 moves toward the action)."""
    return x - dt * velocity


def euler_integrate(
    velocity_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    noise: torch.Tensor,
    num_steps: int = 10,
) -> torch.Tensor:
    """Integrate dx/dt = velocity_fn(x, t (B,)) from t = 1 (x = noise) to t = 0 with N Euler steps."""
    times = euler_times(num_steps).tolist()
    x = noise
    for k in range(num_steps):
        t = torch.full((x.shape[0],), times[k], dtype=x.dtype, device=x.device)
        x = euler_step(x, velocity_fn(x, t), times[k] - times[k + 1])
    return x
