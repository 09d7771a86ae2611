"""A small MuJoCo scene for calibration ground truth: a ChArUco-textured plate and movable cameras.

Built with `mujoco.MjSpec`. Bodies `rig` (a camera `cam` at its origin), `hand` (a camera `wrist`
mounted at `wrist_mount`) and `board` (the plate, optionally offset from the `holder` body) are mocap
bodies, so tests place them anywhere and render. All poses handed in and out are OpenCV-convention
4x4 transforms in the world frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from robo_reward.calibration.board import BoardSpec
from robo_reward.calibration.sim import body_pose
from robo_reward.calibration.transforms import MJ_TO_CV, make_T

PLATE_THICKNESS = 0.002


def _quat(R: np.ndarray) -> np.ndarray:
    import mujoco

    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.asarray(R, np.float64).reshape(9))
    return q


@dataclass
class CalibrationScene:
    model: Any
    data: Any
    board: BoardSpec
    margin: float  # white border around the squares, metres
    width: int
    height: int
    T_hand_wristcam: np.ndarray  # ground-truth wrist mount (OpenCV camera axes)
    T_holder_board: np.ndarray  # ground-truth board offset on the holder (board frame)
    _renderer: Any = None

    def _mocap(self, body: str) -> int:
        return int(self.model.body_mocapid[self.model.body(body).id])

    def set_body(self, body: str, T_world_body: np.ndarray) -> None:
        i = self._mocap(body)
        self.data.mocap_pos[i] = T_world_body[:3, 3]
        self.data.mocap_quat[i] = _quat(T_world_body[:3, :3])

    def set_camera(self, T_world_cam: np.ndarray) -> None:
        """Place the `rig` camera (OpenCV axes)."""
        self.set_body("rig", make_T(T_world_cam[:3, :3] @ MJ_TO_CV, T_world_cam[:3, 3]))

    def set_board(self, T_world_board: np.ndarray) -> None:
        """Place the board frame (OpenCV board convention) by moving the holder."""
        from robo_reward.calibration.transforms import inv_T

        self.set_body("holder", T_world_board @ inv_T(self.T_holder_board))

    def board_pose(self) -> np.ndarray:
        """T_world_board, the board frame (origin at the top-left square corner, z into the plate)."""
        return body_pose(self.model, self.data, "holder") @ self.T_holder_board

    def render(self, camera: str = "cam") -> np.ndarray:
        import mujoco

        mujoco.mj_forward(self.model, self.data)
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, height=self.height, width=self.width)
        self._renderer.update_scene(self.data, camera=camera)
        return self._renderer.render().copy()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def build_scene(
    board: BoardSpec | None = None,
    width: int = 640,
    height: int = 480,
    fovy: float = 45.0,
    px_per_square: int = 160,
    T_hand_wristcam: np.ndarray | None = None,
    T_holder_board: np.ndarray | None = None,
) -> CalibrationScene:
    import mujoco

    board = board or BoardSpec()
    margin = 0.5 * board.square_length
    margin_px = px_per_square // 2
    gray = board.image(px_per_square, margin_px)
    tex_h, tex_w = gray.shape
    plate_w, plate_h = board.size_m[0] + 2 * margin, board.size_m[1] + 2 * margin

    spec = mujoco.MjSpec()
    spec.visual.global_.offwidth = max(width, 640)
    spec.visual.global_.offheight = max(height, 480)
    spec.visual.headlight.ambient = [0.5, 0.5, 0.5]
    spec.visual.headlight.diffuse = [0.3, 0.3, 0.3]
    spec.visual.quality.shadowsize = 0
    tex = spec.add_texture(
        name="charuco", type=mujoco.mjtTexture.mjTEXTURE_2D, width=tex_w, height=tex_h, nchannel=3
    )
    tex.data = np.repeat(gray[..., None], 3, axis=-1).tobytes()
    mat = spec.add_material(name="charuco")
    mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "charuco"
    mat.texrepeat = [1, 1]
    mat.texuniform = False
    mat.specular = 0.0
    mat.shininess = 0.0
    world = spec.worldbody
    world.add_light(pos=[0, 0, 3], dir=[0, 0, -1], type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, castshadow=0)
    world.add_geom(
        type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 0.1], pos=[0, 0, -0.5], rgba=[0.3, 0.3, 0.35, 1]
    )

    # The texture's columns run along the plate's +x and its rows along −y (top row at +y), on the +z
    # face. So the board frame (x along columns, y along rows, z into the plate) sits at the top-left
    # square corner with axes (x, −y, −z) of the plate body.
    R_plate_board = np.diag([1.0, -1.0, -1.0])
    T_plate_board = make_T(R_plate_board, [-plate_w / 2 + margin, plate_h / 2 - margin, PLATE_THICKNESS / 2])
    T_holder_board = np.eye(4) if T_holder_board is None else np.asarray(T_holder_board, np.float64)
    from robo_reward.calibration.transforms import inv_T

    T_holder_plate = T_holder_board @ inv_T(T_plate_board)
    holder = world.add_body(name="holder", mocap=True)
    holder.add_geom(
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[plate_w / 2, plate_h / 2, PLATE_THICKNESS / 2],
        pos=T_holder_plate[:3, 3],
        quat=_quat(T_holder_plate[:3, :3]),
        material="charuco",
        contype=0,
        conaffinity=0,
    )
    rig = world.add_body(name="rig", mocap=True, pos=[0, 0, 1])
    rig.add_camera(name="cam", fovy=fovy)

    if T_hand_wristcam is None:  # a typical wrist mount: 6 cm off the flange, tilted 20 degrees
        T_hand_wristcam = make_T(_rot_x(np.radians(20)), [0.0, 0.06, 0.03])
    hand = world.add_body(name="hand", mocap=True, pos=[0, 0, 1])
    hand.add_geom(
        type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[0.005], rgba=[0.2, 0.2, 0.2, 1], contype=0, conaffinity=0
    )
    mount_mj = T_hand_wristcam[:3, :3] @ MJ_TO_CV  # OpenCV → MuJoCo camera axes (MJ_TO_CV is its own inverse)
    hand.add_camera(name="wrist", fovy=fovy, pos=T_hand_wristcam[:3, 3], quat=_quat(mount_mj))

    model = spec.compile()
    data = mujoco.MjData(model)
    scene = CalibrationScene(model, data, board, margin, width, height, T_hand_wristcam, T_holder_board)
    scene.set_board(np.eye(4) @ make_T(R_plate_board, [-board.size_m[0] / 2, board.size_m[1] / 2, 0]))
    mujoco.mj_forward(model, data)
    return scene


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def orbit_poses(
    n: int,
    target: np.ndarray,
    distance: tuple[float, float] = (0.35, 0.55),
    tilt_deg: float = 35.0,
    seed: int = 0,
) -> list[np.ndarray]:
    """`n` OpenCV camera poses above `target`, looking at it from up to `tilt_deg` off vertical."""
    from robo_reward.calibration.transforms import look_at

    rng = np.random.default_rng(seed)
    poses = []
    for i in range(n):
        tilt = np.radians(tilt_deg) * np.sqrt(rng.uniform(0.05, 1.0))
        az = 2 * np.pi * (i / n) + rng.uniform(-0.3, 0.3)
        d = rng.uniform(*distance)
        eye = np.asarray(target) + d * np.array(
            [np.sin(tilt) * np.cos(az), np.sin(tilt) * np.sin(az), np.cos(tilt)]
        )
        jitter = np.asarray(target) + rng.uniform(-0.03, 0.03, 3) * [1, 1, 0]
        roll = rng.uniform(-0.4, 0.4)
        up = np.array([np.sin(roll), np.cos(roll), 0.0])
        poses.append(look_at(eye, jitter, up))
    return poses
