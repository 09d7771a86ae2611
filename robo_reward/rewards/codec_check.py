"""How much a learned progress model's Φ moves when its frames go through the dataset's video codec.

Datasets are stored as h264 video, so a reward model trained on them learns from decoded frames, while
online (RL shaping, the ROS reward node) it reads the camera's raw frames. This measures that skew on
the same episodes: each is scored as rendered and again after a write/read round trip through the
dataset format, and the per-frame gap |Φ_raw − Φ_stored|, the final-Φ gap and each side's AUROC
(success against every other end state) are reported with the mean pixel change the codec made.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from robo_reward.data.episode import Episode
from robo_reward.rewards import metrics as M
from robo_reward.rewards.evaluation import end_state_outcome


def round_trip(episodes: Sequence[Episode], folder: Path) -> list[Episode]:
    """The episodes as a dataset stores them: written with `write_dataset` and read back."""
    from robo_reward.data.lerobot_io import load_episodes, write_dataset

    names = [f"s{i}" for i in range(episodes[0].state.shape[1])]
    write_dataset(episodes, folder, state_names=names, overwrite=True)
    return load_episodes(folder)


def codec_gap(score: Callable[[Episode], np.ndarray], episodes: Sequence[Episode]) -> dict:
    """`score(episode) -> (T,)` Φ; the skew between raw and stored frames over `episodes` (≥ 1)."""
    with tempfile.TemporaryDirectory() as tmp:
        stored = round_trip([dataclasses.replace(e, extras={}) for e in episodes], Path(tmp) / "ds")
    raw_phi = [np.asarray(score(e), np.float64) for e in episodes]
    stored_phi = [np.asarray(score(e), np.float64) for e in stored]
    gap = np.abs(np.concatenate([a - b for a, b in zip(raw_phi, stored_phi, strict=True)]))
    success = np.array([end_state_outcome(e) == "success" for e in episodes])
    pixels = [
        np.abs(e.views[v].astype(np.int16) - s.views[v].astype(np.int16)).mean()
        for e, s in zip(episodes, stored, strict=True)
        for v in e.views
    ]
    final_raw = np.array([p[-1] for p in raw_phi])
    final_stored = np.array([p[-1] for p in stored_phi])
    return {
        "episodes": len(episodes),
        "pixel_change": float(np.mean(pixels)),
        "phi_gap_mean": float(gap.mean()),
        "phi_gap_p90": float(np.quantile(gap, 0.9)),
        "final_gap_mean": float(np.abs(final_raw - final_stored).mean()),
        "auroc_raw": M.auroc(final_raw, success),
        "auroc_stored": M.auroc(final_stored, success),
    }
