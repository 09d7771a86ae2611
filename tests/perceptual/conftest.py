"""Synthetic multi-step, multi-view episodes whose steps are known exactly."""

import numpy as np
import pytest

from robo_reward.data.episode import Episode

COLORS = [(230, 40, 40), (40, 200, 40), (40, 80, 230), (230, 200, 40), (200, 40, 200)]


def stepped_episode(
    seed: int, num_steps: int = 3, size: int = 32, stall_after: int | None = None, outcome: str = "success"
) -> Episode:
    """Each step k shows a square of colour k sliding left to right; views differ in background and
    offset. Step lengths vary with the seed. `stall_after=j` stops the episode's progress inside step j
    (a failure that gets part of the way and then stays)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(12, 20, size=num_steps)
    stage = np.repeat(np.arange(num_steps), lengths)
    within = np.concatenate([np.linspace(0, 1, n, endpoint=False) for n in lengths])
    if stall_after is not None:
        cut = int(np.searchsorted(stage, stall_after)) + lengths[stall_after] // 2
        stage[cut:], within[cut:] = stage[cut], within[cut]
    T = len(stage)
    views = {}
    for v, (bg, dy) in enumerate([(70, 4), (110, 14)]):
        frames = np.full((T, size, size, 3), bg, np.uint8)
        frames += rng.integers(0, 6, size=frames.shape, dtype=np.uint8)  # sensor noise
        for t in range(T):
            x = int(6 + within[t] * (size - 20))  # slides a little within a step
            frames[t, dy : dy + 10, x : x + 10] = COLORS[stage[t]]
        views[["front", "side"][v]] = frames
    progress = ((stage + within) / num_steps).astype(np.float32)
    return Episode(
        views=views,
        state=np.zeros((T, 2), np.float32),
        action=np.zeros((T, 2), np.float32),
        task="slide the squares",
        task_name="synthetic",
        progress=progress,
        stage=stage.astype(np.int64),
        success=np.arange(T) == T - 1 if outcome == "success" else np.zeros(T, bool),
        outcome=outcome,
    )


@pytest.fixture(scope="module")
def tiny_encoder():
    import torch

    from robo_reward.models.encoders import build_encoder

    torch.manual_seed(0)
    return build_encoder("tcn-tiny").eval()


@pytest.fixture(scope="session")
def stepped():
    """The `stepped_episode` factory (a fixture, so test modules need not import this conftest)."""
    return stepped_episode
