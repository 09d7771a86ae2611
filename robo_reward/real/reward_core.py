"""The reward node's logic without ROS: a progress source per synced observation → progress,
potential-based shaped reward and success (robo_reward.rewards.shaping).

The source is any registered one (`robo_reward.rewards.sources.make_source`) with a single slot:
the robot. `grm` is the GRM's online fusion (the first observation after a reset becomes s_init; the
goal is a reference demo's last frame or the checkpoint's stored reference for the task),
`perceptual` the perceptual reward of each frame, `oracle` the simulator's own progress, which the
node reads from sim_robot's debug topic into `info["progress"]` (sim only: no learned model reads
it; it stands in for the reward model when none is trained yet).
The first observation of an episode has no transition yet, so its reward is 0; after that
r_t = r_success + γ·Φ(s_{t+1}) − Φ(s_t), success when Φ ≥ 1 − δ (a real robot has no env to say
so; with `success_source="env"` the simulator's success flag is used), and the episode is over at
success.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robo_reward.real.inputs import BadInput
from robo_reward.rewards.shaping import ShapingConfig, shaped_step_reward, success_from_progress
from robo_reward.rewards.sources import ProgressSource

THE_ROBOT = np.ones(1, dtype=bool)  # the mask of a source with one slot


def batch_of_one(obs: dict) -> dict:
    """One observation → the batched form a progress source takes: arrays (1, ...), strings [s]."""
    return {k: [v] if isinstance(v, str) else np.asarray(v)[None] for k, v in obs.items()}


class DebugTruth:
    """The newest privileged progress and success of the sim's debug topics, as a source's `info`."""

    def __init__(self) -> None:
        self.progress: float | None = None
        self.success: bool | None = None

    def feed(self, progress: float | None = None, success: bool | None = None) -> None:
        """BadInput for a NaN/inf progress (the last good value stays)."""
        if progress is not None:
            if not np.isfinite(progress):
                raise BadInput(f"progress {progress} is not finite", "non_finite")
            self.progress = float(progress)
        if success is not None:
            self.success = bool(success)

    @property
    def info(self) -> dict:
        """{"progress": (1,)} once a progress arrived, else {}."""
        return {} if self.progress is None else {"progress": np.array([self.progress])}


def _progress(value: float) -> float:
    if not np.isfinite(value):
        raise BadInput(f"the progress source gave {value} for this observation", "non_finite_progress")
    return float(np.clip(value, 0.0, 1.0))


@dataclass
class RewardStep:
    progress: float
    reward: float
    success: bool


class RewardCore:
    """One robot's episode over a one-slot progress source.

    `requires`: `info` keys the source reads; a step whose `info` lacks one has no progress yet
    (the oracle before sim_robot's first debug message after the episode started).
    """

    def __init__(
        self, source: ProgressSource, shaping: ShapingConfig | None = None, requires: tuple[str, ...] = ()
    ) -> None:
        if source.num_envs != 1:
            raise ValueError(
                f"the reward node scores one robot: build its source with num_envs=1, not {source.num_envs}"
            )
        self.source = source
        self.shaping = shaping or ShapingConfig(success_source="progress")
        self.requires = requires
        self.phi: float | None = None
        self.done = False
        self.steps = 0
        self.episode_return = 0.0

    def reset(self) -> None:
        """Start of an episode: the next observation is s_init."""
        self.phi, self.done, self.steps, self.episode_return = None, False, 0, 0.0

    def update(
        self, obs: dict, info: dict | None = None, env_success: bool | None = None
    ) -> RewardStep | None:
        """The step for one observation (the contract, unbatched); None while the source has no
        progress yet. A NaN/inf progress raises BadInput and leaves the episode as it was (no NaN
        reward is published)."""
        info = info or {}
        batch = batch_of_one(obs)
        if self.phi is None:
            self.phi = _progress(self.source.reset(THE_ROBOT, batch, info)[0])
            return RewardStep(self.phi, 0.0, False)
        if any(key not in info for key in self.requires):
            return None
        phi = _progress(self.source.update(THE_ROBOT, batch, info)[0])
        if env_success is not None and self.shaping.success_source == "env":
            success = bool(env_success)
        else:
            success = bool(success_from_progress(phi, self.shaping.success_delta))
        if self.done:  # after success the episode is over: no more reward until reset
            self.phi = phi
            return RewardStep(phi, 0.0, True)
        reward = float(shaped_step_reward(self.shaping, self.phi, phi, success, success))
        self.phi, self.done = phi, success
        self.steps += 1
        self.episode_return += reward
        return RewardStep(phi, reward, success)
