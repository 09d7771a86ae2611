"""The rclpy side shared by every node: QoS, stamps, message ⇄ array conversions, `run_node`.

Only this module and the node modules import rclpy; the cores they wrap do not.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import rclpy
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import TwistStamped
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from robo_reward.real.images import decode_compressed, decode_image, encode_image
from robo_reward.real.inputs import BadInput, InputGuard, named_positions
from robo_reward.real.ros_env_vars import prepare_process

SENSOR_QOS = qos_profile_sensor_data  # best effort, keep last 5: cameras and joint states
RELIABLE_QOS = QoSProfile(depth=10)  # synced bundles, commands, results
SYNCED_PREFIX = "/robo_reward/synced"


def stamp_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def to_stamp(ns: int) -> Time:
    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def now_ns(node: Any) -> int:
    return node.get_clock().now().nanoseconds


def image_msg(image: np.ndarray, ns: int, frame_id: str = "", encoding: str = "rgb8") -> Image:
    enc, h, w, step, data = encode_image(image, encoding)
    msg = Image(encoding=enc, height=h, width=w, step=step, is_bigendian=0)
    msg.data = data  # bytes → array('B') without a per-element copy
    msg.header.stamp, msg.header.frame_id = to_stamp(ns), frame_id
    return msg


def image_from_msg(msg: Image | CompressedImage, expected_hw: tuple[int, int] | None = None) -> np.ndarray:
    if isinstance(msg, CompressedImage):
        return decode_compressed(msg.format, bytes(msg.data), expected_hw)
    return decode_image(msg.encoding, msg.height, msg.width, msg.step, memoryview(msg.data), expected_hw)


def joint_state_msg(
    names: list[str] | tuple[str, ...], positions: np.ndarray, ns: int, velocities=None
) -> JointState:
    msg = JointState(name=list(names), position=[float(x) for x in positions])
    if velocities is not None:
        msg.velocity = [float(x) for x in velocities]
    msg.header.stamp = to_stamp(ns)
    return msg


def trajectory_msg(
    names: list[str] | tuple[str, ...], positions: np.ndarray, time_from_start: float
) -> JointTrajectory:
    """A one-point trajectory (stamp zero = start now), as streamed to a joint trajectory controller."""
    sec = int(time_from_start)
    point = JointTrajectoryPoint(
        positions=[float(x) for x in positions],
        time_from_start=Duration(sec=sec, nanosec=int(round((time_from_start - sec) * 1e9))),
    )
    return JointTrajectory(joint_names=list(names), points=[point])


def array_msg(values: np.ndarray | list[float]) -> Float64MultiArray:
    return Float64MultiArray(data=[float(x) for x in values])


def twist_msg(linear: np.ndarray, angular: np.ndarray, ns: int, frame_id: str) -> TwistStamped:
    msg = TwistStamped()
    msg.header.stamp, msg.header.frame_id = to_stamp(ns), frame_id
    t = msg.twist
    t.linear.x, t.linear.y, t.linear.z = (float(x) for x in linear)
    t.angular.x, t.angular.y, t.angular.z = (float(x) for x in angular)
    return msg


def twist_arrays(msg: TwistStamped) -> tuple[np.ndarray, np.ndarray]:
    t = msg.twist
    return np.array([t.linear.x, t.linear.y, t.linear.z]), np.array([t.angular.x, t.angular.y, t.angular.z])


def status_msg(payload: dict) -> String:
    return String(data=json.dumps(payload, default=float, sort_keys=True))


class StatusTimer:
    """Publishes `fn()` as JSON on `~/status` (std_msgs/String) every `period` seconds."""

    def __init__(self, node: Any, fn: Callable[[], dict], period: float = 1.0) -> None:
        self._pub = node.create_publisher(String, "~/status", RELIABLE_QOS)
        self._fn = fn
        self._timer = node.create_timer(period, self.publish)

    def publish(self) -> None:
        self._pub.publish(status_msg(self._fn()))


def run_node(factory: Callable[[], Any], args: list[str] | None = None, threads: int = 1) -> int:
    """init → build the node → spin until SIGINT/SIGTERM → `node.close()` → destroy → shutdown.

    The signals only set a flag, so the context is still valid when `close()` runs: the policy node
    uses that moment to send its hold command. Returns the exit code: 0 after a signal, 1 (with the
    reason on stderr) when the node cannot be built from its parameters.
    """
    prepare_process()
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    rclpy.init(args=sys.argv if args is None else args, signal_handler_options=SignalHandlerOptions.NO)
    node, executor, code = None, None, 0
    try:
        node = factory()
        executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else SingleThreadedExecutor()
        executor.add_node(node)
        while rclpy.ok() and not stop.is_set():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as e:  # a configuration error: say it once, clearly, and exit non-zero
        if node is not None:
            raise
        print(f"[robo_reward] node failed to start: {type(e).__name__}: {e}", file=sys.stderr)
        code = 1
    finally:
        if executor is not None:  # no callback runs after this: close() has the node to itself
            # rclpy 9's Executor.shutdown destroys its guard condition without waiting for the
            # worker threads of a MultiThreadedExecutor; drain them first (else every exit
            # prints "exception was never retrieved: cannot use Destroyable")
            pool = getattr(executor, "_executor", None)
            if pool is not None:
                pool.shutdown(wait=True)
            executor.shutdown(timeout_sec=2.0)
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None and rclpy.ok():
                close()
            node.destroy_node()
        rclpy.try_shutdown()
        for s, h in previous.items():
            signal.signal(s, h)
    return code


def subscribe(
    node: Any,
    guard: InputGuard,
    msg_type: Any,
    topic: str,
    handler: Callable[[Any], None],
    qos: QoSProfile,
    callback_group: Any = None,
) -> Any:
    """A subscription whose callback never raises: a message that fails its checks (BadInput) or
    trips anything else is dropped, counted in `guard` under `topic`, and warned about (throttled)."""

    def callback(msg: Any) -> None:
        try:
            handler(msg)
        except Exception as e:  # one message must never take the node down
            warning = guard.reject(topic, e, now_ns(node) * 1e-9)
            if warning is not None:
                node.get_logger().warning(warning)

    return node.create_subscription(msg_type, topic, callback, qos, callback_group=callback_group)


def header_stamp(guard: InputGuard, node: Any, msg: Any) -> int:
    """The message's header stamp in ns, after the guard's check against this node's clock."""
    ns = stamp_ns(msg.header.stamp)
    guard.stamp(ns * 1e-9, now_ns(node) * 1e-9)
    return ns


class SyncedSubscriber:
    """Subscribes to camera_sync's output and calls `callback(SyncedObservation)` per full bundle.

    Every part is checked first (stamp not from the future, image decodable, state finite with one
    name per position); a bad part is dropped and counted in `guard`."""

    def __init__(
        self,
        node: Any,
        views: tuple[str, ...],
        callback: Callable[[Any], None],
        guard: InputGuard,
        prefix: str = SYNCED_PREFIX,
        callback_group: Any = None,
    ) -> None:
        from functools import partial

        from robo_reward.real.bundles import STATE_PART, StampAssembler

        self.assembler = StampAssembler(tuple(views))
        self._node, self._guard, self._callback = node, guard, callback
        self._state_part = STATE_PART
        self.subscriptions = [
            subscribe(node, guard, Image, f"{prefix}/{v}", partial(self._on_image, v), RELIABLE_QOS,
                      callback_group)
            for v in views
        ]  # fmt: skip
        self.subscriptions.append(
            subscribe(
                node, guard, JointState, f"{prefix}/state", self._on_state, RELIABLE_QOS, callback_group
            )
        )

    def _stamp(self, msg: Any) -> int:
        ns = header_stamp(self._guard, self._node, msg)
        self.assembler.rewind(now_ns(self._node) + int(self._guard.max_stamp_lead * 1e9))
        return ns

    def _on_image(self, view: str, msg: Image) -> None:
        self._offer(view, self._stamp(msg), image_from_msg(msg))

    def _on_state(self, msg: JointState) -> None:
        ns = self._stamp(msg)
        names = tuple(msg.name)
        self._offer(
            self._state_part, ns, (names, named_positions(names, msg.position, names, "synced state"))
        )

    def _offer(self, part: str, ns: int, value: Any) -> None:
        stale = self.assembler.stale
        obs = self.assembler.add(part, ns, value)
        if self.assembler.stale != stale:
            raise BadInput(
                f"stamp {ns * 1e-9:.3f} is not after the newest complete observation "
                f"{self.assembler.last_stamp_ns * 1e-9:.3f}",
                "backwards_stamp",
            )
        if obs is not None:
            self._callback(obs)

    def destroy(self, node: Any) -> None:
        for s in self.subscriptions:
            node.destroy_subscription(s)
        self.subscriptions = []
