"""A real arm: camera_sync + reward + policy + recorder against the topics of real/<rig>/.

    ros2 launch launch/real_arm.launch.py rig:=example_rig
    ros2 lifecycle set /policy configure && ros2 lifecycle set /policy activate   # when autostart is false
    ros2 service call /policy/estop std_srvs/srv/Trigger                         # latched hold

The arm's driver, controllers and camera drivers are started by their own launch files.
"""

import os

from launch.actions import DeclareLaunchArgument
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
            ),
        ]
    )
