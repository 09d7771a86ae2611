"""`robo-reward calibrate ...`: ChArUco boards, intrinsics, extrinsics, hand-eye, sim camera export.

Every command writes the calibration schema of `calibration/README.md`; `--json` writes the
command's metrics (errors, counts) for scripts and benchmarks.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np

from robo_reward.utils.cli_helpers import console, emit_json, print_table
from robo_reward.utils.io import read_json


def _board(board: Path | None):
    from robo_reward.calibration.board import BoardSpec

    return BoardSpec() if board is None else BoardSpec.load(board)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Failures the user fixes (no board, wrong board, a camera that moved) exit with their one line."""
    from robo_reward.calibration.board import NotEnoughCorners
    from robo_reward.calibration.extrinsics import InconsistentViews

    try:
        yield
    except (NotEnoughCorners, InconsistentViews) as e:
        raise SystemExit(str(e)) from None


def _warn(warnings: list[str]) -> None:
    for w in warnings:
        console.print(f"warning: {w}", style="yellow", markup=False)


def _images(pattern: str) -> tuple[list[Path], list[np.ndarray]]:
    import cv2

    p = Path(pattern)
    paths = (
        sorted(p.glob("*.png")) + sorted(p.glob("*.jpg"))
        if p.is_dir()
        else sorted(map(Path, glob.glob(pattern)))
    )
    if not paths:
        raise SystemExit(f"no images match {pattern!r} (a folder of .png/.jpg, or a glob)")
    images = []
    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"cannot read image {path}")
        images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return paths, images


def board(
    out: Path = Path("calibration/boards/charuco_7x5_40mm.png"),
    spec: Path | None = None,
    squares_x: int = 7,
    squares_y: int = 5,
    square_length: float = 0.04,
    marker_length: float = 0.03,
    dictionary: str = "DICT_5X5_100",
    dpi: int = 300,
    margin_mm: float = 10.0,
) -> Path:
    """Write a printable ChArUco board PNG (at `dpi`) and its definition JSON beside it.

    Print at 100 % scale and measure a square: `square_length` must match it (fix the JSON if not).
    """
    import cv2

    from robo_reward.calibration.board import BoardSpec

    b = (
        BoardSpec.load(spec)
        if spec
        else BoardSpec(squares_x, squares_y, square_length, marker_length, dictionary)
    )
    px_per_square = round(b.square_length / 0.0254 * dpi)
    image = b.image(px_per_square, round(margin_mm / 25.4 * dpi))
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), image)
    b.save(out.with_suffix(".json"))
    w, h = b.size_m
    console.print(
        f"wrote {out} ({image.shape[1]}x{image.shape[0]} px at {dpi} dpi; squares {w * 1000:.0f}x{h * 1000:.0f} mm)"
    )
    console.print(f"wrote {out.with_suffix('.json')}")
    return out


def intrinsics(
    images: str,
    out: Path,
    camera: str = "camera",
    board: Path | None = None,
    distortion: Literal["full", "radial2", "none"] = "full",
    min_corners: int = 8,
    json: Path | None = None,
) -> dict:
    """Fit K and distortion from images of the board (a folder or a glob) → calibration JSON."""
    from robo_reward.calibration.intrinsics import calibrate_intrinsics

    paths, imgs = _images(images)
    with _user_errors():
        res = calibrate_intrinsics(
            imgs, _board(board), camera=camera, distortion=distortion, min_corners=min_corners,
            names=[p.name for p in paths],
        )  # fmt: skip
    cal = res.calibration
    cal.info["per_image_rms_px"] = {
        paths[i].name: e for i, e in zip(res.used, res.per_image_rms_px, strict=True)
    }
    cal.save(out)
    metrics = {
        "camera": camera,
        "images": len(paths),
        "used": len(res.used),
        "rms_px": cal.rms_px,
        "fx": cal.fx,
        "fy": cal.fy,
        "cx": float(cal.K[0, 2]),
        "cy": float(cal.K[1, 2]),
        "out": str(out),
    }
    print_table("intrinsics", [metrics])
    _warn(res.warnings)
    emit_json(json, {**metrics, "warnings": res.warnings})
    return metrics


def extrinsics(
    images: str,
    intrinsics: Path,
    out: Path,
    board: Path | None = None,
    board_in_base: Path | None = None,
    allow_motion: bool = False,
    json: Path | None = None,
) -> dict:
    """Board pose in the camera (static camera, static board) and, given the board's pose in the
    robot base (`--board-in-base`: a JSON 4x4 `T_base_board`), the camera's pose `T_base_cam`.

    Several images must agree on one pose; when they do not (the camera or the board moved) the
    command fails, unless `--allow-motion` keeps their averaged pose with a warning."""
    from robo_reward.calibration.extrinsics import calibrate_extrinsics
    from robo_reward.calibration.schema import CameraCalibration

    paths, imgs = _images(images)
    T_base_board = None if board_in_base is None else np.asarray(read_json(board_in_base), np.float64)
    with _user_errors():
        cal = calibrate_extrinsics(
            imgs, _board(board), CameraCalibration.load(intrinsics), T_base_board,
            allow_motion=allow_motion, names=[p.name for p in paths],
        )  # fmt: skip
    cal.save(out)
    metrics = {"camera": cal.camera, "images": len(imgs), "rms_px": cal.rms_px}
    metrics |= {"spread_mm": cal.info["spread_mm"], "spread_deg": cal.info["spread_deg"], "out": str(out)}
    if "T_base_cam" in cal.extrinsics:
        metrics["camera_position_in_base_m"] = cal.extrinsics["T_base_cam"][:3, 3].round(4).tolist()
    print_table("extrinsics", [metrics])
    _warn(cal.info["warnings"])
    emit_json(json, {**metrics, "warnings": cal.info["warnings"]})
    return metrics


def hand_eye(
    samples: Path,
    intrinsics: Path,
    out: Path,
    board: Path | None = None,
    setup: Literal["eye_in_hand", "eye_to_hand"] = "eye_in_hand",
    method: Literal["tsai", "park", "horaud", "andreff", "daniilidis"] = "park",
    json: Path | None = None,
) -> dict:
    """Hand-eye from a samples JSON: `{"samples": [{"image": "a.png", "T_base_gripper": 4x4}, ...]}`
    (image paths relative to the JSON). eye_in_hand writes `T_mount_cam` (camera on the gripper),
    eye_to_hand writes `T_base_cam` (static camera, board held by the gripper)."""
    import cv2

    from robo_reward.calibration.board import detect
    from robo_reward.calibration.board_match import diagnose
    from robo_reward.calibration.extrinsics import board_pose_from_detection
    from robo_reward.calibration.handeye import hand_eye as solve
    from robo_reward.calibration.schema import CameraCalibration

    spec = read_json(samples)
    items = spec.get("samples", []) if isinstance(spec, dict) else []
    if not items:
        raise SystemExit(f"{samples} has no 'samples' list")
    cal = CameraCalibration.load(intrinsics)
    b = _board(board)
    robot, targets, skipped, images, dets = [], [], [], [], []
    for item in items:
        path = samples.parent / item["image"]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"cannot read image {path}")
        images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        dets.append(detect(images[-1], b))
        if len(dets[-1]) < 6:
            skipped.append(item["image"])
            continue
        targets.append(board_pose_from_detection(dets[-1], b, cal.K, cal.distortion, what=str(path))[0])
        robot.append(np.asarray(item["T_base_gripper"], np.float64))
    if len(robot) < 3:
        with _user_errors():
            raise diagnose(dets, b, f"only {len(robot)} images show >= 6 corners; hand-eye needs 3", images)
    res = solve(robot, targets, setup=setup, method=method)
    key = "T_mount_cam" if setup == "eye_in_hand" else "T_base_cam"
    cal.extrinsics[key] = res.T
    cal.source = "hand-eye"
    cal.info.update(
        {"hand_eye": {"setup": setup, "method": method, "samples": len(robot), "skipped": skipped}}
    )
    cal.info["hand_eye"].update({"spread_mm": res.spread_mm, "spread_deg": res.spread_deg})
    cal.save(out)
    metrics = {"setup": setup, "method": method, "samples": len(robot), "skipped": len(skipped)}
    metrics |= {"spread_mm": res.spread_mm, "spread_deg": res.spread_deg, "out": str(out)}
    print_table("hand-eye", [metrics])
    emit_json(json, metrics)
    return metrics


def sim_export(
    mjcf: Path | None = None,
    out: Path = Path("calibration/sim"),
    width: int = 96,
    height: int = 96,
    base_body: str | None = "link0",
    keyframe: str | None = "home",
    cameras: list[str] | None = None,
) -> list[Path]:
    """Export a MuJoCo model's cameras (default: `sim/scene.xml`) as exact calibration files.

    Poses are taken at `keyframe` (if the model has it) relative to `base_body` (or the world);
    cameras fixed to a moving body also get their constant mount `T_mount_cam`.
    """
    import mujoco

    from robo_reward.calibration.sim import export_model_cameras
    from robo_reward.paths import sim_assets

    mjcf = mjcf or sim_assets() / "scene.xml"
    model = mujoco.MjModel.from_xml_path(str(mjcf))
    data = mujoco.MjData(model)
    if keyframe is not None and mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_KEY, keyframe) >= 0:
        mujoco.mj_resetDataKeyframe(model, data, model.key(keyframe).id)
    if base_body is not None and mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, base_body) < 0:
        console.print(f"[yellow]no body {base_body!r}; poses are in the world frame[/yellow]")
        base_body = None
    mujoco.mj_forward(model, data)
    paths = export_model_cameras(model, data, out, width, height, base_body, cameras)
    for p in paths:
        console.print(f"wrote {p}")
    return paths


COMMANDS = {
    "board": board,
    "intrinsics": intrinsics,
    "extrinsics": extrinsics,
    "hand-eye": hand_eye,
    "sim-export": sim_export,
}
