"""`robo-reward ros launch|lifecycle|estop|status` over real rclpy on loopback: a small graph
(sim_robot + camera_sync + a policy node running an RL fine-tune's folder) is launched by the CLI as
child processes, driven to active, e-stopped and released, then stopped with SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robo_reward.cli import main as cli
from robo_reward.paths import rig_configs
from robo_reward.real.ros_verbs import RosVerbError, parse_launch_arguments, resolve_launch_file

SMALL_GRAPH = """
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from launch import LaunchDescription

PARAMS = {params!r}


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("checkpoint", default_value="random:flow-tiny"),
        Node(executable="robo-reward-sim-robot", name="sim_robot", parameters=[PARAMS]),
        Node(executable="robo-reward-camera-sync", name="camera_sync", parameters=[PARAMS]),
        LifecycleNode(executable="robo-reward-policy", name="policy", namespace="",
                      parameters=[PARAMS, {{"checkpoint": LaunchConfiguration("checkpoint"), "autostart": False}}]),
    ])
"""


def test_launch_files_by_name_and_arguments():
    assert resolve_launch_file("sim").name == "sim.launch.py"
    assert resolve_launch_file("sim.launch.py") == resolve_launch_file("sim")
    with pytest.raises(RosVerbError, match=r"'nope' not found.*real_arm, reward_only, sim"):
        resolve_launch_file("nope")
    assert parse_launch_arguments(["rig:=sim", "record:=true", "x:="]) == {
        "rig": "sim",
        "record": "true",
        "x": "",
    }
    with pytest.raises(RosVerbError, match="'rig=sim' must be written name:=value"):
        parse_launch_arguments(["rig=sim"])


def _cli_error(capsys, *args: str) -> str:
    """What `robo-reward ros ARGS` prints when it refuses (status 2, one line on stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        cli(["ros", *args])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1, err
    return err.strip()


def test_cli_errors_are_one_line(capsys):
    err = _cli_error(capsys, "launch", "sim", "bogus:=1")
    assert err.startswith("robo-reward ros launch: error: ") and err.count("robo-reward") == 1
    assert "unknown launch arguments ['bogus']" in err


def _children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _run(capsys, *args: str) -> str:
    try:
        cli(["ros", *args])
    except SystemExit as e:  # the refusal is on stderr: show it
        pytest.fail(f"robo-reward ros {' '.join(args)} exited {e.code}: {capsys.readouterr().err.strip()}")
    return capsys.readouterr().out.strip()


def _moving(msg) -> bool:
    t = msg.twist
    return any((t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z))


@pytest.mark.ros
@pytest.mark.timeout(240)
def test_launch_lifecycle_estop_status_and_sigterm(ros_env, tmp_path, capsys, steered_policy_folder):
    from geometry_msgs.msg import TwistStamped

    from robo_reward.real.probe import Probe

    _, checkpoint = steered_policy_folder
    launch_file = tmp_path / "small.launch.py"
    launch_file.write_text(SMALL_GRAPH.format(params=str(rig_configs() / "sim" / "ros_params.yaml")))
    log = (tmp_path / "launcher.out").open("w")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "robo_reward.cli", "ros", "launch", str(launch_file), f"checkpoint:={checkpoint}",
         "--log-dir", str(tmp_path / "logs")],
        env=ros_env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        with Probe() as probe:
            probe.watch_status("policy")
            twists = probe.record("/servo_node/delta_twist_cmds", TwistStamped)
            assert probe.wait_for(lambda: probe.status("policy"), 40), (tmp_path / "launcher.out").read_text()
            nodes = _children(launcher.pid)
            assert len(nodes) == 3

            assert (
                _run(capsys, "lifecycle", "policy")
                == "/policy: unconfigured (transitions: configure, shutdown)"
            )
            assert "no 'activate' transition from there; available: configure" in _cli_error(
                capsys, "lifecycle", "policy", "activate"
            )
            assert _run(capsys, "lifecycle", "policy", "configure") == "/policy: unconfigured -> inactive"
            assert _run(capsys, "lifecycle", "/policy", "activate") == "/policy: inactive -> active"
            assert probe.wait_for(lambda: any(_moving(m) for _, m in twists), 20), (
                "the policy never moved the arm"
            )

            assert _run(capsys, "estop", "trip") == "e-stop engaged (latched)"
            tripped = time.time()
            assert probe.wait_for(lambda: len([1 for t, _ in twists if t > tripped + 0.3]) >= 3, 5)
            held = [m for t, m in twists if t > tripped + 0.3]
            assert not any(_moving(m) for m in held), "commands moved the arm while e-stopped"
            status = json.loads(_run(capsys, "status", "policy"))
            assert status["estop"] is True and status["hold_reason"] == "estop" and status["active"] is True

            assert _run(capsys, "estop", "reset") == "e-stop released"
            released = time.time()
            assert probe.wait_for(lambda: any(_moving(m) for t, m in twists if t > released), 10)
            assert _run(capsys, "lifecycle", "policy", "deactivate") == "/policy: active -> inactive"

        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=30) == 0, (tmp_path / "launcher.out").read_text()
    finally:
        if launcher.poll() is None:
            launcher.kill()
        log.close()
    out = (tmp_path / "launcher.out").read_text()
    assert "started sim_robot, camera_sync, policy" in out and "stopped sim_robot, camera_sync, policy" in out
    assert "non-zero" not in out
    assert not [pid for pid in nodes if Path(f"/proc/{pid}").exists()], "a node outlived the launcher"


@pytest.mark.ros
def test_verbs_name_an_absent_node_in_one_line(ros_env, capsys):
    assert _cli_error(capsys, "estop", "trip", "--node", "nobody", "--timeout", "0.5") == (
        "robo-reward ros estop: error: service /nobody/estop not available after 0.5s: "
        "is the node running, with this shell's ROS_DOMAIN_ID?"
    )


@pytest.mark.ros
@pytest.mark.timeout(180)
def test_a_node_that_cannot_start_is_named_with_its_reason(ros_env, tmp_path):
    """A reward node asked for the GRM without a checkpoint exits 1; the launcher says so in one line."""
    from robo_reward.real.ros_verbs import run_launch_file

    launch_file = tmp_path / "bad.launch.py"
    launch_file.write_text(
        "from launch_ros.actions import Node\n\nfrom launch import LaunchDescription\n\n\n"
        "def generate_launch_description():\n"
        '    return LaunchDescription([Node(executable="robo-reward-reward", name="reward",\n'
        '                                   parameters=[{"source": "grm", "checkpoint": ""}])])\n'
    )
    said: list[str] = []
    assert run_launch_file(launch_file, {}, tmp_path / "logs", ros_env, say=said.append) == 1
    assert said[0] == f"started reward; logs in {tmp_path / 'logs'}/ (Ctrl-C stops them)"
    assert said[1] == (
        "reward exited with code 1: [robo_reward] node failed to start: ValueError: the grm progress source "
        f"needs a checkpoint (log: {tmp_path / 'logs' / 'reward.log'})"
    )
    assert said[2] == "stopped reward; non-zero exits: {'reward': 1}"
