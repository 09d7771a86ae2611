"""Synthetic multi-view episodes whose pixels show their progress: a square moves with it."""

from __future__ import annotations

import numpy as np

from robo_reward.data.episode import Episode

TASKS = {
    "slide": ("slide the red square to the right", (220, 40, 40)),
    "lift": ("lift the blue square up", (40, 60, 220)),
}


def render(progress: float, colour, size: int = 32, rng=None) -> dict[str, np.ndarray]:
    """front: the square moves left→right; side: top→bottom; wrist: it grows."""
    out = {}
    for view in ("front", "side", "wrist"):
        img = np.full((size, size, 3), 200, np.uint8)
        if rng is not None:
            img = (img + rng.integers(-8, 9, img.shape)).clip(0, 255).astype(np.uint8)
        s = 6 if view != "wrist" else int(4 + 12 * progress)
        pos = int(round(progress * (size - 6 - 2))) + 1
        y, x = ((size - s) // 2, pos) if view == "front" else (pos, (size - s) // 2)
        if view == "wrist":
            y = x = (size - s) // 2
        img[y : y + s, x : x + s] = colour
        out[view] = img
    return out


def synthetic_episode(
    task: str, outcome: str = "success", T: int = 24, seed: int = 0, size: int = 32
) -> Episode:
    rng = np.random.default_rng(seed)
    instruction, colour = TASKS[task]
    reach = {"success": 1.0, "partial": 0.6, "failure": 0.2}[outcome]
    # two stages, the first ends at progress 0.5; speed varies a little per episode
    t = np.linspace(0, 1, T) ** rng.uniform(0.8, 1.25)
    progress = np.minimum(t * 1.0, reach) if outcome == "success" else np.minimum(t * 1.3, reach)
    stage = (progress >= 0.5).astype(np.int64)
    if outcome == "success":
        stage[-1] = 1
    frames = [render(p, colour, size, rng) for p in progress]
    views = {v: np.stack([f[v] for f in frames]) for v in ("front", "side", "wrist")}
    return Episode(
        views=views,
        state=np.zeros((T, 3), np.float32),
        action=np.zeros((T, 7), np.float32),
        task=instruction,
        task_name=task,
        progress=progress.astype(np.float32),
        stage=stage,
        success=np.r_[np.zeros(T - 1, bool), outcome == "success"],
        outcome=outcome,
    )
