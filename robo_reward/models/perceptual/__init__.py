"""Perceptual reward (Sermanet, Xu & Levine 2016): steps found in a few demos, per-step classifiers
on a frozen encoder's layer features, combined into progress; its segmenter labels demos for the GRM."""

from robo_reward.models.perceptual.configuration_perceptual import PerceptualConfig
from robo_reward.models.perceptual.modeling_perceptual import (
    PerceptualReward,
    PerceptualSegmenter,
    combine_steps,
    feature_scores,
)
from robo_reward.models.perceptual.segmentation import jaccard_overlap, segment_dp

__all__ = [
    "PerceptualConfig",
    "PerceptualReward",
    "PerceptualSegmenter",
    "combine_steps",
    "feature_scores",
    "jaccard_overlap",
    "segment_dp",
]
