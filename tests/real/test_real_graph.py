"""The nodes over real rclpy on loopback, started from the launch files' own node lists and
parameter files (as `ros2 launch` would), driven and watched by an in-process Probe."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
import yaml

pytest.importorskip("rclpy")

from geometry_msgs.msg import TwistStamped
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Bool, Float32, Float64MultiArray
from std_srvs.srv import Trigger

from robo_reward.paths import launch_files, rig_configs
from robo_reward.real import NODES
from robo_reward.real.fuzz import FakeCameras
from robo_reward.real.launch_graph import NodeGraph, parse_launch_file
from robo_reward.real.probe import Probe
from robo_reward.real.rig import load_rig
from robo_reward.real.ros_io import image_msg

pytestmark = [pytest.mark.ros, pytest.mark.timeout(150)]


def _stamp(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def _logs(graph: NodeGraph) -> str:
    return "\n".join(f"--- {n} ---\n{graph.log(n)[-3000:]}" for n in graph.specs)


def test_sim_episode_end_to_end(ros_env, tmp_path):
    """sim_robot → camera_sync → reward + policy → sim_robot, recorded by the recorder; then the
    cameras go quiet and the policy holds within one watchdog period; then a lifecycle deactivate."""
    from robo_reward.data.lerobot_io import load_episodes

    rig = load_rig("sim")
    timeout = float(rig.safety["watchdog_timeout"])
    nodes, _ = parse_launch_file(launch_files() / "sim.launch.py", record="true")
    assert {n.name for n in nodes} == set(NODES)
    params = yaml.safe_load((rig.root / "ros_params.yaml").read_text())
    period = 1.0 / params["policy"]["ros__parameters"]["control_rate"]
    graph = NodeGraph(
        nodes, ros_env, tmp_path / "logs", extra_params={"recorder": {"output_dir": str(tmp_path / "rec")}}
    )
    with Probe() as probe, graph:
        for n in NODES:
            probe.watch_status(n)
        twists = probe.record(rig.robot["command"]["twist"], TwistStamped)
        synced = probe.record("/robo_reward/synced/state", JointState)
        progress = probe.record("/robo_reward/progress", Float32)
        rewards = probe.record("/robo_reward/reward", Float32)
        success = probe.record("/robo_reward/success", Bool)
        timing = probe.record("/policy/timing", Float64MultiArray)
        up = probe.wait_for(
            lambda: probe.status("policy").get("commands", 0) > 0 and probe.status("recorder"), 60
        )
        assert up, f"the graph did not come up:\n{_logs(graph)}"

        # one recorded episode of pick_place
        assert probe.call(Trigger, "/sim_robot/reset").success
        assert probe.call(Trigger, "/reward/reset").success
        assert probe.call(Trigger, "/recorder/start").success
        n0 = len(twists)
        assert probe.wait_for(lambda: probe.status("recorder").get("frames", 0) >= 25, 30), _logs(graph)
        stop = probe.call(Trigger, "/recorder/stop")
        assert stop.success, stop.message
        assert probe.wait_for(lambda: probe.status("recorder").get("written"), 60), _logs(graph)
        (ep,) = load_episodes(probe.status("recorder")["written"][0])
        assert len(ep) >= 25 and sorted(ep.views) == sorted(rig.views)
        assert (
            ep.views["front"].shape[1:] == (96, 96, 3) and ep.state.shape[1] == 11 and ep.action.shape[1] == 7
        )
        assert np.abs(np.diff(ep.state[:, :7], axis=0)).max() > 1e-3, "the arm never moved"
        assert len(twists) - n0 >= 20
        assert progress and all(0.0 <= m.data <= 1.0 for _, m in progress)
        assert rewards and all(np.isfinite(m.data) for _, m in rewards) and success
        latencies = [m.data[3] - m.data[0] for _, m in timing if np.isfinite(m.data[1])]
        assert latencies and np.median(latencies) < 0.25, latencies

        # the cameras stop: the policy holds (zero twist) within one watchdog period
        assert probe.set_parameter("sim_robot", "publish_images", False)
        assert probe.wait_for(lambda: probe.status("policy").get("hold_reason") == "watchdog", 5), _logs(
            graph
        )
        last_obs = _stamp(synced[-1][1])

        def hold_commands():
            return [m for _, m in list(twists) if _stamp(m) > last_obs and not any((m.twist.linear.x,
                    m.twist.linear.y, m.twist.linear.z, m.twist.angular.x, m.twist.angular.y,
                    m.twist.angular.z))]  # fmt: skip

        probe.wait_for(hold_commands, 2)  # the node's hold may still be in flight to the probe
        holds = hold_commands()
        assert holds, "no hold command after the cameras stopped"
        assert _stamp(holds[0]) - last_obs <= timeout + period + 0.05
        assert probe.status("policy")["watchdog_trips"] >= 1

        # lifecycle: deactivate = safe stop
        probe.set_parameter("sim_robot", "publish_images", True)
        assert probe.wait_for(lambda: probe.status("policy").get("hold_reason") is None, 10)
        assert probe.change_state("policy", "deactivate")
        assert probe.lifecycle_state("policy") == "inactive"
        time.sleep(0.3)
        last = twists[-1][1].twist
        assert (last.linear.x, last.linear.y, last.linear.z) == (0.0, 0.0, 0.0)
        n_inactive = len(twists)
        time.sleep(0.5)
        assert len(twists) == n_inactive, "an inactive policy node must not command"
        codes = graph.stop()
    assert codes == {n: 0 for n in NODES}, f"{codes}\n{_logs(graph)}"


def test_camera_faults_clamping_estop_and_watchdog(ros_env, tmp_path):
    """camera_sync + policy (a scripted constant policy far outside the joint limits) against fake
    cameras: mixed encodings sync, malformed images are dropped while the node keeps running, every
    command is clamped, the e-stop latches, and silent cameras make the policy hold in time."""
    rig_dir = tmp_path / "rig"
    shutil.copytree(rig_configs() / "sim", rig_dir)
    cams = yaml.safe_load((rig_dir / "cameras.yaml").read_text())
    cams["views"]["wrist"].update(topic="/camera/wrist/image_raw/compressed", compressed=True)
    (rig_dir / "cameras.yaml").write_text(yaml.safe_dump(cams))
    rig = load_rig(str(rig_dir))
    lo, hi = (
        np.array([j["lower"] for j in rig.robot["joints"]]),
        np.array([j["upper"] for j in rig.robot["joints"]]),
    )
    margin, vmax = rig.safety["joint_limit_margin"], rig.safety["max_joint_velocity"]
    rate, timeout = 20.0, rig.safety["watchdog_timeout"]
    wild = [*(hi + 1.0).tolist(), 5.0]  # every joint past its upper limit, gripper past closed

    nodes, _ = parse_launch_file(launch_files() / "real_arm.launch.py", rig=str(rig_dir))
    nodes = [n for n in nodes if n.name in ("camera_sync", "policy")]
    extra = {"policy": {"policy": "constant", "constant_action": wild, "command_interface": "position_array",
                        "control_rate": rate, "task": "hold still", "autostart": True}}  # fmt: skip
    graph = NodeGraph(nodes, ros_env, tmp_path / "logs", extra_params=extra)
    with Probe() as probe, graph:
        probe.watch_status("camera_sync")
        probe.watch_status("policy")
        commands = probe.record(rig.robot["command"]["position_array"], Float64MultiArray)
        side = probe.record("/robo_reward/synced/side", Image)
        cameras = FakeCameras(probe, rig, rate)
        try:
            assert probe.wait_for(lambda: len(commands) >= 10, 40), _logs(graph)
            # mixed encodings became rgb8: mono replicated, jpeg decoded
            s = side[-1][1]
            assert s.encoding == "rgb8" and (s.height, s.width) == (96, 96)
            px = np.frombuffer(bytes(s.data), np.uint8).reshape(96, 96, 3)[48, 10]
            assert px[0] == px[1] == px[2] > 0

            # malformed images: dropped and counted, the node keeps syncing
            bad_size = image_msg(np.zeros((48, 48, 3), np.uint8), 0)
            bad_encoding = image_msg(np.zeros((96, 96, 3), np.uint8), 0)
            bad_encoding.encoding = "yuv422"
            bad_jpeg = CompressedImage(format="jpeg", data=b"garbage")
            cameras.malformed += [("front", bad_size), ("side", bad_encoding), ("wrist", bad_jpeg)]
            ok = probe.wait_for(
                lambda: sum(probe.status("camera_sync").get("malformed", {}).values()) >= 3, 10
            )
            assert ok, probe.status("camera_sync")
            n = len(side)
            assert probe.wait_for(lambda: len(side) > n + 5, 5), "camera_sync stopped after malformed images"
            assert graph.alive()["camera_sync"]

            # every command respects the limits; the clamps are reported
            assert probe.wait_for(lambda: np.allclose(commands[-1][1].data, hi - margin), 30)  # it gets there
            targets = np.array([m.data for _, m in commands])
            assert targets.shape[1] == 7
            assert np.all(targets <= hi - margin + 1e-9) and np.all(targets >= lo + margin - 1e-9)
            # Rate limits bind between consecutive policy commands; a watchdog hold (possible when a
            # loaded machine delays camera frames) commands the measured joints, here `home`.
            policy_rows = ~np.all(np.isclose(targets, np.asarray(cameras.home)[None, :7]), axis=1)
            steps = np.abs(np.diff(targets, axis=0))[policy_rows[1:] & policy_rows[:-1]]
            assert len(steps) >= 5 and steps.max() <= vmax / rate + 1e-9
            clamps = probe.status("policy")["clamps"]
            assert clamps.get("joint_limit", 0) > 0 and clamps.get("gripper_limit", 0) > 0

            # e-stop latches a hold (measured joints) until reset
            assert probe.call(Trigger, "/policy/estop").success
            time.sleep(0.3)
            n = len(commands)
            assert probe.wait_for(lambda: len(commands) > n + 3, 5)
            np.testing.assert_allclose(commands[-1][1].data, rig.robot["home"], atol=1e-6)
            assert probe.wait_for(lambda: probe.status("policy")["estop"], 3)  # status comes at 1 Hz
            assert probe.call(Trigger, "/policy/reset_estop").success
            assert probe.wait_for(lambda: not np.allclose(commands[-1][1].data, rig.robot["home"]), 5)

            # silent cameras, joint states still flowing: hold within one watchdog period
            synced_state = probe.record("/robo_reward/synced/state", JointState)
            assert probe.wait_for(lambda: len(synced_state) > 2, 5)
            cameras.images = False
            assert probe.wait_for(lambda: probe.status("policy").get("hold_reason") == "watchdog", 5)
            last_obs = _stamp(synced_state[-1][1])
            home = rig.robot["home"]
            hold_at = next(t for t, m in commands if t > last_obs and np.allclose(m.data, home, atol=1e-6))
            assert hold_at - last_obs <= timeout + 1.0 / rate + 0.1

            # cameras back: it moves again; SIGTERM while moving: a last hold, then exit 0
            cameras.images = True
            assert probe.wait_for(lambda: not np.allclose(commands[-1][1].data, home), 5)
            assert graph.stop(["policy"]) == {"policy": 0}
            assert probe.wait_for(lambda: np.allclose(commands[-1][1].data, home, atol=1e-6), 2)
        finally:
            cameras.stop()
        codes = graph.stop()
    assert codes == {"camera_sync": 0}, f"{codes}\n{_logs(graph)}"
