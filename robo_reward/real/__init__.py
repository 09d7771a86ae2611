"""ROS 2 nodes (rclpy) for real arms and for the MuJoCo sim standing in for one.

Each node is a thin shell over a ROS-free core with its own unit tests:

    node          module (core)                        console script
    sim_robot     sim_robot (sim_robot_core)           robo-reward-sim-robot
    camera_sync   camera_sync (sync_core)              robo-reward-camera-sync
    reward        reward (reward_core)                 robo-reward-reward
    policy        policy (policy_core, backends,       robo-reward-policy      (lifecycle node)
                  safety)
    recorder      recorder (recorder_core)             robo-reward-recorder

Data flow (topics of the sim rig; a real rig renames the arm's topics in real/<rig>/robot.yaml):

    sim_robot ─ /camera/<view>/image_raw, /joint_states, /robo_reward/ee_pose ─▶ camera_sync
    camera_sync ─ /robo_reward/synced/<view> + /robo_reward/synced/state (one shared stamp) ─▶
        reward   ─▶ /robo_reward/progress, /robo_reward/reward, /robo_reward/success
        policy   ─▶ robot.yaml `command` topic (JointTrajectory | Float64MultiArray | TwistStamped)
                    + gripper (Float64MultiArray) ─▶ sim_robot / the arm
        recorder ─▶ <output_dir>/episode_<k> (LeRobotDataset v3)

Nothing in this package imports rclpy at import time; only the node modules and `ros_io` do.
"""

from __future__ import annotations

NODES: dict[str, tuple[str, str]] = {
    "sim_robot": ("robo-reward-sim-robot", "robo_reward.real.sim_robot"),
    "camera_sync": ("robo-reward-camera-sync", "robo_reward.real.camera_sync"),
    "reward": ("robo-reward-reward", "robo_reward.real.reward"),
    "policy": ("robo-reward-policy", "robo_reward.real.policy"),
    "recorder": ("robo-reward-recorder", "robo_reward.real.recorder"),
}
# [project.scripts] entries of pyproject.toml: console script → "module:function"
CONSOLE_SCRIPTS: dict[str, str] = {script: f"{module}:main" for script, module in NODES.values()}
SCRIPT_MODULES: dict[str, str] = {script: module for script, module in NODES.values()}
