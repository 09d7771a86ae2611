"""`robo-reward ros ...`: bring up, stop, switch and read the ROS 2 graph without a ROS 2 command line.

    robo-reward ros launch sim [rig:=sim] [record:=true]   # ros2 launch launch/sim.launch.py ...
    robo-reward ros lifecycle policy [configure|activate|deactivate|cleanup|shutdown]
    robo-reward ros estop trip|reset [--node policy]
    robo-reward ros status policy

The ROS work is robo_reward.real.ros_verbs; these functions parse, call it and print.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

from tyro.conf import Positional, arg

from robo_reward.real.ros_verbs import RosVerbError
from robo_reward.utils.errors import UserError

LifecycleAction = Literal["get", "configure", "activate", "deactivate", "cleanup", "shutdown"]
Node = Annotated[str, arg(metavar="NODE")]


@contextmanager
def _one_line_errors():
    """A verb's failure is the user's to fix (a node not running, a bad launch argument): the CLI
    prints it as its one-line `robo-reward ros <verb>: error: ...`."""
    try:
        yield
    except RosVerbError as e:
        raise UserError(str(e)) from None


@contextmanager
def _probe():
    from robo_reward.real.ros_verbs import open_probe

    with _one_line_errors():
        probe = open_probe()
        try:
            yield probe
        finally:
            probe.close()


def launch(
    launch_file: Positional[Annotated[str, arg(metavar="LAUNCH_FILE")]],
    args: Positional[Annotated[tuple[str, ...], arg(metavar="[NAME:=VALUE ...]")]] = (),
    log_dir: Path = Path("runs/launch_logs"),
) -> None:
    """Start a launch file's nodes as child processes, as `ros2 launch` would (same executables,
    names and parameter files), until Ctrl-C or SIGTERM; then stop them all (the policy holds first).

    LAUNCH_FILE: a path, or a file of launch/ by name (sim, real_arm, reward_only). ARGS: launch
    arguments as name:=value. One log file per node in LOG_DIR. Nodes use this shell's
    ROS_DOMAIN_ID; discovery stays on this machine. If a node exits, the others are stopped too."""
    from robo_reward.real import ros_verbs
    from robo_reward.real.ros_env_vars import node_environment

    with _one_line_errors():
        path = ros_verbs.resolve_launch_file(launch_file)
        overrides = ros_verbs.parse_launch_arguments(args)
        code = ros_verbs.run_launch_file(path, overrides, log_dir, node_environment())
    if code:
        raise SystemExit(code)


def estop(action: Positional[Literal["trip", "reset"]], node: Node = "policy", timeout: float = 10.0) -> None:
    """Trip the policy node's e-stop (a latched hold: it commands the current joints / a zero twist
    until reset) or reset it (`~/estop`, `~/reset_estop`)."""
    from robo_reward.real.ros_verbs import set_estop

    with _probe() as probe:
        print(set_estop(probe, node, action == "trip", timeout))


def lifecycle(
    node: Positional[Node] = "policy",
    transition: Positional[Annotated[LifecycleAction, arg(metavar="TRANSITION")]] = "get",
    timeout: float = 30.0,
) -> None:
    """Print a lifecycle node's state (and the transitions it offers), or drive one transition
    (`ros2 lifecycle get|set`). The policy node: configure loads the policy, activate streams
    commands, deactivate holds, cleanup releases the policy."""
    from robo_reward.real.ros_verbs import change_lifecycle, lifecycle_state, node_path

    with _probe() as probe:
        if transition == "get":
            state, offered = lifecycle_state(probe, node, timeout)
            print(f"{node_path(node)}: {state} (transitions: {', '.join(offered) or 'none'})")
        else:
            before, after = change_lifecycle(probe, node, transition, timeout)
            print(f"{node_path(node)}: {before} -> {after}")


def status(node: Positional[Node] = "policy", timeout: float = 5.0) -> None:
    """Print the next `~/status` of a node (counters, hold reason, rejected inputs) as JSON."""
    from robo_reward.real.ros_verbs import read_status

    with _probe() as probe:
        print(json.dumps(read_status(probe, node, timeout), indent=2, sort_keys=True))


COMMANDS = {"launch": launch, "estop": estop, "lifecycle": lifecycle, "status": status}
