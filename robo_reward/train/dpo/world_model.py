"""World models and judges that score candidate action chunks for preference pairs.

A `WorldModel` predicts where a chunk leads from a given state; `SimWorldModel` uses the simulator
itself (clone the state, execute the chunk, read the views), and a learned action-conditioned
video/latent model can implement the same protocol later. A `ProgressJudge` turns the outcomes of
K candidate chunks from one state into world-model rewards: the progress gain of any registered
progress source (the GRM or the perceptual reward: what a real robot would have; or privileged sim
progress, `oracle`), or the sparse success.
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


class SourceJudge:
    """Any registered progress source as a judge (`robo_reward.rewards.sources`): Φ(outcome) − Φ(start).

    The source's K slots are reset at the common start frame and updated once with the K outcomes. A
    stateful source anchors there (the GRM: the incremental and forward-anchored perspectives become
    the hop start → outcome, the backward-anchored one places the outcome against the goal), a
    per-frame one (perceptual, oracle) is read at both frames; either way the common start cancels
    out of the ranking and the scores are progress gains.
    """

    def __init__(self, source):
        self.source = source

    def gains(self, before_obs: dict, before_info: dict, outcomes: list[Outcome]) -> np.ndarray:
        k = len(outcomes)
        if k != self.source.num_envs:
            raise ValueError(f"this judge's source has {self.source.num_envs} slots, got {k} candidates")
        # the images every frame has (a world model that does not render leaves them out: oracle only)
        keys = [
            key
            for key in before_obs
            if key.startswith("observation.images.") and all(key in o.obs for o in outcomes)
        ]
        mask = np.ones(k, dtype=bool)
        start = {key: np.stack([before_obs[key]] * k) for key in keys}
        phi0 = self.source.reset(
            mask, start, {"progress": np.full(k, float(before_info.get("progress", 0.0)))}
        )
        after = {key: np.stack([o.obs[key] for o in outcomes]) for key in keys}
        progress = np.array([float(o.info.get("progress", 0.0)) for o in outcomes])
        return np.asarray(self.source.update(mask, after, {"progress": progress}), np.float64) - phi0


class SuccessJudge:
    """The sparse signal: 1 for an outcome that ended in the env's success, else 0."""

    def gains(self, before_obs: dict, before_info: dict, outcomes: list[Outcome]) -> np.ndarray:
        return np.array([float(bool(o.info.get("success", o.terminated))) for o in outcomes])


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
