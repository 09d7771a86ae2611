"""N-view approximate-time synchronisation: pure logic, no threads, no clocks, no ROS.

`ApproxTimeSync(views, slop).push(frame)` returns the bundles (one frame per view, all stamps
within `slop` seconds) that this frame completes. What happens to every frame is explicit and
counted per view in `sync.counters`:

- `duplicate`: same `seq` or same stamp as the newest frame already received for its view → dropped.
- `late`: stamp older than the newest frame already received for its view (a stream that went
  backwards, or a frame that arrived after its successor) → dropped, or `LateFrameError` when
  `SyncPolicy.on_late == "raise"`.
- `overflow`: a view's queue already holds `queue_size` frames → its oldest frame is dropped.
- `unmatched`: a frame that can no longer be in any bundle (more than `slop` older than the
  earliest frame another view can still offer) → dropped.
- `used`: frames put into bundles. A frame goes into at most one bundle unless `allow_reuse=True`.

Matching without reuse ("earliest"): while every view has a queued frame, drop the heads that lie
more than `slop` before the newest head; once no head is dropped, the heads span ≤ `slop` and form
the bundle. Every dropped frame provably fits no bundle, and taking the earliest feasible bundle
first yields the largest possible number of disjoint bundles (exchange argument; the tests check it
against an exhaustive search).

Matching with reuse ("reference"): bundles are paced by `SyncPolicy.reference` (default: the first
view). Each reference frame takes, from every other view, the frame nearest in time (a slow camera's
frame is held and reused), once every other view has delivered a frame at or after it; the bundle is
emitted if its skew is ≤ `slop`, else the reference frame counts as unmatched.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from robo_reward.cameras.frame import Frame

__all__ = ["ApproxTimeSync", "Bundle", "Frame", "LateFrameError", "SyncCounters", "SyncPolicy"]

_EPS = 1e-9  # stamps are floats; a bundle exactly `slop` wide is accepted


class LateFrameError(ValueError):
    """A frame older than one already received for its view, under `on_late="raise"`."""


@dataclass(frozen=True)
class SyncPolicy:
    allow_reuse: bool = False  # let one frame go into several bundles (paced by `reference`)
    reference: str | None = None  # with allow_reuse: the view that paces bundles (default: first)
    on_late: Literal["drop", "raise"] = "drop"


@dataclass(frozen=True, eq=False)
class Bundle:
    """One frame per view, in the sync's view order. `stamp` is the mean stamp, `skew` max − min."""

    frames: dict[str, Frame]
    stamp: float
    skew: float
    index: int

    @property
    def images(self) -> dict[str, np.ndarray]:
        return {v: f.image for v, f in self.frames.items()}

    @property
    def stamps(self) -> dict[str, float]:
        return {v: f.stamp for v, f in self.frames.items()}

    @property
    def seqs(self) -> dict[str, int]:
        return {v: f.seq for v, f in self.frames.items()}


@dataclass
class SyncCounters:
    views: list[str]
    received: dict[str, int] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)
    duplicate: dict[str, int] = field(default_factory=dict)
    late: dict[str, int] = field(default_factory=dict)
    overflow: dict[str, int] = field(default_factory=dict)
    unmatched: dict[str, int] = field(default_factory=dict)
    bundles: int = 0
    skew_sum: float = 0.0
    skew_max: float = 0.0
    recent_skews: deque = field(default_factory=lambda: deque(maxlen=10_000))

    def __post_init__(self) -> None:
        for name in ("received", "used", "duplicate", "late", "overflow", "unmatched"):
            getattr(self, name).update({v: 0 for v in self.views if v not in getattr(self, name)})

    def record_skew(self, skew: float) -> None:
        self.bundles += 1
        self.skew_sum += skew
        self.skew_max = max(self.skew_max, skew)
        self.recent_skews.append(skew)

    @property
    def dropped(self) -> int:
        return sum(sum(getattr(self, k).values()) for k in ("duplicate", "late", "overflow", "unmatched"))

    def as_dict(self) -> dict:
        """Counters and skew statistics (seconds) as plain JSON-able values."""
        skews = np.asarray(self.recent_skews, dtype=np.float64)
        return {
            "bundles": self.bundles,
            "dropped": self.dropped,
            **{k: dict(getattr(self, k)) for k in ("received", "used", "duplicate", "late", "overflow")},
            "unmatched": dict(self.unmatched),
            "skew_mean_s": self.skew_sum / self.bundles if self.bundles else 0.0,
            "skew_p95_s": float(np.percentile(skews, 95)) if len(skews) else 0.0,
            "skew_max_s": self.skew_max,
        }


class ApproxTimeSync:
    """Bundle N timestamped streams; see the module docstring for the exact policy.

    views: view names, also the order of `Bundle.frames`. slop: the largest skew (seconds) a bundle
    may have. queue_size: frames kept per view while waiting for the others.
    """

    def __init__(
        self,
        views: list[str] | tuple[str, ...],
        slop: float,
        queue_size: int = 32,
        policy: SyncPolicy | None = None,
        allow_reuse: bool | None = None,
    ) -> None:
        views = list(views)
        if not views:
            raise ValueError("ApproxTimeSync needs at least one view")
        if len(set(views)) != len(views):
            raise ValueError(f"view names must be unique, got {views}")
        if not slop >= 0:
            raise ValueError(f"slop must be >= 0 seconds, got {slop}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        policy = policy or SyncPolicy()
        if allow_reuse is not None:
            policy = SyncPolicy(allow_reuse=allow_reuse, reference=policy.reference, on_late=policy.on_late)
        if policy.reference is not None and policy.reference not in views:
            raise ValueError(f"reference view {policy.reference!r} is not one of {views}")
        if policy.on_late not in ("drop", "raise"):
            raise ValueError(f"on_late must be 'drop' or 'raise', got {policy.on_late!r}")
        self.views = views
        self.slop = float(slop)
        self.queue_size = int(queue_size)
        self.policy = policy
        self.reference = policy.reference or views[0]
        self.reset()

    def reset(self) -> None:
        """Forget every queued frame and zero the counters."""
        self._queues: dict[str, deque[Frame]] = {v: deque() for v in self.views}
        self._newest: dict[str, Frame | None] = {v: None for v in self.views}
        self._used_ids: set[int] = set()  # id() of queued frames already in a bundle (reuse mode)
        self.counters = SyncCounters(self.views)

    def rewind(self, latest: float) -> int:
        """Forget frames stamped after `latest` (the clock went back behind them; without this
        every new frame would count as `late`); returns how many queued frames were dropped."""
        dropped = 0
        for v in self.views:
            q = self._queues[v]
            keep = deque(f for f in q if f.stamp <= latest)
            for f in q:
                if f.stamp > latest:
                    self._used_ids.discard(id(f))
            dropped += len(q) - len(keep)
            self._queues[v] = keep
            newest = self._newest[v]
            if newest is not None and newest.stamp > latest:
                self._newest[v] = keep[-1] if keep else None
        return dropped

    def pending(self) -> dict[str, int]:
        return {v: len(q) for v, q in self._queues.items()}

    def push(self, frame: Frame) -> list[Bundle]:
        """Offer one frame; return the bundles it completes (usually zero or one)."""
        v = frame.view
        if v not in self._queues:
            raise ValueError(f"frame of unknown view {v!r}; this sync bundles {self.views}")
        c = self.counters
        c.received[v] += 1
        newest = self._newest[v]
        if newest is not None:
            if frame.seq == newest.seq or frame.stamp == newest.stamp:
                c.duplicate[v] += 1
                return []
            if frame.stamp < newest.stamp:
                c.late[v] += 1
                if self.policy.on_late == "raise":
                    raise LateFrameError(
                        f"view {v!r}: frame seq {frame.seq} at {frame.stamp:.6f}s is older than "
                        f"seq {newest.seq} at {newest.stamp:.6f}s already received"
                    )
                return []
        self._newest[v] = frame
        q = self._queues[v]
        if len(q) >= self.queue_size:
            self._discard(v, q.popleft(), "overflow")
        q.append(frame)
        return self._match_reference() if self.policy.allow_reuse else self._match_earliest()

    # -- matching -------------------------------------------------------------------------------

    def _match_earliest(self) -> list[Bundle]:
        out: list[Bundle] = []
        queues = self._queues
        while all(queues.values()):
            newest_head = max(q[0].stamp for q in queues.values())
            dropped = False
            for v, q in queues.items():
                while q and newest_head - q[0].stamp > self.slop + _EPS:
                    self._discard(v, q.popleft(), "unmatched")
                    dropped = True
            if dropped:
                continue
            out.append(self._emit({v: q.popleft() for v, q in queues.items()}))
        return out

    def _match_reference(self) -> list[Bundle]:
        out: list[Bundle] = []
        ref_q = self._queues[self.reference]
        others = [v for v in self.views if v != self.reference]
        while ref_q:
            r = ref_q[0]
            for v in others:  # frames too old for this reference frame are too old for later ones
                q = self._queues[v]
                while q and r.stamp - q[0].stamp > self.slop + _EPS:
                    self._discard(v, q.popleft(), "unmatched")
            if any(not q or q[-1].stamp < r.stamp for q in (self._queues[v] for v in others)):
                break  # a nearer frame may still come for some view
            chosen = {self.reference: r}
            for v in others:
                chosen[v] = min(self._queues[v], key=lambda f, t=r.stamp: abs(f.stamp - t))
            ref_q.popleft()
            stamps = [f.stamp for f in chosen.values()]
            if max(stamps) - min(stamps) > self.slop + _EPS:
                self._discard(self.reference, r, "unmatched")
                continue
            out.append(self._emit({v: chosen[v] for v in self.views}))
        return out

    def _emit(self, frames: dict[str, Frame]) -> Bundle:
        stamps = [f.stamp for f in frames.values()]
        skew = max(stamps) - min(stamps)
        c = self.counters
        for v, f in frames.items():
            if id(f) not in self._used_ids:
                c.used[v] += 1
                if self.policy.allow_reuse and v != self.reference:
                    self._used_ids.add(id(f))
        bundle = Bundle(frames=frames, stamp=float(np.mean(stamps)), skew=skew, index=c.bundles)
        c.record_skew(skew)
        return bundle

    def _discard(self, view: str, frame: Frame, reason: str) -> None:
        if id(frame) in self._used_ids:
            self._used_ids.discard(id(frame))  # reused frame retired: it was counted as used
            return
        getattr(self.counters, reason)[view] += 1
