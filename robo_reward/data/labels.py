"""Progress labels and hop targets for the step-aware reward model (GRM).

Progress Φ of a frame comes from keyframe segments: an episode split into S segments (simulator
stages; else steps found by a `Segmenter`, e.g. the perceptual reward's; else uniform time) gives
each segment an equal share 1/S, and frames sampled evenly inside segments, m per segment, get
Φ(s_i) = i/M with M = S·m. That is the piecewise-linear function through Φ(k_j) = j/S at the
keyframes, evaluated at the sampled frames — `progress_labels` returns it for every frame and
`label_frames` picks the evenly sampled ones.

A hop H(p → q) ∈ [-1, 1] is progress gained relative to what was left: forward (Φq−Φp)/(1−Φp) when
q is ahead of p, backward (Φq−Φp)/Φp when it is behind. Targets are two-hot over K bins on [-1, 1].
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from robo_reward.data.episode import Episode

EPS = 1e-6


@runtime_checkable
class Segmenter(Protocol):
    """Finds the steps of a demonstration: frame indices where each new step starts (0 optional)."""

    def segment(self, episode: Episode) -> list[int]: ...


# ---------------------------------------------------------------- progress labels


def _clean_boundaries(boundaries, length: int) -> np.ndarray:
    """Sorted unique interior step starts, plus 0 and `length` as the outer edges."""
    inner = sorted({int(b) for b in boundaries if 0 < int(b) < length})
    return np.array([0, *inner, length], dtype=np.int64)


def segment_progress(length: int, boundaries) -> np.ndarray:
    """(T,) piecewise-linear progress for a *completed* episode with step starts `boundaries`.

    Each of the S segments takes an equal share 1/S; inside segment j, frames rise linearly from
    j/S towards (j+1)/S, and the last frame of the episode is exactly 1.
    """
    if length < 1:
        raise ValueError("an episode needs at least one frame")
    edges = _clean_boundaries(boundaries, length)
    S = len(edges) - 1
    phi = np.empty(length, dtype=np.float64)
    for j in range(S):
        a, b = edges[j], edges[j + 1]
        span = (b - a) if j < S - 1 else max(b - 1 - a, 1)  # the last segment ends on 1.0 exactly
        phi[a:b] = (j + np.arange(b - a) / span) / S
    return np.clip(phi, 0.0, 1.0)


def stage_progress(
    stage: np.ndarray,
    num_stages: int,
    completed: bool,
    incomplete_share: float = 0.5,
    incomplete_cap: float = 0.75,
    motion: np.ndarray | None = None,
) -> np.ndarray:
    """(T,) progress from a per-frame stage column (0 .. num_stages-1, or num_stages when done).

    A run of frames in stage s that is followed by a higher stage (the stage was completed) rises
    linearly from s/S to the next stage's start. The final run of a completed (successful) episode
    rises to 1. A run that never completes — a failed or partial episode stops there, or falls back
    (a drop) — rises only to (s + `incomplete_share`)/S: the robot moved inside the stage but did not
    finish it, so its Φ reflects how far it got, never a completion it did not reach; such a run
    never exceeds `incomplete_cap` either (a stall inside the last stage must not look nearly done).
    The last frame of a completed episode is exactly 1, however short its final run.
    `motion` (T,): how much the robot moved into each frame (e.g. `state_motion`). Given, an
    incomplete run rises with the motion done so far instead of with time: a robot that stalls or
    settles in the wrong place has made its share of the stage once it stops, and identical frames
    of the stall get identical labels (with time, the same image would be labelled ever higher).
    """
    stage = np.asarray(stage, dtype=np.int64).ravel()
    if num_stages < 1:
        raise ValueError(f"num_stages must be ≥ 1, got {num_stages}")
    T = len(stage)
    change = np.flatnonzero(np.diff(stage)) + 1
    starts, ends = np.r_[0, change], np.r_[change, T]
    phi = np.empty(T, dtype=np.float64)
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        s = min(int(stage[a]), num_stages)
        last = i == len(starts) - 1
        if s >= num_stages:
            phi[a:b] = 1.0
        elif last and completed:
            phi[a:b] = (s + np.arange(b - a) / max(b - a - 1, 1) * (num_stages - s)) / num_stages
        elif not last and stage[b] > stage[a]:
            phi[a:b] = (s + np.arange(b - a) / (b - a) * (min(int(stage[b]), num_stages) - s)) / num_stages
        else:
            frac = np.arange(b - a) / max(b - a, 1)
            if motion is not None and b - a > 1:
                moved = np.r_[0.0, np.cumsum(np.asarray(motion, dtype=np.float64)[a + 1 : b])]
                if moved[-1] > 1e-6:
                    frac = moved / moved[-1]
            ramp = (s + incomplete_share * frac) / num_stages
            phi[a:b] = np.minimum(ramp, max(incomplete_cap, s / num_stages))
    if completed:
        phi[-1] = 1.0  # the success frame, even when its stage run is one frame long
    return np.clip(phi, 0.0, 1.0)


def state_motion(state: np.ndarray) -> np.ndarray:
    """(T,) Euclidean change of the proprioceptive state into each frame (0 for the first)."""
    state = np.asarray(state, dtype=np.float64)
    if state.ndim != 2:
        raise ValueError(f"state must be (T, D), got shape {state.shape}")
    return np.r_[0.0, np.linalg.norm(np.diff(state, axis=0), axis=1)]


def progress_labels(
    episode: Episode, num_stages: int | None = None, segmenter: Segmenter | None = None
) -> np.ndarray:
    """(T,) progress labels: stage column if present, else the segmenter's steps, else uniform time.

    Failed and partial episodes need the stage column (how far they got); without it they have no
    trustworthy label and raise. `num_stages` defaults to the highest stage seen + 1.
    A successful episode's keyframes are its first entries into each stage, so its stage column is
    made non-decreasing first: a one-frame fall back (a stage detector flickering as the gripper
    lets go) must not label a nearly finished state as the start. Failed episodes keep their falls
    (a dropped object is real lost progress), and their unfinished runs rise with the robot's
    motion (`state_motion`), not with time.
    """
    T = len(episode)
    completed = episode.outcome == "success"
    if episode.stage is not None:
        S = num_stages if num_stages is not None else int(np.max(episode.stage)) + 1
        stage = np.maximum.accumulate(episode.stage) if completed else episode.stage
        motion = None if completed or episode.state is None else state_motion(episode.state)
        return stage_progress(stage, S, completed, motion=motion)
    if not completed:
        raise ValueError(
            f"a {episode.outcome} episode without a stage column has no progress label "
            "(how far it got is unknown); drop it or add stages"
        )
    boundaries = segmenter.segment(episode) if segmenter is not None else []
    return segment_progress(T, boundaries)


def keyframes(episode: Episode, segmenter: Segmenter | None = None) -> list[int]:
    """Step starts of an episode (frame indices > 0): stage changes, else the segmenter's, else none."""
    if episode.stage is not None:
        stage = np.asarray(episode.stage)
        if episode.outcome == "success":
            stage = np.maximum.accumulate(stage)
        return (np.flatnonzero(np.diff(stage)) + 1).tolist()
    if segmenter is not None:
        return [b for b in segmenter.segment(episode) if 0 < b < len(episode)]
    return []


def label_frames(length: int, boundaries, per_segment: int) -> np.ndarray:
    """Frame indices sampled evenly inside each keyframe segment, `per_segment` each, plus the last frame.

    Segments shorter than `per_segment` contribute all their frames. Sorted and unique.
    """
    edges = _clean_boundaries(boundaries, length)
    picks = [
        np.linspace(a, b, per_segment, endpoint=False).astype(np.int64)
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]
    return np.unique(np.concatenate([*picks, [length - 1]]))


# ---------------------------------------------------------------- hops and bins


def hop_labels(phi_p: np.ndarray, phi_q: np.ndarray) -> np.ndarray:
    """H(p → q): (Φq−Φp)/(1−Φp) if Φq ≥ Φp else (Φq−Φp)/Φp, in [-1, 1]. Broadcasts."""
    p, q = np.asarray(phi_p, dtype=np.float64), np.asarray(phi_q, dtype=np.float64)
    gain = q - p
    forward = gain / np.maximum(1.0 - p, EPS)
    backward = gain / np.maximum(p, EPS)
    return np.clip(np.where(gain >= 0, forward, backward), -1.0, 1.0)


def apply_hop(phi: np.ndarray, hop: np.ndarray) -> np.ndarray:
    """Inverse of `hop_labels`: the progress reached by hopping `hop` from `phi`.

    Φ + (1−Φ)·H for H ≥ 0, Φ + Φ·H for H < 0; stays in [0, 1] for Φ ∈ [0, 1], H ∈ [-1, 1].
    """
    phi, hop = np.asarray(phi, dtype=np.float64), np.asarray(hop, dtype=np.float64)
    return phi + np.where(hop >= 0, (1.0 - phi) * hop, phi * hop)


def bin_centers(num_bins: int) -> np.ndarray:
    """K evenly spaced bin centres on [-1, 1]; an odd K puts one exactly on 0 (no progress)."""
    if num_bins < 2:
        raise ValueError(f"need at least 2 bins, got {num_bins}")
    return np.linspace(-1.0, 1.0, num_bins)


def two_hot(values: np.ndarray, num_bins: int) -> np.ndarray:
    """(N,) values in [-1, 1] → (N, K) two-hot rows: weight split between the two nearest centres
    so that the expectation over the centres equals the value exactly."""
    v = np.clip(np.asarray(values, dtype=np.float64).ravel(), -1.0, 1.0)
    pos = (v + 1.0) / 2.0 * (num_bins - 1)  # fractional bin index
    lo = np.minimum(np.floor(pos).astype(np.int64), num_bins - 2)
    w_hi = pos - lo
    out = np.zeros((len(v), num_bins), dtype=np.float64)
    rows = np.arange(len(v))
    out[rows, lo] = 1.0 - w_hi
    out[rows, lo + 1] += w_hi
    return out


def expected_hop(probs: np.ndarray, num_bins: int | None = None) -> np.ndarray:
    """(..., K) bin probabilities → (...,) expected hop."""
    probs = np.asarray(probs, dtype=np.float64)
    return probs @ bin_centers(num_bins or probs.shape[-1])
