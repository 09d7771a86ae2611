"""World models and judges that score candidate action chunks for preference pairs.

A `WorldModel` predicts where a chunk leads from a given state; `SimWorldModel` uses the simulator
itself (clone the state, execute the chunk, read the views), and a learned action-conditioned
video/latent model can implement the same protocol later. A `ProgressJudge` turns the outcomes of
K candidate chunks from one state into world-model rewards: the progress gain, from a learned reward
(the GRM or the perceptual reward: what a real robot would have) or from privileged sim progress
(`oracle`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class Outcome:
    obs: dict  # observation after the executed actions (single env, no batch axis)
    info: dict  # info after them (sim: progress, success, ...)
    steps: int  # actions executed (fewer than asked when the episode ended)
    terminated: bool


class WorldModel(Protocol):
    def rollout(self, state: np.ndarray, actions: np.ndarray) -> Outcome:
        """Execute `actions` (n, A) from `state` (an opaque snapshot) and return the outcome."""
        ...


class SimWorldModel:
    """The simulator as the world model: `set_sim_state`, step the chunk, observe."""

    def __init__(self, env):
        self.env = env

    def rollout(self, state: np.ndarray, actions: np.ndarray) -> Outcome:
        base = self.env.unwrapped
        base.set_sim_state(state)
        obs, info = base.observe()
        steps, terminated = 0, False
        for a in actions:
            obs, _, terminated, truncated, info = self.env.step(np.asarray(a, dtype=np.float32))
            steps += 1
            if terminated or truncated:
                break
        return Outcome(obs, info, steps, bool(terminated))


class ProgressJudge(Protocol):
    def gains(self, before_obs: dict, before_info: dict, outcomes: list[Outcome]) -> np.ndarray:
        """(K,) progress gain of each outcome relative to the common starting state."""
        ...


class OracleJudge:
    """Privileged sim progress: Φ(after) − Φ(before)."""

    def gains(self, before_obs: dict, before_info: dict, outcomes: list[Outcome]) -> np.ndarray:
        return np.array([float(o.info["progress"]) - float(before_info["progress"]) for o in outcomes])


class SuccessJudge:
    """The sparse signal: 1 for an outcome that ended in the env's success, else 0."""

    def gains(self, before_obs: dict, before_info: dict, outcomes: list[Outcome]) -> np.ndarray:
        return np.array([float(bool(o.info.get("success", o.terminated))) for o in outcomes])


class GRMJudge:
    """The GRM's fused progress of each outcome, with the chunk's start as the episode start.

    K online-progress slots are reset at the common start frame and stepped once with the K outcome
    frames: the incremental and forward-anchored perspectives are then the hop start → outcome, and
    the backward-anchored one places the outcome against the goal. The start's own value is common
    to all K candidates, so rankings and score gaps are those of a progress gain.
    """

    def __init__(self, grm, instruction: str, k: int):
        from robo_reward.models.grm.inference import OnlineProgress

        self.online = OnlineProgress(grm, k, instruction)
        self.k = k

    def gains(self, before_obs: dict, before_info: dict, outcomes: list[Outcome]) -> np.ndarray:
        if len(outcomes) != self.k:
            raise ValueError(f"GRMJudge was built for {self.k} candidates, got {len(outcomes)}")
        keys = [k for k in before_obs if k.startswith("observation.images.")]
        self.online.reset({k: np.stack([before_obs[k]] * self.k) for k in keys})
        return np.asarray(
            self.online.step({k: np.stack([o.obs[k] for o in outcomes]) for k in keys}), np.float64
        )


class PerceptualJudge:
    """The perceptual reward's per-frame progress of each outcome minus that of the common start frame."""

    def __init__(self, reward):
        self.reward = reward

    def gains(self, before_obs: dict, before_info: dict, outcomes: list[Outcome]) -> np.ndarray:
        keys = [k for k in before_obs if k.startswith("observation.images.")]
        batch = {k: np.stack([before_obs[k]] + [o.obs[k] for o in outcomes]) for k in keys}
        progress = self.reward.progress_obs(batch).astype(np.float64)
        return progress[1:] - progress[0]


class ConsensusJudge:
    """Two learned judges that must agree: the mean of their gains where both name the same best
    candidate and each separates its best from its worst by ≥ `margin`; elsewhere all zeros (a tie, no
    pair). The GRM and the perceptual reward err at different states, so their agreement keeps fewer
    states than either but far fewer wrong or tied ones (`dpo judges --consensus-margin`)."""

    def __init__(self, judges: list[ProgressJudge], margin: float):
        if len(judges) < 2 or margin < 0:
            raise ValueError(f"a consensus needs ≥ 2 judges and margin ≥ 0, got {len(judges)}, {margin}")
        self.judges, self.margin = judges, margin
        self.last: list[np.ndarray] = []  # each judge's gains of the last call

    def gains(self, before_obs: dict, before_info: dict, outcomes: list[Outcome]) -> np.ndarray:
        self.last = [np.asarray(j.gains(before_obs, before_info, outcomes), np.float64) for j in self.judges]
        return consensus(self.last, self.margin)


def consensus(gains: list[np.ndarray], margin: float) -> np.ndarray:
    """Mean of the judges' (K,) gains where they agree on the best and each gap is ≥ margin, else zeros."""
    best = {int(np.argmax(g)) for g in gains}
    if len(best) > 1 or min(float(np.ptp(g)) for g in gains) < margin:
        return np.zeros_like(gains[0])
    return np.mean(gains, axis=0)


def action_rewards(chunks: np.ndarray, demo: np.ndarray | None) -> np.ndarray:
    """(K,) −mean |chunk − demo| over (H, A); zeros where no demo chunk exists."""
    if demo is None:
        return np.zeros(len(chunks))
    return -np.abs(np.asarray(chunks) - np.asarray(demo)[None]).reshape(len(chunks), -1).mean(1)


def choose_pair(scores: np.ndarray) -> tuple[int, int, float]:
    """(winner index, loser index, margin) = best, worst, their gap (first index on ties)."""
    w, l = int(np.argmax(scores)), int(np.argmin(scores))
    return w, l, float(scores[w] - scores[l])
