"""Preference pairs for DPO: (observation, winner chunk, loser chunk) as a safetensors + JSON folder.

    <dir>/config.json         meta: `instructions` (one per pair), task, scorer, weights, counts, ...
    <dir>/pairs.safetensors   observation.images.<view> (N, H, W, 3) uint8, observation.state (N, D),
                              winner / loser (N, H_chunk, A) real units, scores (N, K), margin (N,)

Written through `robo_reward.utils.checkpoint.save_folder` (a temporary folder renamed into place), so an
interrupted write never leaves half a dataset; nothing is pickled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robo_reward.data.episode import IMAGE_KEY, STATE_KEY
from robo_reward.utils.checkpoint import load_folder, save_folder

PAIRS_FILE = "pairs.safetensors"
FORMAT = "robo_reward.preferences/1"


@dataclass
class PreferencePairs:
    """N preference pairs. `observations` holds the observation contract arrays with a leading N."""

    observations: dict[str, np.ndarray]  # observation.images.<view> (N,H,W,3) uint8, observation.state (N,D)
    task: list[str]  # instruction per pair
    winner: np.ndarray  # (N, H, A) float32, real units
    loser: np.ndarray  # (N, H, A)
    scores: np.ndarray  # (N, K) score of every sampled chunk (winner = argmax, loser = argmin)
    margin: np.ndarray  # (N,) winner score − loser score
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.winner)
        if STATE_KEY not in self.observations:
            raise ValueError(f"observations need {STATE_KEY!r}")
        for k, v in self.observations.items():
            if len(v) != n:
                raise ValueError(f"{k} has {len(v)} rows, the pairs have {n}")
        if self.loser.shape != self.winner.shape:
            raise ValueError(f"winner {self.winner.shape} and loser {self.loser.shape} differ in shape")
        if len(self.task) != n or len(self.scores) != n or len(self.margin) != n:
            raise ValueError("task, scores and margin need one row per pair")

    def __len__(self) -> int:
        return len(self.winner)

    @property
    def views(self) -> list[str]:
        return [k[len(IMAGE_KEY) :] for k in self.observations if k.startswith(IMAGE_KEY)]

    def batch(
        self, idx: np.ndarray | list[int], device: str | torch.device = "cpu"
    ) -> tuple[dict, torch.Tensor, torch.Tensor]:
        """(observation batch in the contract, winner (B, H, A), loser (B, H, A)) as torch tensors."""
        idx = np.asarray(idx)
        obs: dict[str, Any] = {
            k: torch.as_tensor(v[idx], device=device) for k, v in self.observations.items()
        }
        obs["task"] = [self.task[i] for i in idx]
        return (
            obs,
            torch.as_tensor(self.winner[idx], device=device),
            torch.as_tensor(self.loser[idx], device=device),
        )

    def subset(self, keep: np.ndarray) -> PreferencePairs:
        """The pairs where the boolean (N,) mask `keep` is true (same meta)."""
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (len(self),):
            raise ValueError(f"subset needs one flag per pair ({len(self)}), got shape {keep.shape}")
        return PreferencePairs(
            observations={k: v[keep] for k, v in self.observations.items()},
            task=[t for t, k in zip(self.task, keep, strict=True) if k],
            winner=self.winner[keep],
            loser=self.loser[keep],
            scores=self.scores[keep],
            margin=self.margin[keep],
            meta=dict(self.meta),
        )

    @staticmethod
    def concat(parts: list[PreferencePairs]) -> PreferencePairs:
        parts = [p for p in parts if len(p)]
        if not parts:
            raise ValueError("no pairs to concatenate")
        keys = set(parts[0].observations)
        for p in parts[1:]:
            if set(p.observations) != keys:
                raise ValueError("pair sets have different observation keys")
        return PreferencePairs(
            observations={
                k: np.concatenate([p.observations[k] for p in parts]) for k in parts[0].observations
            },
            task=[t for p in parts for t in p.task],
            winner=np.concatenate([p.winner for p in parts]),
            loser=np.concatenate([p.loser for p in parts]),
            scores=np.concatenate([p.scores for p in parts]),
            margin=np.concatenate([p.margin for p in parts]),
            meta=dict(parts[0].meta),
        )


def save_pairs(pairs: PreferencePairs, folder: str | Path) -> Path:
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in pairs.observations.items()}
    for name in ("winner", "loser", "scores", "margin"):
        tensors[name] = torch.from_numpy(np.ascontiguousarray(getattr(pairs, name), dtype=np.float32))
    reserved = {"format", "num_pairs", "views", "instructions"} & set(pairs.meta)
    if reserved:
        raise ValueError(f"pair meta may not use the reserved keys {sorted(reserved)}")
    meta = {
        **pairs.meta,
        "format": FORMAT,
        "num_pairs": len(pairs),
        "views": pairs.views,
        "instructions": pairs.task,
    }
    return save_folder(folder, meta, tensors, weights_name=PAIRS_FILE)


def load_pairs(folder: str | Path) -> PreferencePairs:
    meta, tensors = load_folder(folder, weights_name=PAIRS_FILE)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{folder} is not a preference-pair folder (format {meta.get('format')!r})")
    arrays = {k: v.numpy() for k, v in tensors.items()}
    obs = {k: v for k, v in arrays.items() if k.startswith(IMAGE_KEY) or k == STATE_KEY}
    task = meta.pop("instructions")
    for k in ("format", "num_pairs", "views"):
        meta.pop(k, None)
    return PreferencePairs(
        observations=obs,
        task=list(task),
        winner=arrays["winner"],
        loser=arrays["loser"],
        scores=arrays["scores"],
        margin=arrays["margin"],
        meta=meta,
    )
