"""camera_sync node: N camera topics → approximate-time bundles → `/robo_reward/synced/*`.

Subscribes (sensor-data QoS): every view of the rig's cameras.yaml (sensor_msgs/Image in rgb8, bgr8,
mono8, rgba8, bgra8, or sensor_msgs/CompressedImage jpeg/png when `compressed: true`), the arm's
JointState and, when robot.yaml names one, its end-effector PoseStamped.
Publishes (reliable) one synced observation as `<output_prefix>/<view>` (Image, rgb8) for every view
plus `<output_prefix>/state` (JointState: names = the state layout, joints + gripper [+ ee_x, ee_y,
ee_z]), all with the same header stamp (the bundle's mean camera stamp); reward, policy and
recorder reassemble them by that stamp. A message that cannot be used — an image that does not
decode, a JointState without positions (effort-only drivers) or with NaN, a stamp further than
safety.yaml `max_stamp_lead` ahead of this node's clock, a frame older than its view's newest — is
dropped, counted on `~/status` (`rejected`: per topic and problem) and logged (throttled per
topic); the node keeps running.
"""

from __future__ import annotations

from functools import partial

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image, JointState

from robo_reward.real.inputs import InputGuard
from robo_reward.real.params import Param, declare
from robo_reward.real.rig import load_rig
from robo_reward.real.ros_io import (
    RELIABLE_QOS,
    SENSOR_QOS,
    SYNCED_PREFIX,
    StatusTimer,
    image_from_msg,
    image_msg,
    joint_state_msg,
    now_ns,
    run_node,
    stamp_ns,
    subscribe,
)
from robo_reward.real.sync_core import CameraSyncCore

PARAMS = (
    Param("rig", "sim", "rig folder under real/ (or a path): cameras.yaml gives views, topics and sizes"),
    Param("slop", 0.0, "largest camera-stamp spread in one bundle (s); 0 = cameras.yaml `slop`"),
    Param("queue_size", 8, "frames kept per view while waiting for the other views"),
    Param("state_max_age", 0.1, "largest |joint-state stamp − bundle stamp| accepted (s)"),
    Param("output_prefix", SYNCED_PREFIX, "synced observations are published under this prefix"),
    Param("check_size", True, "drop images whose size differs from cameras.yaml width/height"),
)


class CameraSyncNode(Node):
    def __init__(self) -> None:
        super().__init__("camera_sync")
        self.p = p = declare(self, PARAMS)
        self.rig = rig = load_rig(p.rig)
        robot = rig.robot
        ee_topic = robot.get("ee_pose_topic", "")
        self.core = CameraSyncCore(
            views=rig.views,
            slop=p.slop or float(rig.cameras["slop"]),
            joint_order=(*rig.joint_names, robot["gripper"]["joint"]),
            use_ee=bool(ee_topic),
            queue_size=p.queue_size,
            state_max_age=p.state_max_age,
            max_stamp_lead=rig.max_stamp_lead,
        )
        self.guard = guard = InputGuard(max_stamp_lead=rig.max_stamp_lead)
        self.image_pubs = {
            v: self.create_publisher(Image, f"{p.output_prefix}/{v}", RELIABLE_QOS) for v in rig.views
        }
        self.state_pub = self.create_publisher(JointState, f"{p.output_prefix}/state", RELIABLE_QOS)
        for view in rig.views:
            cam = rig.camera(view)
            hw = (int(cam["height"]), int(cam["width"])) if p.check_size else None
            msg_type = CompressedImage if cam.get("compressed", False) else Image
            subscribe(self, guard, msg_type, cam["topic"], partial(self.on_image, view, hw), SENSOR_QOS)
        subscribe(self, guard, JointState, robot["joint_state_topic"], self.on_joint_state, SENSOR_QOS)
        if ee_topic:
            subscribe(self, guard, PoseStamped, ee_topic, self.on_ee_pose, SENSOR_QOS)
        self.published = 0
        StatusTimer(self, self.status)
        self.get_logger().info(
            f"syncing {list(rig.views)} (slop {self.core.sync.slop * 1e3:.0f} ms) → {p.output_prefix}/*"
        )

    def _now(self) -> float:
        return now_ns(self) * 1e-9

    def on_joint_state(self, msg: JointState) -> None:
        stamp = stamp_ns(msg.header.stamp) * 1e-9
        self.core.push_joint_state(stamp, list(msg.name), list(msg.position), now=self._now())

    def on_ee_pose(self, msg: PoseStamped) -> None:
        p = msg.pose.position
        self.core.push_ee_position(stamp_ns(msg.header.stamp) * 1e-9, (p.x, p.y, p.z), now=self._now())

    def on_image(self, view: str, hw: tuple[int, int] | None, msg: Image | CompressedImage) -> None:
        stamp = stamp_ns(msg.header.stamp) * 1e-9
        observations = self.core.push_image(view, stamp, partial(image_from_msg, msg, hw), now=self._now())
        for obs in observations:
            for v, img in obs.images.items():
                self.image_pubs[v].publish(image_msg(img, obs.stamp_ns, frame_id=v))
            self.state_pub.publish(joint_state_msg(obs.state_names, obs.state, obs.stamp_ns))
            self.published += 1

    def status(self) -> dict:
        return {
            "published": self.published,
            **self.core.counters(),
            "rejected": self.guard.as_dict(),
            "unexpected_errors": self.guard.unexpected,
        }


def main(args: list[str] | None = None) -> None:
    raise SystemExit(run_node(CameraSyncNode, args))


if __name__ == "__main__":
    main()
