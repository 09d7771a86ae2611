"""Perceptual reward (Sermanet, Xu & Levine 2016): steps found in a few demos, per-step classifiers
on a frozen encoder's layer features, combined into progress; its segmenter labels demos for the GRM.
Exports load on first use (see `robo_reward.utils.lazy`)."""

from robo_reward.utils.lazy import lazy_exports

_MODELING = "robo_reward.models.perceptual.modeling_perceptual"
_SEGMENTATION = "robo_reward.models.perceptual.segmentation"
__getattr__ = lazy_exports(
    __name__,
    {
        "PerceptualConfig": "robo_reward.models.perceptual.configuration_perceptual",
        "PerceptualReward": _MODELING,
        "PerceptualSegmenter": _MODELING,
        "combine_steps": _MODELING,
        "feature_scores": _MODELING,
        "jaccard_overlap": _SEGMENTATION,
        "segment_dp": _SEGMENTATION,
    },
)

__all__ = [
    "PerceptualConfig",
    "PerceptualReward",
    "PerceptualSegmenter",
    "combine_steps",
    "feature_scores",
    "jaccard_overlap",
    "segment_dp",
]
