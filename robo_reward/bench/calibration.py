"""`robo-reward bench calibration`: camera sync and ChArUco calibration accuracy against exact truth.

Two measurements, each against an independent ground truth:
- **sync**: three synthetic streams (30 / 25 / 15 Hz, ±5 ms stamp jitter, 10 % dropped frames, per-view
  transport latency) through `ApproxTimeSync`; the bundle count is compared with the most disjoint
  bundles any matcher could form (an exhaustive dynamic programme over the three streams).
- **calibration**: a ChArUco plate rendered by MuJoCo at 640×480 from known poses; intrinsics from
  `views` images, board → camera and camera → base poses, and the eye-in-hand mount of a wrist camera,
  each compared with the exact values MuJoCo's model gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robo_reward.utils.cli_helpers import console, emit_json, markdown_table, print_table

RATES = {"front": 30.0, "side": 25.0, "wrist": 15.0}
LATENCY = {"front": 0.0, "side": 0.015, "wrist": 0.04}


def synthetic_streams(rates: dict[str, float], seconds: float, jitter: float, drop: float, seed: int) -> dict:
    """Per view, frames at `rate` Hz with uniform stamp jitter, each dropped with probability `drop`."""
    from robo_reward.cameras.sync import Frame

    rng = np.random.default_rng(seed)
    image = np.zeros((2, 2, 3), np.uint8)
    streams = {}
    for view, hz in rates.items():
        n = int(seconds * hz)
        stamps = np.arange(n) / hz + rng.uniform(-jitter, jitter, n) + 1.0
        keep = rng.random(n) >= drop
        streams[view] = [Frame(view, image, float(s), i) for i, s in enumerate(stamps) if keep[i]]
    return streams


def arrival_order(streams: dict, latency: dict[str, float], seed: int) -> list:
    """All frames in the order they would arrive (stamp + view latency + up to 2 ms noise)."""
    rng = np.random.default_rng(seed)
    events = []
    for view, frames in streams.items():
        arrive = np.array([f.stamp for f in frames]) + latency[view] + rng.uniform(0, 0.002, len(frames))
        events += list(zip(np.maximum.accumulate(arrive), frames, strict=True))
    events.sort(key=lambda e: e[0])
    return [f for _, f in events]


def max_disjoint_bundles(streams: dict, slop: float) -> int:
    """The most time-ordered, disjoint 3-view bundles with skew ≤ slop (exhaustive DP; 3 views only)."""
    if len(streams) != 3:
        raise ValueError(f"the exhaustive count is written for 3 views, got {len(streams)}")
    a, b, c = ([f.stamp for f in s] for s in streams.values())
    best = np.zeros((len(a) + 1, len(b) + 1, len(c) + 1), np.int64)
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            for k in range(len(c) - 1, -1, -1):
                v = max(best[i + 1, j, k], best[i, j + 1, k], best[i, j, k + 1])
                t = (a[i], b[j], c[k])
                if max(t) - min(t) <= slop + 1e-9:
                    v = max(v, 1 + best[i + 1, j + 1, k + 1])
                best[i, j, k] = v
    return int(best[0, 0, 0])


def sync_accuracy(seeds: int = 3, seconds: float = 3.0, slop: float = 0.012) -> dict:
    from robo_reward.cameras.sync import ApproxTimeSync

    rows = []
    for seed in range(seeds):
        streams = synthetic_streams(RATES, seconds, jitter=0.005, drop=0.1, seed=seed)
        sync = ApproxTimeSync(list(RATES), slop=slop, queue_size=64)
        bundles = [b for f in arrival_order(streams, LATENCY, seed) for b in sync.push(f)]
        stats = sync.counters.as_dict()
        rows.append(
            {
                "seed": seed,
                "frames": sum(len(s) for s in streams.values()),
                "bundles": len(bundles),
                "max_possible": max_disjoint_bundles(streams, slop),
                "skew_p95_ms": 1e3 * stats["skew_p95_s"],
                "skew_max_ms": 1e3 * stats["skew_max_s"],
            }
        )
    return {"slop_ms": 1e3 * slop, "rows": rows}


def plain_opencv_intrinsics(images: list[np.ndarray], board) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The independent reference: OpenCV's CharucoDetector with its defaults and calibrateCamera, nothing
    added. Returns K and T_cam_board per used image index."""
    import cv2

    from robo_reward.calibration.transforms import rvec_tvec_to_T

    detector = cv2.aruco.CharucoDetector(board.cv_board())
    obj, img, used = [], [], []
    for i, image in enumerate(images):
        corners, ids, _, _ = detector.detectBoard(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        if ids is not None and len(ids) >= 8:
            obj.append(board.corner_points()[ids.reshape(-1)].astype(np.float32))
            img.append(corners.astype(np.float32))
            used.append(i)
    h, w = images[0].shape[:2]
    _, K, _, rvecs, tvecs = cv2.calibrateCamera(obj, img, (w, h), None, None)
    return K, {i: rvec_tvec_to_T(r, t) for i, r, t in zip(used, rvecs, tvecs, strict=True)}


def relative_pose_error(estimated: dict[int, np.ndarray], truth: list[np.ndarray]) -> tuple[float, float]:
    """Worst error (mm, degrees) of the camera's motion between any two views, T_cam_i ← cam_j, from
    estimated board poses T_cam_board per view index; the board frame's own placement cancels out."""
    from robo_reward.calibration.transforms import inv_T, pose_error

    worst = (0.0, 0.0)
    views = sorted(estimated)
    for a, i in enumerate(views):
        for j in views[a + 1 :]:
            dt, dr = pose_error(estimated[i] @ inv_T(estimated[j]), truth[i] @ inv_T(truth[j]))
            worst = (max(worst[0], 1e3 * dt), max(worst[1], dr))
    return worst


def reference_scene():
    from scipy.spatial.transform import Rotation

    from robo_reward.calibration.synthetic import build_scene
    from robo_reward.calibration.transforms import make_T

    holder = make_T(Rotation.from_euler("xyz", [10, -5, 30], degrees=True).as_matrix(), [0.05, -0.02, 0.04])
    scene = build_scene(T_holder_board=holder)
    scene.set_board(make_T(np.diag([1.0, -1.0, -1.0]), [-0.14, 0.1, 0.0]))
    return scene


def board_center(scene) -> np.ndarray:
    Tb = scene.board_pose()
    return Tb[:3, 3] + Tb[:3, :3] @ np.array([*np.asarray(scene.board.size_m) / 2, 0.0])


def intrinsics_vs_opencv(scene, views: int = 12, seed: int = 0, tilt_deg: float = 35.0) -> dict:
    """Intrinsics from `views` renders of an orbit: this project's and plain OpenCV's errors against the
    exact camera (fx, fy in %, relative poses between views in mm and degrees)."""
    from robo_reward.calibration.intrinsics import calibrate_intrinsics
    from robo_reward.calibration.sim import mujoco_camera_calibration
    from robo_reward.calibration.synthetic import orbit_poses
    from robo_reward.calibration.transforms import inv_T

    poses = orbit_poses(views, board_center(scene), tilt_deg=tilt_deg, seed=seed)
    images = []
    for T in poses:
        scene.set_camera(T)
        images.append(scene.render())
    truth = mujoco_camera_calibration(scene.model, scene.data, "cam", scene.width, scene.height)
    true_boards = [inv_T(T) @ scene.board_pose() for T in poses]
    ours = calibrate_intrinsics(images, scene.board, camera="cam")
    K_plain, plain_boards = plain_opencv_intrinsics(images, scene.board)
    row = {"seed": seed, "tilt_deg": tilt_deg}
    for name, K, boards in (
        ("", ours.calibration.K, dict(zip(ours.used, ours.T_cam_board, strict=True))),
        ("opencv_", K_plain, plain_boards),
    ):
        mm, deg = relative_pose_error(boards, true_boards)
        row |= {
            f"{name}fx_error_pct": float(100 * (K[0, 0] / truth.fx - 1)),
            f"{name}fy_error_pct": float(100 * (K[1, 1] / truth.fy - 1)),
            f"{name}relative_pose_mm": mm,
            f"{name}relative_pose_deg": deg,
        }
    row["reprojection_rms_px"] = ours.calibration.rms_px
    row["principal_point_error_px"] = float(np.abs(ours.calibration.K[:2, 2] - truth.K[:2, 2]).max())
    return row


def calibration_accuracy(views: int = 12, seed: int = 0) -> dict:
    """Errors of the recovered intrinsics and poses against MuJoCo's exact values."""
    from robo_reward.calibration.extrinsics import board_pose, calibrate_extrinsics
    from robo_reward.calibration.handeye import hand_eye
    from robo_reward.calibration.intrinsics import calibrate_intrinsics
    from robo_reward.calibration.sim import body_pose, mujoco_camera_calibration
    from robo_reward.calibration.synthetic import orbit_poses
    from robo_reward.calibration.transforms import inv_T, pose_error

    scene = reference_scene()
    try:
        center = board_center(scene)
        poses = orbit_poses(views, center, seed=seed)
        images = []
        for T in poses:
            scene.set_camera(T)
            images.append(scene.render())
        truth = mujoco_camera_calibration(scene.model, scene.data, "cam")
        cal = calibrate_intrinsics(images, scene.board, camera="cam").calibration
        board_err = [
            pose_error(board_pose(im, scene.board, cal.K, cal.distortion)[0], inv_T(T) @ scene.board_pose())
            for T, im in zip(poses, images, strict=True)
        ]
        scene.set_camera(poses[0])
        ext = calibrate_extrinsics([images[0]], scene.board, cal, T_base_board=scene.board_pose())
        base_err = pose_error(ext.extrinsics["T_base_cam"], poses[0])

        wrist = mujoco_camera_calibration(scene.model, scene.data, "wrist")
        robot, boards = [], []
        for T_world_cam in orbit_poses(views, center, seed=seed + 1):
            scene.set_body("hand", T_world_cam @ inv_T(scene.T_hand_wristcam))
            image = scene.render("wrist")
            robot.append(body_pose(scene.model, scene.data, "hand"))
            boards.append(board_pose(image, scene.board, wrist.K, wrist.distortion)[0])
        mount_err = pose_error(hand_eye(robot, boards, "eye_in_hand", "park").T, scene.T_hand_wristcam)
    finally:
        scene.close()
    return {
        "views": views,
        "fx_error_pct": 100 * abs(cal.fx / truth.fx - 1),
        "fy_error_pct": 100 * abs(cal.fy / truth.fy - 1),
        "principal_point_error_px": float(np.abs(cal.K[:2, 2] - truth.K[:2, 2]).max()),
        "reprojection_rms_px": float(cal.rms_px),
        "board_to_camera_max_mm": 1e3 * max(e[0] for e in board_err),
        "board_to_camera_max_deg": max(e[1] for e in board_err),
        "camera_to_base_mm": 1e3 * base_err[0],
        "camera_to_base_deg": base_err[1],
        "eye_in_hand_mount_mm": 1e3 * mount_err[0],
        "eye_in_hand_mount_deg": mount_err[1],
    }


def opencv_comparison(views: int = 12, seeds: int = 3, tilts: tuple[float, ...] = (35.0, 50.0)) -> list[dict]:
    """`intrinsics_vs_opencv` over `seeds` orbits at each maximum tilt."""
    scene = reference_scene()
    try:
        return [intrinsics_vs_opencv(scene, views, s, t) for t in tilts for s in range(seeds)]
    finally:
        scene.close()


def _versus_row(r: dict) -> dict:
    """A short table row of `intrinsics_vs_opencv`: this project's errors, then plain OpenCV's."""
    row = {"seed": r["seed"], "tilt": int(r["tilt_deg"])}
    for who, prefix in (("", ""), ("opencv ", "opencv_")):
        row[f"{who}fx %"] = round(r[f"{prefix}fx_error_pct"], 3)
        row[f"{who}fy %"] = round(r[f"{prefix}fy_error_pct"], 3)
        row[f"{who}rel mm"] = round(r[f"{prefix}relative_pose_mm"], 2)
        row[f"{who}rel deg"] = round(r[f"{prefix}relative_pose_deg"], 3)
    return row


def run(json: Path | None = None, views: int = 12, seeds: int = 3) -> dict:
    """Sync bundle count vs the exhaustive optimum, and calibration errors vs MuJoCo's exact cameras
    (with plain OpenCV's intrinsics on the same renders as the reference, over `seeds` orbits)."""
    sync = sync_accuracy(seeds=seeds)
    print_table("approximate-time sync (30/25/15 Hz, ±5 ms jitter, 10 % drops)", sync["rows"])
    with console.status("calibrating from rendered ChArUco views"):
        cal = calibration_accuracy(views=views)
        versus = opencv_comparison(views=views, seeds=seeds)
    cal_rows = [{"error": k, "value": round(v, 3)} for k, v in cal.items()]
    print_table("calibration error vs MuJoCo truth", cal_rows)
    versus_rows = [_versus_row(r) for r in versus]
    print_table("intrinsics: this project vs plain OpenCV, errors vs MuJoCo truth", versus_rows)
    rows = [{k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()} for r in sync["rows"]]
    result = {"sync": sync, "calibration": cal, "versus_opencv": versus}
    result["table_markdown"] = "\n\n".join(markdown_table(t) for t in (rows, cal_rows, versus_rows))
    emit_json(json, result)
    return result
