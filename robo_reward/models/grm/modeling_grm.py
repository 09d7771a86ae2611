"""The step-aware general reward model (GRM): one query → one hop H ∈ [-1, 1] as K bin logits.

    start (ref view), goal (ref view), BEFORE (all views), AFTER (all views) images
        ─ per-view encoder (timm stages, grid-pooled) ─▶ features (F,) per image
        ─ LayerNorm + Linear ─▶ tokens (+ view embedding + role embedding: start/goal/before/after)
    [cls | instruction | start | goal | before x V | after x V] ─ transformer ─ cls ─▶ K logits

The value is the expectation of the softmax over the bin centres. Images go through the saved
preprocessing pipeline (`robo_reward.cameras.preprocess`) and the encoder once per frame; every
query after that works on features, so cached features (frozen encoder) and end-to-end training
share this one forward.
"""

from __future__ import annotations

import dataclasses
import warnings
import weakref
from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn.functional as F
from torch import nn

from robo_reward.cameras.preprocess import Normalize, Pipeline, Resize, ToFloat, ViewOrder
from robo_reward.models.grm.configuration_grm import GRMConfig
from robo_reward.models.pretrained.weights import load_backbone_weights, resolve_backbone_weights
from robo_reward.models.text import build_instruction_encoder
from robo_reward.utils.checkpoint import load_extra, load_folder, save_folder

ROLES = ("start", "goal", "before", "after")
REFERENCE_PREFIX = "reference."
# FrameEncoder → its frozen inference graphs: outside the module, so never saved, copied or moved
_GRAPHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class FrameEncoder(nn.Module):
    """Preprocessed images (N, 3, S, S) → (N, F): chosen backbone stages, each pooled to a grid."""

    def __init__(self, config: GRMConfig):
        super().__init__()
        self.register_load_state_dict_post_hook(FrameEncoder.invalidate)
        self.grid = config.feature_grid
        self.stages = config.feature_stages
        if config.encoder_config is not None:  # the project's own encoder (e.g. time-contrastive)
            from robo_reward.models.encoders import EncoderConfig, ImageEncoder

            enc_config = EncoderConfig.from_dict(
                {
                    **config.encoder_config,
                    "feature_layers": self.stages,
                    "pool_grid": self.grid,
                    "weights_path": None,
                }
            )
            self.tcn = ImageEncoder(enc_config)
            self.feature_dim = self.tcn.feature_dim
            return
        self.backbone = timm.create_model(
            config.backbone,
            pretrained=False,
            features_only=True,
            out_indices=self.stages,
            **config.backbone_kwargs,
        )
        if config.backbone_weights:
            path = resolve_backbone_weights(
                config.backbone_weights, config.backbone, config.image_mean, config.image_std
            )
            load_backbone_weights(self.backbone, path)
        self.feature_dim = sum(self.backbone.feature_info.channels()) * self.grid**2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "tcn"):
            return self.tcn.pooled_features(self.tcn.feature_maps(x))
        return torch.cat([F.adaptive_avg_pool2d(m, self.grid).flatten(1) for m in self.backbone(x)], dim=1)

    @torch.no_grad()
    def frozen_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The same features through a frozen TorchScript graph of this encoder in eval mode, BatchNorm
        folded into the convolutions (~2× faster on CPU): for a frozen encoder at inference. One graph
        per (device, image shape), traced at its first use; `invalidate()` after the weights or
        statistics change. Falls back to `forward` where tracing fails."""
        key = (str(x.device), tuple(x.shape[1:]))
        graphs = _GRAPHS.setdefault(self, {})
        if key not in graphs:
            was_training = self.training
            self.eval()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape arithmetic: fixed here
                    warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript: the fallback below
                    graphs[key] = torch.jit.freeze(torch.jit.trace(self, x[:1], check_trace=False))
            except (RuntimeError, TypeError, AttributeError) as e:  # AttributeError: a torch without jit
                warnings.warn(f"encoder graph not built ({e}); using the eager encoder", stacklevel=2)
                graphs[key] = None
            self.train(was_training)
        graph = graphs[key]
        return self(x) if graph is None else graph(x)

    def invalidate(self, *_) -> None:
        """Forget the traced graphs (they hold a copy of the weights and statistics)."""
        _GRAPHS.pop(self, None)

    def _apply(self, fn, recurse=True):  # .to(device) / .float() / ...: graphs hold the old tensors
        self.invalidate()
        return super()._apply(fn, recurse)


class GRM(nn.Module):
    def __init__(self, config: GRMConfig):
        super().__init__()
        self.config = config
        w, V = config.width, config.num_views
        self.encoder = FrameEncoder(config)
        self.feature_dim = self.encoder.feature_dim
        self.project = nn.Sequential(nn.LayerNorm(self.feature_dim), nn.Linear(self.feature_dim, w))
        self.text = build_instruction_encoder(config.text_encoder, w, config.text_vocab_size)
        self.view_embed = nn.Parameter(torch.randn(V, w) * 0.02)
        self.role_embed = nn.Parameter(torch.randn(len(ROLES), w) * 0.02)
        self.cls = nn.Parameter(torch.randn(w) * 0.02)
        layer = nn.TransformerEncoderLayer(
            w,
            config.heads,
            int(w * config.mlp_ratio),
            config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.trunk = nn.TransformerEncoder(layer, config.depth, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, config.num_bins))
        self.register_buffer("bins", torch.linspace(-1.0, 1.0, config.num_bins), persistent=False)
        self.ref_index = config.views.index(config.reference_view)
        self.preprocessing = Pipeline(
            [
                ViewOrder(config.views),
                Resize(config.image_size, config.image_size),
                ToFloat(),
                Normalize(config.image_mean, config.image_std),
            ]
        )
        # goal/start reference frames per task name, all views (T=1): (V, H, W, 3) uint8
        self.references: dict[str, np.ndarray] = {}
        if config.frozen_encoder:  # frozen means frozen BatchNorm statistics too, from the start
            self.encoder.requires_grad_(False)
            self.encoder.eval()

    @property
    def device(self) -> torch.device:
        return self.bins.device

    def train(self, mode: bool = True) -> GRM:
        super().train(mode)
        if self.config.frozen_encoder:  # frozen means frozen BatchNorm statistics too
            self.encoder.eval()
        return self

    # ---- images -> features --------------------------------------------------------------------
    def encode_frames(
        self, views: dict[str, np.ndarray], batch_size: int = 256, graph: bool = True
    ) -> torch.Tensor:
        """{view: (T, H, W, 3) uint8} → (T, V, F) features (no grad when the encoder is frozen). A frozen
        encoder runs as its frozen inference graph (`FrameEncoder.frozen_forward`) unless `graph=False`."""
        x = torch.from_numpy(self.preprocessing.batch(views))  # (T, V, 3, S, S)
        T, V = x.shape[:2]
        flat = x.flatten(0, 1)
        frozen = graph and self.config.frozen_encoder and not self.encoder.training
        encode = self.encoder.frozen_forward if frozen else self.encoder
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.frozen_encoder):
            feats = [
                encode(flat[i : i + batch_size].to(self.device)) for i in range(0, len(flat), batch_size)
            ]
        return torch.cat(feats).view(T, V, -1)

    @torch.no_grad()
    def calibrate_batchnorm(self, views: dict[str, np.ndarray], batch_size: int = 256) -> int:
        """Set the encoder's BatchNorm statistics to the exact mean/var of these frames' activations.

        A randomly initialised backbone has BatchNorm running statistics of 0/1, so in eval mode its
        activations are never normalised and the deeper stages carry little but scale. One pass
        over training frames (cumulative averages, momentum None) fixes that deterministically; the
        statistics are buffers, saved with the weights, so inference sees the same features.
        views: {view: (N, H, W, 3) uint8}. Returns the number of BatchNorm layers calibrated.
        """
        norms = [m for m in self.encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        x = torch.from_numpy(self.preprocessing.batch(views)).flatten(0, 1)
        self.encoder.train()
        for i in range(0, len(x), batch_size):
            self.encoder(x[i : i + batch_size].to(self.device))
        self.encoder.train(self.training and not self.config.frozen_encoder)
        for m in norms:
            m.momentum = 0.1
        self.encoder.invalidate()
        return len(norms)

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """(B,) instructions → (B, width); each distinct instruction is embedded once."""
        unique = sorted(set(texts))
        index = {t: i for i, t in enumerate(unique)}
        rows = torch.tensor([index[t] for t in texts], device=self.device)
        return self.text(unique)[rows]

    # ---- features -> hop ------------------------------------------------------------------------
    def forward(
        self,
        start: torch.Tensor,
        goal: torch.Tensor,
        before: torch.Tensor,
        after: torch.Tensor,
        text: torch.Tensor | list[str],
        drop: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hop logits (B, K).

        start, goal: (B, F) reference-view features; before, after: (B, V, F); text: (B, width)
        embeddings or B instructions; drop: (B, 2 + 2V) bool, True where a start/goal/before/after
        token is left out.
        """
        B, V = before.shape[:2]
        if isinstance(text, list):
            text = self.embed_text(text)
        tokens = self.project(
            torch.cat([start[:, None], goal[:, None], before, after], dim=1)
        )  # (B, 2+2V, w)
        r, ve = self.role_embed, self.view_embed
        pos = torch.cat(
            [(ve[self.ref_index] + r[0])[None], (ve[self.ref_index] + r[1])[None], ve + r[2], ve + r[3]]
        )
        seq = torch.cat([self.cls.expand(B, 1, -1), text[:, None], tokens + pos], dim=1)
        mask = None
        if drop is not None:
            mask = torch.cat([torch.zeros(B, 2, dtype=torch.bool, device=drop.device), drop], dim=1)
        return self.head(self.trunk(seq, src_key_padding_mask=mask)[:, 0])

    def expected_hop(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, K) logits → (B,) expected hop in [-1, 1]."""
        return torch.softmax(logits.float(), dim=-1) @ self.bins

    # ---- persistence ----------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path, atomic: bool = True) -> Path:
        """config.json + model.safetensors (weights + reference frames) + preprocessing.json + references.json;
        `atomic=False` inside a training checkpoint's temporary folder."""
        tensors = dict(self.state_dict())
        names = sorted(self.references)
        for i, name in enumerate(names):
            tensors[f"{REFERENCE_PREFIX}{i}"] = torch.from_numpy(np.array(self.references[name], copy=True))
        extras = {"preprocessing": self.preprocessing.to_dict(), "references": {"tasks": names}}
        config = dataclasses.replace(self.config, backbone_weights=None, encoder_checkpoint=None)
        return save_folder(folder, config, tensors, extras=extras, atomic=atomic)

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device = "cpu") -> GRM:
        folder = Path(folder)
        if not (folder / "config.json").exists() and (folder / "checkpoint" / "config.json").exists():
            folder = folder / "checkpoint"
        config_dict, tensors = load_folder(folder)
        model = cls(GRMConfig.from_dict(config_dict))
        saved = Pipeline.from_dict(load_extra(folder, "preprocessing"))
        if saved != model.preprocessing:
            model.preprocessing = saved  # inference preprocesses exactly as training did
        names = load_extra(folder, "references")["tasks"] if (folder / "references.json").exists() else []
        model.references = {n: tensors.pop(f"{REFERENCE_PREFIX}{i}").numpy() for i, n in enumerate(names)}
        model.load_state_dict(tensors)
        return model.to(device).eval()


def build_grm(config: GRMConfig) -> GRM:
    """A fresh GRM; with `encoder_checkpoint`, the project's encoder weights replace the backbone."""
    if config.encoder_checkpoint and config.encoder_config is None:
        from robo_reward.models.encoders import ImageEncoder

        encoder = ImageEncoder.from_pretrained(config.encoder_checkpoint)
        config = dataclasses.replace(
            config,
            encoder_config=dataclasses.asdict(encoder.config),
            image_size=encoder.config.image_size,
            image_mean=encoder.config.mean,
            image_std=encoder.config.std,
        )
        model = GRM(config)
        model.encoder.tcn.load_state_dict(encoder.state_dict())
        return model
    return GRM(config)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
