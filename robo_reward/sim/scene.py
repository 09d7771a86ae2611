"""Build the tabletop MjModel for a task (base scene + attached objects) and read it back by name.

Variants are composed with `mujoco.MjSpec`: `sim/scene.xml` holds the arm, table, cameras and light;
each object of a task is one `sim/objects/<asset>.xml` attached under a prefix (`cube_a/`, `drawer/`).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from robo_reward.paths import sim_assets

JOINT_NAMES: tuple[str, ...] = tuple(f"joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("finger_left", "finger_right")
# observation.state layout: 7 joint positions (rad), gripper opening (m, distance between the finger
# pads, 0..0.08), end-effector (tool centre point) position in the world frame (m).
STATE_NAMES: tuple[str, ...] = (*JOINT_NAMES, "gripper_opening", "ee_x", "ee_y", "ee_z")
VIEWS = ("front", "side", "wrist")
HOME_QPOS = np.array([0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.785])
GRIPPER_MAX = 0.04  # per-finger travel (m)
TABLE_Z = 0.0


@dataclass(frozen=True)
class ObjectSpec:
    """One object attached to the scene: `sim/objects/<asset>.xml` under `<name>/`."""

    asset: str
    name: str
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rgba: tuple[float, float, float, float] | None = None


def build_spec(
    objects: tuple[ObjectSpec, ...] = (), shadows: bool = False, reflections: bool = False
) -> mujoco.MjSpec:
    root = sim_assets()
    spec = mujoco.MjSpec.from_file(str(root / "scene.xml"))
    for obj in objects:
        child = mujoco.MjSpec.from_file(str(root / "objects" / f"{obj.asset}.xml"))
        frame = spec.worldbody.add_frame(pos=list(obj.pos))
        frame.attach_body(child.worldbody.first_body(), f"{obj.name}/", "")
        if obj.rgba is not None:
            spec.geom(f"{obj.name}/geom").rgba = list(obj.rgba)
    for light in spec.lights:
        light.castshadow = shadows
    if reflections:
        spec.material("table").reflectance = 0.25
    return spec


def build_model(
    objects: tuple[ObjectSpec, ...] = (), shadows: bool = False, reflections: bool = False
) -> mujoco.MjModel:
    return build_spec(objects, shadows, reflections).compile()


class Scene:
    """Named handles into one (model, data) pair: end effector, gripper, objects, contacts."""

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData):
        self.model, self.data = model, data
        self.arm_qadr = np.array([model.jnt_qposadr[model.joint(n).id] for n in JOINT_NAMES])
        self.arm_dofadr = np.array([model.jnt_dofadr[model.joint(n).id] for n in JOINT_NAMES])
        self.arm_lo = np.array([model.jnt_range[model.joint(n).id][0] for n in JOINT_NAMES])
        self.arm_hi = np.array([model.jnt_range[model.joint(n).id][1] for n in JOINT_NAMES])
        self.finger_qadr = np.array([model.jnt_qposadr[model.joint(n).id] for n in FINGER_JOINTS])
        self.arm_act = np.array([model.actuator(n).id for n in JOINT_NAMES])
        self.gripper_act = model.actuator("gripper").id
        self.ee_site = model.site("ee").id
        self.finger_geoms = (model.geom("finger_left").id, model.geom("finger_right").id)
        self.hand_geoms = {model.geom(n).id for n in ("palm", "finger_left", "finger_right")}

    # --- robot -------------------------------------------------------------------------------
    @property
    def ee_pos(self) -> np.ndarray:
        return self.data.site_xpos[self.ee_site].copy()

    @property
    def ee_mat(self) -> np.ndarray:
        return self.data.site_xmat[self.ee_site].reshape(3, 3).copy()

    @property
    def ee_yaw(self) -> float:
        """Yaw of the gripper's closing axis (hand x) about world z."""
        m = self.ee_mat
        return float(np.arctan2(m[1, 0], m[0, 0]))

    @property
    def arm_qpos(self) -> np.ndarray:
        return self.data.qpos[self.arm_qadr].copy()

    @property
    def gripper_opening(self) -> float:
        return float(self.data.qpos[self.finger_qadr].sum())

    def state(self) -> np.ndarray:
        return np.concatenate([self.arm_qpos, [self.gripper_opening], self.ee_pos]).astype(np.float32)

    # --- objects -----------------------------------------------------------------------------
    def body_pos(self, name: str) -> np.ndarray:
        return self.data.xpos[self.model.body(name).id].copy()

    def site_pos(self, name: str) -> np.ndarray:
        return self.data.site_xpos[self.model.site(name).id].copy()

    def joint_qpos(self, name: str) -> np.ndarray:
        j = self.model.joint(name)
        adr, n = self.model.jnt_qposadr[j.id], {0: 7, 1: 4, 2: 1, 3: 1}[int(self.model.jnt_type[j.id])]
        return self.data.qpos[adr : adr + n]

    def set_free_pose(self, joint: str, pos, yaw: float = 0.0) -> None:
        q = self.joint_qpos(joint)
        q[:3] = pos
        q[3:] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]
        j = self.model.joint(joint)
        dof = self.model.jnt_dofadr[j.id]
        self.data.qvel[dof : dof + 6] = 0.0

    def environment_state(self) -> np.ndarray:
        """Privileged object state (LeRobot's `observation.environment_state`), for auxiliary training
        targets and analysis only — no policy reads it as input. In model order: per free joint its
        position (3) and (cos 4ψ, sin 4ψ) of its yaw ψ (the suite's free objects are cubes, the same
        every 90°); per other non-robot joint (drawer slides) its position; per mocap body its position."""
        m, d, out = self.model, self.data, []
        robot = {*JOINT_NAMES, *FINGER_JOINTS}
        for j in range(m.njnt):
            if m.joint(j).name in robot:
                continue
            adr = m.jnt_qposadr[j]
            if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
                w, x, y, z = d.qpos[adr + 3 : adr + 7]
                yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
                out += [*d.qpos[adr : adr + 3], np.cos(4 * yaw), np.sin(4 * yaw)]
            elif m.jnt_type[j] in (mujoco.mjtJoint.mjJNT_SLIDE, mujoco.mjtJoint.mjJNT_HINGE):
                out.append(d.qpos[adr])
        out += [x for p in d.mocap_pos for x in p]
        return np.asarray(out, dtype=np.float32)

    def set_mocap(self, body: str, pos) -> None:
        mid = self.model.body(body).mocapid[0]
        self.data.mocap_pos[mid] = pos

    def touching(self, geom_a: int, geom_b: int) -> bool:
        d = self.data
        for i in range(d.ncon):
            c = d.contact[i]
            if (c.geom1 == geom_a and c.geom2 == geom_b) or (c.geom1 == geom_b and c.geom2 == geom_a):
                return True
        return False

    def grasped(self, geom: str | int) -> bool:
        """Both finger pads touch the geom."""
        g = self.model.geom(geom).id if isinstance(geom, str) else geom
        return all(self.touching(f, g) for f in self.finger_geoms)

    def hand_touching(self, geom: str | int) -> bool:
        g = self.model.geom(geom).id if isinstance(geom, str) else geom
        return any(self.touching(h, g) for h in self.hand_geoms)
