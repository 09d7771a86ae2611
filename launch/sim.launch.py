"""The MuJoCo sim standing in for an arm: sim_robot + camera_sync + reward + policy (+ recorder).

    ros2 launch launch/sim.launch.py                      # rig real/sim, pick_place
    ros2 launch launch/sim.launch.py rig:=/path/to/rig record:=true

The executables are the console scripts of the robo-reward package, found on PATH (activate the
venv that installed it, or install it into the Python that ROS 2 uses; see real/README.md).
"""

import os

from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node

from launch import LaunchDescription

REAL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "real")


def generate_launch_description():
    rig = LaunchConfiguration("rig")
    params = PathJoinSubstitution([REAL_DIR, rig, "ros_params.yaml"])
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "rig", default_value="sim", description="rig folder under real/ (or a path)"
            ),
            DeclareLaunchArgument("record", default_value="false", description="also start the recorder"),
            Node(
                executable="robo-reward-sim-robot",
                name="sim_robot",
                output="screen",
                parameters=[params, {"rig": rig}],
            ),
            Node(
                executable="robo-reward-camera-sync",
                name="camera_sync",
                output="screen",
                parameters=[params, {"rig": rig}],
            ),
            Node(
                executable="robo-reward-reward",
                name="reward",
                output="screen",
                parameters=[params, {"rig": rig}],
            ),
            LifecycleNode(
                executable="robo-reward-policy",
                name="policy",
                namespace="",
                output="screen",
                parameters=[params, {"rig": rig}],
            ),
            Node(
                executable="robo-reward-recorder",
                name="recorder",
                output="screen",
                parameters=[params, {"rig": rig}],
                condition=IfCondition(LaunchConfiguration("record")),
            ),
        ]
    )
