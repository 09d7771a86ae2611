"""Synced observations as they travel between the nodes, and their reassembly by stamp; no ROS.

camera_sync republishes each synced bundle as V images on `/robo_reward/synced/<view>` plus the
matching state on `/robo_reward/synced/state` (a JointState whose names are the state layout), all
with the *same* header stamp. Consumers (reward, policy, recorder) put the parts back together with
`StampAssembler`, keyed by that stamp in integer nanoseconds, so no approximate matching happens twice.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from robo_reward.data.episode import IMAGE_KEY, STATE_KEY

STATE_PART = "state"


@dataclass(frozen=True, eq=False)
class SyncedObservation:
    """One bundle: `images[view]` (H, W, 3) uint8 RGB, `state` (D,) float32, `stamp_ns` its time."""

    stamp_ns: int
    images: dict[str, np.ndarray]
    state: np.ndarray
    state_names: tuple[str, ...] = ()
    skew: float = 0.0

    @property
    def stamp(self) -> float:
        return self.stamp_ns * 1e-9

    def contract(self, task: str) -> dict:
        """The observation contract (`observation.images.<view>`, `observation.state`, `task`)."""
        obs: dict = {f"{IMAGE_KEY}{v}": img for v, img in self.images.items()}
        obs[STATE_KEY] = np.asarray(self.state, dtype=np.float32)
        obs["task"] = task
        obs["timestamp"] = self.stamp
        return obs


@dataclass
class StampAssembler:
    """Collect parts (`views` + "state") published with one stamp; emit when all are in.

    Keeps at most `max_pending` incomplete stamps; older ones are dropped and counted (a part was
    lost on the way). Parts older than the newest emitted stamp are ignored as `stale` (stamps from
    the future never get here: the subscriber refuses them first).
    """

    views: tuple[str, ...]
    max_pending: int = 8
    pending: OrderedDict = field(default_factory=OrderedDict)
    emitted: int = 0
    incomplete: int = 0
    stale: int = 0
    last_stamp_ns: int = -1

    def __post_init__(self) -> None:
        self.views = tuple(self.views)
        self._parts = (*self.views, STATE_PART)

    def rewind(self, latest_ns: int) -> None:
        """Forget stamps after `latest_ns` (the clock went back behind them): without this, every
        part stamped in the new time would be `stale` until the clock caught up again."""
        if self.last_stamp_ns > latest_ns:
            self.last_stamp_ns = -1
        for s in [s for s in self.pending if s > latest_ns]:
            del self.pending[s]

    def add(self, part: str, stamp_ns: int, value) -> SyncedObservation | None:
        if part not in self._parts:
            raise ValueError(f"unknown part {part!r}; expected one of {self._parts}")
        if stamp_ns <= self.last_stamp_ns:
            self.stale += 1
            return None
        entry = self.pending.setdefault(stamp_ns, {})
        entry[part] = value
        if len(entry) < len(self._parts):
            while len(self.pending) > self.max_pending:
                self.pending.popitem(last=False)
                self.incomplete += 1
            return None
        for old in [s for s in self.pending if s < stamp_ns]:
            del self.pending[old]
            self.incomplete += 1
        del self.pending[stamp_ns]
        self.last_stamp_ns = stamp_ns
        self.emitted += 1
        names, state = entry[STATE_PART]
        return SyncedObservation(
            stamp_ns=stamp_ns,
            images={v: entry[v] for v in self.views},
            state=np.asarray(state, dtype=np.float32),
            state_names=tuple(names),
        )
