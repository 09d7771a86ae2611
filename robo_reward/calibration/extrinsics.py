"""Camera extrinsics from a ChArUco board: board → camera by PnP, camera → robot base via the board."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robo_reward.calibration.board import BoardSpec, Detection, detect, make_detector
from robo_reward.calibration.board_match import diagnose, require
from robo_reward.calibration.intrinsics import high_rms_warnings
from robo_reward.calibration.schema import CameraCalibration
from robo_reward.calibration.transforms import T_to_rvec_tvec, inv_T, pose_error, rvec_tvec_to_T

# One pose for all images of a static camera and board must fit them about as well as each image's
# own pose; above this RMS, and above twice the worst single image, the camera or board moved.
MOTION_RMS_PX = 1.0


class InconsistentViews(ValueError):
    """Images meant to show one static board from one static camera disagree on the board's pose."""


@dataclass
class StaticPose:
    T_cam_board: np.ndarray  # one board pose fitted to the corners of every usable image
    rms_px: float  # reprojection RMS of that one pose
    per_image_rms_px: list[float]  # RMS of each usable image's own pose
    spread_mm: float  # largest distance of an image's own pose from the joint pose
    spread_deg: float
    used: list[int]  # indices of the usable images

    @property
    def moved(self) -> bool:
        """Whether the images disagree: one pose fits them much worse than each image alone."""
        return len(self.used) > 1 and not self.rms_px <= max(MOTION_RMS_PX, 2 * max(self.per_image_rms_px))


def _reprojection_rms(obj: np.ndarray, img: np.ndarray, r, t, K: np.ndarray, dist: np.ndarray) -> float:
    import cv2

    proj, _ = cv2.projectPoints(obj, r, t, K, dist)
    return float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - img) ** 2, axis=1))))


def board_pose_from_detection(
    det: Detection,
    board: BoardSpec,
    K: np.ndarray,
    dist: np.ndarray,
    min_corners: int = 6,
    what: str = "image",
    image: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """T_cam_board (the board's pose in the OpenCV camera frame) and the reprojection RMS in pixels."""
    import cv2

    require(det, board, min_corners, what, image)
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
        rms = _reprojection_rms(obj, img, r, t, K, dist)
        if best is None or rms < best[1]:
            best = (rvec_tvec_to_T(r, t), rms)
    return best


def board_pose(
    image: np.ndarray, board: BoardSpec, K: np.ndarray, dist: np.ndarray, min_corners: int = 6
) -> tuple[np.ndarray, float]:
    return board_pose_from_detection(detect(image, board), board, K, dist, min_corners, image=image)


def static_board_pose(
    images: Sequence[np.ndarray], board: BoardSpec, K: np.ndarray, dist: np.ndarray, min_corners: int = 6
) -> StaticPose:
    """One pose from several images of a static board seen by a static camera (all corners in one PnP),
    with each image's own pose to tell whether they agree."""
    import cv2

    detector = make_detector(board)
    dets = [detect(im, board, detector) for im in images]
    used = [i for i, d in enumerate(dets) if len(d) >= min_corners]
    if not used:
        need = f"no image shows >= {min_corners} ChArUco corners"
        raise diagnose(dets, board, need, images)
    dist = np.asarray(dist, np.float64).reshape(-1)
    singles = [board_pose_from_detection(dets[i], board, K, dist, min_corners) for i in used]
    obj = board.corner_points()[np.concatenate([dets[i].ids for i in used])]
    img = np.concatenate([dets[i].corners for i in used]).astype(np.float64)
    r, t = T_to_rvec_tvec(singles[0][0])
    r, t = cv2.solvePnPRefineLM(obj, img, K, dist, r, t)
    T = rvec_tvec_to_T(r, t)
    errors = [pose_error(T_i, T) for T_i, _ in singles]
    return StaticPose(
        T_cam_board=T,
        rms_px=_reprojection_rms(obj, img, r, t, K, dist),
        per_image_rms_px=[rms for _, rms in singles],
        spread_mm=1e3 * max(e[0] for e in errors),
        spread_deg=max(e[1] for e in errors),
        used=used,
    )


def camera_in_base(T_cam_board: np.ndarray, T_base_board: np.ndarray) -> np.ndarray:
    """T_base_cam: the camera's pose in the robot base, given the board's pose in the base."""
    return T_base_board @ inv_T(T_cam_board)


def calibrate_extrinsics(
    images: Sequence[np.ndarray],
    board: BoardSpec,
    intrinsics: CameraCalibration,
    T_base_board: np.ndarray | None = None,
    min_corners: int = 6,
    allow_motion: bool = False,
    names: Sequence[str] | None = None,
) -> CameraCalibration:
    """Copy of `intrinsics` with `T_cam_board` (and `T_base_cam` when the board's base pose is known).

    Raises `InconsistentViews` when the images do not show one static board from one static camera
    (see `StaticPose.moved`), unless `allow_motion`: then the joint pose is kept with a warning.
    Warnings (also a high RMS) are in `info["warnings"]`; `names` label the images in them.
    """
    pose = static_board_pose(images, board, intrinsics.K, intrinsics.distortion, min_corners)
    warnings = []
    if pose.moved:
        problem = (
            f"the {len(pose.used)} images do not show one static board from one static camera: one pose "
            f"fits them with RMS {pose.rms_px:.1f} px, each image alone with at most "
            f"{max(pose.per_image_rms_px):.2f} px (their poses spread {pose.spread_mm:.0f} mm, "
            f"{pose.spread_deg:.1f} deg)"
        )
        if not allow_motion:
            raise InconsistentViews(
                f"{problem} — use images from one camera position, or pass --allow-motion to keep the "
                "averaged pose"
            )
        warnings.append(f"{problem}; kept the averaged pose (--allow-motion)")
    else:
        labels = [str(names[i]) if names is not None else f"#{i}" for i in pose.used]
        per_image = dict(zip(labels, pose.per_image_rms_px, strict=True))
        warnings += high_rms_warnings(pose.rms_px, per_image, "extrinsics")
    extr = dict(intrinsics.extrinsics)
    extr["T_cam_board"] = pose.T_cam_board
    if T_base_board is not None:
        extr["T_base_board"] = np.asarray(T_base_board, np.float64)
        extr["T_base_cam"] = camera_in_base(pose.T_cam_board, T_base_board)
    info = {**intrinsics.info, "intrinsics_rms_px": intrinsics.rms_px, "n_extrinsic_images": len(images)}
    info |= {"spread_mm": pose.spread_mm, "spread_deg": pose.spread_deg, "warnings": warnings}
    return CameraCalibration(
        camera=intrinsics.camera,
        image_size=intrinsics.image_size,
        K=intrinsics.K,
        distortion=intrinsics.distortion,
        extrinsics=extr,
        rms_px=pose.rms_px,
        board=board.to_dict(),
        source="charuco",
        info=info,
    )
