"""Perceptual reward from a few demonstrations (Sermanet, Xu & Levine 2016), on a frozen encoder.

    frames ─ encoder.layer_features per view (each channel pooled to a 2x2 grid) ─ concat ─▶ x (T, F)
    fit:   demos ─ DP segmentation (segmentation.py: constant + linear-trend cost, on the episode's
           top k principal components, whitened; k = 5) into the task's S steps (→ `segmenter`, the GRM's
           labels) and, on all features, into R ≥ S finer reward steps (default
           max(8, 2S): denser progress; one R for all demos, lowered until the shortest demo holds
           R segments of ≥ 2 frames)
           per reward step i: positives = the demos' frames in step i, negatives = all other demo
           frames; on channel means, score z = α|μ⁺ − μ⁻| − (σ⁺ + σ⁻) per feature, keep the top M;
           Gaussian classifier: diagonal Gaussians N⁺, N⁻ over those M features
    score: p_i(x) = sigmoid(mean_j log N⁺_ij(x_j) − log N⁻_ij(x_j))   (per-step probability)
           progress = combine_steps(p)   in [0, 1]

The mean (not the sum) of per-feature log-likelihood ratios tempers the naive independence
assumption: M correlated features would otherwise make every probability 0 or 1.
Segmentation reads the grid (where things are), the classifiers the channel means (what is there):
on the sim tasks the grid raised the steps' agreement with the true stages (Jaccard 0.59 → 0.66),
the means kept the classifiers robust to small shifts.
Saved as config.json + model.safetensors (encoder weights included, so a fit is self-contained).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from robo_reward.data.episode import IMAGE_KEY, Episode
from robo_reward.models.encoders import ImageEncoder
from robo_reward.models.encoders.configuration_encoders import EncoderConfig
from robo_reward.models.encoders.modeling_encoders import encoder_from_spec
from robo_reward.models.perceptual.configuration_perceptual import PerceptualConfig
from robo_reward.models.perceptual.segmentation import segment_dp, stage_starts, starts_to_labels
from robo_reward.utils.checkpoint import load_folder, save_folder

ENCODER_PREFIX = "encoder."


# ---- pure maths -------------------------------------------------------------------------------
def feature_scores(positives: np.ndarray, negatives: np.ndarray, alpha: float = 5.0) -> np.ndarray:
    """z = α|μ⁺ − μ⁻| − (σ⁺ + σ⁻) per feature, for positives (n⁺, F) and negatives (n⁻, F) → (F,).

    High z: the step's frames sit far from the others relative to how much both sets spread.
    """
    pos, neg = np.asarray(positives, np.float64), np.asarray(negatives, np.float64)
    return alpha * np.abs(pos.mean(0) - neg.mean(0)) - (pos.std(0) + neg.std(0))


def gaussian_log_ratio(x: np.ndarray, mu_pos, sd_pos, mu_neg, sd_neg) -> np.ndarray:
    """Mean over features of log N(x; μ⁺, σ⁺) − log N(x; μ⁻, σ⁻), for x (T, M) → (T,)."""
    lp = -0.5 * ((x - mu_pos) / sd_pos) ** 2 - np.log(sd_pos)
    ln = -0.5 * ((x - mu_neg) / sd_neg) ** 2 - np.log(sd_neg)
    return (lp - ln).mean(axis=1)


def combine_steps(step_probs: np.ndarray, rule: str = "expected_step") -> np.ndarray:
    """Per-step probabilities p (T, S) → progress (T,) in [0, 1].

    - `expected_step` (default): normalise p over steps into a posterior q = p / Σ_j p_j and return
      the expected step position Σ_i q_i · i/(S − 1). A frame sure to be in the first step scores 0,
      sure to be in the last 1, and a frame between steps i and i+1 interpolates between them.
    - `geometric`: Σ_i 2^i p_i / Σ_i 2^i, after the paper's heavier weighting of later steps; unlike
      `expected_step` it is not normalised, so a frame that resembles no step scores low.
    """
    p = np.clip(np.asarray(step_probs, np.float64), 0.0, 1.0)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"step_probs must be (T, S ≥ 2), got {p.shape}")
    S = p.shape[1]
    if rule == "expected_step":
        q = (p + 1e-12) / (p + 1e-12).sum(axis=1, keepdims=True)
        return q @ (np.arange(S) / (S - 1))
    if rule == "geometric":
        w = 2.0 ** np.arange(S)
        return p @ w / w.sum()
    raise ValueError(f"unknown combination rule {rule!r}")


def standardise_per_episode(x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Features (T, F) scaled to unit std over the episode; near-constant features dropped."""
    sd = x.std(axis=0)
    keep = sd > eps * max(float(sd.max()), eps)
    return (x[:, keep] - x[:, keep].mean(axis=0)) / sd[keep]


def principal_components(x: np.ndarray, k: int, eps: float = 1e-6) -> np.ndarray:
    """Features (T, F) → their scores on the top k principal components over the episode (T, ≤ k),
    each scaled to unit variance; components with (near-)zero variance are dropped."""
    u, sv, _ = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    keep = max(1, min(k, int(np.sum(sv > eps * sv[0])))) if len(sv) else 0
    return u[:, :keep] * np.sqrt(len(x))


# ---- features ---------------------------------------------------------------------------------
def episode_features(
    encoder: ImageEncoder, episode: Episode, views: Sequence[str] | None = None, pool_grid: int = 1
) -> np.ndarray:
    """Layer features of every frame of the chosen views, concatenated: (T, V·F·g²) float32, each
    channel average-pooled to g x g cells (g = `pool_grid`), the g² cells of a channel adjacent."""
    views = list(views or episode.view_names)
    missing = [v for v in views if v not in episode.views]
    if missing:
        raise ValueError(f"episode lacks views {missing}; it has {episode.view_names}")
    return np.concatenate(
        [encoder.layer_features(episode.views[v], pool_grid=pool_grid) for v in views], axis=1
    )


def global_pool(features: np.ndarray, pool_grid: int) -> np.ndarray:
    """Grid-pooled features (T, C·g²) → each channel's mean over its cells (T, C)."""
    if pool_grid == 1:
        return features
    return features.reshape(len(features), -1, pool_grid**2).mean(axis=-1)


class PerceptualSegmenter:
    """Step boundaries of an unannotated episode: the `Segmenter` the GRM's labels use.

    `segment(episode)` → frame indices where each new step starts ([0, ...], `num_steps` entries),
    from DP segmentation of the encoder's layer features (each feature standardised over the episode),
    or of their top `components` principal components, whitened (None: of every feature).
    """

    def __init__(
        self,
        encoder: ImageEncoder | str,
        num_steps: int,
        views: Sequence[str] | None = None,
        min_len: int | None = None,
        weighting: str = "frame",
        pool_grid: int = 2,
        trend: float = PerceptualConfig.segment_trend,
        components: int | None = PerceptualConfig.segment_components,
    ):
        self.encoder = encoder_from_spec(encoder) if isinstance(encoder, str | Path) else encoder
        self.num_steps = num_steps
        self.views = tuple(views) if views else None
        self.min_len = min_len
        self.weighting = weighting
        self.pool_grid = pool_grid
        self.trend = trend
        self.components = components

    def segment_features(self, features: np.ndarray) -> list[int]:
        # a short episode gets fewer steps rather than an error
        steps = min(self.num_steps, max(1, len(features) // max(2, self.min_len or 2)))
        x = standardise_per_episode(features)
        if self.components is not None:
            x = principal_components(x, self.components)
        return segment_dp(x, steps, self.min_len, self.weighting, self.trend)

    def segment(self, episode: Episode) -> list[int]:
        return self.segment_features(episode_features(self.encoder, episode, self.views, self.pool_grid))


def common_reward_steps(requested: int, lengths: Sequence[int], min_len: int | None = None) -> int:
    """The number of reward steps every demo can be split into: `requested`, lowered so that the
    shortest demo still gets segments of ≥ max(2, min_len) frames, and never below 2 (one step
    carries no progress). E.g. requested 8, demos of 11, 8 and 6 frames → 3."""
    if not lengths:
        raise ValueError("common_reward_steps needs at least one demo length")
    return max(2, min(requested, min(lengths) // max(2, min_len or 2)))


# ---- the reward -------------------------------------------------------------------------------
@dataclasses.dataclass
class StepClassifier:
    index: np.ndarray  # (M,) selected feature indices
    mu_pos: np.ndarray  # (M,)
    sd_pos: np.ndarray
    mu_neg: np.ndarray
    sd_neg: np.ndarray

    def probability(self, x: np.ndarray) -> np.ndarray:
        """Standardised features (T, F) → P(step) (T,)."""
        llr = gaussian_log_ratio(x[:, self.index], self.mu_pos, self.sd_pos, self.mu_neg, self.sd_neg)
        return 1.0 / (1.0 + np.exp(-np.clip(llr, -50, 50)))


class PerceptualReward:
    """A progress source: `reward(episode)` (`__call__`) → Φ (T,) in [0, 1]; `progress_obs(obs)` online."""

    def __init__(
        self,
        config: PerceptualConfig,
        encoder: ImageEncoder,
        feature_mean: np.ndarray,
        feature_std: np.ndarray,
        steps: list[StepClassifier],
        fit_info: dict | None = None,
    ):
        self.config = config
        self.encoder = encoder.eval()
        self.feature_mean = feature_mean
        self.feature_std = feature_std
        self.steps = steps
        self.fit_info = fit_info or {}

    @property
    def num_steps(self) -> int:
        """The task's steps (what `segmenter` finds); the reward may use finer ones (`reward_steps`)."""
        return int(self.config.num_steps)

    @property
    def reward_steps(self) -> int:
        return len(self.steps)

    @property
    def segmenter(self) -> PerceptualSegmenter:
        return self._segmenter(self.encoder, self.config, self.num_steps)

    @staticmethod
    def _segmenter(
        encoder: ImageEncoder, config: PerceptualConfig, steps: int, task_steps: bool = True
    ) -> PerceptualSegmenter:
        """The task steps' segmenter (`config`'s trend and components), or with `task_steps=False` the
        reward steps' one: the constant model on every feature, which the step classifiers assume."""
        return PerceptualSegmenter(
            encoder,
            steps,
            config.views,
            config.min_len,
            config.segment_weighting,
            config.pool_grid,
            config.segment_trend if task_steps else 0.0,
            config.segment_components if task_steps else None,
        )

    # -- fitting
    @classmethod
    def fit(
        cls,
        demos: Sequence[Episode],
        config: PerceptualConfig,
        encoder: ImageEncoder | None = None,
        features: Sequence[np.ndarray] | None = None,
    ) -> PerceptualReward:
        """Segment `demos` (successful demonstrations of one task) and fit one classifier per step.

        The demos are segmented twice: into the task's `num_steps` (kept in `fit_info`, and what
        `segmenter` reproduces) and into `reward_steps` finer steps that the classifiers model —
        finer steps make a denser progress signal. The task's steps use the trend cost (boundaries
        where the motion changes, `config.segment_trend`) on the whitened principal components
        (`config.segment_components`); the reward steps use the constant model on every feature,
        the one the step classifiers assume (each step's features gathered around one mean).
        """
        if not demos:
            raise ValueError("the perceptual reward needs at least one demonstration")
        if config.num_steps is None:
            raise ValueError(
                "config.num_steps must be set before fitting (`robo-reward perceptual fit` sets it from the task)"
            )
        encoder = encoder if encoder is not None else encoder_from_spec(config.encoder)
        feats = (
            list(features)
            if features is not None
            else [episode_features(encoder, ep, config.views, config.pool_grid) for ep in demos]
        )
        task_segmenter = cls._segmenter(encoder, config, config.num_steps)
        # every demo is cut into the same number of reward steps, so that step i means the same
        # stage of the task in all of them: a demo too short for R steps of ≥ 2 frames lowers R for
        # all (otherwise its last step would be labelled as a middle step of the longer demos)
        reward_steps = common_reward_steps(
            config.resolved_reward_steps, [len(f) for f in feats], config.min_len
        )
        reward_segmenter = cls._segmenter(encoder, config, reward_steps, task_steps=False)
        starts = [task_segmenter.segment_features(f) for f in feats]
        reward_starts = [reward_segmenter.segment_features(f) for f in feats]
        labels = np.concatenate(
            [starts_to_labels(s, len(f)) for s, f in zip(reward_starts, feats, strict=True)]
        )
        x_all = np.concatenate([global_pool(f, config.pool_grid) for f in feats]).astype(np.float64)
        mean, std = x_all.mean(0), x_all.std(0)
        std = np.where(std > 1e-8, std, 1.0)
        x = (x_all - mean) / std
        steps = [cls._fit_step(x, labels == i, config) for i in range(int(labels.max()) + 1)]
        info = {
            "demo_starts": starts,
            "reward_starts": reward_starts,
            "demo_lengths": [len(f) for f in feats],
            "tasks": sorted({ep.task_name or ep.task for ep in demos}),
        }
        return cls(config, encoder, mean.astype(np.float32), std.astype(np.float32), steps, info)

    @staticmethod
    def _fit_step(x: np.ndarray, member: np.ndarray, config: PerceptualConfig) -> StepClassifier:
        pos, neg = x[member], x[~member]
        z = feature_scores(pos, neg, config.alpha)
        index = np.argsort(-z, kind="stable")[: min(config.top_m, x.shape[1])]
        floor = config.min_std
        return StepClassifier(
            index=index.astype(np.int64),
            mu_pos=pos[:, index].mean(0),
            sd_pos=np.maximum(pos[:, index].std(0), floor),
            mu_neg=neg[:, index].mean(0),
            sd_neg=np.maximum(neg[:, index].std(0), floor),
        )

    # -- scoring
    def features(self, episode: Episode) -> np.ndarray:
        """(T, V·F·g²) grid-pooled layer features: what both the segmenter and the classifiers read."""
        return episode_features(self.encoder, episode, self.config.views, self.config.pool_grid)

    def frame_features(self, views: dict[str, np.ndarray]) -> np.ndarray:
        """Features of N frames given per view as {view: (N, H, W, 3) uint8} (e.g. one env step of
        N vector envs) → (N, V·F·g²), in the layout `progress_from_features` reads."""
        names = list(self.config.views or views)
        return np.concatenate(
            [
                self.encoder.layer_features(np.asarray(views[v]), pool_grid=self.config.pool_grid)
                for v in names
            ],
            axis=1,
        )

    def progress_frames(self, views: dict[str, np.ndarray]) -> np.ndarray:
        """{view: (N, H, W, 3) uint8} → progress (N,) in [0, 1]: the per-frame online API."""
        return self.progress_from_features(self.frame_features(views))

    def progress_obs(self, obs: dict) -> np.ndarray:
        """Progress (N,) of a batch of observations keyed like the sim's ("observation.images.<view>":
        (N, H, W, 3) uint8), in the fitted views or, without a view list, every image key present."""
        views = self.config.views or [k[len(IMAGE_KEY) :] for k in obs if k.startswith(IMAGE_KEY)]
        return self.progress_frames({v: np.asarray(obs[IMAGE_KEY + v]) for v in views})

    def step_probabilities(self, features: np.ndarray) -> np.ndarray:
        """Features (T, V·F·g²) — or already channel means (T, V·F) — → per-step probabilities (T, S)."""
        x = np.asarray(features, np.float64)
        if x.shape[1] != len(self.feature_mean):
            x = global_pool(x, self.config.pool_grid)
        x = (x - self.feature_mean) / self.feature_std
        return np.stack([s.probability(x) for s in self.steps], axis=1)

    def progress_from_features(self, features: np.ndarray) -> np.ndarray:
        return combine_steps(self.step_probabilities(features), self.config.combination).astype(np.float32)

    def __call__(self, episode: Episode) -> np.ndarray:
        return self.progress_from_features(self.features(episode))

    progress = __call__

    # -- persistence (JSON + safetensors only)
    def save_pretrained(self, folder: str | Path) -> Path:
        tensors: dict[str, torch.Tensor] = {
            ENCODER_PREFIX + k: v for k, v in self.encoder.state_dict().items()
        }
        tensors["feature_mean"] = torch.from_numpy(self.feature_mean)
        tensors["feature_std"] = torch.from_numpy(self.feature_std)
        for i, s in enumerate(self.steps):
            for name, value in dataclasses.asdict(s).items():
                tensors[f"steps.{i}.{name}"] = torch.from_numpy(np.ascontiguousarray(value))
        encoder_config = dataclasses.replace(self.encoder.config, weights_path=None)
        config = {
            "perceptual": dataclasses.asdict(self.config),
            "encoder": dataclasses.asdict(encoder_config),
            "reward_steps": self.reward_steps,
        }
        return save_folder(folder, config, tensors, extras={"fit": self.fit_info})

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device = "cpu") -> PerceptualReward:
        from robo_reward.utils.checkpoint import load_extra

        config_dict, tensors = load_folder(folder)
        encoder = ImageEncoder(EncoderConfig.from_dict(config_dict["encoder"])).to(device)
        encoder.load_state_dict(
            {k[len(ENCODER_PREFIX) :]: v for k, v in tensors.items() if k.startswith(ENCODER_PREFIX)}
        )
        fields = [f.name for f in dataclasses.fields(StepClassifier)]
        steps = [
            StepClassifier(**{n: tensors[f"steps.{i}.{n}"].numpy() for n in fields})
            for i in range(int(config_dict["reward_steps"]))
        ]
        return cls(
            PerceptualConfig.from_dict(config_dict["perceptual"]),
            encoder,
            tensors["feature_mean"].numpy(),
            tensors["feature_std"].numpy(),
            steps,
            load_extra(folder, "fit"),
        )


def segmentation_agreement(segmenter: PerceptualSegmenter, episodes: Sequence[Episode]) -> list[float]:
    """Jaccard overlap of `segmenter`'s steps with each episode's privileged stage column."""
    from robo_reward.models.perceptual.segmentation import jaccard_overlap

    out = []
    for ep in episodes:
        if ep.stage is None:
            raise ValueError("segmentation agreement needs episodes with a stage column")
        out.append(jaccard_overlap(segmenter.segment(ep), stage_starts(ep.stage), len(ep)))
    return out
