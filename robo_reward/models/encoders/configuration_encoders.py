"""Configuration of the image encoder and of its multi-view time-contrastive (TCN) training.

Presets follow the house sizes: `tcn-tiny` (tests, seconds), `tcn-small` (CPU main job, minutes),
`tcn-base` (GPU). Any timm backbone works: `backbone` is a timm model name, `backbone_kwargs` go to
`timm.create_model`, and `weights_path` points to a local safetensors file of that backbone's
weights (e.g. ImageNet weights copied onto a machine that has them) — nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from robo_reward.utils.config import resolve_config, strict_from_dict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LOSSES = ("infonce", "triplet")


@dataclass
class EncoderConfig:
    # architecture
    backbone: str = "resnet10t"
    backbone_kwargs: dict = field(default_factory=dict)
    weights_path: str | None = None  # local safetensors with the backbone's weights; None = random init
    image_size: int = 64  # square input side; frames are resized to it
    feature_layers: tuple[int, ...] = (1, 2, 3, 4)  # timm feature stages pooled by `layer_features`
    pool_grid: int = 1  # each layer is average-pooled to a grid x grid map (1 = global mean)
    embed_dim: int = 64
    head_hidden: int = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # multi-view TCN training
    loss: str = "infonce"  # "infonce" (n-pairs within an episode) or "triplet"
    temperature: float = 0.1
    margin: float = 0.2  # triplet margin on squared distances of unit vectors
    episodes_per_batch: int = 8
    times_per_episode: int = 8  # moments per episode; all others are each anchor's negatives
    steps: int = 1000
    lr: float = 3e-4
    weight_decay: float = 1e-4
    augment: bool = True  # random shift + brightness/contrast jitter, independent per image
    checkpoint_every: int = 250
    log_every: int = 25
    seed: int = 0

    def __post_init__(self) -> None:
        self.feature_layers = tuple(int(i) for i in self.feature_layers)
        self.mean = tuple(float(x) for x in self.mean)
        self.std = tuple(float(x) for x in self.std)
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.times_per_episode < 2:
            raise ValueError("times_per_episode must be ≥ 2 (the other moments are the negatives)")
        if self.pool_grid < 1:
            raise ValueError("pool_grid must be ≥ 1")

    @classmethod
    def from_dict(cls, d: dict) -> EncoderConfig:
        return strict_from_dict(cls, d, "encoder")


PRESETS: dict[str, EncoderConfig] = {
    # ~0.4 M parameters, 32² images: a TCN step takes milliseconds
    "tcn-tiny": EncoderConfig(
        backbone="test_resnet",
        image_size=32,
        feature_layers=(1, 2, 3),
        embed_dim=16,
        head_hidden=32,
        episodes_per_batch=4,
        times_per_episode=4,
        steps=30,
        lr=1e-3,
        checkpoint_every=10,
        log_every=5,
    ),
    # ~1.2 M parameters (a half-width resnet10t with a thin stem), 64² images: 1000 steps of
    # 2 x 64 images take ~4 minutes on 2 free cores, ~10 on a shared machine
    "tcn-small": EncoderConfig(
        backbone="resnet10t",
        backbone_kwargs={"channels": [32, 64, 128, 256], "stem_width": 16},
        image_size=64,
        embed_dim=32,
        steps=1000,
    ),
    # full resnet18 at 128² for a GPU
    "tcn-base": EncoderConfig(
        backbone="resnet18",
        image_size=128,
        embed_dim=128,
        head_hidden=512,
        episodes_per_batch=16,
        times_per_episode=16,
        steps=20000,
        checkpoint_every=1000,
    ),
}


def get_config(name_or_path: str | Path, **overrides) -> EncoderConfig:
    """A preset by name (`tcn-small`, or just `small`), or a config.json / checkpoint folder."""
    return resolve_config(name_or_path, PRESETS, "tcn", EncoderConfig, "encoder", **overrides)
