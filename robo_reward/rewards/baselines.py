"""Baseline progress sources: callables `episode -> Φ (T,)` in [0, 1], for the same tables as the
GRM and the perceptual reward (robo_reward.rewards.evaluation).

- `linear_time_progress`: Φ_t = t / (T − 1). Perfect order on every episode, blind to outcome —
  the reference that shows what VOC alone cannot tell.
- `GoalDistanceProgress` (VIP-style; Ma et al. 2023 use the negative embedding distance to the goal
  as the value): Φ(s) = clip(1 − d(φ(s), φ(g)) / d(φ(s₀), φ(g)), 0, 1), φ the encoder's per-view
  embeddings concatenated, g and s₀ the last and first frames of a *reference demo* of the task
  (a new episode has no goal image of its own at run time). Dividing by the reference demo's own
  start-to-goal distance puts its start at 0 and its goal at 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robo_reward.data.episode import Episode


def linear_time_progress(episode: Episode) -> np.ndarray:
    T = len(episode)
    return np.arange(T, dtype=np.float64) / max(T - 1, 1)


class GoalDistanceProgress:
    def __init__(
        self,
        encoder,
        goal: dict[str, np.ndarray],
        start: dict[str, np.ndarray],
        views: Sequence[str] | None = None,
    ):
        """goal, start: {view: (H, W, 3) uint8}; `encoder` has `embed(images (N,H,W,3)) -> (N, D)`."""
        self.encoder = encoder
        self.views = list(views or goal)
        self.goal = self._embed({v: goal[v][None] for v in self.views})[0]
        start_embedding = self._embed({v: start[v][None] for v in self.views})[0]
        self.scale = float(np.linalg.norm(start_embedding - self.goal))
        if self.scale <= 1e-9:
            raise ValueError("the reference demo's first and last frames have the same embedding")

    @classmethod
    def from_demo(cls, encoder, demo: Episode, views: Sequence[str] | None = None) -> GoalDistanceProgress:
        views = list(views or demo.view_names)
        return cls(
            encoder, {v: demo.views[v][-1] for v in views}, {v: demo.views[v][0] for v in views}, views
        )

    def _embed(self, frames: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([self.encoder.embed(frames[v]) for v in self.views], axis=1)

    def __call__(self, episode: Episode) -> np.ndarray:
        z = self._embed({v: episode.views[v] for v in self.views})
        distance = np.linalg.norm(z - self.goal, axis=1)
        return np.clip(1.0 - distance / self.scale, 0.0, 1.0)
