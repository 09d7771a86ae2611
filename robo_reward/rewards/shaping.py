"""Potential-based reward shaping (Ng, Harada, Russell 1999) from any progress source.

    r_t = r_success(s_{t+1}) + γ·Φ(s_{t+1}) − Φ(s_t)

Φ is a progress estimate in [0, 1] (the GRM, the perceptual reward, or privileged sim progress).
r_success(s) = 1 when the episode succeeds at s: from the environment, or — where no environment
says so (a real robot) — when the source's own progress reaches 1 − δ (δ = 0.05).

Terminal convention: **Φ(terminal) := 0**, applied after the success bonus. A *terminated*
transition (success, or any true end of the task) is terminal. A time-limit truncation is terminal
too when the learner treats the time limit as the end of a finite-horizon task (`time_limit=
"terminal"`, with the time left in its critic's input); with `time_limit="bootstrap"` it keeps
γ·Φ(s_{t+1}), since the learner bootstraps through it.

Why: a terminal state is, formally, an absorbing state that loops on itself with zero reward. PBRS
keeps adding γΦ(s_T) − Φ(s_T) on every loop, which sums to −γ·Φ(s_T) from the step after entry;
together with the +γ·Φ(s_T) paid on entering, the shaped return telescopes to Σγᵗr_t − Φ(s_0), and
Φ(s_0) does not depend on the policy, so optimal policies are unchanged (the invariance test runs
value iteration on exactly this absorbing MDP). Truncating the episode at the terminal state — which
is what every episodic learner does — drops those loops, and the only way to drop them *and* keep
the telescoping sum is to pay γ·0 on entry, i.e. Φ(terminal) := 0. Keeping Φ(s_T) instead pays a
bonus γ·Φ(s_T) that depends on *which* terminal state was reached, which can change the optimal
policy (a high-progress failure termination would pay more than a low-progress success; the tests
build such an MDP).

The success bonus itself is part of the task reward, not of the shaping: the shaped return is the
sparse return minus a policy-independent constant, so "optimal under shaping" = "optimal under
sparse success".

Baselines (exist only to be compared against; neither is policy invariant):
- `difference_reward`: r_success + Φ(s_{t+1}) − Φ(s_t) — the γ is missing, which equals PBRS plus
  (1 − γ)·Φ(s_{t+1}), i.e. a small dose of the next one;
- `potential_reward`: Φ(s_{t+1}) as the reward — the "semantic trap": a policy that parks in a
  high-progress state collects Φ forever instead of finishing.
All functions take arrays (any shape, broadcast) and are pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

SUCCESS_DELTA = 0.05

ShapingKind = Literal["pbrs", "difference", "potential"]
SHAPING_KINDS: tuple[str, ...] = ("pbrs", "difference", "potential")


def success_from_progress(progress: np.ndarray, delta: float = SUCCESS_DELTA) -> np.ndarray:
    """r_success source when no environment reports success: progress ≥ 1 − δ."""
    return np.asarray(progress) >= 1.0 - delta


def pbrs_reward(
    potential: np.ndarray,
    next_potential: np.ndarray,
    success: np.ndarray,
    terminated: np.ndarray,
    gamma: float,
) -> np.ndarray:
    """r_success(s') + γ·Φ(s')·(1 − terminated) − Φ(s); Φ(terminal) := 0 after the bonus."""
    next_phi = np.where(np.asarray(terminated, dtype=bool), 0.0, next_potential)
    return np.asarray(success, dtype=np.float64) + gamma * next_phi - np.asarray(potential)


def difference_reward(
    potential: np.ndarray,
    next_potential: np.ndarray,
    success: np.ndarray,
    terminated: np.ndarray,
) -> np.ndarray:
    """Baseline: r_success(s') + Φ(s') − Φ(s), γ left out (same terminal convention)."""
    next_phi = np.where(np.asarray(terminated, dtype=bool), 0.0, next_potential)
    return np.asarray(success, dtype=np.float64) + next_phi - np.asarray(potential)


def potential_reward(next_potential: np.ndarray, success: np.ndarray | None = None) -> np.ndarray:
    """Baseline ("naive"): Φ(s') as the reward, plus the success bonus when one is given."""
    r = np.asarray(next_potential, dtype=np.float64)
    return r if success is None else r + np.asarray(success, dtype=np.float64)


def shaped_reward(
    kind: ShapingKind,
    potential: np.ndarray,
    next_potential: np.ndarray,
    success: np.ndarray,
    terminated: np.ndarray,
    gamma: float,
) -> np.ndarray:
    """Dispatch by name, so wrappers and the MDP tests share one code path."""
    if kind == "pbrs":
        return pbrs_reward(potential, next_potential, success, terminated, gamma)
    if kind == "difference":
        return difference_reward(potential, next_potential, success, terminated)
    if kind == "potential":
        return potential_reward(next_potential, success)
    raise ValueError(f"unknown shaping {kind!r}; choose from {SHAPING_KINDS}")


@dataclass(frozen=True)
class ShapingConfig:
    """How a progress source becomes a reward.

    kind: pbrs (policy invariant), difference or potential (baselines).
    success_source: "env" uses the environment's success flag; "progress" uses Φ ≥ 1 − δ and
      ends the episode there (an absorbing success state, so the bonus is paid once).
    """

    kind: ShapingKind = "pbrs"
    gamma: float = 0.99
    success_source: Literal["env", "progress"] = "env"
    success_delta: float = SUCCESS_DELTA
    scale: float = 1.0  # multiplies the shaping term only (never the success bonus)
    time_limit: Literal["bootstrap", "terminal"] = "bootstrap"  # is a truncation terminal for Φ?

    def __post_init__(self) -> None:
        if self.kind not in SHAPING_KINDS:
            raise ValueError(f"unknown shaping {self.kind!r}; choose from {SHAPING_KINDS}")
        if self.success_source not in ("env", "progress"):
            raise ValueError(f"success_source must be 'env' or 'progress', got {self.success_source!r}")
        if self.time_limit not in ("bootstrap", "terminal"):
            raise ValueError(f"time_limit must be 'bootstrap' or 'terminal', got {self.time_limit!r}")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")


def shaped_step_reward(
    config: ShapingConfig,
    potential: np.ndarray,
    next_potential: np.ndarray,
    success: np.ndarray,
    terminated: np.ndarray,
) -> np.ndarray:
    """The reward a wrapper hands out: success bonus + scale · shaping term."""
    success = np.asarray(success, dtype=np.float64)
    shaped = shaped_reward(config.kind, potential, next_potential, success, terminated, config.gamma)
    return success + config.scale * (shaped - success)
