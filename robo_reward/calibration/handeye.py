"""Hand-eye calibration: a camera on the arm (eye-in-hand) or a static camera watching a board on the
arm (eye-to-hand), from paired robot poses and board poses; cv2.calibrateHandEye and
cv2.calibrateRobotWorldHandEye.

Conventions (OpenCV's `a2b` is our `T_b_a`): `T_base_gripper[i]` is the gripper (flange, or the body
the camera/board is fixed to) in the base frame from forward kinematics; `T_cam_target[i]` is the
board's pose in the camera from `board_pose`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robo_reward.calibration.transforms import average_poses, inv_T, make_T, rotation_angle_deg

METHODS = ("tsai", "park", "horaud", "andreff", "daniilidis")
SETUPS = ("eye_in_hand", "eye_to_hand")


@dataclass
class HandEyeResult:
    T: np.ndarray  # eye_in_hand: T_gripper_cam; eye_to_hand: T_base_cam
    T_other: np.ndarray  # eye_in_hand: T_base_target; eye_to_hand: T_gripper_target (averaged)
    setup: str
    method: str
    spread_mm: float  # RMS spread of the implied fixed transform across poses (consistency)
    spread_deg: float

    @property
    def name(self) -> str:
        return "T_gripper_cam" if self.setup == "eye_in_hand" else "T_base_cam"


def _method(name: str) -> int:
    import cv2

    if name not in METHODS:
        raise ValueError(f"hand-eye method must be one of {METHODS}, got {name!r}")
    return getattr(cv2, f"CALIB_HAND_EYE_{name.upper()}")


def _check_pairs(T_base_gripper: Sequence[np.ndarray], T_cam_target: Sequence[np.ndarray]) -> None:
    if len(T_base_gripper) != len(T_cam_target):
        raise ValueError(f"{len(T_base_gripper)} robot poses but {len(T_cam_target)} board poses")
    if len(T_base_gripper) < 3:
        raise ValueError(
            f"hand-eye needs at least 3 pose pairs (better 10+ with varied rotations), got {len(T_base_gripper)}"
        )


def _spread(Ts: list[np.ndarray]) -> tuple[np.ndarray, float, float]:
    mean = average_poses(Ts)
    dt = [np.linalg.norm(T[:3, 3] - mean[:3, 3]) for T in Ts]
    dr = [rotation_angle_deg(mean[:3, :3].T @ T[:3, :3]) for T in Ts]
    return mean, float(np.sqrt(np.mean(np.square(dt))) * 1000), float(np.sqrt(np.mean(np.square(dr))))


def hand_eye(
    T_base_gripper: Sequence[np.ndarray],
    T_cam_target: Sequence[np.ndarray],
    setup: str = "eye_in_hand",
    method: str = "park",
) -> HandEyeResult:
    """Solve AX = XB. eye_in_hand → T_gripper_cam; eye_to_hand → T_base_cam."""
    import cv2

    _check_pairs(T_base_gripper, T_cam_target)
    if setup not in SETUPS:
        raise ValueError(f"setup must be one of {SETUPS}, got {setup!r}")
    # eye_to_hand is the same problem with the robot poses inverted (OpenCV docs).
    A = [np.asarray(T, np.float64) for T in T_base_gripper]
    if setup == "eye_to_hand":
        A = [inv_T(T) for T in A]
    B = [np.asarray(T, np.float64) for T in T_cam_target]
    R, t = cv2.calibrateHandEye(
        [T[:3, :3] for T in A],
        [T[:3, 3] for T in A],
        [T[:3, :3] for T in B],
        [T[:3, 3] for T in B],
        method=_method(method),
    )
    X = make_T(R, t)
    # The chain that must be constant if X is right: base→target (eye-in-hand) or gripper→target.
    implied = [a @ X @ b for a, b in zip(A, B, strict=True)]
    other, mm, deg = _spread(implied)
    return HandEyeResult(X, other, setup, method, mm, deg)


def robot_world_hand_eye(
    T_base_gripper: Sequence[np.ndarray], T_cam_target: Sequence[np.ndarray], method: str = "shah"
) -> HandEyeResult:
    """Eye-in-hand via cv2.calibrateRobotWorldHandEye: T_gripper_cam and T_base_target together."""
    import cv2

    _check_pairs(T_base_gripper, T_cam_target)
    methods = {"shah": cv2.CALIB_ROBOT_WORLD_HAND_EYE_SHAH, "li": cv2.CALIB_ROBOT_WORLD_HAND_EYE_LI}
    if method not in methods:
        raise ValueError(f"robot-world method must be one of {sorted(methods)}, got {method!r}")
    world2cam = [np.asarray(T, np.float64) for T in T_cam_target]  # target = "world"
    base2gripper = [inv_T(np.asarray(T, np.float64)) for T in T_base_gripper]
    R_b2w, t_b2w, R_g2c, t_g2c = cv2.calibrateRobotWorldHandEye(
        [T[:3, :3] for T in world2cam],
        [T[:3, 3] for T in world2cam],
        [T[:3, :3] for T in base2gripper],
        [T[:3, 3] for T in base2gripper],
        method=methods[method],
    )
    X = inv_T(make_T(R_g2c, t_g2c))  # T_gripper_cam
    T_base_target = inv_T(make_T(R_b2w, t_b2w))
    implied = [np.asarray(a) @ X @ b for a, b in zip(T_base_gripper, T_cam_target, strict=True)]
    _, mm, deg = _spread(implied)
    return HandEyeResult(X, T_base_target, "eye_in_hand", method, mm, deg)
