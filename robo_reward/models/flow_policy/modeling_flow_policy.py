"""The flow-matching VLA policy: views + instruction + state → trunk features → action-chunk velocity.

    images (B, H, W, 3) per view ─ resize/normalise ─ shared timm backbone ─ cell tokens + view/pos emb ┐
    task list[str] ─ instruction encoder ─ 1 token                                                       ├─ trunk
    observation.state (B, D) ─ normalise ─ MLP ─ 1 token                                                 │ (once per
    learned readout tokens (R) ─────────────────────────────────────────────────────────────────────────┘  chunk)
    features = trunk output at the readouts, flattened: (B, R·width)
    expert(features, x_t (B, H, A), t (B,)) → velocity (B, H, A), in normalised action space

Sampling runs the trunk once and the (small) expert `num_steps` times. Normalisation statistics of
state and action are buffers, so they are saved in `model.safetensors` with the weights.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robo_reward.data.episode import IMAGE_KEY, STATE_KEY
from robo_reward.models.flow_policy import flow
from robo_reward.models.flow_policy.configuration_flow_policy import FlowPolicyConfig
from robo_reward.models.flow_policy.encoders import KeypointEncoder, ViewEncoder
from robo_reward.models.text import build_instruction_encoder
from robo_reward.utils.checkpoint import load_folder, save_folder

Batch = dict[str, Any]
# optional batch entry: backbone feature maps (B, V, C, h, w) computed earlier by `image_features` (a frozen
# backbone's output can be cached per frame; the keypoint encoder's are (B, V, K, 2)); when present,
# `encode` skips the backbone
IMAGE_FEATURES_KEY = "observation.image_features"


def _block(width: int, heads: int, mlp_ratio: float, dropout: float) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(
        width, heads, int(width * mlp_ratio), dropout, activation="gelu", batch_first=True, norm_first=True
    )


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 3, H, W) float → (N, 3, size, size), bilinear with antialiasing (the saved preprocessing)."""
    if images.shape[-2:] == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def resize_uint8(frames: np.ndarray, size: int, chunk: int = 512) -> np.ndarray:
    """(T, H, W, 3) uint8 → (T, size, size, 3) uint8 with the same resize as the model (data caching)."""
    if frames.shape[1:3] == (size, size):
        return frames
    out = []
    for i in range(0, len(frames), chunk):
        x = torch.from_numpy(frames[i : i + chunk]).permute(0, 3, 1, 2).float()
        y = resize_images(x, size).round().clamp(0, 255).to(torch.uint8)
        out.append(y.permute(0, 2, 3, 1).numpy())
    return np.concatenate(out)


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 100.0) -> torch.Tensor:
    """(B,) times in [0, 1] → (B, dim) sin/cos features at log-spaced frequencies."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    ang = t.float()[:, None] * freqs[None] * 2 * math.pi
    return torch.cat([ang.sin(), ang.cos()], dim=-1)


class ActionExpert(nn.Module):
    """Velocity of a noisy action chunk given trunk features and flow time (runs once per Euler step)."""

    def __init__(self, cfg: FlowPolicyConfig):
        super().__init__()
        w = cfg.expert_width
        self.num_readouts, self.width = cfg.num_readouts, cfg.width
        self.cond_proj = nn.Linear(cfg.width, w)
        self.action_in = nn.Linear(cfg.action_dim, w)
        self.time_dim = w
        self.action_time_mlp = nn.Sequential(nn.Linear(2 * w, w), nn.SiLU(), nn.Linear(w, w))
        self.pos_embed = nn.Parameter(torch.randn(1, cfg.chunk_size, w) * 0.02)
        self.blocks = nn.ModuleList(
            _block(w, cfg.heads, cfg.mlp_ratio, cfg.dropout) for _ in range(cfg.expert_depth)
        )
        self.norm = nn.LayerNorm(w)
        self.out = nn.Linear(w, cfg.action_dim)

    def forward(self, features: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        B, H, _ = x_t.shape
        cond = self.cond_proj(features.view(B, self.num_readouts, self.width))  # (B, R, w)
        time = sinusoidal_embedding(t, self.time_dim).to(x_t.dtype)[:, None].expand(B, H, -1)
        act = self.action_time_mlp(torch.cat([self.action_in(x_t), time], dim=-1)) + self.pos_embed[:, :H]
        tokens = torch.cat([cond, act], dim=1)
        for blk in self.blocks:
            tokens = blk(tokens)
        return self.out(self.norm(tokens[:, cond.shape[1] :]))


class FlowPolicy(nn.Module):
    """Flow-matching VLA policy. See the module docstring for the data flow."""

    def __init__(self, config: FlowPolicyConfig):
        super().__init__()
        self.config = config
        c = config
        self.register_buffer("image_mean", torch.tensor(c.image_mean).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.tensor(c.image_std).view(1, 1, 3, 1, 1), persistent=False)
        for name, dim in (("state", c.state_dim), ("action", c.action_dim)):
            self.register_buffer(f"{name}_mean", torch.zeros(dim))
            self.register_buffer(f"{name}_std", torch.ones(dim))
            self.register_buffer(f"{name}_min", -torch.ones(dim))
            self.register_buffer(f"{name}_max", torch.ones(dim))
        self.views = ViewEncoder(c) if c.encoder == "cells" else KeypointEncoder(c)
        self.text = build_instruction_encoder(c.text_encoder, c.width, c.text_vocab_size)
        self.state_mlp = nn.Sequential(
            nn.Linear(c.state_dim, c.width), nn.GELU(), nn.Linear(c.width, c.width)
        )
        self.type_embed = nn.Parameter(torch.randn(2, c.width) * 0.02)  # text, state
        self.readouts = nn.Parameter(torch.randn(1, c.num_readouts, c.width) * 0.02)
        self.trunk = nn.ModuleList(
            _block(c.width, c.heads, c.mlp_ratio, c.dropout) for _ in range(c.trunk_depth)
        )
        self.trunk_norm = nn.LayerNorm(c.width)
        self.expert = ActionExpert(c)
        if c.aux_dim:
            self.register_buffer("environment_state_mean", torch.zeros(c.aux_dim))
            self.register_buffer("environment_state_std", torch.ones(c.aux_dim))
            n_in = len(c.views) * self.views.tokens_per_view * c.width
            self.aux_head = nn.Sequential(nn.Linear(n_in, 256), nn.GELU(), nn.Linear(256, c.aux_dim))

    # ------------------------------------------------------------------ normalisation
    def set_normalization(self, stats: dict[str, np.ndarray | torch.Tensor]) -> None:
        """Copy statistics `{state,action}_{mean,std,min,max}` (any subset; `environment_state_{mean,std}`
        with an auxiliary head) into the buffers."""
        for key, value in stats.items():
            buf = getattr(self, key, None)
            if not isinstance(buf, torch.Tensor) or key.startswith("image_"):
                raise KeyError(f"unknown normalisation statistic {key!r}")
            value = torch.as_tensor(np.asarray(value), dtype=buf.dtype)
            if value.shape != buf.shape:
                raise ValueError(
                    f"{key} has shape {tuple(value.shape)}, the policy expects {tuple(buf.shape)}"
                )
            buf.copy_(value)

    def _normalize(self, name: str, x: torch.Tensor) -> torch.Tensor:
        if self.config.normalization == "mean_std":
            return (x - getattr(self, f"{name}_mean")) / getattr(self, f"{name}_std").clamp_min(1e-4)
        lo, hi = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
        return 2.0 * (x - lo) / (hi - lo).clamp_min(1e-4) - 1.0

    def _unnormalize(self, name: str, x: torch.Tensor) -> torch.Tensor:
        if self.config.normalization == "mean_std":
            return x * getattr(self, f"{name}_std").clamp_min(1e-4) + getattr(self, f"{name}_mean")
        lo, hi = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
        return (x + 1.0) * 0.5 * (hi - lo).clamp_min(1e-4) + lo

    def normalize_action(self, action: torch.Tensor) -> torch.Tensor:
        return self._normalize("action", action)

    def unnormalize_action(self, action: torch.Tensor) -> torch.Tensor:
        return self._unnormalize("action", action)

    def normalize_state(self, state: torch.Tensor) -> torch.Tensor:
        return self._normalize("state", state)

    # ------------------------------------------------------------------ observation → features
    @property
    def device(self) -> torch.device:
        return self.readouts.device

    def preprocess_images(self, batch: Batch) -> torch.Tensor:
        """The saved preprocessing: views in config order, (B, H, W, 3) uint8 or [0, 1] float →
        resized to image_size², normalised (B, V, 3, S, S) float32."""
        out = []
        S = self.config.image_size
        for view in self.config.views:
            key = IMAGE_KEY + view
            if key not in batch:
                have = sorted(k for k in batch if k.startswith(IMAGE_KEY))
                raise KeyError(
                    f"batch lacks {key!r}; the policy needs views {list(self.config.views)}, got {have}"
                )
            img = torch.as_tensor(batch[key], device=self.device)
            if img.dim() != 4 or img.shape[-1] != 3:
                raise ValueError(f"{key} must be (B, H, W, 3), got {tuple(img.shape)}")
            img = img.permute(0, 3, 1, 2)
            img = img.float() / 255.0 if img.dtype == torch.uint8 else img.float()
            out.append(resize_images(img, S))
        return (torch.stack(out, dim=1) - self.image_mean) / self.image_std

    def _state(self, batch: Batch) -> torch.Tensor:
        if STATE_KEY not in batch:
            raise KeyError(f"batch lacks {STATE_KEY!r}")
        state = torch.as_tensor(batch[STATE_KEY], device=self.device, dtype=torch.float32)
        if state.dim() != 2 or state.shape[1] != self.config.state_dim:
            raise ValueError(f"{STATE_KEY} must be (B, {self.config.state_dim}), got {tuple(state.shape)}")
        return state

    @staticmethod
    def _tasks(batch: Batch, B: int) -> list[str]:
        task = batch.get("task")
        if task is None:
            raise KeyError("batch lacks 'task' (the instruction, list[str])")
        tasks = [task] * B if isinstance(task, str) else [str(x) for x in task]
        if len(tasks) != B:
            raise ValueError(f"'task' has {len(tasks)} instructions for a batch of {B}")
        return tasks

    def image_features(self, batch: Batch) -> torch.Tensor:
        """Backbone feature maps (B, V, C, h, w) of the views (cacheable when the backbone is frozen)."""
        if self.config.freeze_backbone:
            with torch.no_grad():
                return self.views.backbone_features(self.preprocess_images(batch))
        return self.views.backbone_features(self.preprocess_images(batch))

    def image_tokens(self, batch: Batch) -> torch.Tensor:
        """Image tokens (B, V·n, width) of the views alone (what the auxiliary head reads)."""
        return self.views.tokens(self.image_features(batch))

    def encode(self, batch: Batch) -> torch.Tensor:
        """Observation batch → trunk features (B, feature_dim). Run once per chunk."""
        return self._encode(batch)[0]

    def _encode(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Trunk features (B, feature_dim) and the image tokens (B, V·n, width) they were read from."""
        state = self._state(batch)
        B = state.shape[0]
        cached = batch.get(IMAGE_FEATURES_KEY)
        image_tokens = (
            self.image_tokens(batch)
            if cached is None
            else self.views.tokens(torch.as_tensor(cached, device=self.device).float())
        )
        text = self.text(self._tasks(batch, B)) + self.type_embed[0]
        state_tok = self.state_mlp(self.normalize_state(state)) + self.type_embed[1]
        tokens = torch.cat(
            [self.readouts.expand(B, -1, -1), text[:, None], state_tok[:, None], image_tokens], dim=1
        )
        for blk in self.trunk:
            tokens = blk(tokens)
        return self.trunk_norm(tokens[:, : self.config.num_readouts]).flatten(1), image_tokens

    # ------------------------------------------------------------------ flow matching
    def velocity(self, features: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predicted velocity (B, H, A) of the normalised noisy chunk x_t at flow time t (B,)."""
        return self.expert(features, x_t, t)

    def sample_noise(self, B: int, generator: torch.Generator | None = None) -> torch.Tensor:
        shape = (B, self.config.chunk_size, self.config.action_dim)
        return torch.randn(shape, generator=generator, device=self.device)

    @torch.no_grad()
    def sample_normalized(
        self,
        features: torch.Tensor,
        noise: torch.Tensor | None = None,
        num_steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Euler-integrate the velocity from noise (t = 1) to t = 0 given cached features: (B, H, A)."""
        if noise is None:
            noise = self.sample_noise(features.shape[0], generator)
        return self.integrate(features, noise, num_steps)

    def integrate(
        self, features: torch.Tensor, noise: torch.Tensor, num_steps: int | None = None
    ) -> torch.Tensor:
        """`sample_normalized` with gradients: d(chunk)/d(noise) through the Euler steps (B, H, A)."""
        steps = num_steps or self.config.num_inference_steps
        return flow.euler_integrate(lambda x, t: self.velocity(features, x, t), noise.to(self.device), steps)

    @torch.no_grad()
    def sample(
        self,
        batch: Batch,
        noise: torch.Tensor | None = None,
        num_steps: int | None = None,
        generator: torch.Generator | None = None,
        noise_scale: float | None = None,
    ) -> torch.Tensor:
        """Action chunk (B, H, A) in real units; the trunk runs once, the expert `num_steps` times.

        Without `noise`, the starting noise is drawn and scaled by `noise_scale` (default: the config's
        acting temperature); given `noise` is used as is."""
        features = self.encode(batch)
        if noise is None:
            scale = self.config.noise_scale if noise_scale is None else noise_scale
            noise = self.sample_noise(features.shape[0], generator) * scale
        return self.unnormalize_action(self.sample_normalized(features, noise, num_steps, generator))

    def flow_matching_loss(
        self,
        batch: Batch,
        action_chunk: torch.Tensor,
        noise: torch.Tensor | None = None,
        t: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-sample flow-matching MSE (B,) of a real-unit action chunk (B, H, A).

        Deterministic given `noise` (B, H, A) and `t` (B,) (in eval mode), so two chunks can be scored
        under the same noise and time (DPO). `features` skips the trunk when already computed.
        """
        if features is None:
            features = self.encode(batch)
        a = self.normalize_action(torch.as_tensor(action_chunk, device=self.device, dtype=torch.float32))
        if noise is None:
            noise = torch.randn_like(a)
        if t is None:
            t = flow.sample_time(a.shape[0], self.config.time_alpha, self.config.time_beta, device=a.device)
        noise, t = noise.to(a.device, a.dtype), t.to(a.device, a.dtype)
        x_t = flow.interpolate(a, noise, t)
        return flow.flow_matching_mse(self.velocity(features, x_t, t), flow.target_velocity(a, noise))

    def aux_loss(self, image_tokens: torch.Tensor, environment_state: torch.Tensor) -> torch.Tensor:
        """Per-sample MSE (B,) of the auxiliary head's prediction of the normalised object state (B, E)."""
        if not self.config.aux_dim:
            raise ValueError("this policy has no auxiliary head (aux_dim = 0)")
        target = torch.as_tensor(environment_state, device=self.device, dtype=torch.float32)
        if target.shape[-1] != self.config.aux_dim:
            raise ValueError(
                f"environment state has {target.shape[-1]} values, the auxiliary head predicts "
                f"{self.config.aux_dim}"
            )
        target = (target - self.environment_state_mean) / self.environment_state_std.clamp_min(1e-4)
        return ((self.aux_head(image_tokens.flatten(1)) - target) ** 2).mean(-1)

    def forward(
        self, batch: Batch, action_chunk: torch.Tensor, noise=None, t=None, environment_state=None
    ) -> torch.Tensor:
        """`flow_matching_loss` as the module's forward, so DistributedDataParallel can wrap it. Given
        the privileged `environment_state` (B, E), returns (B, 2): flow-matching and auxiliary losses."""
        if environment_state is None:
            return self.flow_matching_loss(batch, action_chunk, noise=noise, t=t)
        features, image_tokens = self._encode(batch)
        fm = self.flow_matching_loss(batch, action_chunk, noise=noise, t=t, features=features)
        return torch.stack([fm, self.aux_loss(image_tokens, environment_state)], dim=-1)

    # ------------------------------------------------------------------ save / load
    def preprocessing(self) -> dict:
        """The image preprocessing as data (what `preprocess_images` does), saved beside the weights."""
        c = self.config
        return {
            "views": list(c.views),
            "input": "(B, H, W, 3) RGB, uint8 (scaled by 1/255) or float in [0, 1]",
            "steps": [
                {
                    "type": "Resize",
                    "size": [c.image_size, c.image_size],
                    "mode": "bilinear",
                    "antialias": True,
                },
                {"type": "Normalize", "mean": list(c.image_mean), "std": list(c.image_std)},
            ],
        }

    def save_pretrained(
        self, folder: str | Path, extras: dict[str, Any] | None = None, atomic: bool = True
    ) -> Path:
        """The policy folder; `atomic=False` inside a training checkpoint's temporary folder."""
        stats = {
            f"{q}_{s}": getattr(self, f"{q}_{s}").tolist()
            for q in ("state", "action")
            for s in ("mean", "std", "min", "max")
        }
        if self.config.aux_dim:
            stats |= {
                f"environment_state_{s}": getattr(self, f"environment_state_{s}").tolist()
                for s in ("mean", "std")
            }
        extra = {"preprocessing": self.preprocessing(), "normalization": stats, **(extras or {})}
        # the weights hold the backbone now; loading must not need (or re-read) its initial weights
        config = dataclasses.replace(self.config, backbone_weights=None)
        return save_folder(folder, config.to_dict(), self.state_dict(), extras=extra, atomic=atomic)

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device = "cpu") -> FlowPolicy:
        cfg, tensors = load_folder(folder)
        policy = cls(FlowPolicyConfig.from_dict(cfg))
        policy.load_state_dict(tensors, strict=True)
        return policy.to(device).eval()


def compute_normalization(
    states: np.ndarray, actions: np.ndarray, environment_states: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Statistics for `FlowPolicy.set_normalization` from stacked (N, D) states and (N, A) actions (and
    the (N, E) object states an auxiliary head predicts: mean and std only)."""
    out = {}
    if environment_states is not None:
        e = np.asarray(environment_states, dtype=np.float64)
        out |= {"environment_state_mean": e.mean(0), "environment_state_std": e.std(0)}
    for name, x in (("state", states), ("action", actions)):
        x = np.asarray(x, dtype=np.float64)
        out |= {
            f"{name}_mean": x.mean(0), f"{name}_std": x.std(0),
            f"{name}_min": x.min(0), f"{name}_max": x.max(0),
        }  # fmt: skip
    return {k: v.astype(np.float32) for k, v in out.items()}
