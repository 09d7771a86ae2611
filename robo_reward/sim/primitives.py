"""Bounded primitives that progress is built from (dm_control `rewards.tolerance` in spirit)."""

from __future__ import annotations

import numpy as np


def tolerance(x: float, bounds: tuple[float, float] = (0.0, 0.0), margin: float = 0.0) -> float:
    """1 inside `bounds`, falling linearly to 0 at `margin` outside them (a step if margin is 0)."""
    lo, hi = bounds
    if lo <= x <= hi:
        return 1.0
    if margin <= 0:
        return 0.0
    gap = lo - x if x < lo else x - hi
    return float(np.clip(1.0 - gap / margin, 0.0, 1.0))


def closeness(distance: float, start: float, tol: float = 0.0) -> float:
    """How far a distance has shrunk from `start` towards `tol`: 0 at start (or beyond), 1 within tol."""
    return tolerance(distance, (0.0, tol), max(start - tol, 1e-6))


def fraction(value: float, target: float) -> float:
    """value / target clipped to [0, 1] (opening of a drawer, height of a lift)."""
    return float(np.clip(value / max(target, 1e-9), 0.0, 1.0))


def blend(*parts: tuple[float, float]) -> float:
    """Weighted mean of (weight, value) pairs, each value in [0, 1]."""
    w = sum(p[0] for p in parts)
    return float(sum(p[0] * p[1] for p in parts) / w)
