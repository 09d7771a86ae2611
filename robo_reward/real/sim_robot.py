"""sim_robot node: the MuJoCo task suite standing in for a ROS 2 arm with cameras.

Publishes, stamped with the node clock at each step: one image per view of the rig's cameras.yaml
(sensor_msgs/Image in the camera's `encoding`, or CompressedImage when `compressed: true`;
sensor-data QoS), the JointState (7 joints + `gripper_opening`), the end-effector PoseStamped, and
— privileged, for debugging and the `oracle` reward source only — `/robo_reward/debug/progress`
(Float32) and `/robo_reward/debug/success` (Bool).
Accepts the command interfaces of robot.yaml `command`: JointTrajectory (first point's positions),
Float64MultiArray (joint positions), TwistStamped (Cartesian servo velocity) and the gripper
(Float64MultiArray [command in -1..1, +1 closes]); a malformed command (NaN, wrong sizes) is
dropped, counted in `~/status` `rejected` and logged. `~/reset` (Trigger) starts a new episode of the
`task` parameter. Setting `publish_images` to false at run time silences the cameras (to test the
policy watchdog) while physics keeps running.
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import PoseStamped, TwistStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Bool, Float32, Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robo_reward.real.images import encode_compressed
from robo_reward.real.inputs import BadInput, InputGuard, named_positions
from robo_reward.real.params import Param, declare
from robo_reward.real.rig import load_rig
from robo_reward.real.ros_io import (
    RELIABLE_QOS,
    SENSOR_QOS,
    StatusTimer,
    image_msg,
    joint_state_msg,
    now_ns,
    run_node,
    subscribe,
    to_stamp,
    twist_arrays,
)
from robo_reward.real.sim_robot_core import SimRobot

PARAMS = (
    Param("rig", "sim", "rig folder under real/ (or a path): topics, camera sizes and encodings"),
    Param("task", "pick_place", "registered sim task run by this robot (robo_reward.sim.list_tasks())"),
    Param("seed", 0, "seed of the first episode; episode k uses seed + k"),
    Param("rate", 10.0, "env steps per second (each is 0.1 s of physics: 10.0 = real time)"),
    Param("twist_timeout", 0.5, "a twist older than this (s) no longer moves the arm"),
    Param("publish_images", True, "publish camera images (set false at run time to silence the cameras)"),
    Param("debug_prefix", "/robo_reward/debug", "prefix of the privileged progress/success topics"),
)


class SimRobotNode(Node):
    def __init__(self) -> None:
        super().__init__("sim_robot")
        self.p = p = declare(self, PARAMS)
        self.rig = rig = load_rig(p.rig)
        sizes = {int(rig.camera(v)["width"]) for v in rig.views} | {
            int(rig.camera(v)["height"]) for v in rig.views
        }
        if len(sizes) != 1:
            raise ValueError(
                f"the sim renders square images of one size; cameras.yaml asks for {sorted(sizes)}"
            )
        self.robot = SimRobot(
            p.task, image_size=sizes.pop(), views=rig.views, seed=p.seed, twist_timeout=p.twist_timeout
        )
        robot = rig.robot
        self.state_names = (*self.robot.joint_names, robot["gripper"]["joint"])
        self.base_frame = robot.get("base_frame", "world")
        self.camera_pubs = {}
        for v in rig.views:
            cam = rig.camera(v)
            msg_type = CompressedImage if cam.get("compressed", False) else Image
            self.camera_pubs[v] = (self.create_publisher(msg_type, cam["topic"], SENSOR_QOS), cam)
        self.joint_pub = self.create_publisher(JointState, robot["joint_state_topic"], SENSOR_QOS)
        self.ee_pub = (
            self.create_publisher(PoseStamped, robot["ee_pose_topic"], SENSOR_QOS)
            if robot.get("ee_pose_topic")
            else None
        )
        self.progress_pub = self.create_publisher(Float32, f"{p.debug_prefix}/progress", RELIABLE_QOS)
        self.success_pub = self.create_publisher(Bool, f"{p.debug_prefix}/success", RELIABLE_QOS)
        cmd = robot["command"]
        self.guard = guard = InputGuard()
        subscribe(self, guard, JointTrajectory, cmd["joint_trajectory"], self.on_trajectory, RELIABLE_QOS)
        subscribe(self, guard, Float64MultiArray, cmd["position_array"], self.on_positions, RELIABLE_QOS)
        subscribe(self, guard, TwistStamped, cmd["twist"], self.on_twist, RELIABLE_QOS)
        subscribe(self, guard, Float64MultiArray, cmd["gripper"], self.on_gripper, RELIABLE_QOS)
        self.create_service(Trigger, "~/reset", self.on_reset)
        self.add_on_set_parameters_callback(self.on_set_parameters)
        self.create_timer(1.0 / p.rate, self.on_step)
        StatusTimer(self, self.status)
        self.publish_observation()
        self.get_logger().info(f"sim robot up: task {p.task}, {list(rig.views)} at {p.rate} Hz")

    # commands -----------------------------------------------------------------------------------
    def on_trajectory(self, msg: JointTrajectory) -> None:
        if not msg.points:
            raise BadInput("trajectory without points", "no_points")
        names, positions = msg.joint_names, msg.points[0].positions
        self.robot.command_joints(named_positions(names, positions, self.robot.joint_names, "trajectory"))

    def on_positions(self, msg: Float64MultiArray) -> None:
        self.robot.command_joints(np.asarray(msg.data, float))

    def on_twist(self, msg: TwistStamped) -> None:
        self.robot.command_twist(*twist_arrays(msg), now=now_ns(self) * 1e-9)

    def on_gripper(self, msg: Float64MultiArray) -> None:
        if len(msg.data) != 1:
            raise BadInput(f"gripper command needs 1 value, got {len(msg.data)}", "wrong_size")
        self.robot.command_gripper(msg.data[0])

    def on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        task = self.get_parameter("task").value
        try:
            self.robot.reset(task)
        except (KeyError, ValueError) as e:
            response.success, response.message = False, str(e)
            return response
        self.publish_observation()
        response.success, response.message = (
            True,
            f"episode {self.robot.episode} of {task} (seed {self.p.seed + self.robot.episode})",
        )
        return response

    def on_set_parameters(self, params) -> SetParametersResult:
        for prm in params:
            if prm.name == "publish_images":
                self.p.publish_images = bool(prm.value)
        return SetParametersResult(successful=True)

    # stepping -----------------------------------------------------------------------------------
    def on_step(self) -> None:
        self.robot.step(now_ns(self) * 1e-9)
        self.publish_observation()

    def publish_observation(self) -> None:
        ns = now_ns(self)
        state = self.robot.state()
        self.joint_pub.publish(joint_state_msg(self.state_names, state[:8], ns))
        if self.ee_pub is not None:
            pose = PoseStamped()
            pose.header.stamp, pose.header.frame_id = to_stamp(ns), self.base_frame
            pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (float(x) for x in state[8:11])
            o = pose.pose.orientation
            o.w, o.x, o.y, o.z = (float(x) for x in self.robot.ee_quaternion())
            self.ee_pub.publish(pose)
        if self.p.publish_images:
            for v, img in self.robot.images().items():
                pub, cam = self.camera_pubs[v]
                if cam.get("compressed", False):
                    msg = CompressedImage()
                    msg.format, msg.data = encode_compressed(img, cam.get("format", "jpeg"))
                    msg.header.stamp, msg.header.frame_id = to_stamp(ns), v
                else:
                    msg = image_msg(img, ns, frame_id=v, encoding=cam.get("encoding", "rgb8"))
                pub.publish(msg)
        info = self.robot.info
        self.progress_pub.publish(Float32(data=float(info["progress"])))
        self.success_pub.publish(Bool(data=bool(info["success"])))

    def status(self) -> dict:
        info = self.robot.info
        return {"episode": self.robot.episode, "steps": self.robot.steps, "progress": info["progress"],
                "stage": info["stage"], "success": info["success"], "rejected": self.guard.as_dict(),
                "unexpected_errors": self.guard.unexpected}  # fmt: skip

    def close(self) -> None:
        self.robot.close()


def main(args: list[str] | None = None) -> None:
    raise SystemExit(run_node(SimRobotNode, args))


if __name__ == "__main__":
    main()
