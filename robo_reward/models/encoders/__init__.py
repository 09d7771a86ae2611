"""Image encoders: a timm backbone trained as a multi-view time-contrastive network (TCN).

Public API: `load_encoder(path) -> ImageEncoder`, `build_encoder(preset_or_config)`,
`ImageEncoder.embed(images)` and `ImageEncoder.layer_features(images)`.
"""

from robo_reward.models.encoders.configuration_encoders import PRESETS, EncoderConfig, get_config
from robo_reward.models.encoders.modeling_encoders import ImageEncoder, build_encoder, load_encoder

__all__ = ["PRESETS", "EncoderConfig", "ImageEncoder", "build_encoder", "get_config", "load_encoder"]
