"""Bad calibration inputs get errors that say what is wrong: no board in view vs a board that does not
match `--board`, extrinsics from a camera that moved, and a warning when a fit's RMS is high."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest

pytest.importorskip("mujoco")

from robo_reward.bench.calibration import board_center
from robo_reward.calibration.board import BoardSpec, NotEnoughCorners, detect
from robo_reward.calibration.board_match import BoardMismatch, BoardNotFound, marker_fit
from robo_reward.calibration.extrinsics import InconsistentViews, calibrate_extrinsics
from robo_reward.calibration.intrinsics import calibrate_intrinsics
from robo_reward.calibration.sim import mujoco_camera_calibration
from robo_reward.calibration.synthetic import build_scene, orbit_poses
from robo_reward.calibration.transforms import look_at, make_T
from robo_reward.cli import main


def _renders(board: BoardSpec | None = None, n: int = 6, fovy: float = 45.0, seed: int = 0):
    """`n` orbit renders of `board` (default 7x5 DICT_5X5_100) and the exact calibration of the camera."""
    try:
        sc = build_scene(board=board, fovy=fovy)
        sc.render()
    except Exception as e:  # no offscreen GL here
        pytest.skip(f"no offscreen rendering: {e}")
    sc.set_board(make_T(np.diag([1.0, -1.0, -1.0]), [-sc.board.size_m[0] / 2, sc.board.size_m[1] / 2, 0.0]))
    images = []
    for T in orbit_poses(n, board_center(sc), seed=seed):
        sc.set_camera(T)
        images.append(sc.render())
    sc.set_camera(look_at([0.0, 0.0, 0.4], [1.5, 0.0, 0.2], [0, 0, 1]))  # looking away from the board
    away = sc.render()
    truth = mujoco_camera_calibration(sc.model, sc.data, "cam")
    sc.close()
    return images, away, truth


@pytest.fixture(scope="module")
def renders():
    return _renders()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (BoardSpec(dictionary="DICT_4X4_50"), "show DICT_5X5_1000 markers .* check --board \\(dictionary\\)"),
        (
            BoardSpec(squares_x=5, squares_y=4),
            "marker ids up to 16 seen, a 5x4 DICT_5X5_100 board has ids 0-9",
        ),
        (BoardSpec(squares_x=9, squares_y=7), "do not sit where a 9x7 DICT_5X5_100 board puts them"),
    ],
)
def test_a_wrong_board_spec_is_not_a_missing_board(renders, spec, expected):
    images, _, _ = renders
    with pytest.raises(
        BoardMismatch, match=f"markers found but they do not match the board spec: .*{expected}"
    ):
        calibrate_intrinsics(images, spec)


def test_a_legacy_board_read_as_a_current_one():
    """OpenCV < 4.6 printed boards with an even number of rows with the markers on the other squares."""
    images, _, _ = _renders(BoardSpec(squares_x=8, squares_y=6), n=3)
    with pytest.raises(BoardMismatch, match="do not sit where a 8x6 .*legacy pattern.*legacy_pattern"):
        calibrate_intrinsics(images, BoardSpec(squares_x=8, squares_y=6, legacy_pattern=True))
    assert len(calibrate_intrinsics(images, BoardSpec(squares_x=8, squares_y=6)).used) == 3


def test_no_board_in_view(renders):
    _, away, _ = renders
    with pytest.raises(BoardNotFound, match="^no board found in any of 3 images"):
        calibrate_intrinsics([away] * 3, BoardSpec())


def test_a_partly_seen_board_is_neither(renders):
    images, _, _ = renders
    h, w = images[0].shape[:2]
    crops = [im.copy() for im in images]
    for im in crops:  # all but a corner of the board painted over
        im[:, w // 2 :] = 255
        im[h // 2 :] = 255
    with pytest.raises(NotEnoughCorners, match="seen only in part") as err:
        calibrate_intrinsics(crops, BoardSpec(), min_corners=12)
    assert not isinstance(err.value, (BoardNotFound, BoardMismatch))


def test_marker_fit_of_the_right_and_a_wrong_layout(renders):
    images, _, _ = renders
    det = detect(images[0], BoardSpec())
    assert marker_fit(det, BoardSpec()) == 1.0
    assert marker_fit(det, BoardSpec(squares_x=9, squares_y=7)) < 0.5


def test_extrinsics_of_a_moving_camera_fail_unless_allowed(renders):
    images, _, truth = renders
    with pytest.raises(InconsistentViews, match="do not show one static board from one static camera"):
        calibrate_extrinsics(images[:3], BoardSpec(), truth)
    cal = calibrate_extrinsics(images[:3], BoardSpec(), truth, allow_motion=True)
    assert cal.rms_px > 5 and "--allow-motion" in cal.info["warnings"][0]

    rng = np.random.default_rng(0)  # a static camera with sensor noise is not "moving"
    noisy = [
        np.clip(images[0] + rng.normal(0, 3, images[0].shape), 0, 255).astype(np.uint8) for _ in range(4)
    ]
    cal = calibrate_extrinsics(noisy, BoardSpec(), truth)
    assert cal.rms_px < 0.5 and cal.info["warnings"] == [] and cal.info["spread_mm"] < 2.0


def test_high_rms_warns(renders):
    images, _, _ = renders
    good = calibrate_intrinsics(images, BoardSpec())
    assert good.warnings == [] and good.calibration.rms_px < 0.5
    h, w = images[0].shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    wave = xs + 4 * np.sin(ys / 15)  # a board that is not flat: rows shifted by up to 4 px
    wavy = [cv2.remap(im, wave, ys, cv2.INTER_LINEAR) for im in images[:3]]
    bad = calibrate_intrinsics(images[3:] + wavy, BoardSpec(), names=[f"{i}.png" for i in range(6)])
    assert bad.calibration.rms_px > 1.0
    (warning,) = bad.warnings
    assert re.search(r"reprojection RMS .* worst images: [345]\.png", warning), warning
    assert bad.calibration.info["warnings"] == bad.warnings


def _write(folder, images):
    folder.mkdir()
    for i, im in enumerate(images):
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    return str(folder)


def test_cli_errors_are_one_line_and_distinct(renders, tmp_path, capsys):
    images, away, truth = renders
    shots, empty = _write(tmp_path / "shots", images), _write(tmp_path / "empty", [away] * 3)
    BoardSpec(dictionary="DICT_4X4_50").save(tmp_path / "wrong.json")
    messages = {}
    for name, args in {
        "none": ["intrinsics", "--images", empty],
        "wrong": ["intrinsics", "--images", shots, "--board", str(tmp_path / "wrong.json")],
        "moved": ["extrinsics", "--images", shots, "--intrinsics", str(tmp_path / "cam.json")],
    }.items():
        if name == "moved":
            truth.save(tmp_path / "cam.json")
        capsys.readouterr()
        with pytest.raises(SystemExit) as err:
            main(["calibrate", *args, "--out", str(tmp_path / f"out_{name}.json")])
        lines = capsys.readouterr().err.strip().splitlines()
        assert err.value.code == 2 and len(lines) == 1 and not (tmp_path / f"out_{name}.json").exists()
        messages[name] = lines[0].partition(": error: ")[2]
    assert messages["none"].startswith("no board found in any of 3 images")
    assert messages["wrong"].startswith("markers found but they do not match the board spec")
    assert "check --board" in messages["wrong"] and "--allow-motion" in messages["moved"]

    main(["calibrate", "extrinsics", "--images", shots, "--intrinsics", str(tmp_path / "cam.json"),
          "--allow-motion", "--out", str(tmp_path / "ext.json"), "--json", str(tmp_path / "m.json")])  # fmt: skip
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["rms_px"] > 5 and metrics["spread_mm"] > 10 and len(metrics["warnings"]) == 1
