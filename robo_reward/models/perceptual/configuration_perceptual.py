"""Configuration of the perceptual reward (Sermanet, Xu & Levine 2016)."""

from __future__ import annotations

from dataclasses import dataclass

from robo_reward.utils.config import strict_from_dict

COMBINATIONS = ("expected_step", "geometric")
# the trend share of the task steps' segmentation cost, chosen on a separate collection (segmentation.py)
SEGMENT_TREND = 0.75
# the task steps are segmented in this many principal components of each episode's features, whitened
# (chosen on the same collection: mean Jaccard 0.713 on every feature; 0.654 / 0.744 / 0.754 / 0.744 / 0.705
# with 3 / 4 / 5 / 6 / 8 components)
SEGMENT_COMPONENTS = 5


@dataclass
class PerceptualConfig:
    # where features come from: an encoder checkpoint folder, a shipped model's name (the default,
    # models/tcn-small-sim: the multi-view TCN trained on the sim tasks), or a preset (random weights)
    encoder: str = "tcn-small-sim"
    views: tuple[str, ...] | None = None  # cameras whose layer features are concatenated; None = all
    # segmentation reads each channel pooled to a pool_grid x pool_grid grid (where things are in the
    # image); the step classifiers read the channel means (what is there), robust to small shifts
    pool_grid: int = 2
    # steps: None = the task registry's stage count when the demos name a sim task, else 3
    num_steps: int | None = None
    # finer steps the reward's classifiers model (denser progress); None = max(8, 2 x num_steps);
    # lowered for all demos when the shortest cannot hold that many segments of >= 2 frames
    reward_steps: int | None = None
    min_len: int | None = None  # shortest segment in frames; None = a quarter of the mean step length
    # average the within-segment std over frames (each segment weighs its length) or over segments;
    # "segment" (the paper's literal average) lets tiny segments win, see segmentation.py
    segment_weighting: str = "frame"
    # share of each segment's cost taken from the residual std about a linear trend in time (0 = the
    # paper's constant model); a steady motion is one step, a change of direction a boundary
    segment_trend: float = SEGMENT_TREND
    # segment the task steps in the top k principal components of the episode's standardised features,
    # each scaled to unit variance (None = every feature): each independent mode of change — the arm's
    # travel, the gripper, the object — gets one equal vote instead of one vote per correlated channel
    segment_components: int | None = SEGMENT_COMPONENTS
    # feature selection: z = alpha·|μ⁺ − μ⁻| − (σ⁺ + σ⁻), the top `top_m` per step
    alpha: float = 5.0
    top_m: int = 32
    min_std: float = 0.05  # floor on Gaussian stds, in units of the feature's std over all demo frames
    # how per-step probabilities become one progress value; see modeling_perceptual.combine_steps
    combination: str = "expected_step"

    def __post_init__(self) -> None:
        if self.views is not None:
            self.views = tuple(self.views)
        if self.combination not in COMBINATIONS:
            raise ValueError(f"combination must be one of {COMBINATIONS}, got {self.combination!r}")
        if not 0.0 <= self.segment_trend <= 1.0:
            raise ValueError(f"segment_trend must be in [0, 1], got {self.segment_trend}")
        if self.segment_components is not None and self.segment_components < 1:
            raise ValueError(f"segment_components must be ≥ 1 or None, got {self.segment_components}")
        for name in ("num_steps", "reward_steps"):
            value = getattr(self, name)
            if value is not None and value < 2:
                raise ValueError(f"{name} must be ≥ 2 (one step carries no progress)")

    @property
    def resolved_reward_steps(self) -> int:
        if self.num_steps is None:
            raise ValueError("num_steps is not set")
        return self.reward_steps if self.reward_steps is not None else max(8, 2 * self.num_steps)

    @classmethod
    def from_dict(cls, d: dict) -> PerceptualConfig:
        # fits saved before the trend term and the components segmented every feature with the
        # constant model: keep that
        return strict_from_dict(cls, {"segment_trend": 0.0, "segment_components": None, **d}, "perceptual")
