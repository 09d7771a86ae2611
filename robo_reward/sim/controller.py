"""Damped-least-squares inverse kinematics for end-effector delta control."""

from __future__ import annotations

import mujoco
import numpy as np

from robo_reward.sim.scene import HOME_QPOS, Scene

POS_SCALE = 0.05  # metres per step at |action| = 1
ROT_SCALE = 0.3  # radians per step at |action| = 1
WORKSPACE_LO = np.array([0.15, -0.5, -0.005])
WORKSPACE_HI = np.array([0.85, 0.5, 0.6])


def rotation_error(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Axis-angle (world frame) that rotates `current` onto `target`; both (3, 3) rotation matrices."""
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, (target @ current.T).ravel())
    vel = np.empty(3)
    mujoco.mju_quat2Vel(vel, quat, 1.0)
    return vel


def axis_angle_matrix(rotvec: np.ndarray) -> np.ndarray:
    quat = np.empty(4)
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.eye(3)
    mujoco.mju_axisAngle2Quat(quat, rotvec / angle, angle)
    mat = np.empty(9)
    mujoco.mju_quat2Mat(mat, quat)
    return mat.reshape(3, 3)


class DLSController:
    """Joint targets reaching an end-effector pose: q += J^T (J J^T + λ²I)^-1 e, plus a null-space
    pull toward the home posture, iterated on a scratch MjData so the simulation is never touched."""

    def __init__(self, scene: Scene, damping: float = 0.03, iterations: int = 3, posture_gain: float = 0.1):
        self.scene = scene
        self.model = scene.model
        self.scratch = mujoco.MjData(scene.model)
        self.damping, self.iterations, self.posture_gain = damping, iterations, posture_gain
        self._jacp = np.zeros((3, self.model.nv))
        self._jacr = np.zeros((3, self.model.nv))

    def solve(
        self, target_pos: np.ndarray, target_mat: np.ndarray, q0: np.ndarray | None = None
    ) -> np.ndarray:
        sc, d, m = self.scene, self.scratch, self.model
        d.qpos[:] = sc.data.qpos
        q = sc.arm_qpos if q0 is None else q0.copy()
        lam2 = self.damping**2
        for _ in range(self.iterations):
            d.qpos[sc.arm_qadr] = q
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            mujoco.mj_jacSite(m, d, self._jacp, self._jacr, sc.ee_site)
            J = np.vstack([self._jacp[:, sc.arm_dofadr], self._jacr[:, sc.arm_dofadr]])
            err = np.concatenate(
                [
                    target_pos - d.site_xpos[sc.ee_site],
                    rotation_error(target_mat, d.site_xmat[sc.ee_site].reshape(3, 3)),
                ]
            )
            # one solve gives both the DLS step and the null-space projector I - J^T (J J^T + λ²I)^-1 J
            X = np.linalg.solve(J @ J.T + lam2 * np.eye(6), np.column_stack([err, J]))
            dq = J.T @ X[:, 0]
            dq += self.posture_gain * (HOME_QPOS - q) - J.T @ (
                X[:, 1:] @ (self.posture_gain * (HOME_QPOS - q))
            )
            q = np.clip(q + dq, sc.arm_lo, sc.arm_hi)
        return q
