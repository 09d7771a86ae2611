"""What `ros2 launch`, `ros2 lifecycle`, `ros2 service call .../estop` and `ros2 topic echo
~/status` do for this project's graph, for machines with rclpy but no ROS 2 command line (the PyPI
wheels ship no `launch` or `ros2cli`). `robo-reward ros ...` (robo_reward.commands.ros) prints them.

A user mistake or an unreachable node raises `RosVerbError` with one line that says what is wrong
and what to do. Discovery stays on this machine unless ROS_AUTOMATIC_DISCOVERY_RANGE says otherwise.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from robo_reward.paths import launch_files
from robo_reward.real.launch_graph import LaunchFileError, NodeGraph, parse_launch_file

TRANSITIONS = ("configure", "activate", "deactivate", "cleanup", "shutdown")
SAME_GRAPH = "is the node running, with this shell's ROS_DOMAIN_ID?"


class RosVerbError(RuntimeError):
    """A one-line reason a verb could not do its job."""


# -- launch -----------------------------------------------------------------------------------------


def resolve_launch_file(name: str | Path) -> Path:
    """A path, or a launch file of launch/ by name (`sim`, `sim.launch.py`)."""
    for candidate in (Path(name), launch_files() / name, launch_files() / f"{name}.launch.py"):
        if candidate.is_file():
            return candidate
    known = ", ".join(sorted(p.name.removesuffix(".launch.py") for p in launch_files().glob("*.launch.py")))
    raise RosVerbError(f"launch file {str(name)!r} not found: give a path or one of launch/ ({known})")


def parse_launch_arguments(args: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`name:=value` words (as `ros2 launch` takes them) → {name: value}."""
    out = {}
    for word in args:
        name, sep, value = word.partition(":=")
        if not sep or not name:
            raise RosVerbError(f"launch argument {word!r} must be written name:=value (e.g. rig:=sim)")
        out[name] = value
    return out


def run_launch_file(
    path: Path,
    overrides: dict[str, str],
    log_dir: Path,
    env: dict[str, str],
    say: Callable[[str], None] = print,
) -> int:
    """Start the launch file's nodes as children and wait until SIGINT/SIGTERM or until one of them
    exits; then stop them all (SIGTERM, SIGKILL after 15 s). Returns 0 when every node exited 0.

    Both signals only set a flag, so a second Ctrl-C cannot cut the shutdown short and leave a node
    (the policy sends its hold on SIGTERM) running behind."""
    try:
        specs, _ = parse_launch_file(path, **overrides)
    except LaunchFileError as e:
        raise RosVerbError(str(e)) from None
    if not specs:
        raise RosVerbError(f"{path} starts no node with these arguments")
    graph = NodeGraph(specs, env, log_dir)
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            graph.start()
        except KeyError as e:  # an executable that is neither on PATH nor a node of this project
            raise RosVerbError(e.args[0]) from None
        say(f"started {', '.join(graph.procs)}; logs in {log_dir}/ (Ctrl-C stops them)")
        while not stop.is_set() and all(graph.alive().values()):
            stop.wait(0.2)
        dead = [n for n, ok in graph.alive().items() if not ok]
        codes = graph.stop()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    for name in dead:
        lines = [line for line in graph.log(name).splitlines() if line.strip()]
        last = lines[-1].strip() if lines else "(empty log)"
        say(f"{name} exited with code {codes[name]}: {last} (log: {log_dir / f'{name}.log'})")
    failed = {n: c for n, c in codes.items() if c != 0}
    say(f"stopped {', '.join(codes)}" + (f"; non-zero exits: {failed}" if failed else ""))
    return 0 if not failed else 1


# -- talking to running nodes -----------------------------------------------------------------------


def open_probe():
    """An rclpy node of this process (robo_reward.real.probe.Probe) for one verb."""
    from robo_reward.real.ros_env_vars import rclpy_problem

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    problem = rclpy_problem()
    if problem:
        raise RosVerbError(problem)
    from robo_reward.real.probe import Probe

    return Probe(f"robo_reward_cli_{os.getpid()}")


def node_path(node: str) -> str:
    """`policy` or `/policy` → `/policy` (namespaces kept)."""
    name = node.strip().strip("/")
    if not name:
        raise RosVerbError("give a node name, e.g. policy")
    return f"/{name}"


def _call(probe, srv_type, service: str, request=None, timeout: float = 10.0):
    try:
        return probe.call(srv_type, service, request, timeout)
    except TimeoutError as e:
        raise RosVerbError(f"{e}: {SAME_GRAPH}") from None


def set_estop(probe, node: str, engaged: bool, timeout: float = 10.0) -> str:
    """Trip (latched hold) or reset the e-stop of a policy node; returns the node's answer."""
    from std_srvs.srv import Trigger

    service = f"{node_path(node)}/{'estop' if engaged else 'reset_estop'}"
    reply = _call(probe, Trigger, service, timeout=timeout)
    if not reply.success:
        raise RosVerbError(f"{service} refused: {reply.message}")
    return reply.message


def lifecycle_state(probe, node: str, timeout: float = 10.0) -> tuple[str, list[str]]:
    """The node's lifecycle state and the transitions it offers from there."""
    from lifecycle_msgs.srv import GetAvailableTransitions, GetState

    path = node_path(node)
    state = _call(probe, GetState, f"{path}/get_state", timeout=timeout).current_state.label
    offered = _call(probe, GetAvailableTransitions, f"{path}/get_available_transitions", timeout=timeout)
    return state, [t.transition.label for t in offered.available_transitions]


def change_lifecycle(probe, node: str, transition: str, timeout: float = 30.0) -> tuple[str, str]:
    """Drive one transition by its label (as `ros2 lifecycle set`); returns (state before, after)."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetAvailableTransitions, GetState

    if transition not in TRANSITIONS:
        raise RosVerbError(f"unknown transition {transition!r}; choose from {', '.join(TRANSITIONS)}")
    path = node_path(node)
    before = _call(probe, GetState, f"{path}/get_state", timeout=timeout).current_state.label
    offered = _call(probe, GetAvailableTransitions, f"{path}/get_available_transitions", timeout=timeout)
    # `shutdown` has one id per start state: the node's own list says which applies now
    ids = {t.transition.label: t.transition.id for t in offered.available_transitions}
    if transition not in ids:
        raise RosVerbError(
            f"{path} is {before}: no {transition!r} transition from there; available: {', '.join(ids) or 'none'}"
        )
    request = ChangeState.Request(transition=Transition(id=ids[transition], label=transition))
    done = _call(probe, ChangeState, f"{path}/change_state", request, timeout=timeout)
    after = _call(probe, GetState, f"{path}/get_state", timeout=timeout).current_state.label
    if not done.success:
        raise RosVerbError(f"{path}: {transition} failed (the node's log says why); it is {after} now")
    return before, after


def read_status(probe, node: str, timeout: float = 5.0) -> dict:
    """The next `~/status` JSON the node publishes (every node of this project does, at 1 Hz)."""
    import json

    from std_msgs.msg import String

    topic = f"{node_path(node)}/status"
    got = probe.record(topic, String)
    if not probe.wait_for(lambda: got, timeout):
        raise RosVerbError(f"no message on {topic} within {timeout:g} s: {SAME_GRAPH}")
    return json.loads(got[-1][1].data)
