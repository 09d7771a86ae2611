"""camera_sync's logic without ROS: decoded frames → N-view approximate-time bundles → observations.

Images go through `robo_reward.cameras.sync.ApproxTimeSync` (one frame per view within `slop`).
Each bundle is paired with the joint state (and end-effector position, where the arm publishes one)
nearest to the bundle stamp, within `state_max_age`; a bundle with no such state is dropped and
counted (`no_state`), as is any image that cannot be decoded (`malformed`, with the last reason).
Inputs that cannot be used raise `BadInput` (an image that does not decode, a joint state without
positions or with NaN, an EE position with NaN) after being counted; the node drops and logs them.
Every input carries `now` (the node's clock): stamps further than `max_stamp_lead` ahead of it are
refused, and when the clock has gone back behind the queued stamps they are forgotten, so neither
a forged stamp nor a clock step can stall the sync.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable

import numpy as np

from robo_reward.cameras.frame import Frame
from robo_reward.cameras.sync import ApproxTimeSync
from robo_reward.real.bundles import SyncedObservation
from robo_reward.real.images import MalformedImage
from robo_reward.real.inputs import (
    DEFAULT_MAX_STAMP_LEAD,
    BadInput,
    check_stamp,
    float32_vector,
    named_positions,
)
from robo_reward.real.policy_core import EE_POSITION_NAMES


class _Recent:
    """The last few timestamped vectors of one stream; nearest lookup by stamp."""

    def __init__(self, maxlen: int = 64) -> None:
        self.items: deque[tuple[float, np.ndarray]] = deque(maxlen=maxlen)

    def push(self, stamp: float, value: np.ndarray) -> None:
        self.items.append((stamp, value))

    def nearest(self, stamp: float, max_age: float) -> np.ndarray | None:
        best = min(self.items, key=lambda it: abs(it[0] - stamp), default=None)
        return None if best is None or abs(best[0] - stamp) > max_age else best[1]


class CameraSyncCore:
    def __init__(
        self,
        views: tuple[str, ...],
        slop: float,
        joint_order: tuple[str, ...],
        use_ee: bool,
        queue_size: int = 8,
        state_max_age: float = 0.1,
        max_stamp_lead: float = DEFAULT_MAX_STAMP_LEAD,
    ) -> None:
        self.sync = ApproxTimeSync(list(views), slop=slop, queue_size=queue_size)
        self.views = tuple(views)
        self.joint_order = tuple(joint_order)
        self.use_ee = use_ee
        self.state_names = (*self.joint_order, *EE_POSITION_NAMES) if use_ee else self.joint_order
        self.state_max_age = state_max_age
        self.max_stamp_lead = max_stamp_lead
        self._joints, self._ee = _Recent(), _Recent()
        self._seq: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()
        self.no_state = 0
        self.last_error = ""

    def _check_stamp(self, stamp: float, now: float) -> None:
        check_stamp(stamp, now, self.max_stamp_lead)
        self.sync.rewind(now + self.max_stamp_lead)

    def push_joint_state(self, stamp: float, names: list[str], positions: list[float], now: float) -> None:
        """BadInput for a state without positions (effort-only drivers), NaN, or missing joints."""
        try:
            self._check_stamp(stamp, now)
            joints = named_positions(names, positions, self.joint_order)
            self._joints.push(stamp, float32_vector(joints, "joint state"))
        except BadInput as e:
            self.last_error = str(e)
            raise

    def push_ee_position(self, stamp: float, xyz: np.ndarray, now: float) -> None:
        self._check_stamp(stamp, now)
        self._ee.push(stamp, float32_vector(xyz, "end-effector position", size=3))

    def push_image(
        self, view: str, stamp: float, decode: Callable[[], np.ndarray], now: float
    ) -> list[SyncedObservation]:
        """Offer one camera message (decoded lazily); return the observations it completes.
        A message that does not decode is counted under `malformed` and raises MalformedImage; one
        stamped before the newest frame of its view is counted (`late`) and raises BadInput."""
        self._check_stamp(stamp, now)
        try:
            image = decode()
        except MalformedImage as e:
            self.malformed[view] += 1
            self.last_error = f"{view}: {e}"
            raise
        seq = self._seq[view]
        self._seq[view] += 1
        late = self.sync.counters.late[view]
        out = []
        for b in self.sync.push(Frame(view, image, stamp, seq)):
            obs = self._observation(b.stamp, b.images, b.skew)
            if obs is not None:
                out.append(obs)
        if self.sync.counters.late[view] != late:
            raise BadInput(
                f"{view} frame at {stamp:.3f} is older than one already received", "backwards_stamp"
            )
        return out

    def _observation(self, stamp: float, images: dict, skew: float) -> SyncedObservation | None:
        joints = self._joints.nearest(stamp, self.state_max_age)
        ee = self._ee.nearest(stamp, self.state_max_age) if self.use_ee else np.zeros(0, np.float32)
        if joints is None or ee is None:
            self.no_state += 1
            return None
        return SyncedObservation(
            stamp_ns=int(round(stamp * 1e9)),
            images=images,
            state=np.concatenate([joints, ee]).astype(np.float32),
            state_names=self.state_names,
            skew=skew,
        )

    def counters(self) -> dict:
        c = self.sync.counters.as_dict()
        c.update(malformed=dict(self.malformed), no_state=self.no_state, last_error=self.last_error)
        c["dropped_bundles"] = self.no_state
        return c
