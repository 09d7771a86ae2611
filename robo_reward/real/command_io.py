"""The policy node's only way to the arm: its command and gripper publishers, behind the gate.

`GatedCommandPublisher` creates the two lifecycle publishers and keeps them to itself; `publish()`
passes every command through the runner's `CommandGate` before building a message, so a command
that skipped the runner (or a bug in it) still cannot reach the arm non-finite or out of limits.
"""

from __future__ import annotations

from typing import Any

from geometry_msgs.msg import TwistStamped
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from robo_reward.real.command_gate import Command, CommandGate
from robo_reward.real.ros_io import RELIABLE_QOS, array_msg, now_ns, trajectory_msg, twist_msg

MSG_TYPES = {"joint_trajectory": JointTrajectory, "position_array": Float64MultiArray, "twist": TwistStamped}


class GatedCommandPublisher:
    def __init__(
        self,
        node: Any,
        gate: CommandGate,
        interface: str,
        topics: dict[str, str],
        joint_names: tuple[str, ...],
        base_frame: str,
        period: float,
    ) -> None:
        self._node, self._gate, self._interface = node, gate, interface
        self._joint_names, self._base_frame, self._period = joint_names, base_frame, period
        self._command = node.create_lifecycle_publisher(MSG_TYPES[interface], topics[interface], RELIABLE_QOS)
        self._gripper = node.create_lifecycle_publisher(Float64MultiArray, topics["gripper"], RELIABLE_QOS)

    def publish(self, command: Command | None) -> Command | None:
        """Admit `command` and publish it; returns what was sent (None: nothing safe to send)."""
        cmd = self._gate.admit(command)
        if cmd is None:
            return None
        if self._interface == "twist":
            msg = twist_msg(cmd.linear, cmd.angular, now_ns(self._node), self._base_frame)
        elif self._interface == "joint_trajectory":
            msg = trajectory_msg(self._joint_names, cmd.joints, self._period)
        else:
            msg = array_msg(cmd.joints)
        self._command.publish(msg)
        if cmd.gripper is not None:
            self._gripper.publish(array_msg([cmd.gripper]))
        return cmd

    def destroy(self) -> None:
        self._node.destroy_lifecycle_publisher(self._command)
        self._node.destroy_lifecycle_publisher(self._gripper)
