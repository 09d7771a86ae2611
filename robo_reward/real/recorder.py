"""recorder node: synced observations + the commands sent to the arm → LeRobotDataset v3 episodes.

`~/start` (Trigger) begins an episode, `~/stop` ends it and writes it, in a background thread, as a
LeRobotDataset v3 at `<output_dir>/episode_<k>` (robo_reward.data.lerobot_io.write_dataset; each
folder loads with `LeRobotDataset(repo_id, root=folder)` or `load_episodes(folder)`). The action
column is in the policy's action space (see recorder_core). The outcome label comes from the reward
node's `/robo_reward/success` when it runs (success seen during the episode → "success", else
"failure"); without it episodes are labelled "success" (teleoperated demonstrations). A message
that cannot be recorded (NaN, wrong sizes, a bad synced part) is dropped, counted in `~/status`
`rejected` and logged (throttled per topic).
"""

from __future__ import annotations

import threading
from pathlib import Path

from geometry_msgs.msg import TwistStamped
from rclpy.node import Node
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robo_reward.real.inputs import BadInput, InputGuard, named_positions
from robo_reward.real.params import Param, declare
from robo_reward.real.policy_core import COMMAND_INTERFACES, ArmSpec
from robo_reward.real.recorder_core import EpisodeRecorder
from robo_reward.real.rig import load_rig, resolve_task
from robo_reward.real.ros_io import (
    RELIABLE_QOS,
    SYNCED_PREFIX,
    StatusTimer,
    SyncedSubscriber,
    run_node,
    subscribe,
    twist_arrays,
)

PARAMS = (
    Param("rig", "sim", "rig folder under real/ (or a path): views, joints, command topics"),
    Param("output_dir", "runs/recordings", "episodes are written to <output_dir>/episode_<k>"),
    Param("task", "", "instruction stored with each episode (or a registered sim task name)"),
    Param("fps", 10.0, "frame rate of the recorded dataset (the synced observation rate)"),
    Param(
        "command_interface",
        "twist",
        "which command topic to record: joint_trajectory | position_array | twist",
    ),
    Param("max_frames", 10000, "frames kept per episode at most (memory bound)"),
    Param("input_prefix", SYNCED_PREFIX, "prefix of camera_sync's synced observation topics"),
    Param("success_topic", "/robo_reward/success", "the reward node's success flag (outcome label)"),
)


def _preload_writer() -> None:
    import lerobot.datasets.lerobot_dataset  # noqa: F401

    import robo_reward.data.lerobot_io  # noqa: F401


class RecorderNode(Node):
    def __init__(self) -> None:
        super().__init__("recorder")
        self.p = p = declare(self, PARAMS)
        rig = load_rig(p.rig)
        if p.command_interface not in COMMAND_INTERFACES:
            raise ValueError(f"command_interface must be one of {sorted(COMMAND_INTERFACES)}")
        self.arm = ArmSpec.from_config(rig.robot)
        self.core = EpisodeRecorder(self.arm, COMMAND_INTERFACES[p.command_interface], p.fps, p.max_frames)
        self.task = resolve_task(p.task)
        self.output_dir = Path(p.output_dir).expanduser()
        cmd = rig.robot["command"]
        iface = p.command_interface
        self.guard = guard = InputGuard(max_stamp_lead=rig.max_stamp_lead)
        handlers = {"twist": (TwistStamped, self.on_twist), "joint_trajectory": (JointTrajectory, self.on_trajectory),
                    "position_array": (Float64MultiArray, self.on_positions)}  # fmt: skip
        subscribe(self, guard, handlers[iface][0], cmd[iface], handlers[iface][1], RELIABLE_QOS)
        subscribe(self, guard, Float64MultiArray, cmd["gripper"], self.on_gripper, RELIABLE_QOS)
        subscribe(self, guard, Bool, p.success_topic, self.on_success, RELIABLE_QOS)
        self.synced = SyncedSubscriber(self, rig.views, self.core.add, guard, p.input_prefix)
        self.create_service(Trigger, "~/start", self.on_start)
        self.create_service(Trigger, "~/stop", self.on_stop)
        self.lock = threading.Lock()
        self.writers: list[threading.Thread] = []
        self.written: list[str] = []
        self.errors: list[str] = []
        self.success_seen: bool | None = None
        self.episode_index = self._next_index()
        # the dataset writer pulls in lerobot (seconds): load it now, not when the first episode ends
        threading.Thread(target=_preload_writer, daemon=True).start()
        StatusTimer(self, self.status)

    def _next_index(self) -> int:
        existing = [
            int(d.name.split("_")[-1])
            for d in self.output_dir.glob("episode_*")
            if d.name.split("_")[-1].isdigit()
        ]
        return max(existing, default=-1) + 1

    # commands -----------------------------------------------------------------------------------
    def on_twist(self, msg: TwistStamped) -> None:
        self.core.set_twist_command(*twist_arrays(msg))

    def on_trajectory(self, msg: JointTrajectory) -> None:
        if not msg.points:
            raise BadInput("trajectory without points", "no_points")
        positions = msg.points[0].positions
        self.core.set_joint_command(
            named_positions(msg.joint_names, positions, self.arm.joint_names, "trajectory")
        )

    def on_positions(self, msg: Float64MultiArray) -> None:
        self.core.set_joint_command(list(msg.data))

    def on_gripper(self, msg: Float64MultiArray) -> None:
        if len(msg.data) != 1:
            raise BadInput(f"gripper command needs 1 value, got {len(msg.data)}", "wrong_size")
        self.core.set_gripper_command(msg.data[0])

    def on_success(self, msg: Bool) -> None:
        if self.core.recording:
            self.success_seen = bool(self.success_seen) or msg.data

    # services -----------------------------------------------------------------------------------
    def on_start(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self.core.recording:
            response.success, response.message = False, "already recording"
            return response
        self.core.start(self.task)
        self.success_seen = None
        response.success, response.message = True, f"recording episode {self.episode_index}"
        return response

    def on_stop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if not self.core.recording:
            response.success, response.message = False, "not recording"
            return response
        outcome = "success" if self.success_seen in (None, True) else "failure"
        episode = self.core.stop(outcome)
        if episode is None:
            response.success, response.message = False, "the episode holds no synced observation"
            return response
        root = self.output_dir / f"episode_{self.episode_index:04d}"
        self.episode_index += 1
        names = list(self.core.last_state_names) or None
        writer = threading.Thread(target=self._write, args=(episode, root, names), daemon=False)
        writer.start()
        self.writers.append(writer)
        response.success, response.message = True, f"writing {len(episode)} frames to {root}"
        return response

    def _write(self, episode, root: Path, state_names: list[str] | None) -> None:
        from robo_reward.data.lerobot_io import write_dataset

        try:
            write_dataset([episode], root, state_names=state_names)
            with self.lock:
                self.written.append(str(root))
            self.get_logger().info(f"wrote {root} ({len(episode)} frames)")
        except Exception as e:
            with self.lock:
                self.errors.append(f"{root}: {type(e).__name__}: {e}")
            self.get_logger().error(f"could not write {root}: {e}")

    def status(self) -> dict:
        with self.lock:
            return {
                "recording": self.core.recording,
                "frames": len(self.core.frames),
                "written": list(self.written),
                "writing": sum(w.is_alive() for w in self.writers),
                "errors": list(self.errors),
                "rejected": self.guard.as_dict(),
                "unexpected_errors": self.guard.unexpected,
            }

    def close(self) -> None:
        """Finish any episode being written (and write an unfinished one) before exiting."""
        if self.core.recording:
            self.on_stop(Trigger.Request(), Trigger.Response())
        for w in self.writers:
            w.join()


def main(args: list[str] | None = None) -> None:
    raise SystemExit(run_node(RecorderNode, args))


if __name__ == "__main__":
    main()
