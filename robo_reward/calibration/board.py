"""ChArUco board definitions (OpenCV 4.12 `cv2.aruco.CharucoBoard` / `CharucoDetector`) and detection.

The board frame is OpenCV's: origin at the board's top-left outer corner as printed, x along the
columns, y along the rows (down the printed page), z into the board.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from robo_reward.utils.io import read_json, write_json


@dataclass(frozen=True)
class BoardSpec:
    squares_x: int = 7  # squares along x (columns)
    squares_y: int = 5  # squares along y (rows)
    square_length: float = 0.04  # metres
    marker_length: float = 0.03  # metres
    dictionary: str = "DICT_5X5_100"  # a cv2.aruco predefined dictionary name
    legacy_pattern: bool = False  # True for boards printed by OpenCV < 4.6 with even rows

    def __post_init__(self) -> None:
        import cv2

        if self.squares_x < 2 or self.squares_y < 2:
            raise ValueError(
                f"a ChArUco board needs at least 2x2 squares, got {self.squares_x}x{self.squares_y}"
            )
        if not 0 < self.marker_length < self.square_length:
            raise ValueError(
                f"marker_length ({self.marker_length}) must be in (0, square_length={self.square_length})"
            )
        if not hasattr(cv2.aruco, self.dictionary):
            raise ValueError(f"unknown ArUco dictionary {self.dictionary!r} (e.g. DICT_5X5_100, DICT_4X4_50)")
        n_markers = (self.squares_x * self.squares_y) // 2
        dict_size = int(self.dictionary.rsplit("_", 1)[-1])
        if n_markers > dict_size:
            raise ValueError(f"{self.dictionary} has {dict_size} markers; the board needs {n_markers}")

    @property
    def size_m(self) -> tuple[float, float]:
        """(width, height) of the squared area in metres."""
        return self.squares_x * self.square_length, self.squares_y * self.square_length

    @property
    def n_corners(self) -> int:
        return (self.squares_x - 1) * (self.squares_y - 1)

    def cv_board(self):
        import cv2

        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        board = cv2.aruco.CharucoBoard(
            (self.squares_x, self.squares_y), self.square_length, self.marker_length, dictionary
        )
        board.setLegacyPattern(self.legacy_pattern)
        return board

    def corner_points(self) -> np.ndarray:
        """(N, 3) float64 chessboard corners in the board frame, indexed by ChArUco corner id."""
        return np.asarray(self.cv_board().getChessboardCorners(), np.float64).reshape(-1, 3)

    def image(self, px_per_square: int = 100, margin_px: int = 0) -> np.ndarray:
        """The printable board as a (H, W) uint8 image (white margin of `margin_px` around it)."""
        w = self.squares_x * px_per_square + 2 * margin_px
        h = self.squares_y * px_per_square + 2 * margin_px
        return self.cv_board().generateImage((w, h), marginSize=margin_px, borderBits=1)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> BoardSpec:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown board fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> BoardSpec:
        return cls.from_dict(read_json(path))


@dataclass
class Detection:
    corners: np.ndarray  # (N, 2) float32 pixel positions of chessboard corners
    ids: np.ndarray  # (N,) int32 ChArUco corner ids
    n_markers: int  # ArUco markers of the board's dictionary seen
    marker_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # (M,)
    marker_corners: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 2), np.float32))  # (M, 4, 2)

    def __len__(self) -> int:
        return len(self.ids)


class NotEnoughCorners(ValueError):
    """The board was not seen well enough to calibrate from this image."""


def detect(image: np.ndarray, board: BoardSpec, detector=None) -> Detection:
    """Find ChArUco corners in an RGB/BGR/gray uint8 image (empty detection if none)."""
    import cv2

    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    detector = detector or make_detector(board)
    corners, ids, marker_corners, marker_ids = detector.detectBoard(gray)
    markers = np.asarray(marker_corners or np.zeros((0, 4, 2)), np.float32).reshape(-1, 4, 2)
    mids = np.zeros(0, np.int32) if marker_ids is None else marker_ids.reshape(-1).astype(np.int32)
    if ids is None or len(ids) == 0:
        return Detection(np.zeros((0, 2), np.float32), np.zeros(0, np.int32), len(mids), mids, markers)
    ids = ids.reshape(-1).astype(np.int32)
    corners = refine_corners(gray, corners.reshape(-1, 2).astype(np.float32), ids, board)
    return Detection(corners, ids, len(mids), mids, markers)


def refine_corners(gray: np.ndarray, corners: np.ndarray, ids: np.ndarray, board: BoardSpec) -> np.ndarray:
    """Saddle-point refinement of ChArUco corners (N, 2), in OpenCV's pixel-centre convention.

    CharucoDetector (OpenCV 4.12) returns corners half a pixel off (a printed board's square
    boundary between pixels 149 and 150 comes back at 150.0, not 149.5); cornerSubPix removes that
    bias. Its window must stay inside the white margin between a corner and the markers around it,
    (square − marker) / 2, measured per corner along the shorter image step to a neighbouring
    corner: a window that reaches a marker's edges pulls the corner towards them (on rendered
    boards a window of up to 7 px cost up to 0.4 % of fx and 1 mm of relative pose).
    """
    import cv2

    cols = board.squares_x - 1
    grid = np.stack([ids % cols, ids // cols], axis=1)
    neighbour = np.abs(grid[:, None] - grid[None]).sum(-1) == 1
    dist = np.linalg.norm(corners[:, None] - corners[None], axis=-1)
    step = np.where(neighbour, dist, np.inf).min(axis=1)
    known = np.isfinite(step)
    step[~known] = np.median(step[known]) if known.any() else 16.0
    margin = (board.square_length - board.marker_length) / (2 * board.square_length)
    half = np.clip(np.floor(margin * step), 2, 15).astype(int)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)
    out = corners.copy()
    for w in np.unique(half):
        sel = half == w
        start = corners[sel].reshape(-1, 1, 2).copy()
        out[sel] = cv2.cornerSubPix(gray, start, (int(w), int(w)), (-1, -1), criteria).reshape(-1, 2)
    return out


def make_detector(board: BoardSpec):
    import cv2

    params = cv2.aruco.CharucoParameters()
    params.tryRefineMarkers = True
    det_params = cv2.aruco.DetectorParameters()
    det_params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    return cv2.aruco.CharucoDetector(board.cv_board(), params, det_params)
