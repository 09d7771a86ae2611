"""The unit every camera source emits and the sync consumes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Frame:
    """One image of one view: `image` is (H, W, 3) uint8 RGB, `stamp` the capture time in seconds.

    `seq` counts frames per view from 0 at the source; the sync uses (view, seq) and the stamp to
    recognise duplicates.
    """

    view: str
    image: np.ndarray
    stamp: float
    seq: int

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in getattr(self.image, "shape", ()))
        return f"Frame(view={self.view!r}, stamp={self.stamp:.6f}, seq={self.seq}, image={shape})"
