"""Exact intrinsics and extrinsics of MuJoCo cameras, in the calibration schema.

MuJoCo's `fovy` is the vertical field of view and pixels are square: fy = (H / 2) / tan(fovy / 2)
and fx = fy. A camera with `sensorsize` set uses its focal length instead: fx = focal_x / sensor_w * W.
The principal point is the image centre, (W − 1) / 2 in OpenCV's pixel-centre convention (the
renders confirm it to a few hundredths of a pixel). Poses come from `data.cam_xpos / cam_xmat`
(so `mj_forward` must have run), turned from MuJoCo's camera axes (looks down −z, +y up) into
OpenCV's (looks down +z, +y down).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from robo_reward.calibration.schema import CameraCalibration
from robo_reward.calibration.transforms import MJ_TO_CV, inv_T, make_T


def _camera_id(model: Any, camera: str | int) -> int:
    import mujoco

    cid = camera if isinstance(camera, int) else mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
    if not 0 <= cid < model.ncam:
        names = [model.camera(i).name for i in range(model.ncam)]
        raise ValueError(f"model has no camera {camera!r}; cameras: {names}")
    return cid


def mujoco_intrinsics(model: Any, camera: str | int, width: int, height: int) -> np.ndarray:
    cid = _camera_id(model, camera)
    sensor = np.asarray(model.cam_sensorsize[cid], np.float64)
    if sensor[0] > 0 and sensor[1] > 0:
        focal = np.asarray(model.cam_intrinsic[cid], np.float64)
        fx, fy = focal[0] / sensor[0] * width, focal[1] / sensor[1] * height
        if np.any(focal[2:] != 0):
            raise NotImplementedError(f"camera {camera!r}: a shifted principal point is not exported yet")
    else:
        fy = (height / 2.0) / np.tan(np.radians(model.cam_fovy[cid]) / 2.0)
        fx = fy
    return np.array([[fx, 0.0, (width - 1) / 2.0], [0.0, fy, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def mujoco_camera_pose(model: Any, data: Any, camera: str | int) -> np.ndarray:
    """T_world_cam with OpenCV camera axes."""
    cid = _camera_id(model, camera)
    xmat = np.asarray(data.cam_xmat[cid], np.float64).reshape(3, 3)
    if not np.any(xmat):
        raise ValueError("camera poses are not computed yet; call mujoco.mj_forward(model, data) first")
    return make_T(xmat @ MJ_TO_CV, data.cam_xpos[cid])


def body_pose(model: Any, data: Any, body: str) -> np.ndarray:
    import mujoco

    bid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, body)
    if bid < 0:
        raise ValueError(f"model has no body {body!r}")
    return make_T(np.asarray(data.xmat[bid]).reshape(3, 3), data.xpos[bid])


def mujoco_camera_calibration(
    model: Any,
    data: Any,
    camera: str | int,
    width: int = 640,
    height: int = 480,
    base_body: str | None = None,
) -> CameraCalibration:
    """The camera's exact calibration: K, zero distortion, `T_base_cam` (base = world or `base_body`),
    and `T_mount_cam` (the camera in the body it is fixed to) when that body is not the world."""
    import mujoco

    cid = _camera_id(model, camera)
    T_world_cam = mujoco_camera_pose(model, data, cid)
    T_world_base = np.eye(4) if base_body is None else body_pose(model, data, base_body)
    extrinsics = {"T_base_cam": inv_T(T_world_base) @ T_world_cam}
    info: dict = {"base_body": base_body or "world"}
    body_id = int(model.cam_bodyid[cid])
    if body_id != 0 and int(model.cam_mode[cid]) == int(mujoco.mjtCamLight.mjCAMLIGHT_FIXED):
        R = np.zeros(9)
        mujoco.mju_quat2Mat(R, np.asarray(model.cam_quat[cid], np.float64))
        extrinsics["T_mount_cam"] = make_T(R.reshape(3, 3) @ MJ_TO_CV, model.cam_pos[cid])
        info["mount_body"] = model.body(body_id).name
    return CameraCalibration(
        camera=model.camera(cid).name or f"camera{cid}",
        image_size=(width, height),
        K=mujoco_intrinsics(model, cid, width, height),
        distortion=np.zeros(5),
        extrinsics=extrinsics,
        rms_px=0.0,
        board=None,
        source="mujoco",
        info=info,
    )


def export_model_cameras(
    model: Any,
    data: Any,
    out_dir: str | Path,
    width: int = 640,
    height: int = 480,
    base_body: str | None = None,
    cameras: list[str] | None = None,
) -> list[Path]:
    """Write `<camera>.json` for every (or the named) camera of a model; returns the paths."""
    names = cameras or [model.camera(i).name or f"camera{i}" for i in range(model.ncam)]
    if not names:
        raise ValueError("the model has no cameras")
    out_dir = Path(out_dir)
    return [
        mujoco_camera_calibration(model, data, n, width, height, base_body).save(out_dir / f"{n}.json")
        for n in names
    ]
