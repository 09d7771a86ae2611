"""The in-memory episode: one trajectory in the observation contract, plus privileged sim truth.

Keys follow LeRobot: `observation.images.<view>` (T, H, W, 3) uint8 RGB, `observation.state` (T, D)
float32, `action` (T, A) float32, `task` (the instruction). `progress`, `stage`, `success` and
`outcome` are simulator truth, for labels and evaluation only — no learned model reads them as input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OUTCOMES = ("success", "partial", "failure")
IMAGE_KEY = "observation.images."
STATE_KEY = "observation.state"
# privileged object state recorded by the sim suite (an `Episode.extras` column): auxiliary targets only
ENV_STATE_KEY = "observation.environment_state"
# a policy batch's env steps executed in each observation's episode so far (a value-guided policy's time)
EPISODE_STEP_KEY = "episode_step"


@dataclass
class Episode:
    views: dict[str, np.ndarray]  # view name -> (T, H, W, 3) uint8
    state: np.ndarray  # (T, D) float32
    action: np.ndarray  # (T, A) float32; action[t] is applied after observing frame t
    task: str  # instruction
    fps: float = 10.0
    task_name: str = ""  # registry name of the sim task, if any
    progress: np.ndarray | None = None  # (T,) float32 in [0, 1], privileged
    stage: np.ndarray | None = None  # (T,) int64, privileged
    success: np.ndarray | None = None  # (T,) bool, privileged
    outcome: str = "success"  # one of OUTCOMES
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # other per-frame columns

    def __post_init__(self) -> None:
        if not self.views:
            raise ValueError("an episode needs at least one view")
        T = len(self.state)
        for name, frames in self.views.items():
            if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
                raise ValueError(
                    f"view {name!r} must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}"
                )
            if len(frames) != T:
                raise ValueError(f"view {name!r} has {len(frames)} frames but state has {T}")
        if len(self.action) != T:
            raise ValueError(f"action has {len(self.action)} rows but state has {T}")
        for col in ("progress", "stage", "success"):
            v = getattr(self, col)
            if v is not None and len(v) != T:
                raise ValueError(f"{col} has {len(v)} rows but the episode has {T} frames")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")

    def __len__(self) -> int:
        return len(self.state)

    @property
    def view_names(self) -> list[str]:
        return list(self.views)

    @property
    def timestamps(self) -> np.ndarray:
        return np.arange(len(self), dtype=np.float64) / self.fps

    def frame(self, t: int) -> dict:
        """One frame as an observation dict in the contract."""
        obs = {f"{IMAGE_KEY}{k}": v[t] for k, v in self.views.items()}
        obs[STATE_KEY] = self.state[t]
        obs["task"] = self.task
        return obs
