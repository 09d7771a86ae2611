"""Checks for every message a node receives, without ROS: a bad message is dropped, never fatal.

Node callbacks turn a message into plain fields and pass them through these checks; a failed check
raises `BadInput` (its `kind` is the counter key, its text the warning). `InputGuard` counts
rejections per topic and kind and decides when to warn: at most once per `warn_period` seconds per
topic, so a flood on one topic neither fills the log nor hides a problem on another.

Stamps: a message stamped more than `max_lead` seconds ahead of the node's clock is rejected (a
clock out of sync, or a forged stamp); left in, it would make every later message look old and
freeze whatever keeps "the newest stamp" (the sync queues, the watchdog).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

DEFAULT_MAX_STAMP_LEAD = 0.2  # s a stamp may be ahead of the receiving node's clock


class BadInput(ValueError):
    """A message that cannot be used; `kind` names the problem for counting."""

    kind = "bad_input"

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind


def check_stamp(stamp: float, now: float, max_lead: float = DEFAULT_MAX_STAMP_LEAD) -> float:
    """A message stamp (s) → itself; one from the future (beyond `max_lead`) → BadInput."""
    if not np.isfinite(stamp):
        raise BadInput(f"stamp {stamp} is not a number", "bad_stamp")
    if stamp > now + max_lead:
        raise BadInput(
            f"stamp {stamp - now:.3f} s ahead of this node's clock (at most {max_lead} s): "
            "synchronise the clocks (chrony/NTP) or fix the publisher's stamps",
            "future_stamp",
        )
    return stamp


def finite_vector(values: Sequence[float] | np.ndarray, what: str, size: int | None = None) -> np.ndarray:
    """Values → float64 (N,); BadInput when the count differs from `size` or one is NaN/inf."""
    try:
        v = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as e:
        raise BadInput(f"{what}: not numbers ({e})", "not_numeric") from None
    if size is not None and v.size != size:
        raise BadInput(f"{what} has {v.size} values, expected {size}", "wrong_size")
    bad = ~np.isfinite(v)
    if bad.any():
        raise BadInput(f"{what}: {int(bad.sum())} of {v.size} values are NaN or inf", "non_finite")
    return v


def float32_vector(values: Sequence[float] | np.ndarray, what: str, size: int | None = None) -> np.ndarray:
    """`finite_vector` as float32, refusing values beyond float32's range (they would become inf)."""
    v = finite_vector(values, what, size)
    if np.any(np.abs(v) > np.finfo(np.float32).max):
        raise BadInput(f"{what}: values beyond the float32 range ({np.abs(v).max():.3g})", "non_finite")
    return v.astype(np.float32)


def named_positions(
    names: Sequence[str], positions: Sequence[float], order: Sequence[str], what: str = "joint state"
) -> np.ndarray:
    """`positions` of `names` (a JointState or a trajectory point) reordered to `order`, float64.

    BadInput when there are no positions (effort-only JointState drivers publish those), when names
    and positions differ in number, when a name of `order` is missing or a value is not finite.
    """
    names, n = list(names), len(positions)
    if n == 0:
        raise BadInput(
            f"{what} carries no positions ({len(names)} names; effort- or velocity-only): ignored",
            "no_positions",
        )
    if n != len(names):
        raise BadInput(f"{what} has {len(names)} names but {n} positions", "wrong_size")
    if len(set(names)) != len(names):
        raise BadInput(f"{what} repeats joint names: {names}", "duplicate_names")
    index = {name: i for i, name in enumerate(names)}
    missing = [name for name in order if name not in index]
    if missing:
        raise BadInput(f"{what} lacks {missing} (has {names})", "missing_joints")
    values = finite_vector(positions, what)
    return values[[index[name] for name in order]]


class InputGuard:
    """Rejection counts per topic and kind; `reject()` returns a warning when one is due."""

    def __init__(
        self,
        warn_period: float = 2.0,
        max_stamp_lead: float = DEFAULT_MAX_STAMP_LEAD,
        verb: str = "dropped a message on",
    ) -> None:
        self.warn_period, self.max_stamp_lead, self.verb = float(warn_period), float(max_stamp_lead), verb
        self.counts: dict[str, Counter[str]] = {}
        self.unexpected = 0  # exceptions that were not a BadInput: a check is missing somewhere
        self._last_warning: dict[str, float] = {}
        self._silenced: Counter[str] = Counter()

    def stamp(self, stamp: float, now: float) -> float:
        return check_stamp(stamp, now, self.max_stamp_lead)

    def reject(self, topic: str, error: Exception, now: float) -> str | None:
        """Count a dropped message; the warning line to log now, or None (throttled)."""
        if isinstance(error, BadInput):
            kind, text = error.kind, str(error)
        else:
            self.unexpected += 1
            kind, text = "unexpected", f"{type(error).__name__}: {error}"
        self.counts.setdefault(topic, Counter())[kind] += 1
        last = self._last_warning.get(topic)
        if last is not None and 0.0 <= now - last < self.warn_period:
            self._silenced[topic] += 1
            return None
        self._last_warning[topic] = now
        more = self._silenced.pop(topic, 0)
        suffix = f" ({more} more dropped since the last warning)" if more else ""
        return f"{self.verb} {topic}: {text}{suffix}"

    @property
    def total(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {topic: dict(c) for topic, c in self.counts.items()}
