"""The one calibration file schema (JSON), shared by real calibrations and sim exports.

See `calibration/README.md` for the field-by-field description. Poses are 4x4 `T_<to>_<from>`
matrices; camera frames are OpenCV's (x right, y down, z forward).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robo_reward.calibration.transforms import check_rigid
from robo_reward.utils.io import _json_default, atomic_path, read_json

SCHEMA = "robo_reward.calibration/1"
SOURCES = ("charuco", "mujoco", "hand-eye", "manual")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class CameraCalibration:
    camera: str
    image_size: tuple[int, int]  # (width, height) in pixels
    K: np.ndarray  # (3, 3) camera matrix
    distortion: np.ndarray  # OpenCV order (k1, k2, p1, p2[, k3[, k4, k5, k6]])
    extrinsics: dict[str, np.ndarray] = field(default_factory=dict)  # name -> 4x4, e.g. T_base_cam
    rms_px: float | None = None  # reprojection RMS of the fit that produced this file
    board: dict | None = None  # BoardSpec.to_dict() of the board used, if any
    source: str = "charuco"
    date: str = field(default_factory=now_iso)
    info: dict[str, Any] = field(default_factory=dict)  # free-form: per-image errors, mount body, ...

    def __post_init__(self) -> None:
        self.K = np.asarray(self.K, np.float64)
        self.distortion = np.asarray(self.distortion, np.float64).reshape(-1)
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
        if (
            self.K.shape != (3, 3)
            or not np.allclose(self.K[2], [0, 0, 1])
            or self.K[0, 0] <= 0
            or self.K[1, 1] <= 0
        ):
            raise ValueError(
                f"camera {self.camera!r}: K must be [[fx,0,cx],[0,fy,cy],[0,0,1]], got {self.K.tolist()}"
            )
        if len(self.distortion) not in (0, 4, 5, 8, 12, 14):
            raise ValueError(
                f"camera {self.camera!r}: distortion has {len(self.distortion)} terms (OpenCV: 4/5/8/12/14)"
            )
        if min(self.image_size) <= 0:
            raise ValueError(f"camera {self.camera!r}: image_size must be positive (width, height)")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        self.extrinsics = {k: check_rigid(v, f"extrinsics[{k!r}]") for k, v in self.extrinsics.items()}

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "camera": self.camera,
            "image_size": list(self.image_size),
            "K": self.K.tolist(),
            "distortion": self.distortion.tolist(),
            "extrinsics": {k: v.tolist() for k, v in self.extrinsics.items()},
            "rms_px": self.rms_px,
            "board": self.board,
            "source": self.source,
            "date": self.date,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict) -> CameraCalibration:
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} file (schema={d.get('schema')!r})")
        missing = [k for k in ("camera", "image_size", "K", "distortion") if k not in d]
        if missing:
            raise ValueError(f"calibration file lacks {missing}")
        return cls(
            camera=d["camera"],
            image_size=tuple(d["image_size"]),
            K=np.asarray(d["K"]),
            distortion=np.asarray(d["distortion"]),
            extrinsics={k: np.asarray(v) for k, v in d.get("extrinsics", {}).items()},
            rms_px=d.get("rms_px"),
            board=d.get("board"),
            source=d.get("source", "charuco"),
            date=d.get("date", ""),
            info=d.get("info", {}),
        )

    def save(self, path: str | Path) -> Path:
        """Write the JSON with one matrix row per line, so people can read and diff it."""
        text = json.dumps(self.to_dict(), indent=2, default=_json_default)
        text = re.sub(r"\[\s*(-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*)\s*\]", _one_line, text)
        with atomic_path(path) as tmp:
            tmp.write_text(text + "\n")
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> CameraCalibration:
        return cls.from_dict(read_json(path))


def _one_line(m: re.Match) -> str:
    return "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]"


def load_rig(folder: str | Path) -> dict[str, CameraCalibration]:
    """Every `<camera>.json` calibration in a folder, by camera name."""
    out = {}
    for p in sorted(Path(folder).glob("*.json")):
        d = read_json(p)
        if isinstance(d, dict) and d.get("schema") == SCHEMA:
            cal = CameraCalibration.from_dict(d)
            out[cal.camera] = cal
    return out
