"""A frozen flow policy steered by a small learned actor — what off-policy RL fine-tunes and ships.

Two ways to steer (`SteeringConfig.mode`):
- "noise" (DSRL, Wagenmaker et al. 2025): the actor picks the initial noise x_0 (H, A) of the chunk,
  w = bound·tanh(u); the frozen policy denoises it with its own deterministic Euler sampler. Every
  chunk the base policy can produce stays reachable, and the base policy's prior N(0, s²I) noise is
  itself an exact action of this space (s: the policy's acting `noise_scale`).
- "residual" (Policy Decorator / ResFiT): the base policy samples its chunk as usual; the actor adds a
  bounded correction bound·tanh(u) to the executed steps, in normalised action units, and sees the
  base chunk's executed steps beside the trunk features.

The actor's observation is the frozen policy's trunk features (computed once per decision and shared
with the sampler), optionally followed by the normalised state. A `SteeredPolicy` acts like a
`FlowPolicy` (`sample`, `config`, `device`), so evaluation, serving and the ROS node take it as is.
With `candidates` K > 1 it acts value-guided: the RL run's critics (`guide/`, a `ValueGuide`) pick the
best of the actor's mode and K − 1 of its samples; that needs the episode step in the batch.
Folder: `base/` (the FlowPolicy) + `config.json` and `model.safetensors` (the actor) + `guide/` (the
critics, where the RL run shipped them).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from robo_reward.data.episode import EPISODE_STEP_KEY, STATE_KEY
from robo_reward.models.flow_policy.modeling_flow_policy import FlowPolicy
from robo_reward.models.flow_policy.value_guide import GUIDE_STATISTICS, ValueGuide
from robo_reward.utils.checkpoint import load_folder, save_folder
from robo_reward.utils.config import strict_from_dict

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
STEERING_MODES = ("noise", "residual")
CRITIC_SPACES = ("noise", "action")  # what the critics score: the actor's action, or what it executes
BASE_DIR = "base"
GUIDE_DIR = "guide"
REEXPORT = "`robo-reward rl export --run <its RL run folder>`"


@dataclass
class SteeringConfig:
    mode: str = "noise"
    bound: float = 1.0  # |w| < bound: noise magnitude, or residual size in normalised action units
    hidden: int = 256
    depth: int = 2
    use_state: bool = False  # append the normalised state to the trunk features
    n_action_steps: int = 2  # chunk steps executed per decision (the residual covers these)
    # noise mode: the actor picks the noise of the first `steer_steps` chunk steps, the rest stays 0 (the
    # flow's own path there); None: every step's (DSRL). Fewer dimensions are fewer for the critics to learn.
    steer_steps: int | None = None
    num_denoise_steps: int | None = None  # the sampler's Euler steps (None: the policy's)
    # value-guided acting: the best of the actor's mode and `candidates` − 1 of its samples by the shipped
    # critics' `guide` statistic over the ensemble ("min" or "mean"); 1: the actor's mode
    candidates: int = 1
    guide: str = "min"
    # what the critics score: the actor's "noise", or the "action" it decodes to (the executed steps in
    # normalised units; noise mode only): noises that decode alike are one action to learn, not many
    critic_space: str = "noise"

    def __post_init__(self) -> None:
        if self.mode not in STEERING_MODES:
            raise ValueError(f"steering mode must be one of {STEERING_MODES}, got {self.mode!r}")
        if not self.bound > 0:
            raise ValueError(f"steering bound must be > 0, got {self.bound}")
        if self.steer_steps is not None and self.steer_steps < 1:
            raise ValueError(f"steer_steps must be ≥ 1 (or None: every chunk step), got {self.steer_steps}")
        if self.candidates < 1 or self.guide not in GUIDE_STATISTICS:
            raise ValueError(
                f"need candidates ≥ 1 and guide one of {GUIDE_STATISTICS}, got {self.candidates}, {self.guide!r}"
            )
        if self.critic_space not in CRITIC_SPACES or (self.critic_space == "action" and self.mode != "noise"):
            raise ValueError(f"critic_space must be one of {CRITIC_SPACES} ('action' with noise steering only), "
                             f"got {self.critic_space!r} with mode {self.mode!r}")  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> SteeringConfig:
        return strict_from_dict(cls, d, "steering")


class SquashedGaussianActor(nn.Module):
    """π(a|s): u ~ N(μ(s), σ(s)²), a = bound·tanh(u) ∈ (−bound, bound)^A."""

    def __init__(self, obs_dim: int, action_dim: int, bound: float, hidden: int = 256, depth: int = 2):
        super().__init__()
        self.bound = float(bound)
        layers: list[nn.Module] = []
        fan_in = obs_dim
        for _ in range(depth):
            layers += [nn.Linear(fan_in, hidden), nn.LayerNorm(hidden), nn.ReLU()]
            fan_in = hidden
        self.trunk = nn.Sequential(*layers)
        self.mean = nn.Linear(hidden, action_dim)
        self.log_std = nn.Linear(hidden, action_dim)

    def distribution(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log σ) of the pre-squash Gaussian, each (B, A); log σ clamped to [−5, 2]."""
        h = self.trunk(obs)
        return self.mean(h), self.log_std(h).clamp(LOG_STD_MIN, LOG_STD_MAX)

    def forward(
        self, obs: torch.Tensor, deterministic: bool = False, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised sample (or the mode) and its log-likelihood: (B, A), (B,)."""
        mean, log_std = self.distribution(obs)
        if deterministic:
            u = mean
        else:
            eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            u = mean + log_std.exp() * eps
        return self.bound * torch.tanh(u), squashed_log_prob(u, mean, log_std, self.bound)


def squashed_log_prob(
    u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor, bound: float
) -> torch.Tensor:
    """log π(a) for a = bound·tanh(u): Σ_d [log N(u_d; μ_d, σ_d²) − log(bound·(1 − tanh² u_d))] → (B,).

    log(1 − tanh² u) is computed as 2·(log 2 − u − softplus(−2u)), which stays finite for large |u|.
    """
    normal = -0.5 * ((u - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
    log_det = math.log(bound) + 2.0 * (math.log(2.0) - u - nn.functional.softplus(-2.0 * u))
    return (normal - log_det).sum(-1)


class SteeredPolicy(nn.Module):
    """A frozen `FlowPolicy` and the actor that steers it; `sample` acts like `FlowPolicy.sample`."""

    def __init__(self, base: FlowPolicy, config: SteeringConfig, guide: ValueGuide | None = None):
        super().__init__()
        self.base, self.steering, self.guide = base.eval(), config, guide
        self.base.requires_grad_(False)
        c = base.config
        self.horizon, self.action_dim = c.chunk_size, c.action_dim
        self.num_steps = config.num_denoise_steps or c.num_inference_steps
        # it acts as it was trained: `n_action_steps` executed per chunk, whatever the base policy's own
        self._config = dataclasses.replace(c, n_action_steps=config.n_action_steps)
        self.actor = SquashedGaussianActor(
            self.obs_dim, self.steer_dim, config.bound, config.hidden, config.depth
        )

    # ---- the FlowPolicy face (evaluation, serving) ----------------------------------------------
    @property
    def config(self):
        """The base policy's config with the steering's `n_action_steps` (evaluation and serving read it)."""
        return self._config

    @property
    def device(self) -> torch.device:
        return self.base.device

    def train(self, mode: bool = True) -> SteeredPolicy:
        super().train(mode)
        self.base.eval()  # frozen means frozen normalisation statistics too
        return self

    @torch.no_grad()
    def sample(
        self, batch: dict, num_steps=None, generator=None, noise_scale=None, noise=None
    ) -> torch.Tensor:
        """Action chunk (B, H, A) in real units from the actor's mode (deterministic steering), or with
        `candidates` > 1 the best of the mode and candidates − 1 actor samples by the shipped critics."""
        features, obs, base_chunk = self.observe(batch, generator)
        action, _ = self.actor(obs, deterministic=True)
        k = self.steering.candidates
        if k > 1:
            if self.guide is None:
                raise ValueError("value-guided acting (candidates > 1) needs the RL run's critics: this policy "
                                 f"has no guide/ (re-export it: {REEXPORT}), or act with candidates 1")  # fmt: skip
            if EPISODE_STEP_KEY not in batch:
                raise ValueError(f"value-guided acting needs each observation's episode step in the batch "
                                 f"({EPISODE_STEP_KEY!r}); pass it, or act with candidates 1")  # fmt: skip
            samples, _ = self.actor(obs.repeat_interleave(k - 1, 0), generator=generator)
            options = torch.cat([action[:, None], samples.view(len(obs), k - 1, -1)], dim=1)
            scored = None
            if self.steering.critic_space == "action":
                flat = self.critic_action(features.repeat_interleave(k, 0), options.flatten(0, 1))
                scored = flat.view(len(obs), k, -1)
            action = self.guide.choose(obs, batch[EPISODE_STEP_KEY], options, self.steering.guide, scored)
        return self.decode(features, action, base_chunk)

    # ---- the learner's face ------------------------------------------------------------------------
    @property
    def steer_dim(self) -> int:
        """Dimension of the actor's action: the steered steps' noise, or the executed steps' residual."""
        if self.steering.mode == "residual":
            return self.steering.n_action_steps * self.action_dim
        return min(self.steering.steer_steps or self.horizon, self.horizon) * self.action_dim

    @property
    def critic_dim(self) -> int:
        """Dimension of what the critics score: the actor's action, or the executed steps it decodes to."""
        if self.steering.critic_space == "action":
            return self.steering.n_action_steps * self.action_dim
        return self.steer_dim

    @property
    def obs_dim(self) -> int:
        c = self.base.config
        dim = c.feature_dim + (c.state_dim if self.steering.use_state else 0)
        return dim + (self.steer_dim if self.steering.mode == "residual" else 0)

    @torch.no_grad()
    def observe(self, batch: dict, generator=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Trunk features (B, F), the actor's observation (B, obs_dim) and, for "residual", the base
        chunk (B, H, A) in normalised units that the residual corrects (sampled with the policy's prior)."""
        features = self.base.encode(batch)
        parts = [features]
        if self.steering.use_state:
            parts.append(
                self.base.normalize_state(torch.as_tensor(batch[STATE_KEY], device=self.device).float())
            )
        base_chunk = None
        if self.steering.mode == "residual":
            noise = self.prior_noise(features.shape[0], generator)
            base_chunk = self.base.sample_normalized(
                features, noise.view(-1, self.horizon, self.action_dim), self.num_steps
            )
            parts.append(base_chunk[:, : self.steering.n_action_steps].flatten(1))
        return features, torch.cat(parts, dim=1), base_chunk

    def prior_noise(self, n: int, generator=None) -> torch.Tensor:
        """(n, H·A) initial noise as the base policy draws it: N(0, s²I), s its acting noise_scale."""
        return self.base.sample_noise(n, generator).flatten(1) * self.base.config.noise_scale

    def decode(
        self, features: torch.Tensor, action: torch.Tensor, base_chunk: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The actor's action (B, steer_dim) → the chunk (B, H, A) in real units."""
        return self.base.unnormalize_action(self.decode_normalized(features, action, base_chunk))

    def decode_normalized(
        self, features: torch.Tensor, action: torch.Tensor, base_chunk: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The actor's action (B, steer_dim) → the chunk (B, H, A) in normalised units; differentiable
        in `action` (the frozen sampler's Euler steps), so an actor can climb a critic of what it executes."""
        if self.steering.mode == "noise":
            noise = torch.cat(
                [action, action.new_zeros(len(action), self.horizon * self.action_dim - action.shape[1])], 1
            )
            return self.base.integrate(features, noise_to_chunk_shape(noise, self.horizon), self.num_steps)
        n = self.steering.n_action_steps
        residual = action.view(-1, n, self.action_dim)
        return torch.cat([base_chunk[:, :n] + residual, base_chunk[:, n:]], dim=1)

    def critic_action(self, features: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """What the critics score for the actor's `action` (B, steer_dim): the action itself, or
        (`critic_space` "action") the executed steps it decodes to, flattened (B, n_action_steps·A)."""
        if self.steering.critic_space != "action":
            return action
        return self.decode_normalized(features, action)[:, : self.steering.n_action_steps].flatten(1)

    # ---- persistence ------------------------------------------------------------------------------
    def save_pretrained(
        self, folder: str | Path, extras: dict | None = None, actor_state: dict | None = None
    ) -> Path:
        """Save the base policy, the actor (or `actor_state`, weights of the same actor shape) and the
        guide's critics where there are any."""
        folder = Path(folder)
        state = self.actor.state_dict() if actor_state is None else actor_state
        save_folder(folder, self.steering, state, extras=extras)
        self.base.save_pretrained(folder / BASE_DIR)
        if self.guide is not None:
            self.guide.save_pretrained(folder / GUIDE_DIR)
        return folder

    @classmethod
    def from_pretrained(
        cls,
        folder: str | Path,
        device: str | torch.device = "cpu",
        candidates: int | None = None,
        guide: str | None = None,
    ) -> SteeredPolicy:
        """Load a steered policy; `candidates` and `guide` override how it acts value-guided."""
        folder = Path(folder)
        cfg, tensors = load_folder(folder)
        overrides = {"candidates": candidates, "guide": guide}
        cfg = {**cfg, **{k: v for k, v in overrides.items() if v is not None}}
        steering = SteeringConfig.from_dict(cfg)
        critics = None
        if (folder / GUIDE_DIR).exists():
            critics = ValueGuide.from_pretrained(folder / GUIDE_DIR, device)
        elif steering.candidates > 1:
            raise ValueError(f"{folder} has no guide/ (the RL run's critics) to choose among "
                             f"{steering.candidates} candidates: re-export it ({REEXPORT})")  # fmt: skip
        model = cls(FlowPolicy.from_pretrained(folder / BASE_DIR, device=device), steering, critics)
        model.actor.load_state_dict(tensors, strict=True)
        return model.to(device).eval()


def atanh_action(action: torch.Tensor, bound: float, eps: float = 1e-6) -> torch.Tensor:
    """The pre-squash u of an action a = bound·tanh(u) (actions at the bound are pulled in by eps)."""
    return torch.atanh((action / bound).clamp(-1.0 + eps, 1.0 - eps))


def noise_to_chunk_shape(action: torch.Tensor, horizon: int) -> torch.Tensor:
    """(B, H·A) flat noise → (B, H, A): one independent value per chunk step and action dim."""
    return action.view(action.shape[0], horizon, -1)


def is_steered(folder: str | Path) -> bool:
    return (Path(folder) / BASE_DIR / "config.json").exists()


def load_policy(
    folder: str | Path,
    device: str | torch.device = "cpu",
    candidates: int | None = None,
    guide: str | None = None,
) -> FlowPolicy | SteeredPolicy:
    """A policy folder: a plain `FlowPolicy`, or a `SteeredPolicy` (an RL fine-tune over a frozen one);
    `candidates` > 1 asks a steered policy to act value-guided by the `guide` statistic (refused for a
    plain one)."""
    if is_steered(folder):
        return SteeredPolicy.from_pretrained(folder, device=device, candidates=candidates, guide=guide)
    if candidates not in (None, 1):
        raise ValueError(f"{folder} is a plain flow policy: value-guided candidates need an RL fine-tune")
    return FlowPolicy.from_pretrained(folder, device=device)
