"""Configuration of the flow-matching VLA policy, and its size presets (`flow-tiny/small/base`).

A `FlowPolicy` is built from this config alone; the config travels as `config.json` beside the weights.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from robo_reward.models.pretrained.configuration_pretrained import LITE_MEAN, LITE_STD
from robo_reward.utils.config import strict_from_dict
from robo_reward.utils.errors import UnknownNameError

DEFAULT_VIEWS = ("front", "side", "wrist")


@dataclass
class FlowPolicyConfig:
    # observation contract
    views: tuple[str, ...] = DEFAULT_VIEWS
    state_dim: int = 10
    action_dim: int = 7
    # images are resized to `image_size`² inside the model (the saved preprocessing), then normalised
    image_size: int = 64
    image_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    image_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    source_image_size: int | None = None  # size of the training data's renders; evaluation renders at it
    # per-view encoder: a timm backbone (random init), features taken at `backbone_stage` (stride 2^stage);
    # each cell of that feature map becomes one token; maps larger than `max_tokens_side`² are pooled
    backbone: str = "resnet10t"
    backbone_stage: int = 3
    max_tokens_side: int = 4
    # initial backbone weights (None: random): a converted pretrained set by name ("efficientnet_lite0", for
    # backbone "tf_efficientnet_lite0" with its (x - 127) / 128 normalisation as image_mean/image_std; made
    # by `robo-reward pretrained convert`) or a local safetensors file. Read when a policy is first built;
    # its checkpoints hold the weights themselves and save this field as None.
    backbone_weights: str | None = None
    # a frozen backbone (eval mode, no gradients) lets CPU training cache its per-frame features once;
    # end-to-end training (False) is the GPU path. Same code either way.
    freeze_backbone: bool = False
    # image encoder: "cells" (the timm backbone above, one token per feature-map cell) or "keypoints" (a
    # small conv stack, `conv_channels` with stride 2 on the first two layers, then a spatial softmax
    # giving `num_keypoints` expected (x, y) image positions per view, grouped into `keypoint_tokens`
    # tokens per view; cheap enough to train end to end on a CPU). "keypoints" ignores `backbone*`.
    encoder: str = "cells"
    conv_channels: tuple[int, ...] = (16, 32, 32, 32)
    num_keypoints: int = 32
    keypoint_tokens: int = 4
    # auxiliary BC target (0: none): a head predicts this many values of the privileged object state
    # (`observation.environment_state`, e.g. the cube's pose) from the image tokens, so the encoder must
    # locate the objects. Training only: acting never runs the head, and needs no such input.
    aux_dim: int = 0
    # instruction embedding (robo_reward.models.text): "hashed" words (`text_vocab_size` buckets, trained) or
    # "minilm" (frozen pretrained sentence embeddings, cached per instruction, + a trained projection)
    text_encoder: str = "hashed"
    text_vocab_size: int = 4096
    # trunk: transformer over [readout | text | state | image tokens]; runs once per chunk
    width: int = 192
    trunk_depth: int = 3
    heads: int = 4
    mlp_ratio: float = 2.0
    dropout: float = 0.0
    num_readouts: int = 2  # features = readout tokens flattened: (B, num_readouts * width)
    # action expert: transformer over the readout tokens + the H noisy action tokens, each action token
    # carrying its flow time (a sinusoidal embedding concatenated with the action, then an MLP)
    expert_width: int = 128
    expert_depth: int = 2
    # action chunk
    chunk_size: int = 8  # H, at 10 Hz
    n_action_steps: int = 2  # executed per chunk (receding horizon): 2 beat 1, 4 and 8 on pick_place BC
    # flow matching: t ~ Beta(alpha, beta), t=1 is noise, t=0 the action
    time_alpha: float = 1.5
    time_beta: float = 1.0
    num_inference_steps: int = 10
    # acting temperature: `sample` starts the Euler integration from noise × this when it draws the noise
    # itself. Below 1 it leaves out part of the demos' action noise (more precise grasps); 1 samples the
    # learned distribution. `sample_normalized` (candidate generation, likelihoods) never scales.
    noise_scale: float = 1.0
    # normalisation of state and action: "mean_std" or "min_max" (to [-1, 1]); stats live in the weights
    normalization: str = "mean_std"
    preset: str = "custom"

    @property
    def feature_dim(self) -> int:
        return self.num_readouts * self.width

    def __post_init__(self) -> None:
        self.views = tuple(self.views)
        self.image_mean = tuple(self.image_mean)
        self.image_std = tuple(self.image_std)
        self.conv_channels = tuple(self.conv_channels)
        if self.encoder not in ("cells", "keypoints"):
            raise ValueError(f"encoder must be 'cells' or 'keypoints', got {self.encoder!r}")
        if self.encoder == "keypoints":
            if len(self.conv_channels) < 2:
                raise ValueError(f"conv_channels needs at least 2 layers, got {self.conv_channels}")
            if self.keypoint_tokens < 1 or self.num_keypoints % self.keypoint_tokens:
                raise ValueError(
                    f"num_keypoints {self.num_keypoints} must be a multiple of keypoint_tokens {self.keypoint_tokens}"
                )
            if self.freeze_backbone:
                raise ValueError("the keypoint encoder trains end to end: set freeze_backbone=False")
        if self.text_encoder not in ("hashed", "minilm"):
            raise ValueError(f"text_encoder must be 'hashed' or 'minilm', got {self.text_encoder!r}")
        if self.backbone_weights is not None and self.encoder != "cells":
            raise ValueError(
                "backbone_weights initialise the 'cells' encoder's timm backbone: set encoder='cells'"
            )
        if self.normalization not in ("mean_std", "min_max"):
            raise ValueError(f"normalization must be 'mean_std' or 'min_max', got {self.normalization!r}")
        if self.width % self.heads or self.expert_width % self.heads:
            raise ValueError(f"width {self.width} and expert_width {self.expert_width} must divide heads")
        if self.aux_dim < 0:
            raise ValueError(f"aux_dim must be >= 0, got {self.aux_dim}")
        if not self.views:
            raise ValueError("a policy needs at least one view")
        if not 0.0 <= self.noise_scale <= 1.0:
            raise ValueError(f"noise_scale must be in [0, 1], got {self.noise_scale}")
        if not 1 <= self.n_action_steps <= self.chunk_size:
            raise ValueError(f"n_action_steps must be in [1, chunk_size={self.chunk_size}]")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FlowPolicyConfig:
        return strict_from_dict(cls, d, "flow policy")


def _tiny() -> FlowPolicyConfig:
    return FlowPolicyConfig(
        image_size=32, backbone="test_efficientnet", backbone_stage=3, max_tokens_side=2,
        text_vocab_size=512, width=64, trunk_depth=1, heads=2, num_readouts=1,
        expert_width=64, expert_depth=1, preset="flow-tiny",
    )  # fmt: skip


def _small() -> FlowPolicyConfig:
    return FlowPolicyConfig(freeze_backbone=True, preset="flow-small")


def _small_keypoints() -> FlowPolicyConfig:
    """flow-small with the end-to-end keypoint encoder on the front and wrist views (the CPU BC recipe)."""
    return FlowPolicyConfig(
        views=("front", "wrist"), encoder="keypoints", freeze_backbone=False, noise_scale=0.5,
        preset="flow-small-kp",
    )  # fmt: skip


def _vla() -> FlowPolicyConfig:
    """The multi-task VLA recipe: the keypoint encoder (64 keypoints per view) on the front and wrist views
    and frozen MiniLM instruction embeddings. Chosen over frozen EfficientNet-Lite0 cells by measurement
    (3 scenes, 3,000 steps, 20 episodes each: keypoints 0.65-1.00 per scene, Lite0 0.18-0.60)."""
    return dataclasses.replace(_small_keypoints(), num_keypoints=64, text_encoder="minilm", preset="flow-vla")


def _small_pretrained() -> FlowPolicyConfig:
    """flow-small on frozen pretrained encoders: EfficientNet-Lite0 (ImageNet) cells at stride 16 (4x4x112
    at 64²) and MiniLM instruction embeddings."""
    return FlowPolicyConfig(
        backbone="tf_efficientnet_lite0", backbone_weights="efficientnet_lite0", backbone_stage=3,
        image_mean=LITE_MEAN, image_std=LITE_STD, freeze_backbone=True, text_encoder="minilm",
        preset="flow-small-pretrained",
    )  # fmt: skip


def _base() -> FlowPolicyConfig:
    return FlowPolicyConfig(
        image_size=128, backbone="resnet18", backbone_stage=4, max_tokens_side=4, width=512,
        trunk_depth=6, heads=8, mlp_ratio=4.0, dropout=0.1, num_readouts=4, expert_width=256,
        expert_depth=4, preset="flow-base",
    )  # fmt: skip


PRESETS = {
    "flow-tiny": _tiny,
    "flow-small": _small,
    "flow-small-kp": _small_keypoints,
    "flow-small-pretrained": _small_pretrained,
    "flow-base": _base,
    "flow-vla": _vla,
}


def make_config(name: str, **overrides) -> FlowPolicyConfig:
    """A preset by name (`flow-tiny`, `flow-small`, `flow-small-kp`, `flow-small-pretrained`, `flow-base`, `flow-vla`),
    with field overrides."""
    if name not in PRESETS:
        raise UnknownNameError(f"unknown policy preset {name!r}: choose one of {', '.join(sorted(PRESETS))}")
    return dataclasses.replace(PRESETS[name](), **overrides)


__all__ = ["DEFAULT_VIEWS", "PRESETS", "FlowPolicyConfig", "make_config"]
