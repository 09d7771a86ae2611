"""The reward node's logic without ROS: a progress source per synced observation → progress,
potential-based shaped reward and success (robo_reward.rewards.shaping).

Sources:
- `grm`: the GRM's stateful online fusion (`robo_reward.models.grm.inference.OnlineProgress`); the
  first observation after a reset becomes s_init, the goal is a reference demo's last frame (or the
  checkpoint's stored reference for the task);
- `privileged`: the simulator's own progress from sim_robot's debug topic (sim only: no learned
  model reads it, it stands in for the reward model when none is trained yet).
The first observation of an episode has no transition yet, so its reward is 0; after that
r_t = r_success + γ·Φ(s_{t+1}) − Φ(s_t), success when Φ ≥ 1 − δ (a real robot has no env to say
so; under `privileged` the simulator's success flag is used), and the episode is over at success.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from robo_reward.data.episode import IMAGE_KEY
from robo_reward.real.inputs import BadInput
from robo_reward.rewards.shaping import ShapingConfig, shaped_step_reward, success_from_progress


class ProgressSource(Protocol):
    def start(self, obs: dict) -> float:
        """First observation of an episode → its progress."""

    def step(self, obs: dict) -> float | None:
        """Next observation → progress (None: not available yet)."""


class PrivilegedProgress:
    """Progress (and success) fed from outside, e.g. the sim's debug topic."""

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

    def start(self, obs: dict) -> float:
        return self.progress if self.progress is not None else 0.0

    def step(self, obs: dict) -> float | None:
        return self.progress


class GRMProgress:
    """One robot's online GRM progress (a batch of one for OnlineProgress)."""

    def __init__(self, checkpoint: str, task: str, goal=None, device: str = "cpu") -> None:
        from robo_reward.models.grm.inference import OnlineProgress
        from robo_reward.models.grm.modeling_grm import GRM

        self.model = GRM.from_pretrained(checkpoint, device=device)
        self.views = tuple(self.model.config.views)
        self.online = OnlineProgress(self.model, num_envs=1, tasks=task)
        self.goal = goal

    def _batch(self, obs: dict) -> dict:
        return {f"{IMAGE_KEY}{v}": np.asarray(obs[f"{IMAGE_KEY}{v}"])[None] for v in self.views}

    def start(self, obs: dict) -> float:
        self.online.reset(self._batch(obs), goals=None if self.goal is None else [self.goal])
        return 0.0

    def step(self, obs: dict) -> float | None:
        return float(self.online.step(self._batch(obs))[0])


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
    def __init__(self, source: ProgressSource, shaping: ShapingConfig | None = None) -> None:
        self.source = source
        self.shaping = shaping or ShapingConfig(success_source="progress")
        self.phi: float | None = None
        self.done = False
        self.steps = 0
        self.episode_return = 0.0

    def reset(self) -> None:
        """Start of an episode: the next observation is s_init."""
        self.phi, self.done, self.steps, self.episode_return = None, False, 0, 0.0

    def update(self, obs: dict, env_success: bool | None = None) -> RewardStep | None:
        """The step for one observation; None while the source has no progress yet. A NaN/inf
        progress raises BadInput and leaves the episode as it was (no NaN reward is published)."""
        if self.phi is None:
            self.phi = _progress(self.source.start(obs))
            return RewardStep(self.phi, 0.0, False)
        phi = self.source.step(obs)
        if phi is None:
            return None
        phi = _progress(phi)
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
