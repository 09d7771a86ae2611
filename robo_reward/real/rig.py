"""A rig's configuration: `real/<rig>/{robot,cameras,safety}.yaml` read into plain dicts; no ROS.

`ros_params.yaml` of the same folder is the ROS parameter file (`<node>: ros__parameters: ...`)
that the launch files pass to the nodes; every node has a `rig` parameter naming this folder.
The schema of each file is documented in real/README.md and by the shipped rigs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from robo_reward.paths import project_root, rig_configs
from robo_reward.real.inputs import DEFAULT_MAX_STAMP_LEAD

RIG_FILES = ("robot.yaml", "cameras.yaml", "safety.yaml", "ros_params.yaml")


def rig_dir(rig: str) -> Path:
    """`rig` is a folder name under real/ (e.g. `sim`) or a path to a rig folder."""
    p = Path(rig).expanduser()
    if p.is_dir() and (p / "robot.yaml").exists():
        return p.resolve()
    candidate = rig_configs() / rig
    if not (candidate / "robot.yaml").exists():
        known = (
            sorted(d.name for d in rig_configs().iterdir() if (d / "robot.yaml").exists())
            if rig_configs().is_dir()
            else []
        )
        raise FileNotFoundError(
            f"no rig {rig!r}: neither a folder with robot.yaml nor one of {known} under {rig_configs()}"
        )
    return candidate


def resolve_path(path: str) -> str:
    """A relative checkpoint/dataset path as given (from the working directory) if it exists there,
    else from the repository root (so `models/grm-small-sim` works wherever a node is started)."""
    if (
        not path
        or "://" in path
        or path.startswith("random:")
        or Path(path).is_absolute()
        or Path(path).exists()
    ):
        return path
    candidate = project_root() / path
    return str(candidate) if candidate.exists() else path


def read_yaml(path: Path) -> dict:
    with open(path) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping, got {type(data).__name__}")
    return data


@dataclass(frozen=True)
class Rig:
    root: Path
    robot: dict
    cameras: dict
    safety: dict

    @property
    def views(self) -> tuple[str, ...]:
        return tuple(self.cameras["views"])

    def camera(self, view: str) -> dict:
        return self.cameras["views"][view]

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(j["name"] for j in self.robot["joints"])

    @property
    def max_stamp_lead(self) -> float:
        """s a message stamp may be ahead of the receiving node's clock (safety.yaml)."""
        return float(self.safety.get("max_stamp_lead", DEFAULT_MAX_STAMP_LEAD))


def load_rig(rig: str) -> Rig:
    root = rig_dir(rig)
    files = {name: read_yaml(root / f"{name}.yaml") for name in ("robot", "cameras", "safety")}
    for key in ("joints", "gripper", "joint_state_topic", "command"):
        if key not in files["robot"]:
            raise ValueError(f"{root / 'robot.yaml'} lacks {key!r}")
    if not files["cameras"].get("views"):
        raise ValueError(f"{root / 'cameras.yaml'} lists no views")
    return Rig(root=root, **files)


def resolve_task(task: str) -> str:
    """A registered sim task name → its instruction; anything else is the instruction itself."""
    if task and " " not in task:
        try:
            from robo_reward.sim import list_tasks, task_spec
        except ImportError:  # a robot computer without the simulator
            return task
        if task in list_tasks():
            return task_spec(task).instruction
    return task
