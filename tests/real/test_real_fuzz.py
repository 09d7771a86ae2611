"""All five nodes over real rclpy on loopback, fuzzed on every input topic with malformed and
mis-stamped messages while valid sensor data flows: no node dies, every rejection is a checked one,
the policy keeps commanding, and when the cameras stop it still holds within one watchdog period —
even while complete bundles stamped an hour ahead keep arriving."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
import yaml

pytest.importorskip("rclpy")

from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray

from robo_reward.paths import launch_files, rig_configs
from robo_reward.real import NODES
from robo_reward.real.fuzz import HOUR_NS, FakeCameras, Fuzzer, input_topics
from robo_reward.real.launch_graph import NodeGraph, parse_launch_file
from robo_reward.real.probe import Probe
from robo_reward.real.rig import load_rig
from robo_reward.real.ros_io import SYNCED_PREFIX, image_msg, joint_state_msg

pytestmark = [pytest.mark.ros, pytest.mark.timeout(150)]

MESSAGES = 1200  # malformed messages to send while the valid data flows
RATE = 20.0  # Hz of the fake sensors and of the policy's commands


def _write_rig(src, dst, cameras=None, robot=None):
    shutil.copytree(src, dst)
    for name, change in (("cameras", cameras), ("robot", robot)):
        if change is not None:
            data = yaml.safe_load((dst / f"{name}.yaml").read_text())
            change(data)
            (dst / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return load_rig(str(dst))


def _rigs(tmp_path):
    """The graph's rig (wrist camera jpeg-compressed, as FakeCameras sends it), and the sim robot's:
    its sensors renamed out of the way of the fake ones, its command topics unchanged."""

    def wrist_compressed(c):
        c["views"]["wrist"].update(topic="/camera/wrist/image_raw/compressed", compressed=True)

    def sensors_aside(c):
        for v in c["views"].values():
            v["topic"] = "/sim_aside" + v["topic"]

    def robot_aside(r):
        r["joint_state_topic"], r["ee_pose_topic"] = "/sim_aside/joint_states", "/sim_aside/ee_pose"

    src = rig_configs() / "sim"
    rig = _write_rig(src, tmp_path / "rig", cameras=wrist_compressed)
    sim_rig = _write_rig(src, tmp_path / "sim_rig", cameras=sensors_aside, robot=robot_aside)
    return rig, sim_rig


def _stamp(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def test_fuzzed_inputs_crash_no_node_and_the_hold_still_arrives(ros_env, tmp_path):
    rig, sim_rig = _rigs(tmp_path)
    home = np.array(rig.robot["home"])
    target = home + np.array([0.3, 0, 0, 0, 0, 0, 0])  # the policy's constant command (inside the limits)
    nodes, _ = parse_launch_file(launch_files() / "sim.launch.py", record="true")
    extra = {
        "sim_robot": {"rig": str(sim_rig.root), "rate": 5.0, "publish_images": False},
        "camera_sync": {"rig": str(rig.root)},
        "reward": {"rig": str(rig.root), "source": "oracle"},
        "policy": {"rig": str(rig.root), "policy": "constant", "constant_action": [*target.tolist(), 0.0],
                   "command_interface": "position_array", "control_rate": RATE, "autostart": True},
        "recorder": {"rig": str(rig.root), "command_interface": "position_array",
                     "output_dir": str(tmp_path / "rec")},
    }  # fmt: skip
    timeout = float(rig.safety["watchdog_timeout"])
    graph = NodeGraph(nodes, ros_env, tmp_path / "logs", extra_params=extra)
    logs = lambda: "\n".join(f"--- {n} ---\n{graph.log(n)[-2000:]}" for n in graph.specs)  # noqa: E731
    with Probe() as probe, graph:
        for n in NODES:
            probe.watch_status(n)
        commands = probe.record(rig.robot["command"]["position_array"], Float64MultiArray)
        synced = probe.record(f"{SYNCED_PREFIX}/state", JointState)

        def policy_commands(since: float = 0.0) -> list[tuple[float, np.ndarray]]:
            """The policy's commands: seven finite values inside the limits (no fuzz message is)."""
            out = [(t, np.array(m.data)) for t, m in list(commands) if t >= since and len(m.data) == 7]
            return [(t, q) for t, q in out if np.all(np.isfinite(q)) and np.all(np.abs(q) < 4.0)]

        def camera_sync_states(before: float) -> list[JointState]:
            """camera_sync's synced states (the fuzz sends its own on that topic: none passes this)."""
            layout = [*rig.joint_names, rig.robot["gripper"]["joint"], "ee_x", "ee_y", "ee_z"]
            return [m for _, m in list(synced) if list(m.name) == layout and len(m.position) == len(layout)
                    and np.all(np.abs(m.position) < 10.0) and _stamp(m) < before]  # fmt: skip

        sensors = FakeCameras(probe, rig, RATE)
        fuzzer = Fuzzer(probe, input_topics(rig), rate=150.0)
        try:
            up = probe.wait_for(lambda: len(policy_commands()) >= 5 and all(map(probe.status, NODES)), 60)
            assert up, f"the graph did not come up:\n{logs()}"
            fuzz_start = time.time()
            fuzzer.start()
            assert probe.wait_for(lambda: fuzzer.total >= MESSAGES, 60)
            fuzz_s = time.time() - fuzz_start
            moving = [t for t, q in policy_commands(fuzz_start) if not np.allclose(q, home, atol=1e-6)]
            assert len(moving) >= 0.25 * RATE * fuzz_s, f"{len(moving)} commands in {fuzz_s:.1f} s of fuzzing"

            # the cameras go quiet; the fuzz goes on, plus complete bundles stamped an hour ahead
            future = {v: probe.publisher(f"{SYNCED_PREFIX}/{v}", Image) for v in rig.views}
            future_state = probe.publisher(f"{SYNCED_PREFIX}/state", JointState)
            sensors.images = False
            quiet_from, future_sent = time.time(), 0
            names = camera_sync_states(before=quiet_from)[-1].name
            while time.time() - quiet_from < timeout + 1.0:
                ns = probe.node.get_clock().now().nanoseconds + HOUR_NS
                for v, pub in future.items():
                    pub.publish(image_msg(np.zeros((96, 96, 3), np.uint8), ns, v))
                future_state.publish(joint_state_msg(names, [*home, 0.08, 0.45, 0.0, 0.4], ns))
                future_sent += len(future) + 1
                time.sleep(1.0 / RATE)
            last_obs = max(_stamp(m) for m in camera_sync_states(before=quiet_from + 1.0))
            after = policy_commands(last_obs)
            # the hold: the first command from which on every command is the measured pose (a
            # policy whose chunk ran out before the next observation also holds for a moment)
            moving_after = [i for i, (_, q) in enumerate(after) if not np.allclose(q, home, atol=1e-6)]
            steady = moving_after[-1] + 1 if moving_after else 0
            assert steady < len(after) - 5, f"no steady hold after the cameras stopped:\n{logs()}"
            hold_delay = after[steady][0] - last_obs
            assert hold_delay <= timeout + 1.0 / RATE + 0.25, hold_delay
            assert probe.status("policy").get("hold_reason") == "watchdog"
        finally:
            fuzzer.stop()
            sensors.stop()
        time.sleep(1.2)  # one more ~/status of every node (1 Hz)
        statuses = {n: probe.status(n) for n in NODES}
        alive = graph.alive()
        codes = graph.stop()
    rejected = {n: sum(sum(k.values()) for k in s.get("rejected", {}).values()) for n, s in statuses.items()}
    print(f"\nfuzz: {fuzzer.total} malformed messages on {len(fuzzer.sent)} topics + {future_sent} parts of "
          f"bundles an hour ahead; "
          f"rejected per node {rejected}; nodes alive {alive}; exit codes {codes}; hold after {hold_delay:.3f} s")  # fmt: skip
    assert all(alive.values()) and codes == {n: 0 for n in NODES}, f"{alive} {codes}\n{logs()}"
    assert {n: s.get("unexpected_errors") for n, s in statuses.items()} == {n: 0 for n in NODES}, statuses
    for n in NODES:  # each node saw and dropped messages on every fuzzed topic it listens to
        assert rejected[n] > 0, (n, statuses[n])
    sync_rejects = statuses["camera_sync"]["rejected"]
    for t in input_topics(rig):
        if t.sensor_qos:
            assert sync_rejects.get(t.topic), (t.topic, sync_rejects)
    assert statuses["camera_sync"]["rejected"][rig.robot["joint_state_topic"]].get("no_positions")
    policy_rejects = statuses["policy"]["rejected"]
    assert all(policy_rejects.get(f"{SYNCED_PREFIX}/{v}", {}).get("future_stamp") for v in rig.views)
