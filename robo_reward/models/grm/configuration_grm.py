"""Configuration of the step-aware general reward model (GRM) and its presets `grm-tiny/small/base`.

A `GRM` is built from this config alone; it travels as `config.json` beside the weights. The
training fields sit here too (like the encoder's config) so a run is reproduced from one file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from robo_reward.models.pretrained.configuration_pretrained import LITE_MEAN, LITE_STD
from robo_reward.utils.config import resolve_config, strict_from_dict

DEFAULT_VIEWS = ("front", "side", "wrist")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class GRMConfig:
    # observation contract: the BEFORE/AFTER sets hold every view; start and goal references one view
    views: tuple[str, ...] = DEFAULT_VIEWS
    reference_view: str = "front"
    image_size: int = 64
    image_mean: tuple[float, float, float] = IMAGENET_MEAN
    image_std: tuple[float, float, float] = IMAGENET_STD
    # per-view image encoder: timm backbone stages, each average-pooled to a grid x grid map and
    # concatenated — the grid keeps where things are, which a global mean would throw away
    backbone: str = "resnet10t"
    backbone_kwargs: dict = field(default_factory=dict)
    # initial backbone weights (None: random): a converted pretrained set by name ("efficientnet_lite0", for
    # backbone "tf_efficientnet_lite0" with image_mean/image_std = LITE_MEAN/LITE_STD, i.e. (x - 127) / 128;
    # made by `robo-reward pretrained convert`) or a local safetensors file; saved checkpoints hold the weights
    backbone_weights: str | None = None
    feature_stages: tuple[int, ...] = (2, 3)
    feature_grid: int = 2
    # a robo_reward.models.encoders checkpoint (e.g. the time-contrastive encoder) replacing the
    # backbone; its config is copied into `encoder_config` so the GRM folder stands alone
    encoder_checkpoint: str | None = None
    encoder_config: dict | None = None
    # frozen: per-frame features are computed once per episode and cached, and only the token
    # transformer + head train (CPU); False trains the encoder end to end (GPU); same code path
    frozen_encoder: bool = True
    # a random backbone's BatchNorm statistics are set from the training frames before training
    calibrate_batchnorm: bool = True
    calibration_frames: int = 2048
    # instruction embedding (robo_reward.models.text): "hashed" words (`text_vocab_size` buckets, trained) or
    # "minilm" (frozen pretrained sentence embeddings, cached per instruction, + a trained projection)
    text_encoder: str = "hashed"
    text_vocab_size: int = 4096
    # token transformer over [cls | instruction | start | goal | before x V | after x V]
    width: int = 128
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 2.0
    dropout: float = 0.1
    num_bins: int = 41  # K hop bins on [-1, 1]; odd so that 0 is a centre
    # how `fused` progress combines the perspectives (robo_reward.models.grm.inference.FUSIONS):
    # "mean" of incremental, forward- and backward-anchored; "anchored": of the two anchored ones
    fusion: str = "mean"
    # training
    steps: int = 3000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    frames_per_segment: int = 12  # labelled frames sampled evenly inside each keyframe segment
    # "stages": progress from keyframe segments (stage column, a segmenter's steps, or uniform time);
    # "progress": the simulator's privileged progress column of every `label_stride`-th frame, so the
    # near misses, stalls and falls of policy rollouts are labelled where they happen
    label_source: str = "stages"
    label_stride: int = 2
    anchor_fraction: float = 0.3  # share of queries whose BEFORE is the start or the goal reference
    zero_hop_fraction: float = 0.05
    reference_swap_prob: float = 0.5  # start/goal from another episode of the same task
    view_dropout: float = 0.15  # per view of the before/after sets (at least one view stays)
    context_dropout: float = 0.1  # per start/goal reference
    checkpoint_every: int = 500
    log_every: int = 25
    seed: int = 0
    preset: str = "custom"

    def __post_init__(self) -> None:
        self.views = tuple(self.views)
        self.feature_stages = tuple(int(s) for s in self.feature_stages)
        self.image_mean = tuple(float(x) for x in self.image_mean)
        self.image_std = tuple(float(x) for x in self.image_std)
        if not self.views:
            raise ValueError("the GRM needs at least one view")
        if self.reference_view not in self.views:
            raise ValueError(f"reference_view {self.reference_view!r} is not one of views {self.views}")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} must be divisible by heads {self.heads}")
        if self.num_bins < 3:
            raise ValueError(f"num_bins must be ≥ 3, got {self.num_bins}")
        if self.fusion not in ("mean", "anchored", "consistency"):
            raise ValueError(f"fusion must be 'mean', 'anchored' or 'consistency', got {self.fusion!r}")
        if self.text_encoder not in ("hashed", "minilm"):
            raise ValueError(f"text_encoder must be 'hashed' or 'minilm', got {self.text_encoder!r}")
        if self.label_source not in ("stages", "progress"):
            raise ValueError(f"label_source must be 'stages' or 'progress', got {self.label_source!r}")
        if self.label_stride < 1 or not 0.0 <= self.anchor_fraction <= 1.0:
            raise ValueError("label_stride must be ≥ 1 and anchor_fraction in [0, 1]")
        if self.feature_grid < 1 or not self.feature_stages:
            raise ValueError("feature_grid must be ≥ 1 and feature_stages non-empty")

    @property
    def num_views(self) -> int:
        return len(self.views)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GRMConfig:
        return strict_from_dict(cls, d, "GRM")


TRAINING_FIELDS = (
    "steps",
    "batch_size",
    "lr",
    "weight_decay",
    "warmup_steps",
    "frames_per_segment",
    "label_source",
    "label_stride",
    "anchor_fraction",
    "zero_hop_fraction",
    "reference_swap_prob",
    "view_dropout",
    "context_dropout",
    "checkpoint_every",
    "log_every",
    "seed",
)


def with_training_of(config: GRMConfig, other: GRMConfig) -> GRMConfig:
    """`config`'s architecture with `other`'s training fields (resume or fine-tune with new settings)."""
    return dataclasses.replace(config, **{k: getattr(other, k) for k in TRAINING_FIELDS})


PRESETS: dict[str, GRMConfig] = {
    # seconds on a CPU: for tests
    "grm-tiny": GRMConfig(
        image_size=32,
        backbone="test_resnet",
        feature_stages=(1, 2),
        feature_grid=2,
        width=32,
        depth=1,
        heads=2,
        num_bins=11,
        steps=60,
        batch_size=64,
        lr=3e-3,
        warmup_steps=5,
        frames_per_segment=6,
        checkpoint_every=20,
        log_every=10,
        preset="grm-tiny",
    ),
    # the CPU main job: a frozen half-width resnet10t at 64², cached features, minutes of training
    "grm-small": GRMConfig(
        image_size=64,
        backbone="resnet10t",
        backbone_kwargs={"channels": [32, 64, 128, 256]},
        feature_stages=(1, 2, 3),
        feature_grid=2,
        width=64,
        depth=2,
        heads=4,
        fusion="anchored",
        steps=2500,
        batch_size=128,
        reference_swap_prob=0.8,  # inference always uses another episode's goal frame
        preset="grm-small",
    ),
    # a GPU: resnet18 at 128², trained end to end
    "grm-base": GRMConfig(
        image_size=128,
        backbone="resnet18",
        feature_stages=(2, 3, 4),
        feature_grid=2,
        frozen_encoder=False,
        width=256,
        depth=4,
        heads=8,
        steps=20000,
        batch_size=128,
        lr=3e-4,
        warmup_steps=500,
        checkpoint_every=2000,
        log_every=50,
        preset="grm-base",
    ),
}


# grm-small on frozen pretrained encoders: EfficientNet-Lite0 (ImageNet) stages at strides 8, 16, 32 and
# MiniLM instruction embeddings
PRESETS["grm-small-pretrained"] = dataclasses.replace(
    PRESETS["grm-small"],
    image_mean=LITE_MEAN,
    image_std=LITE_STD,
    backbone="tf_efficientnet_lite0",
    backbone_kwargs={},
    backbone_weights="efficientnet_lite0",
    feature_stages=(2, 3, 4),
    text_encoder="minilm",
    preset="grm-small-pretrained",
)


def get_config(name_or_path: str | Path, **overrides) -> GRMConfig:
    """A preset (`grm-small`, or just `small`), or a config.json / checkpoint folder, with overrides."""
    return resolve_config(name_or_path, PRESETS, "grm", GRMConfig, "GRM", **overrides)
