"""The process environment rclpy needs, for the PyPI wheels and for a sourced ROS 2 install alike.

What the `ros-rclpy` wheels (Kilted, 9.1.2) need at import time, found by trying:
- `LD_LIBRARY_PATH` must list `<venv>/lib` and the `site-packages/ros_*.libs` folders. The wheel's
  `ros_wheels_bootstrapper.pth` arranges this by re-executing *every* Python process of the venv once
  at start-up with that variable set and `_ROS_WHEELS_BOOTSTRAP_COMPLETE=1` as the guard. A child
  that inherits the guard but not the library path cannot import rclpy (`librcl_action.so: cannot
  open shared object file`), so `node_environment()` drops the guard whenever the path is missing.
- `RMW_IMPLEMENTATION` must be unset or `rmw_fastrtps_cpp`: it is the only RMW the wheels ship.
- A writable log directory: rcl's logger expands `~/.ros/log`; without `HOME` (and without
  `ROS_LOG_DIR`/`ROS_HOME`) `rclpy.init` fails with "Failed to get logging directory".
- `AMENT_PREFIX_PATH` is *not* needed.
Traffic stays on this machine with `ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`, and runs side by side
on separate `ROS_DOMAIN_ID`s (tests draw one at random from 1..100).
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Mapping

WHEEL_GUARD = "_ROS_WHEELS_BOOTSTRAP_COMPLETE"
WHEEL_RMW = "rmw_fastrtps_cpp"


def random_domain_id(rng: random.Random | None = None) -> int:
    """A ROS_DOMAIN_ID in 1..100 (all valid for Fast DDS's port mapping on Linux)."""
    return (rng or random).randint(1, 100)


def node_environment(
    domain_id: int | None = None,
    log_dir: str | None = None,
    base: Mapping[str, str] | None = None,
    localhost_only: bool = True,
) -> dict[str, str]:
    """An environment for a child process running rclpy nodes (subprocess `env=`).

    Keeps everything in `base` (default: this process's environment) and sets the domain, the
    discovery range, a log directory and the wheel bootstrap variables so the child imports rclpy.
    """
    env = dict(os.environ if base is None else base)
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(int(domain_id))
    if localhost_only:
        env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if log_dir is not None:
        env["ROS_LOG_DIR"] = str(log_dir)
    elif not any(env.get(k) for k in ("ROS_LOG_DIR", "ROS_HOME", "HOME")):
        env["ROS_LOG_DIR"] = os.path.join(tempfile.gettempdir(), "robo_reward_ros_log")
    if env.get(WHEEL_GUARD) and "ros_" not in env.get("LD_LIBRARY_PATH", ""):
        env.pop(WHEEL_GUARD)  # let the wheel's .pth bootstrap the child again
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def prepare_process() -> None:
    """Called by every node's `main()` before `rclpy.init`: fix what would make init fail."""
    if not any(os.environ.get(k) for k in ("ROS_LOG_DIR", "ROS_HOME", "HOME")):
        os.environ["ROS_LOG_DIR"] = os.path.join(tempfile.gettempdir(), "robo_reward_ros_log")


def rclpy_problem() -> str | None:
    """Why rclpy cannot be used in this process, or None when it can (imports it)."""
    rmw = os.environ.get("RMW_IMPLEMENTATION")
    try:
        import rclpy  # noqa: F401
        from rclpy.utilities import get_rmw_implementation_identifier
    except ModuleNotFoundError as e:
        return f"rclpy is not installed ({e}); install the `ros` extra or source a ROS 2 setup.bash"
    if rmw and rmw != get_rmw_implementation_identifier():
        return f"RMW_IMPLEMENTATION={rmw} but this rclpy uses {get_rmw_implementation_identifier()}"
    return None
