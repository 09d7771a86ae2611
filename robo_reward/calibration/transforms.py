"""4x4 rigid transforms: build, invert, compare, and convert between MuJoCo and OpenCV cameras.

MuJoCo cameras look down their -z axis with +y up; OpenCV cameras look down +z with +y down.
Both share +x to the right, so R_opencv = R_mujoco @ diag(1, -1, -1) (a rotation of pi about x).
"""

from __future__ import annotations

import numpy as np

MJ_TO_CV = np.diag([1.0, -1.0, -1.0])


def make_T(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = np.asarray(R, np.float64).reshape(3, 3)
    T[:3, 3] = np.asarray(t, np.float64).reshape(3)
    return T


def inv_T(T: np.ndarray) -> np.ndarray:
    R, t = T[:3, :3], T[:3, 3]
    return make_T(R.T, -R.T @ t)


def rvec_tvec_to_T(rvec: np.ndarray, tvec: np.ndarray) -> np.ndarray:
    import cv2

    return make_T(cv2.Rodrigues(np.asarray(rvec, np.float64).reshape(3))[0], tvec)


def T_to_rvec_tvec(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    return cv2.Rodrigues(T[:3, :3])[0].reshape(3), T[:3, 3].copy()


def rotation_angle_deg(R: np.ndarray) -> float:
    """The angle of a rotation matrix, in degrees."""
    c = (np.trace(R) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def pose_error(T_est: np.ndarray, T_true: np.ndarray) -> tuple[float, float]:
    """(translation error in metres, rotation error in degrees) between two poses."""
    dt = float(np.linalg.norm(T_est[:3, 3] - T_true[:3, 3]))
    return dt, rotation_angle_deg(T_est[:3, :3].T @ T_true[:3, :3])


def check_rigid(T: np.ndarray, name: str = "transform", tol: float = 1e-5) -> np.ndarray:
    T = np.asarray(T, np.float64)
    if T.shape != (4, 4):
        raise ValueError(f"{name} must be 4x4, got {T.shape}")
    if not np.allclose(T[3], [0, 0, 0, 1], atol=tol):
        raise ValueError(f"{name}: last row must be [0, 0, 0, 1], got {T[3].tolist()}")
    R = T[:3, :3]
    if not np.allclose(R.T @ R, np.eye(3), atol=tol) or np.linalg.det(R) < 0:
        raise ValueError(f"{name}: the 3x3 block is not a rotation")
    return T


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)) -> np.ndarray:
    """OpenCV camera pose (T_world_cam) at `eye` looking at `target`; image up ≈ `up`."""
    eye, target, up = (np.asarray(v, np.float64) for v in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-6:
        raise ValueError("look_at: the up vector is parallel to the viewing direction")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return make_T(np.stack([x, y, z], axis=1), eye)


def average_poses(Ts: list[np.ndarray]) -> np.ndarray:
    """Mean translation and chordal-mean rotation (SVD projection of the summed matrices)."""
    t = np.mean([T[:3, 3] for T in Ts], axis=0)
    U, _, Vt = np.linalg.svd(np.sum([T[:3, :3] for T in Ts], axis=0))
    R = U @ np.diag([1.0, 1.0, np.linalg.det(U @ Vt)]) @ Vt
    return make_T(R, t)
