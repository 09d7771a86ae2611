"""Camera intrinsics from ChArUco images (cv2.calibrateCameraExtended)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from robo_reward.calibration.board import BoardSpec, Detection, detect, make_detector
from robo_reward.calibration.board_match import diagnose
from robo_reward.calibration.schema import CameraCalibration
from robo_reward.calibration.transforms import rvec_tvec_to_T

DISTORTION_MODELS = ("full", "radial2", "none")  # k1..k3 + p1,p2 / k1,k2 only / no distortion
HIGH_RMS_PX = 1.0  # above this a ChArUco fit is suspect (good ones stay under 0.5 px)


@dataclass
class IntrinsicsResult:
    calibration: CameraCalibration
    T_cam_board: list[np.ndarray]  # board pose per used image
    used: list[int]  # indices of the images that were used
    per_image_rms_px: list[float]
    warnings: list[str] = field(default_factory=list)


def _flags(model: str) -> int:
    import cv2

    if model == "full":
        return 0
    if model == "radial2":
        return cv2.CALIB_FIX_K3 | cv2.CALIB_ZERO_TANGENT_DIST
    if model == "none":
        return cv2.CALIB_FIX_K1 | cv2.CALIB_FIX_K2 | cv2.CALIB_FIX_K3 | cv2.CALIB_ZERO_TANGENT_DIST
    raise ValueError(f"distortion model must be one of {DISTORTION_MODELS}, got {model!r}")


def calibrate_intrinsics(
    images: Sequence[np.ndarray],
    board: BoardSpec,
    camera: str = "camera",
    distortion: str = "full",
    min_corners: int = 8,
    min_images: int = 3,
    names: Sequence[str] | None = None,
) -> IntrinsicsResult:
    """Fit K and distortion to every image that shows at least `min_corners` board corners.

    Images are (H, W, 3) uint8 RGB or (H, W) gray, all the same size. Raises `NotEnoughCorners`
    when fewer than `min_images` are usable: `BoardNotFound` when no image shows a marker,
    `BoardMismatch` when the markers seen are not the board `board` describes. `names` label the
    images in warnings (default: their indices).
    """
    detector = make_detector(board)
    sizes = {tuple(im.shape[:2]) for im in images}
    if len(sizes) != 1:
        raise ValueError(f"all calibration images must have one size, got {sorted(sizes)}")
    dets = [detect(im, board, detector) for im in images]
    return calibrate_from_detections(
        dets, board, sizes.pop(), camera, distortion, min_corners, min_images, images=images, names=names
    )


def calibrate_from_detections(
    dets: Sequence[Detection],
    board: BoardSpec,
    image_hw: tuple[int, int],
    camera: str = "camera",
    distortion: str = "full",
    min_corners: int = 8,
    min_images: int = 3,
    images: Sequence[np.ndarray] | None = None,
    names: Sequence[str] | None = None,
) -> IntrinsicsResult:
    """`calibrate_intrinsics` on detections already made; `images` only sharpen the error message."""
    import cv2

    flags = _flags(distortion)
    corners3d = board.corner_points().astype(np.float32)
    used = [i for i, d in enumerate(dets) if len(d) >= max(min_corners, 6)]
    if len(used) < min_images:
        need = (
            f"only {len(used)} of {len(dets)} images show >= {min_corners} ChArUco corners; "
            f"intrinsics need at least {min_images}"
        )
        raise diagnose(dets, board, need, images)
    obj = [corners3d[dets[i].ids] for i in used]
    img = [dets[i].corners.reshape(-1, 1, 2).astype(np.float32) for i in used]
    h, w = image_hw
    rms, K, dist, rvecs, tvecs, _, _, per_view = cv2.calibrateCameraExtended(
        obj, img, (w, h), None, None, flags=flags
    )
    cal = CameraCalibration(
        camera=camera,
        image_size=(w, h),
        K=K,
        distortion=dist.reshape(-1)[:5],
        rms_px=float(rms),
        board=board.to_dict(),
        source="charuco",
        info={"n_images": len(dets), "n_used": len(used), "distortion_model": distortion},
    )
    poses = [rvec_tvec_to_T(r, t) for r, t in zip(rvecs, tvecs, strict=True)]
    per_image = [float(e) for e in np.asarray(per_view).reshape(-1)]
    labels = [str(names[i]) if names is not None else f"#{i}" for i in used]
    warnings = high_rms_warnings(float(rms), dict(zip(labels, per_image, strict=True)), "intrinsics")
    cal.info["warnings"] = warnings
    return IntrinsicsResult(cal, poses, used, per_image, warnings)


def high_rms_warnings(
    rms: float, per_image: dict[str, float], what: str, limit: float = HIGH_RMS_PX
) -> list[str]:
    """One warning when a fit's reprojection RMS is above `limit` px, naming the worst images."""
    if rms <= limit:  # (a NaN RMS falls through and warns)
        return []
    worst = ", ".join(f"{k} {v:.2f} px" for k, v in sorted(per_image.items(), key=lambda kv: -kv[1])[:3])
    return [
        f"{what}: reprojection RMS {rms:.2f} px is above {limit:g} px (good fits stay under 0.5 px; "
        f"worst images: {worst}); blurred or moving shots, a board that is not flat or a wrong --board "
        "cause this"
    ]
