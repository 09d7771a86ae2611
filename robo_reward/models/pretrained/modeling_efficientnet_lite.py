"""A frozen pretrained EfficientNet-Lite feature extractor with its own preprocessing.

    images (B, H, W, 3) uint8 RGB ─ resize to S² (bilinear, antialiased) ─ (x − 127) / 128
        ─ timm tf_efficientnet_lite0 (ImageNet weights, eval mode, no gradients) ─▶ [(B, C_s, S/2^s, S/2^s)]

Stages are timm's feature stages 0-4: strides 2, 4, 8, 16, 32 with 16, 24, 40, 112, 320 channels for
lite0. The policy and the GRM use the same weights through their configs (`backbone_weights`); this
module is the stand-alone form, e.g. for feature caching, timing, or a perceptual reward.
"""

from __future__ import annotations

import numpy as np
import timm
import torch
import torch.nn.functional as F
from torch import nn

from robo_reward.models.pretrained.configuration_pretrained import get_backbone
from robo_reward.models.pretrained.weights import converted_weights, load_backbone_weights


class PretrainedFeatures(nn.Module):
    """Frozen `name` backbone: (B, H, W, 3) uint8 RGB → feature maps at `stages`, each (B, C, h, w)."""

    def __init__(
        self, name: str = "efficientnet_lite0", stages: tuple[int, ...] = (3,), image_size: int = 96
    ):
        super().__init__()
        self.spec = get_backbone(name)
        self.stages, self.image_size = tuple(stages), image_size
        self.backbone = timm.create_model(
            self.spec.architecture, pretrained=False, features_only=True, out_indices=self.stages
        )
        load_backbone_weights(self.backbone, converted_weights(name))
        self.backbone.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor(self.spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.spec.std).view(1, 3, 1, 1), persistent=False)

    @property
    def channels(self) -> list[int]:
        return self.backbone.feature_info.channels()

    @property
    def reductions(self) -> list[int]:
        return self.backbone.feature_info.reduction()

    def train(self, mode: bool = True) -> PretrainedFeatures:
        super().train(mode)
        self.backbone.eval()  # frozen means frozen BatchNorm statistics too
        return self

    def preprocess(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) uint8 RGB → (B, 3, S, S) float, normalised as the weights were trained."""
        x = torch.as_tensor(images)
        if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != torch.uint8:
            raise ValueError(f"images must be (B, H, W, 3) uint8 RGB, got {tuple(x.shape)} {x.dtype}")
        x = x.to(self.mean.device).permute(0, 3, 1, 2).float() / 255.0
        if x.shape[-2:] != (self.image_size, self.image_size):
            size = (self.image_size, self.image_size)
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        return (x - self.mean) / self.std

    @torch.no_grad()
    def forward(self, images: np.ndarray | torch.Tensor) -> list[torch.Tensor]:
        return self.backbone(self.preprocess(images))

    def preprocessing(self) -> dict:
        """The preprocessing as data, to save beside anything computed from these features."""
        return {
            "backbone": self.spec.name,
            "architecture": self.spec.architecture,
            "stages": list(self.stages),
            "input": "(B, H, W, 3) RGB, uint8 (scaled by 1/255 before Normalize)",
            "steps": [
                {
                    "type": "Resize",
                    "size": [self.image_size, self.image_size],
                    "mode": "bilinear",
                    "antialias": True,
                },
                {"type": "Normalize", "mean": list(self.spec.mean), "std": list(self.spec.std)},
            ],
        }
