"""`robo-reward calibrate board | sim-export | intrinsics | extrinsics | hand-eye` on rendered images."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

pytest.importorskip("mujoco")

from robo_reward.calibration.schema import CameraCalibration, load_rig
from robo_reward.calibration.sim import body_pose
from robo_reward.calibration.synthetic import build_scene, orbit_poses
from robo_reward.calibration.transforms import inv_T, make_T, pose_error
from robo_reward.cli import main
from robo_reward.paths import sim_assets

XML = """<mujoco><worldbody><body name="base" pos="0.1 0 0"><geom size=".05"/></body>
<body name="arm" pos="0 0 1"><geom size=".02"/><camera name="wrist" pos="0 0.05 0" xyaxes="1 0 0 0 1 0" fovy="60"/></body>
<camera name="top" pos="0 0 2" xyaxes="1 0 0 0 1 0" fovy="45"/></worldbody></mujoco>"""


def test_board_command(tmp_path):
    main(
        [
            "calibrate",
            "board",
            "--out",
            str(tmp_path / "b.png"),
            "--squares-x",
            "5",
            "--squares-y",
            "4",
            "--dpi",
            "100",
        ]
    )
    img = cv2.imread(str(tmp_path / "b.png"), cv2.IMREAD_GRAYSCALE)
    spec = json.loads((tmp_path / "b.json").read_text())
    assert spec["squares_x"] == 5 and img.shape == (
        4 * 157 + 2 * 39,
        5 * 157 + 2 * 39,
    )  # 4 cm at 100 dpi = 157 px, 1 cm margin


def test_sim_export(tmp_path):
    (tmp_path / "m.xml").write_text(XML)
    main(["calibrate", "sim-export", "--mjcf", str(tmp_path / "m.xml"), "--out", str(tmp_path / "cal"),
          "--width", "64", "--height", "48", "--base-body", "base"])  # fmt: skip
    rig = load_rig(tmp_path / "cal")
    assert set(rig) == {"top", "wrist"}
    top = rig["top"]
    assert top.fy == pytest.approx(24 / np.tan(np.radians(22.5))) and top.K[0, 2] == 31.5
    # camera at (0, 0, 2) looking down; base at (0.1, 0, 0): OpenCV z = world −z, y = world −y
    np.testing.assert_allclose(
        top.extrinsics["T_base_cam"], make_T(np.diag([1.0, -1.0, -1.0]), [-0.1, 0, 2]), atol=1e-9
    )
    assert "T_mount_cam" in rig["wrist"].extrinsics and rig["wrist"].info["mount_body"] == "arm"
    if (sim_assets() / "scene.xml").exists():  # the project's sim scene exports too
        main(["calibrate", "sim-export", "--out", str(tmp_path / "sim")])
        assert {"front", "side", "wrist"} <= set(load_rig(tmp_path / "sim"))


def test_intrinsics_extrinsics_hand_eye_commands(tmp_path):
    try:
        sc = build_scene()
        sc.render()
    except Exception as e:
        pytest.skip(f"no offscreen rendering: {e}")
    board = tmp_path / "board.json"
    sc.board.save(board)
    Tb = sc.board_pose()
    center = Tb[:3, 3] + Tb[:3, :3] @ np.array([*np.asarray(sc.board.size_m) / 2, 0.0])
    shots = tmp_path / "shots"
    shots.mkdir()
    poses = orbit_poses(8, center, seed=4)
    for i, T in enumerate(poses):
        sc.set_camera(T)
        cv2.imwrite(str(shots / f"{i:03d}.png"), cv2.cvtColor(sc.render(), cv2.COLOR_RGB2BGR))
    cal = tmp_path / "cam.json"
    main(["calibrate", "intrinsics", "--images", str(shots), "--board", str(board), "--camera", "front",
          "--out", str(cal), "--distortion", "radial2", "--json", str(tmp_path / "m.json")])  # fmt: skip
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["used"] == 8 and abs(m["fx"] / (240 / np.tan(np.radians(22.5))) - 1) < 0.01

    (tmp_path / "tb.json").write_text(json.dumps(Tb.tolist()))
    main(["calibrate", "extrinsics", "--images", str(shots / "000.png"), "--intrinsics", str(cal),
          "--board", str(board), "--board-in-base", str(tmp_path / "tb.json"), "--out", str(tmp_path / "ext.json")])  # fmt: skip
    ext = CameraCalibration.load(tmp_path / "ext.json")
    dt, dr = pose_error(ext.extrinsics["T_base_cam"], poses[0])
    assert dt < 0.002 and dr < 0.5

    samples = []
    for i, T in enumerate(orbit_poses(10, center, seed=5)):
        sc.set_body("hand", T @ inv_T(sc.T_hand_wristcam))
        cv2.imwrite(str(shots / f"w{i}.png"), cv2.cvtColor(sc.render("wrist"), cv2.COLOR_RGB2BGR))
        samples.append(
            {"image": f"w{i}.png", "T_base_gripper": body_pose(sc.model, sc.data, "hand").tolist()}
        )
    (shots / "samples.json").write_text(json.dumps({"samples": samples}))
    main(["calibrate", "hand-eye", "--samples", str(shots / "samples.json"), "--intrinsics", str(cal),
          "--board", str(board), "--out", str(tmp_path / "wrist.json")])  # fmt: skip
    wrist = CameraCalibration.load(tmp_path / "wrist.json")
    dt, dr = pose_error(wrist.extrinsics["T_mount_cam"], sc.T_hand_wristcam)
    assert dt < 0.002 and dr < 0.5 and wrist.source == "hand-eye"
    sc.close()
