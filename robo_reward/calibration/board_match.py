"""Why a board gave too few corners: no board in view, or a board unlike the one the spec describes.

The two call for different fixes (point the camera at the board; fix `--board`), so they get
different errors. A board is "seen" when ArUco markers are found; it "matches the spec" when its
markers are of the spec's dictionary and sit where a board of the spec's size puts them (checked
with one homography from the board plane to the image, so it needs no intrinsics).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robo_reward.calibration.board import BoardSpec, Detection, NotEnoughCorners

# Dictionaries tried when none of the spec's markers are found: the largest of each family (the
# smaller ones are their prefixes) and the two non-ArUco families OpenCV reads.
PROBE_DICTIONARIES = (
    "DICT_4X4_1000",
    "DICT_5X5_1000",
    "DICT_6X6_1000",
    "DICT_7X7_1000",
    "DICT_ARUCO_ORIGINAL",
    "DICT_APRILTAG_36h11",
)
MIN_MARKERS = 4  # markers in one image before its layout is judged
FIT_FRACTION = 0.8  # below this share of markers where the spec puts them, the spec is wrong


class BoardNotFound(NotEnoughCorners):
    """No ArUco marker of any common dictionary in any image."""


class BoardMismatch(NotEnoughCorners):
    """Markers were found, but they are not the board that the spec describes."""


def marker_fit(det: Detection, board: BoardSpec) -> float | None:
    """Share of the detected markers that sit where `board` puts their ids (None: too few markers).

    Marker corners are matched to the spec's marker corners on the board plane and one homography is
    fitted with RANSAC; a marker fits when all four of its corners are within a third of a marker side
    of that homography (loose enough for lens distortion, tight against a shifted layout).
    """
    import cv2

    if len(det.marker_ids) < MIN_MARKERS:
        return None
    obj_points = board.cv_board().getObjPoints()
    known = det.marker_ids < len(obj_points)
    if known.sum() < MIN_MARKERS:
        return float(known.mean())
    obj = np.concatenate([np.asarray(obj_points[i], np.float64)[:, :2] for i in det.marker_ids[known]])
    img = det.marker_corners[known].reshape(-1, 2).astype(np.float64)
    side = float(np.median(np.linalg.norm(np.diff(det.marker_corners, axis=1), axis=-1)))
    H, _ = cv2.findHomography(obj, img, cv2.RANSAC, max(side / 3, 1.0))
    if H is None:
        return 0.0
    proj = cv2.perspectiveTransform(obj.reshape(-1, 1, 2), H).reshape(-1, 4, 2)
    err = np.linalg.norm(proj - img.reshape(-1, 4, 2), axis=-1).max(axis=1)
    return float((err <= max(side / 3, 1.0)).sum() / len(det.marker_ids))


def other_dictionary(images: Sequence[np.ndarray], board: BoardSpec) -> tuple[str, int] | None:
    """The first probed dictionary with at least 2 markers in one image, and the highest id seen."""
    import cv2

    for name in PROBE_DICTIONARIES:
        if name == board.dictionary:
            continue
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name))
        detector = cv2.aruco.ArucoDetector(dictionary, cv2.aruco.DetectorParameters())
        for image in images:
            gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
            _, ids, _ = detector.detectMarkers(gray)
            if ids is not None and len(ids) >= 2:
                return name, int(ids.max())
    return None


def diagnose(
    dets: Sequence[Detection],
    board: BoardSpec,
    need: str,
    images: Sequence[np.ndarray] | None = None,
) -> NotEnoughCorners:
    """The error to raise when `dets` hold too few corners; `need` says what was required.

    `images` (the same order as `dets`) lets it name the dictionary of a board printed from another
    one; without them that case reads as "no board found".
    """
    where = "the image" if len(dets) == 1 else f"any of {len(dets)} images"
    spec = f"{board.squares_x}x{board.squares_y} {board.dictionary} board" + (
        " (legacy pattern)" if board.legacy_pattern else ""
    )
    mismatch = "markers found but they do not match the board spec:"
    if not any(d.n_markers for d in dets):
        found = other_dictionary(images, board) if images is not None else None
        if found is not None:
            return BoardMismatch(
                f"{mismatch} the images show {found[0]} markers (ids up to {found[1]}), the spec is a "
                f"{spec} — check --board (dictionary)"
            )
        return BoardNotFound(
            f"no board found in {where} (no ArUco markers); is the board in view, lit evenly and in focus?"
        )
    n_ids = len(board.cv_board().getIds())
    top = max(int(d.marker_ids.max()) for d in dets if len(d.marker_ids))
    if top >= n_ids:
        return BoardMismatch(
            f"{mismatch} marker ids up to {top} seen, a {spec} has ids 0-{n_ids - 1} — check --board "
            "(squares_x, squares_y, dictionary)"
        )
    # With several markers in view, a board that matches the spec always yields corners: markers in the
    # wrong places, or no corners from any such image, mean the spec describes another board.
    crowded = [d for d in dets if len(d.marker_ids) >= MIN_MARKERS]
    fits = [marker_fit(d, board) for d in crowded]
    if crowded and (np.median(fits) < FIT_FRACTION or not any(len(d) for d in crowded)):
        return BoardMismatch(
            f"{mismatch} the markers do not sit where a {spec} puts them — check --board "
            "(squares_x, squares_y, legacy_pattern)"
        )
    counts = [len(d) for d in dets]
    return NotEnoughCorners(
        f"the board is seen only in part: {need} (ChArUco corners per image: {counts}); show the whole "
        "board, closer and in focus"
    )


def require(
    det: Detection, board: BoardSpec, min_corners: int, what: str, image: np.ndarray | None = None
) -> None:
    """Raise the right `NotEnoughCorners` when one image shows fewer than `min_corners` corners."""
    if len(det) < min_corners:
        need = f"{what}: {len(det)} corners found, at least {min_corners} needed"
        raise diagnose([det], board, need, None if image is None else [image])
