"""Image encoders: a timm backbone trained as a multi-view time-contrastive network (TCN).

Public API: `build_encoder(preset_or_config)`, `ImageEncoder.from_pretrained(folder)` and
`.save_pretrained(folder)`, `ImageEncoder.embed(images)` and `ImageEncoder.layer_features(images)`. Exports load on first use
(see `robo_reward.utils.lazy`).
"""

from robo_reward.utils.lazy import lazy_exports

_CONFIG = "robo_reward.models.encoders.configuration_encoders"
_MODELING = "robo_reward.models.encoders.modeling_encoders"
__getattr__ = lazy_exports(
    __name__,
    {
        "PRESETS": _CONFIG,
        "EncoderConfig": _CONFIG,
        "get_config": _CONFIG,
        "ImageEncoder": _MODELING,
        "build_encoder": _MODELING,
    },
)

__all__ = ["PRESETS", "EncoderConfig", "ImageEncoder", "build_encoder", "get_config"]
