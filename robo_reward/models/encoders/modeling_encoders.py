"""`ImageEncoder`: a timm backbone + projection head, saved as config.json + model.safetensors.

    images uint8 (N, H, W, 3) ─ preprocess ─▶ (N, 3, S, S) ─ backbone ─▶ feature maps per stage
        ├─ last stage ─ mean pool ─ MLP head ─ L2 normalise ─▶ embed (N, D)        (the TCN space)
        └─ stages in `feature_layers` ─ average pool (grid x grid) ─ concat ─▶ layer_features (N, F)

`layer_features` are the activations of several layers (Sermanet et al. 2016 select reward features
among a pretrained network's layer activations); `embed` is the metric space the multi-view TCN
trains, where simultaneous frames from different cameras are close.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn.functional as F
from torch import nn

from robo_reward.models.encoders.configuration_encoders import EncoderConfig, get_config
from robo_reward.utils.checkpoint import load_folder, save_folder

PREPROCESSING_NAME = "preprocessing"


class ImageEncoder(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        # random weights are a function of the config's seed (a "random encoder" baseline is then
        # reproducible), drawn without touching the caller's global RNG
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            # every stage's output: the head reads the last, `layer_features` the chosen ones
            self.backbone = timm.create_model(
                config.backbone, pretrained=False, features_only=True, **config.backbone_kwargs
            )
            self.out_indices = tuple(range(len(self.backbone.feature_info)))
            bad = [i for i in config.feature_layers if i not in self.out_indices]
            if bad:
                raise ValueError(
                    f"feature_layers {bad} out of range: {config.backbone} has {len(self.out_indices)} stages"
                )
            self.channels = dict(zip(self.out_indices, self.backbone.feature_info.channels(), strict=True))
            self.head = nn.Sequential(
                nn.Linear(self.channels[self.out_indices[-1]], config.head_hidden),
                nn.ReLU(),
                nn.Linear(config.head_hidden, config.embed_dim),
            )
        self.register_buffer("pixel_mean", torch.tensor(config.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(config.std).view(1, 3, 1, 1), persistent=False)
        if config.weights_path:
            self.load_backbone_weights(config.weights_path)

    # ---- shapes -------------------------------------------------------------------------------
    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    @property
    def feature_dim(self) -> int:
        return self.feature_dim_for(self.config.pool_grid)

    def feature_dim_for(self, pool_grid: int) -> int:
        return sum(self.channels[i] * pool_grid**2 for i in self.config.feature_layers)

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    # ---- forward ------------------------------------------------------------------------------
    def preprocess(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 (N, H, W, 3) RGB → normalised float (N, 3, S, S) on the encoder's device."""
        x = torch.as_tensor(images)
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"images must be (N, H, W, 3), got {tuple(x.shape)}")
        x = x.to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        return self.normalise(resize(x, self.config.image_size))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Float images in [0, 1] (N, 3, S, S) → ImageNet-normalised."""
        return (x - self.pixel_mean) / self.pixel_std

    def feature_maps(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """Preprocessed (N, 3, S, S) → {stage index: (N, C, h, w)}."""
        return dict(zip(self.out_indices, self.backbone(x), strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed (N, 3, S, S) → unit-norm embeddings (N, D)."""
        last = self.feature_maps(x)[self.out_indices[-1]]
        return F.normalize(self.head(last.mean(dim=(2, 3))), dim=-1)

    def pooled_features(self, maps: dict[int, torch.Tensor], pool_grid: int | None = None) -> torch.Tensor:
        """(N, Σ C·g²): each channel's g x g average-pooled cells, channel-major."""
        g = pool_grid or self.config.pool_grid
        pooled = [F.adaptive_avg_pool2d(maps[i], g).flatten(1) for i in self.config.feature_layers]
        return torch.cat(pooled, dim=1)

    # ---- numpy API used by rewards and labels -------------------------------------------------
    @torch.no_grad()
    def embed(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """uint8 (N, H, W, 3) → float32 (N, D) unit-norm TCN embeddings."""
        return self._batched(images, batch_size, self, self.embed_dim)

    @torch.no_grad()
    def layer_features(
        self, images: np.ndarray, batch_size: int = 256, pool_grid: int | None = None
    ) -> np.ndarray:
        """uint8 (N, H, W, 3) → float32 (N, F): pooled activations of the `feature_layers` stages
        (each pooled to `pool_grid` x `pool_grid` cells; default: the config's `pool_grid`)."""
        grid = pool_grid or self.config.pool_grid
        fn = lambda x: self.pooled_features(self.feature_maps(x), grid)  # noqa: E731
        return self._batched(images, batch_size, fn, self.feature_dim_for(grid))

    def _batched(self, images: np.ndarray, batch_size: int, fn, dim: int) -> np.ndarray:
        if len(images) == 0:
            return np.zeros((0, dim), np.float32)
        was_training = self.training
        self.eval()
        try:
            out = [
                fn(self.preprocess(images[i : i + batch_size])).cpu()
                for i in range(0, len(images), batch_size)
            ]
        finally:
            self.train(was_training)
        return torch.cat(out).numpy().astype(np.float32)

    # ---- weights ------------------------------------------------------------------------------
    def load_backbone_weights(self, path: str | Path) -> None:
        """Load a timm backbone's weights from a local safetensors file (classifier keys ignored)."""
        from safetensors.torch import load_file

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"backbone weights {path} do not exist")
        state = load_file(str(path))
        own = self.backbone.state_dict()
        matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if len(matched) < 0.9 * len(own):
            raise ValueError(
                f"{path} matches only {len(matched)}/{len(own)} tensors of {self.config.backbone}; "
                "is it that backbone's weights?"
            )
        self.backbone.load_state_dict(matched, strict=False)

    # ---- persistence ----------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path, extras: dict | None = None, atomic: bool = True) -> Path:
        """config.json + model.safetensors + preprocessing.json (+ `<name>.json` extras); `atomic=False`
        inside a training checkpoint's temporary folder."""
        extras = {PREPROCESSING_NAME: preprocessing_dict(self.config), **(extras or {})}
        # the saved weights already hold the pretrained backbone; don't reload it from a path
        config = dataclasses.replace(self.config, weights_path=None)
        return save_folder(folder, config, self.state_dict(), extras=extras, atomic=atomic)

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device = "cpu") -> ImageEncoder:
        """A saved encoder folder (config.json + model.safetensors), or a training run folder holding
        one in `checkpoint/`, in eval mode."""
        folder = Path(folder)
        if not (folder / "config.json").exists() and (folder / "checkpoint" / "config.json").exists():
            folder = folder / "checkpoint"
        config_dict, tensors = load_folder(folder)
        config = EncoderConfig.from_dict(config_dict)
        config.weights_path = None
        encoder = cls(config)
        encoder.load_state_dict(tensors)
        return encoder.to(device).eval()


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def preprocessing_dict(config: EncoderConfig) -> dict:
    """What `preprocess` does, as data: resize to a square, scale to [0, 1], normalise."""
    return {
        "resize": [config.image_size, config.image_size],
        "interpolation": "bilinear_antialias",
        "scale": 1 / 255,
        "mean": list(config.mean),
        "std": list(config.std),
        "channels": "RGB",
        "layout": "NCHW",
    }


def build_encoder(config: EncoderConfig | str = "tcn-small", **overrides) -> ImageEncoder:
    """A fresh encoder (random weights unless `weights_path` is set) from a preset name or config."""
    if isinstance(config, str):
        config = get_config(config, **overrides)
    elif overrides:
        config = dataclasses.replace(config, **overrides)
    return ImageEncoder(config)


def encoder_from_spec(spec: str | Path) -> ImageEncoder:
    """A checkpoint folder, a shipped model's name (`tcn-small-sim`, under `models/`), or a preset
    name (`tcn-small`: random weights)."""
    from robo_reward.paths import shipped_models

    if Path(spec).exists():
        return ImageEncoder.from_pretrained(spec)
    if (shipped_models() / str(spec) / "config.json").exists():
        return ImageEncoder.from_pretrained(shipped_models() / str(spec))
    return build_encoder(str(spec)).eval()
