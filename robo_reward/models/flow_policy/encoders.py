"""Per-view image encoders of the flow policy: a timm backbone's cell tokens (`ViewEncoder`) or an
end-to-end conv stack's spatial-softmax keypoints (`KeypointEncoder`). Both map (B, V, 3, S, S) images
to (B, V·n, width) tokens with view and position embeddings."""

from __future__ import annotations

import math

import timm
import torch
import torch.nn.functional as F
from torch import nn

from robo_reward.models.flow_policy.configuration_flow_policy import FlowPolicyConfig
from robo_reward.models.pretrained.weights import load_backbone_weights, resolve_backbone_weights


def _freeze_unused(backbone: nn.Module, image_size: int) -> None:
    """Stop gradients to layers whose output the chosen stage never uses (timm's EfficientNet feature
    wrapper still runs later blocks), so DDP sees no unused parameters. Found by one backward pass of
    a zero image in eval mode (no BN statistics change); skipped when built under inference mode."""
    if torch.is_inference_mode_enabled():
        return
    was_training = backbone.training
    with torch.enable_grad():
        backbone.eval()(torch.zeros(1, 3, image_size, image_size))[-1].sum().backward()
    backbone.train(was_training)
    for p in backbone.parameters():
        if p.grad is None:
            p.requires_grad_(False)
        p.grad = None


class ViewEncoder(nn.Module):
    """Shared-weight timm backbone over all views: (B, V, 3, S, S) float → (B, V·n, width) tokens,
    one token per cell of the feature map (pooled to ≤ max_tokens_side²), + view and cell embeddings."""

    def __init__(self, cfg: FlowPolicyConfig):
        super().__init__()
        self.backbone = timm.create_model(
            cfg.backbone, pretrained=False, features_only=True, out_indices=(cfg.backbone_stage,)
        )
        if cfg.backbone_weights:
            path = resolve_backbone_weights(cfg.backbone_weights, cfg.backbone, cfg.image_mean, cfg.image_std)
            load_backbone_weights(self.backbone, path)
        _freeze_unused(self.backbone, cfg.image_size)
        channels = self.backbone.feature_info.channels()[-1]
        reduction = self.backbone.feature_info.reduction()[-1]
        self.side = min(cfg.max_tokens_side, max(1, math.ceil(cfg.image_size / reduction)))
        self.width = cfg.width
        self.proj = nn.Linear(channels, cfg.width)
        self.view_embed = nn.Parameter(torch.randn(len(cfg.views), 1, cfg.width) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, self.side * self.side, cfg.width) * 0.02)
        self.tokens_per_view = self.side * self.side
        self.frozen = cfg.freeze_backbone
        if self.frozen:
            self.backbone.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> ViewEncoder:
        super().train(mode)
        if self.frozen:  # a frozen backbone keeps its BatchNorm statistics
            self.backbone.eval()
        return self

    def backbone_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, V, 3, S, S) → (B, V, C, h, w) feature maps (what a frozen backbone's cache holds)."""
        B, V = images.shape[:2]
        fmap = self.backbone(images.flatten(0, 1))[-1]
        return fmap.view(B, V, *fmap.shape[1:])

    def tokens(self, fmap: torch.Tensor) -> torch.Tensor:
        """(B, V, C, h, w) feature maps → (B, V·n, width) tokens with view and position embeddings."""
        B, V = fmap.shape[:2]
        flat = fmap.flatten(0, 1)  # (B·V, C, h, w)
        if flat.shape[-2:] != (self.side, self.side):
            flat = F.adaptive_avg_pool2d(flat, self.side)
        tokens = self.proj(flat.flatten(2).transpose(1, 2))  # (B·V, n, width)
        tokens = tokens.view(B, V, -1, self.width) + self.pos_embed[:, None] + self.view_embed[None]
        return tokens.flatten(1, 2)


def spatial_softmax(maps: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """(N, K, h, w) logits → (N, K, 2) expected (x, y) positions in [−1, 1] (x to the right, y down)."""
    N, K, h, w = maps.shape
    prob = torch.softmax(maps.flatten(2) / temperature, dim=-1).view(N, K, h, w)
    xs = torch.linspace(-1.0, 1.0, w, device=maps.device, dtype=maps.dtype)
    ys = torch.linspace(-1.0, 1.0, h, device=maps.device, dtype=maps.dtype)
    return torch.stack([(prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)], dim=-1)


class KeypointEncoder(nn.Module):
    """Shared small conv stack over all views, trained end to end: (B, V, 3, S, S) → spatial-softmax
    keypoints (B, V, K, 2) → (B, V·T, width) tokens, each a linear map of K/T keypoints, + view and
    token embeddings. The first two convolutions have stride 2, so the softmax runs at S/4."""

    def __init__(self, cfg: FlowPolicyConfig):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for i, c in enumerate(cfg.conv_channels):
            layers += [
                nn.Conv2d(c_in, c, 3, stride=2 if i < 2 else 1, padding=1),
                nn.GroupNorm(min(8, c), c),
                nn.ReLU(inplace=True),
            ]
            c_in = c
        layers.append(nn.Conv2d(c_in, cfg.num_keypoints, 1))
        self.backbone = nn.Sequential(*layers)
        # a low starting temperature makes the softmax peaked from the start (logits of a fresh stack have
        # std ≈ 0.5; at temperature 1 every keypoint is close to the image centre and small objects are lost)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(0.1)))
        self.side = max(1, math.ceil(cfg.image_size / 4))
        self.width, self.num_tokens = cfg.width, cfg.keypoint_tokens
        self.tokens_per_view = cfg.keypoint_tokens
        self.proj = nn.Linear(2 * cfg.num_keypoints // cfg.keypoint_tokens, cfg.width)
        self.view_embed = nn.Parameter(torch.randn(len(cfg.views), 1, cfg.width) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, cfg.keypoint_tokens, cfg.width) * 0.02)

    def backbone_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, V, 3, S, S) → (B, V, K, 2) keypoints."""
        B, V = images.shape[:2]
        kp = spatial_softmax(self.backbone(images.flatten(0, 1)), self.log_temperature.exp())
        return kp.view(B, V, *kp.shape[1:])

    def tokens(self, keypoints: torch.Tensor) -> torch.Tensor:
        """(B, V, K, 2) keypoints → (B, V·T, width) tokens with view and token embeddings."""
        B, V = keypoints.shape[:2]
        tokens = self.proj(keypoints.reshape(B, V, self.num_tokens, -1))
        return (tokens + self.pos_embed[:, None] + self.view_embed[None]).flatten(1, 2)
