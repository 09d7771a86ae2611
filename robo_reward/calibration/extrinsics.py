"""Camera extrinsics from a ChArUco board: board → camera by PnP, camera → robot base via the board."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robo_reward.calibration.board import BoardSpec, Detection, detect, make_detector, require
from robo_reward.calibration.schema import CameraCalibration
from robo_reward.calibration.transforms import T_to_rvec_tvec, inv_T, rvec_tvec_to_T


def board_pose_from_detection(
    det: Detection,
    board: BoardSpec,
    K: np.ndarray,
    dist: np.ndarray,
    min_corners: int = 6,
    what: str = "image",
) -> tuple[np.ndarray, float]:
    """T_cam_board (the board's pose in the OpenCV camera frame) and the reprojection RMS in pixels."""
    import cv2

    require(det, min_corners, what)
    obj = board.corner_points()[det.ids]
    img = det.corners.astype(np.float64)
    dist = np.asarray(dist, np.float64).reshape(-1)
    # IPPE is the exact solver for planar targets; LM then polishes the result.
    ok, rvecs, tvecs, _ = cv2.solvePnPGeneric(obj, img, K, dist, flags=cv2.SOLVEPNP_IPPE)
    if not ok:
        raise RuntimeError(f"{what}: solvePnP failed")
    best = None
    for r, t in zip(rvecs, tvecs, strict=True):
        r, t = cv2.solvePnPRefineLM(obj, img, K, dist, r.copy(), t.copy())
        proj, _ = cv2.projectPoints(obj, r, t, K, dist)
        rms = float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - img) ** 2, axis=1))))
        if best is None or rms < best[1]:
            best = (rvec_tvec_to_T(r, t), rms)
    return best


def board_pose(
    image: np.ndarray, board: BoardSpec, K: np.ndarray, dist: np.ndarray, min_corners: int = 6
) -> tuple[np.ndarray, float]:
    return board_pose_from_detection(detect(image, board), board, K, dist, min_corners)


def static_board_pose(
    images: Sequence[np.ndarray], board: BoardSpec, K: np.ndarray, dist: np.ndarray, min_corners: int = 6
) -> tuple[np.ndarray, float]:
    """One pose from several images of a static board seen by a static camera (all corners in one PnP)."""
    detector = make_detector(board)
    dets = [detect(im, board, detector) for im in images]
    usable = [d for d in dets if len(d) >= min_corners]
    if not usable:
        require(max(dets, key=len), min_corners, f"all {len(dets)} images")
    merged = Detection(
        np.concatenate([d.corners for d in usable]),
        np.concatenate([d.ids for d in usable]),
        usable[0].n_markers,
    )
    import cv2

    T0, _ = board_pose_from_detection(usable[0], board, K, dist, min_corners)
    obj = board.corner_points()[merged.ids]
    r, t = T_to_rvec_tvec(T0)
    r, t = cv2.solvePnPRefineLM(obj, merged.corners.astype(np.float64), K, np.asarray(dist, np.float64), r, t)
    proj, _ = cv2.projectPoints(obj, r, t, K, np.asarray(dist, np.float64))
    rms = float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - merged.corners) ** 2, axis=1))))
    return rvec_tvec_to_T(r, t), rms


def camera_in_base(T_cam_board: np.ndarray, T_base_board: np.ndarray) -> np.ndarray:
    """T_base_cam: the camera's pose in the robot base, given the board's pose in the base."""
    return T_base_board @ inv_T(T_cam_board)


def calibrate_extrinsics(
    images: Sequence[np.ndarray],
    board: BoardSpec,
    intrinsics: CameraCalibration,
    T_base_board: np.ndarray | None = None,
    min_corners: int = 6,
) -> CameraCalibration:
    """Copy of `intrinsics` with `T_cam_board` (and `T_base_cam` when the board's base pose is known)."""
    T_cam_board, rms = static_board_pose(images, board, intrinsics.K, intrinsics.distortion, min_corners)
    extr = dict(intrinsics.extrinsics)
    extr["T_cam_board"] = T_cam_board
    if T_base_board is not None:
        extr["T_base_board"] = np.asarray(T_base_board, np.float64)
        extr["T_base_cam"] = camera_in_base(T_cam_board, T_base_board)
    return CameraCalibration(
        camera=intrinsics.camera,
        image_size=intrinsics.image_size,
        K=intrinsics.K,
        distortion=intrinsics.distortion,
        extrinsics=extr,
        rms_px=rms,
        board=board.to_dict(),
        source="charuco",
        info={**intrinsics.info, "intrinsics_rms_px": intrinsics.rms_px, "n_extrinsic_images": len(images)},
    )
