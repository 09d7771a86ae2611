"""Reward only: camera_sync + reward on a rig's cameras (watch progress while a person or another
controller moves the arm; record with `ros2 bag record /robo_reward/progress ...`).

    ros2 launch launch/reward_only.launch.py rig:=example_rig
"""

import os

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node

from launch import LaunchDescription

REAL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "real")


def generate_launch_description():
    rig = LaunchConfiguration("rig")
    params = PathJoinSubstitution([REAL_DIR, rig, "ros_params.yaml"])
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "rig", default_value="example_rig", description="rig folder under real/ (or a path)"
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
        ]
    )
