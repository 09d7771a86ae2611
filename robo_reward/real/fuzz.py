"""Fake sensors and a message fuzzer for a running graph: what a broken driver or an attacker sends.

    with Probe() as probe:
        sensors = FakeCameras(probe, rig)                      # valid frames + joints at 20 Hz
        fuzzer = Fuzzer(probe, input_topics(rig)).start()     # malformed messages on every input
        ...
        fuzzer.stop(); sensors.stop()

`malformed(kind, now_ns, ...)` lists the bad messages of one topic kind, each with a label:
unknown encodings, wrong sizes and steps, empty and short arrays, NaN/inf/huge values, missing or
repeated joint names, effort-only joint states, stamps an hour ahead, at the end of time, negative
or long past. `Fuzzer` cycles through them on every topic it is given, paced, and counts what it
sent per topic; the nodes' `~/status` `rejected` counters say what they dropped.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped, TwistStamped
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float32, Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from robo_reward.real.images import encode_compressed
from robo_reward.real.probe import Probe
from robo_reward.real.ros_io import SENSOR_QOS, SYNCED_PREFIX, image_msg, joint_state_msg, to_stamp

HOUR_NS = 3600 * 10**9
MSG_TYPES = {"image": Image, "compressed": CompressedImage, "joint_state": JointState, "pose": PoseStamped,
             "positions": Float64MultiArray, "gripper": Float64MultiArray, "trajectory": JointTrajectory,
             "twist": TwistStamped, "progress": Float32}  # fmt: skip


@dataclass(frozen=True)
class Target:
    """One input topic to fuzz: its kind (a key of MSG_TYPES), and what a valid message holds."""

    topic: str
    kind: str
    names: tuple[str, ...] = ()  # joint names (joint states, trajectories)
    hw: tuple[int, int] = (8, 8)  # image size
    sensor_qos: bool = False


def input_topics(
    rig: Any, synced_prefix: str = SYNCED_PREFIX, debug_prefix: str = "/robo_reward/debug"
) -> list[Target]:
    """Every topic a node of the graph subscribes to, for a rig."""
    robot, joints = rig.robot, rig.joint_names
    state_names = (*joints, robot["gripper"]["joint"])
    targets = []
    for v in rig.views:
        cam = rig.camera(v)
        kind = "compressed" if cam.get("compressed") else "image"
        targets.append(
            Target(cam["topic"], kind, hw=(int(cam["height"]), int(cam["width"])), sensor_qos=True)
        )
        targets.append(Target(f"{synced_prefix}/{v}", "image"))
    targets.append(Target(robot["joint_state_topic"], "joint_state", state_names, sensor_qos=True))
    if robot.get("ee_pose_topic"):
        targets.append(Target(robot["ee_pose_topic"], "pose", sensor_qos=True))
    targets.append(Target(f"{synced_prefix}/state", "joint_state", (*state_names, "ee_x", "ee_y", "ee_z")))
    cmd = robot["command"]
    targets += [Target(cmd["position_array"], "positions", joints), Target(cmd["gripper"], "gripper"),
                Target(cmd["joint_trajectory"], "trajectory", joints), Target(cmd["twist"], "twist"),
                Target(f"{debug_prefix}/progress", "progress")]  # fmt: skip
    return targets


def _image(hw: tuple[int, int], ns: int, **fields: Any) -> Image:
    msg = image_msg(np.full((*hw, 3), 90, np.uint8), ns)
    for k, v in fields.items():
        setattr(msg, k, v)
    return msg


def _stamped(msg: Any, ns: int | None = None, sec: int | None = None, nanosec: int = 0) -> Any:
    msg.header.stamp = to_stamp(ns) if ns is not None else Time(sec=sec, nanosec=nanosec)
    return msg


def _bad_stamps(make: Callable[[int], Any], now: int) -> list[tuple[str, Any]]:
    return [
        ("stamp one hour ahead", make(now + HOUR_NS)),
        ("stamp at the end of time", _stamped(make(now), sec=2**31 - 1, nanosec=999_999_999)),
        ("nanosec beyond one second", _stamped(make(now), sec=now // 10**9, nanosec=4_000_000_000)),
        ("stamp ten seconds old", make(now - 10 * 10**9)),
        ("negative stamp", _stamped(make(now), sec=-5)),
    ]


def _joint_state(names: tuple[str, ...], positions: list[float], ns: int, **fields: Any) -> JointState:
    msg = JointState(name=list(names), position=[float(x) for x in positions], **fields)
    return _stamped(msg, ns)


def malformed(target: Target, now: int) -> list[tuple[str, Any]]:
    """(label, message) of every bad message for `target`, stamped around `now` (ns)."""
    h, w = target.hw
    names, n = target.names, len(target.names)
    if target.kind == "image":
        return [
            ("encoding yuv422", _image(target.hw, now, encoding="yuv422")),
            ("encoding empty", _image(target.hw, now, encoding="")),
            ("encoding 16UC1", _image(target.hw, now, encoding="16UC1")),
            ("encoding 400 chars", _image(target.hw, now, encoding="rgb8" * 100)),
            ("height 0", _image(target.hw, now, height=0)),
            ("height and width 2^31", _image(target.hw, now, height=2**31 - 1, width=2**31 - 1)),
            ("step below width*3", _image(target.hw, now, step=w * 3 - 1)),
            ("step 2^32 - 1", _image(target.hw, now, step=2**32 - 1)),
            ("data one byte short", _image(target.hw, now, data=bytes(h * w * 3 - 1))),
            ("data empty", _image(target.hw, now, data=b"")),
            ("data seven bytes long", _image(target.hw, now, data=bytes(h * w * 3 + 7))),
            *_bad_stamps(lambda ns: _image(target.hw, ns), now),
        ]
    if target.kind == "compressed":
        jpeg = encode_compressed(np.zeros((max(1, h // 2), max(1, w // 2), 3), np.uint8))

        def comp(fmt: str, data: bytes, ns: int = now) -> CompressedImage:
            return _stamped(CompressedImage(format=fmt, data=data), ns)

        return [
            ("jpeg garbage", comp("jpeg", b"\xff\xd8garbage")),
            ("empty", comp("jpeg", b"")),
            ("format bmp", comp("bmp", b"BM" + bytes(60))),
            ("jpeg of the wrong size", comp(*jpeg)),
            ("png truncated", comp("png", b"\x89PNG\r\n\x1a\n" + bytes(8))),
            *_bad_stamps(lambda ns: comp(*jpeg, ns=ns), now),
        ]
    if target.kind == "joint_state":
        ok = [0.1] * n
        return [
            ("effort only", _joint_state(names, [], now, effort=ok)),
            ("empty", _joint_state((), [], now)),
            ("one position short", _joint_state(names, ok[:-1], now)),
            ("one position extra", _joint_state(names, [*ok, 0.1], now)),
            ("NaN position", _joint_state(names, [np.nan, *ok[1:]], now)),
            ("inf position", _joint_state(names, [*ok[:-1], np.inf], now)),
            ("1e308 position", _joint_state(names, [1e308, *ok[1:]], now)),
            ("unknown names", _joint_state(tuple(f"x{i}" for i in range(n)), ok, now)),
            ("repeated name", _joint_state((names[0],) * n, ok, now)),
            ("stamp one hour ahead", _joint_state(names, ok, now + HOUR_NS)),
        ]
    if target.kind == "pose":

        def pose(xyz: tuple[float, float, float], ns: int = now) -> PoseStamped:
            msg = _stamped(PoseStamped(), ns)
            msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = xyz
            return msg

        return [("NaN x", pose((np.nan, 0.0, 0.3))), ("inf z", pose((0.4, 0.0, np.inf))),
                ("1e308 y", pose((0.4, 1e308, 0.3))), ("stamp one hour ahead", pose((0.4, 0.0, 0.3), now + HOUR_NS))]  # fmt: skip
    if target.kind in ("positions", "gripper"):
        size = n if target.kind == "positions" else 1
        return [
            ("empty", Float64MultiArray(data=[])),
            ("one value short", Float64MultiArray(data=[0.0] * (size - 1) if size > 1 else [0.0, 0.0])),
            ("10000 values", Float64MultiArray(data=[0.0] * 10000)),
            ("NaN", Float64MultiArray(data=[np.nan] * size)),
            ("inf", Float64MultiArray(data=[0.0] * (size - 1) + [np.inf])),
            ("-inf", Float64MultiArray(data=[-np.inf] * size)),
        ]
    if target.kind == "trajectory":

        def traj(joint_names: tuple[str, ...], positions: list[float], points: int = 1) -> JointTrajectory:
            pts = [JointTrajectoryPoint(positions=[float(x) for x in positions]) for _ in range(points)]
            return JointTrajectory(joint_names=list(joint_names), points=pts)

        return [("no points", traj(names, [0.0] * n, points=0)), ("a joint missing", traj(names[:-1], [0.0] * (n - 1))),
                ("positions short", traj(names, [0.0] * (n - 2))), ("NaN", traj(names, [np.nan] * n)),
                ("repeated names", traj((names[0],) * n, [0.0] * n))]  # fmt: skip
    if target.kind == "twist":

        def twist(v: float, ns: int = now) -> TwistStamped:
            msg = _stamped(TwistStamped(), ns)
            msg.twist.linear.x, msg.twist.angular.z = v, 0.1
            return msg

        return [("NaN", twist(np.nan)), ("inf", twist(np.inf)), ("-inf", twist(-np.inf))]
    if target.kind == "progress":
        return [("NaN", Float32(data=np.nan)), ("inf", Float32(data=np.inf)), ("-inf", Float32(data=-np.inf))]
    raise ValueError(f"unknown target kind {target.kind!r}; one of {sorted(MSG_TYPES)}")


class Fuzzer:
    """Publishes `malformed()` messages round robin over `targets` at `rate` messages/s (thread)."""

    def __init__(self, probe: Probe, targets: list[Target], rate: float = 150.0) -> None:
        self.probe, self.targets, self.rate = probe, list(targets), rate
        self.pubs = [
            probe.publisher(t.topic, MSG_TYPES[t.kind], SENSOR_QOS) if t.sensor_qos
            else probe.publisher(t.topic, MSG_TYPES[t.kind])
            for t in self.targets
        ]  # fmt: skip
        self.sent: Counter[str] = Counter()
        self.labels: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="fuzzer")

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def start(self) -> Fuzzer:
        self._thread.start()
        return self

    def _loop(self) -> None:
        clock, k = self.probe.node.get_clock(), 0
        while not self._stop.is_set():
            i = k % len(self.targets)
            target = self.targets[i]
            cases = malformed(target, clock.now().nanoseconds)
            label, msg = cases[(k // len(self.targets)) % len(cases)]
            self.pubs[i].publish(msg)
            self.sent[target.topic] += 1
            self.labels[f"{target.kind}: {label}"] += 1
            k += 1
            time.sleep(1.0 / self.rate)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


class FakeCameras:
    """Three cameras in three formats (rgb8, mono8, jpeg), joint state and EE pose, at `rate` Hz."""

    def __init__(self, probe: Probe, rig: Any, rate: float = 20.0) -> None:
        self.rig, self.rate = rig, rate
        self.pubs = {}
        for v in rig.views:
            cam = rig.camera(v)
            self.pubs[v] = probe.publisher(
                cam["topic"], CompressedImage if cam.get("compressed") else Image, SENSOR_QOS
            )
        self.joints = probe.publisher(rig.robot["joint_state_topic"], JointState, SENSOR_QOS)
        self.ee = probe.publisher(rig.robot["ee_pose_topic"], PoseStamped, SENSOR_QOS)
        self.home = np.array(rig.robot["home"])
        self.malformed: list[tuple[str, object]] = []
        self.running = True
        self.images = True  # False: the cameras go quiet, joint states keep flowing
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.clock = probe.node.get_clock()
        self.thread.start()

    def loop(self) -> None:
        img = np.zeros((96, 96, 3), np.uint8)
        img[:, :48] = (200, 40, 20)
        jpeg = encode_compressed(img, "jpeg")
        names = (*self.rig.joint_names, self.rig.robot["gripper"]["joint"])
        while self.running:
            ns = self.clock.now().nanoseconds
            self.joints.publish(joint_state_msg(names, [*self.home, 0.08], ns))
            pose = PoseStamped()
            pose.header.stamp = to_stamp(ns)
            pose.pose.position.x, pose.pose.position.z = 0.45, 0.4
            self.ee.publish(pose)
            for v, enc in zip(self.rig.views, ("rgb8", "mono8", "jpeg"), strict=True):
                if not self.images:
                    break
                if enc == "jpeg":
                    msg = CompressedImage(format=jpeg[0], data=jpeg[1])
                    msg.header.stamp = to_stamp(ns)
                else:
                    msg = image_msg(img, ns, v, enc)
                self.pubs[v].publish(msg)
            while self.malformed:
                v, msg = self.malformed.pop()
                msg.header.stamp = to_stamp(ns + 1000)
                self.pubs[v].publish(msg)
            time.sleep(1.0 / self.rate)

    def stop(self) -> None:
        self.running = False
        self.thread.join()
