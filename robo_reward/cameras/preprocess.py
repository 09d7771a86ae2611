"""Image preprocessing shared by reward models and the policy: small pure steps in a saved pipeline.

A `Pipeline` maps `{view: (H, W, 3) uint8}` to a float32 `(V, 3, H, W)` array (`__call__`), or
`{view: (T, H, W, 3) uint8}` to `(T, V, 3, H, W)` (`batch`). Each step is a frozen dataclass that
maps a dict of views to a dict of views; image steps (`Resize`, `CenterCrop`, `Crop`) work on uint8
channel-last images with any leading batch dims, `ToFloat` turns them into float32 channel-first
in [0, 1], `Normalize` works after it. `ViewOrder` picks and orders the views (the order of V).

`to_dict()` / `from_dict()` round-trip through JSON; `save(folder)` writes `preprocessing.json`
beside a checkpoint and `Pipeline.load(folder)` reads it back, so inference preprocesses exactly as
training did. With `robo_reward.utils.checkpoint.save_folder`, pass
`extras={"preprocessing": pipeline.to_dict()}` to get the same file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from robo_reward.utils.io import read_json, write_json

FILENAME = "preprocessing.json"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Views = dict[str, np.ndarray]
STEPS: dict[str, type[Step]] = {}


def register(cls: type[Step]) -> type[Step]:
    STEPS[cls.name] = cls
    return cls


@dataclass(frozen=True)
class Step:
    name: ClassVar[str] = ""
    stage: ClassVar[str] = "any"  # "uint8" (channel-last images), "float" (after ToFloat), "any"

    def __call__(self, views: Views) -> Views:
        raise NotImplementedError

    def to_dict(self) -> dict:
        d = {"type": self.name}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            d[f.name] = list(v) if isinstance(v, tuple) else v
        return d


def _check_image(view: str, img: np.ndarray, step: str) -> None:
    if img.dtype != np.uint8 or img.ndim < 3 or img.shape[-1] != 3:
        raise ValueError(
            f"{step}: view {view!r} must be (..., H, W, 3) uint8 before ToFloat, got {img.shape} {img.dtype}"
        )


def _map_images(views: Views, only: tuple[str, ...] | None, step: str, fn) -> Views:
    out = {}
    for v, img in views.items():
        if only is not None and v not in only:
            out[v] = img
            continue
        img = np.asarray(img)
        _check_image(v, img, step)
        lead = img.shape[:-3]
        flat = img.reshape(-1, *img.shape[-3:])
        res = np.stack([fn(v, im) for im in flat]) if len(flat) else flat
        out[v] = res.reshape(*lead, *res.shape[1:])
    return out


@register
@dataclass(frozen=True)
class Resize(Step):
    """Resize to (height, width): area averaging when shrinking, bilinear when growing."""

    height: int
    width: int
    views: tuple[str, ...] | None = None  # None: every view
    name: ClassVar[str] = "resize"
    stage: ClassVar[str] = "uint8"

    def __call__(self, views: Views) -> Views:
        import cv2

        def fn(_v: str, im: np.ndarray) -> np.ndarray:
            h, w = im.shape[:2]
            if (h, w) == (self.height, self.width):
                return im
            interp = cv2.INTER_AREA if self.height * self.width < h * w else cv2.INTER_LINEAR
            return cv2.resize(im, (self.width, self.height), interpolation=interp)

        return _map_images(views, self.views, "Resize", fn)


@register
@dataclass(frozen=True)
class CenterCrop(Step):
    height: int
    width: int
    views: tuple[str, ...] | None = None
    name: ClassVar[str] = "center_crop"
    stage: ClassVar[str] = "uint8"

    def __call__(self, views: Views) -> Views:
        def fn(v: str, im: np.ndarray) -> np.ndarray:
            h, w = im.shape[:2]
            if self.height > h or self.width > w:
                raise ValueError(f"CenterCrop {self.height}x{self.width} is larger than view {v!r} ({h}x{w})")
            top, left = (h - self.height) // 2, (w - self.width) // 2
            return im[top : top + self.height, left : left + self.width]

        return _map_images(views, self.views, "CenterCrop", fn)


@register
@dataclass(frozen=True)
class Crop(Step):
    top: int
    left: int
    height: int
    width: int
    views: tuple[str, ...] | None = None
    name: ClassVar[str] = "crop"
    stage: ClassVar[str] = "uint8"

    def __call__(self, views: Views) -> Views:
        def fn(v: str, im: np.ndarray) -> np.ndarray:
            h, w = im.shape[:2]
            if self.top < 0 or self.left < 0 or self.top + self.height > h or self.left + self.width > w:
                raise ValueError(
                    f"Crop (top={self.top}, left={self.left}, {self.height}x{self.width}) "
                    f"does not fit view {v!r} ({h}x{w})"
                )
            return im[self.top : self.top + self.height, self.left : self.left + self.width]

        return _map_images(views, self.views, "Crop", fn)


@register
@dataclass(frozen=True)
class ViewOrder(Step):
    """Keep exactly these views, in this order (missing views are an error)."""

    order: tuple[str, ...]
    name: ClassVar[str] = "view_order"

    def __call__(self, views: Views) -> Views:
        missing = [v for v in self.order if v not in views]
        if missing:
            raise KeyError(
                f"views {missing} are missing; got {list(views)}, pipeline expects {list(self.order)}"
            )
        return {v: views[v] for v in self.order}


@register
@dataclass(frozen=True)
class ToFloat(Step):
    """uint8 (..., H, W, 3) → float32 (..., 3, H, W) in [0, 1]."""

    name: ClassVar[str] = "to_float"
    stage: ClassVar[str] = "uint8"

    def __call__(self, views: Views) -> Views:
        out = {}
        for v, img in views.items():
            img = np.asarray(img)
            _check_image(v, img, "ToFloat")
            out[v] = np.moveaxis(img, -1, -3).astype(np.float32) / np.float32(255.0)
        return out


@register
@dataclass(frozen=True)
class Normalize(Step):
    """(x − mean) / std per channel, on float32 channel-first images."""

    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    name: ClassVar[str] = "normalize"
    stage: ClassVar[str] = "float"

    def __post_init__(self) -> None:
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f"Normalize needs 3 means and 3 stds, got {self.mean} and {self.std}")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"Normalize std must be > 0, got {self.std}")

    def __call__(self, views: Views) -> Views:
        mean = np.asarray(self.mean, np.float32).reshape(3, 1, 1)
        std = np.asarray(self.std, np.float32).reshape(3, 1, 1)
        out = {}
        for v, x in views.items():
            if x.dtype != np.float32 or x.ndim < 3 or x.shape[-3] != 3:
                raise ValueError(
                    f"Normalize: view {v!r} must be float32 (..., 3, H, W) after ToFloat, got {x.shape}"
                )
            out[v] = (x - mean) / std
        return out


class Pipeline:
    """An ordered list of steps; always ends in float32 channel-first images (see module doc)."""

    def __init__(self, steps: list[Step]) -> None:
        steps = list(steps)
        if not any(isinstance(s, ToFloat) for s in steps):
            steps.append(ToFloat())
        seen_float = False
        for s in steps:
            if isinstance(s, ToFloat):
                if seen_float:
                    raise ValueError("a pipeline has one ToFloat step")
                seen_float = True
            elif s.stage == "uint8" and seen_float:
                raise ValueError(f"{type(s).__name__} works on uint8 images: put it before ToFloat")
            elif s.stage == "float" and not seen_float:
                raise ValueError(f"{type(s).__name__} works on float images: put it after ToFloat")
        self.steps = steps

    @classmethod
    def default(
        cls,
        size: tuple[int, int] = (96, 96),
        views: list[str] | tuple[str, ...] | None = None,
        normalize: bool = True,
    ) -> Pipeline:
        """Resize to `size` (H, W), optional view order, ImageNet normalisation."""
        steps: list[Step] = []
        if views is not None:
            steps.append(ViewOrder(tuple(views)))
        steps += [Resize(*size), ToFloat()]
        if normalize:
            steps.append(Normalize())
        return cls(steps)

    @property
    def view_order(self) -> tuple[str, ...] | None:
        orders = [s.order for s in self.steps if isinstance(s, ViewOrder)]
        return orders[-1] if orders else None

    def apply(self, views: Views) -> Views:
        """Run every step and return the per-view dict (no stacking)."""
        if not views:
            raise ValueError("no views to preprocess")
        for s in self.steps:
            views = s(views)
        return views

    def __call__(self, views: Views) -> np.ndarray:
        """{view: (H, W, 3) uint8} → (V, 3, H, W) float32."""
        for v, img in views.items():
            if np.asarray(img).ndim != 3:
                raise ValueError(f"view {v!r} must be one (H, W, 3) image, got {np.shape(img)}; use batch()")
        return self._stack(self.apply(views), axis=0)

    def batch(self, views: Views) -> np.ndarray:
        """{view: (T, H, W, 3) uint8} → (T, V, 3, H, W) float32."""
        lengths = {v: np.shape(img)[0] if np.ndim(img) == 4 else None for v, img in views.items()}
        if any(n is None for n in lengths.values()) or len(set(lengths.values())) != 1:
            shapes = {v: np.shape(img) for v, img in views.items()}
            raise ValueError(f"batch() needs (T, H, W, 3) per view with one T, got {shapes}")
        return self._stack(self.apply(views), axis=1)

    @staticmethod
    def _stack(views: Views, axis: int) -> np.ndarray:
        shapes = {v: x.shape[-2:] for v, x in views.items()}
        if len(set(shapes.values())) > 1:
            sizes = ", ".join(f"{v} {h}x{w}" for v, (h, w) in shapes.items())
            raise ValueError(f"views have different sizes after preprocessing ({sizes}); add a Resize step")
        return np.stack(list(views.values()), axis=axis)

    # -- persistence ------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"version": 1, "steps": [s.to_dict() for s in self.steps]}

    @classmethod
    def from_dict(cls, d: dict) -> Pipeline:
        if not isinstance(d, dict) or "steps" not in d:
            raise ValueError(f"not a preprocessing pipeline: {str(d)[:200]}")
        if d.get("version", 1) != 1:
            raise ValueError(f"unsupported preprocessing version {d.get('version')}")
        steps = []
        for raw in d["steps"]:
            raw = dict(raw)
            kind = raw.pop("type", None)
            if kind not in STEPS:
                raise ValueError(f"unknown preprocessing step {kind!r}; known: {sorted(STEPS)}")
            kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
            steps.append(STEPS[kind](**kwargs))
        return cls(steps)

    def save(self, path: str | Path) -> Path:
        """Write `preprocessing.json` into a folder (or to a `.json` path); returns the file."""
        path = Path(path)
        if path.suffix != ".json":
            path = path / FILENAME
        write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, path: str | Path) -> Pipeline:
        path = Path(path)
        if path.is_dir():
            path = path / FILENAME
        return cls.from_dict(read_json(path))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pipeline) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Pipeline({self.steps})"
