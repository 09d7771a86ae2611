"""Static checks of launch/*.launch.py and real/<rig>/ without the `launch` package:
executables are declared console scripts, parameter files exist and parse, and every parameter they
set is declared by its node with the same type."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import yaml

from robo_reward.paths import launch_files, project_root, rig_configs
from robo_reward.real import CONSOLE_SCRIPTS, NODES
from robo_reward.real.launch_graph import LaunchFileError, node_command, parse_launch_file
from robo_reward.real.params import check_values
from robo_reward.real.policy_core import ArmSpec
from robo_reward.real.rig import RIG_FILES, load_rig
from robo_reward.real.safety import SafetyLimits

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

LAUNCH = sorted(launch_files().glob("*.launch.py"))
RIGS = sorted(d.name for d in rig_configs().iterdir() if (d / "robot.yaml").exists())


def node_params(node_name: str):
    pytest.importorskip("rclpy")  # the node modules declare PARAMS next to their rclpy code
    return importlib.import_module(NODES[node_name][1]).PARAMS


def test_launch_files_and_rigs_exist():
    assert {p.name for p in LAUNCH} >= {"sim.launch.py", "real_arm.launch.py", "reward_only.launch.py"}
    assert {"sim", "example_rig"} <= set(RIGS)


@pytest.mark.parametrize("path", LAUNCH, ids=lambda p: p.name)
def test_executables_are_declared_console_scripts(path):
    scripts = tomllib.loads((project_root() / "pyproject.toml").read_text())["project"].get("scripts", {})
    nodes, _ = parse_launch_file(path, **({"record": "true"} if path.name == "sim.launch.py" else {}))
    assert nodes, f"{path.name} starts no node"
    for spec in nodes:
        assert spec.executable in CONSOLE_SCRIPTS, (
            f"{path.name}:{spec.line}: {spec.executable} is no node script"
        )
        assert scripts.get(spec.executable) == CONSOLE_SCRIPTS[spec.executable], (
            f'pyproject.toml [project.scripts] needs {spec.executable} = "{CONSOLE_SCRIPTS[spec.executable]}"'
        )
        assert spec.name in NODES and NODES[spec.name][0] == spec.executable
        assert spec.lifecycle == (spec.name == "policy"), "the policy (only) is a lifecycle node"


def _launch_args(path: Path, rig: str) -> dict[str, str]:
    return {"rig": rig, **({"record": "true"} if "record" in parse_launch_file(path)[1] else {})}


def _configures_all(path: Path, rig: str) -> bool:
    nodes, _ = parse_launch_file(path, **_launch_args(path, rig))
    return {n.name for n in nodes} <= set(
        yaml.safe_load((rig_configs() / rig / "ros_params.yaml").read_text())
    )


# a launch file goes with the rigs whose ros_params.yaml configures every node it starts
PAIRS = [(p, r) for p in LAUNCH for r in RIGS if _configures_all(p, r)]


def test_each_launch_file_has_a_rig():
    names = {(p.name, r) for p, r in PAIRS}
    assert {("sim.launch.py", "sim"), ("real_arm.launch.py", "example_rig"), ("reward_only.launch.py", "example_rig"),
            ("real_arm.launch.py", "sim"), ("reward_only.launch.py", "sim")} <= names  # fmt: skip


@pytest.mark.parametrize("path, rig", PAIRS, ids=[f"{p.name}-{r}" for p, r in PAIRS])
def test_parameter_files_parse_and_match_declarations(path, rig):
    nodes, _ = parse_launch_file(path, **_launch_args(path, rig))
    for spec in nodes:
        declared = node_params(spec.name)
        for entry in spec.parameters:
            if isinstance(entry, dict):
                problems = check_values(declared, entry)
                assert not problems, f"{path.name} → {spec.name}: {problems}"
                continue
            file = Path(entry)
            assert file.exists(), f"{path.name} → {spec.name}: parameter file {file} missing"
            data = yaml.safe_load(file.read_text())
            problems = check_values(declared, data[spec.name]["ros__parameters"])
            assert not problems, f"{file} → {spec.name}: {problems}"


@pytest.mark.parametrize("rig", RIGS)
def test_every_yaml_parameter_is_declared_with_its_type(rig):
    data = yaml.safe_load((rig_configs() / rig / "ros_params.yaml").read_text())
    for node_name, block in data.items():
        assert node_name in NODES, (
            f"{rig}/ros_params.yaml: unknown node {node_name!r} (nodes: {sorted(NODES)})"
        )
        assert set(block) == {"ros__parameters"}, f"{rig}/ros_params.yaml: {node_name} needs ros__parameters:"
        values = block["ros__parameters"]
        problems = check_values(node_params(node_name), values)
        assert not problems, f"{rig}/ros_params.yaml → {node_name}: {problems}"
        assert values.get("rig", rig) == rig, f"{rig}/ros_params.yaml → {node_name}: rig should be {rig!r}"


@pytest.mark.parametrize("rig", RIGS)
def test_rig_files_parse_into_the_cores(rig):
    for name in RIG_FILES:
        assert isinstance(yaml.safe_load((rig_configs() / rig / name).read_text()), dict), f"{rig}/{name}"
    r = load_rig(rig)
    arm = ArmSpec.from_config(r.robot)
    limits = SafetyLimits.from_config(r.robot, r.safety)
    assert len(arm.joint_names) == len(limits.joint_lower) == len(r.robot.get("home", arm.joint_names))
    for iface in ("joint_trajectory", "position_array", "twist", "gripper"):
        assert r.robot["command"][iface].startswith("/"), f"{rig}/robot.yaml command.{iface}"
    for view in r.views:
        cam = r.camera(view)
        assert cam["topic"].startswith("/") and int(cam["width"]) > 0 and int(cam["height"]) > 0
        if "calibration" in cam:  # relative to the repository root (calibration/<rig>/<view>.json)
            assert (project_root() / cam["calibration"]).exists(), (
                f"{rig}/cameras.yaml {view}: {cam['calibration']}"
            )


def test_node_command_matches_ros2_launch(tmp_path):
    nodes, _ = parse_launch_file(launch_files() / "sim.launch.py", rig="sim")
    policy = next(n for n in nodes if n.name == "policy")
    cmd = node_command(policy, tmp_path, extra={"seed": 3})
    assert cmd[cmd.index("--ros-args") + 1 : cmd.index("--ros-args") + 3] == ["-r", "__node:=policy"]
    files = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--params-file"]
    assert files[0].endswith("real/sim/ros_params.yaml") and len(files) == 3  # file, {"rig"}, extra
    assert yaml.safe_load(Path(files[2]).read_text()) == {"policy": {"ros__parameters": {"seed": 3}}}


def test_unsupported_launch_constructs_fail_loudly(tmp_path):
    bad = tmp_path / "bad.launch.py"
    bad.write_text(
        "from launch_ros.actions import Node\nfrom launch import LaunchDescription\n"
        "def generate_launch_description():\n"
        "    return LaunchDescription([Node(package='x', executable='robo-reward-policy', name='policy')])\n"
    )
    with pytest.raises(LaunchFileError, match="bad.launch.py:4: unsupported Node arguments"):
        parse_launch_file(bad)
    bad.write_text("import os\nx = os.system('true')\n")
    with pytest.raises(LaunchFileError, match="unsupported call os.system"):
        parse_launch_file(bad)
    with pytest.raises(LaunchFileError, match="unknown launch arguments"):
        parse_launch_file(launch_files() / "reward_only.launch.py", bogus="1")


def test_a_node_process_dies_with_its_launcher(tmp_path):
    """A process started the way NodeGraph starts nodes is gone once its launcher is SIGKILLed."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pid_file = tmp_path / "child.pid"
    launcher = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time\n"
        "from robo_reward.real.launch_graph import _die_with_parent\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], preexec_fn=_die_with_parent)\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )])  # fmt: skip
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    child = int(pid_file.read_text())
    os.kill(launcher.pid, signal.SIGKILL)
    launcher.wait()
    deadline = time.monotonic() + 10
    stat = Path(f"/proc/{child}/stat")
    while stat.exists() and stat.read_text().split()[2] != "Z" and time.monotonic() < deadline:
        time.sleep(0.1)
    state = stat.read_text().split()[2] if stat.exists() else "gone"
    assert state in ("gone", "Z"), (
        f"the node process outlived its launcher (state {state})"
    )  # Z: init reaps it
