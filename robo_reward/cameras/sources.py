"""Frame sources: one small interface for the sim renderer, OpenCV devices/files and dataset replay.

Every source has `start()`, `read(timeout) -> Frame | None`, `stop()` and is a context manager.
`read` returns the next frame, or None when none came within `timeout` or the stream has ended
(`source.ended` tells which). A camera that has delivered no frame at all within
`first_frame_timeout` seconds of `start()` raises `TimeoutError` naming it, so a dead camera is
loud, while a live camera that hiccups is not.

Push-style producers (a capture thread here, a ROS subscription later) derive from `QueuedSource`:
they call `put(frame)` into a bounded queue that drops the oldest frame, so a slow consumer never
stalls a camera and a slow camera never blocks the others (`poll` drains several sources without
waiting on any of them).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from robo_reward.cameras.frame import Frame

__all__ = [
    "DatasetReplaySource",
    "Frame",
    "FrameSource",
    "MujocoSource",
    "OpenCVSource",
    "QueuedSource",
    "poll",
]


class FrameSource:
    """A camera: `view` names it; frames carry RGB uint8 images and stamps in seconds."""

    view: str = ""
    first_frame_timeout: float = 5.0

    def __init__(self, view: str) -> None:
        self.view = view
        self.ended = False
        self._seq = 0

    def start(self) -> None:
        """Open the device; the default has nothing to open."""

    def read(self, timeout: float | None = None) -> Frame | None:
        raise NotImplementedError

    def stop(self) -> None:
        """Release the device; safe to call twice."""

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq - 1

    def describe(self) -> str:
        return f"camera {self.view!r}"

    def __enter__(self) -> FrameSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _as_rgb_uint8(image: Any, who: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"{who} produced {image.shape} {image.dtype}, expected (H, W, 3) uint8 RGB")
    return image


class MujocoSource(FrameSource):
    """Frames from a render callable and a clock, e.g. a `mujoco.Renderer` and `data.time`.

    `render()` returns an (H, W, 3) uint8 RGB image of the current state; `clock()` its time in
    seconds. Each `read` renders once. `from_model` builds both for a named camera of a model.
    """

    def __init__(self, view: str, render: Callable[[], np.ndarray], clock: Callable[[], float]) -> None:
        super().__init__(view)
        self._render = render
        self._clock = clock

    @classmethod
    def from_model(
        cls, model: Any, data: Any, camera: str, height: int = 480, width: int = 640, view: str = ""
    ):
        import mujoco

        if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera) < 0:
            names = [model.camera(i).name for i in range(model.ncam)]
            raise ValueError(f"model has no camera {camera!r}; cameras: {names}")
        renderer = mujoco.Renderer(model, height=height, width=width)

        def render() -> np.ndarray:
            renderer.update_scene(data, camera=camera)
            return renderer.render().copy()

        source = cls(view or camera, render, lambda: float(data.time))
        source._renderer = renderer  # closed in stop()
        return source

    def read(self, timeout: float | None = None) -> Frame | None:
        stamp = float(self._clock())
        image = _as_rgb_uint8(self._render(), self.describe())
        return Frame(self.view, image, stamp, self._next_seq())

    def stop(self) -> None:
        renderer = getattr(self, "_renderer", None)
        if renderer is not None:
            renderer.close()
            self._renderer = None


class QueuedSource(FrameSource):
    """A source fed by a producer (thread or callback) through a bounded drop-oldest queue."""

    def __init__(self, view: str, queue_size: int = 2, first_frame_timeout: float = 5.0) -> None:
        super().__init__(view)
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self._queue: deque[Frame] = deque(maxlen=queue_size)
        self._cond = threading.Condition()
        self.first_frame_timeout = first_frame_timeout
        self.dropped = 0  # frames pushed out of a full queue
        self.delivered = 0  # frames put by the producer
        self._started_at: float | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        self._started_at = time.monotonic()

    def put(self, image: np.ndarray, stamp: float) -> None:
        """Called by the producer with an RGB uint8 image and its capture time."""
        frame = Frame(self.view, _as_rgb_uint8(image, self.describe()), float(stamp), self._next_seq())
        with self._cond:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
            self._queue.append(frame)
            self.delivered += 1
            self._cond.notify_all()

    def finish(self, error: BaseException | None = None) -> None:
        """Called by the producer when the stream ends (end of file, device lost)."""
        with self._cond:
            self.ended = True
            self._error = error
            self._cond.notify_all()

    def read(self, timeout: float | None = None) -> Frame | None:
        if self._started_at is None:
            raise RuntimeError(
                f"{self.describe()} is not started; call start() or use it as a context manager"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._queue:
                if self.ended:
                    if self._error is not None:
                        raise RuntimeError(f"{self.describe()} failed: {self._error}") from self._error
                    return None
                self._check_first_frame()
                wait = None if deadline is None else deadline - time.monotonic()
                if self.delivered == 0:  # wake up in time to raise the first-frame timeout
                    left = self._started_at + self.first_frame_timeout - time.monotonic()
                    wait = left if wait is None else min(wait, left)
                if wait is not None and wait <= 0:
                    return None
                self._cond.wait(wait)
            return self._queue.popleft()

    def _check_first_frame(self) -> None:
        if self.delivered == 0 and time.monotonic() - self._started_at >= self.first_frame_timeout:
            raise TimeoutError(
                f"{self.describe()} delivered no frame within {self.first_frame_timeout:.1f} s of start"
            )


class OpenCVSource(QueuedSource):
    """A `cv2.VideoCapture` (device index or video file) read by its own capture thread.

    Devices are stamped with `clock()` at grab time and drop the oldest frame when the consumer
    falls behind. Files are stamped with their video time, and by default the thread waits for
    room instead of dropping (`lossless`), so a file replays every frame.
    """

    def __init__(
        self,
        view: str,
        device: int | str | Path,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        queue_size: int = 2,
        first_frame_timeout: float = 5.0,
        lossless: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        capture_factory: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(view, queue_size=queue_size, first_frame_timeout=first_frame_timeout)
        self.device = str(device) if isinstance(device, Path) else device
        self.is_file = isinstance(self.device, str)
        self.lossless = self.is_file if lossless is None else lossless
        self._props = {"width": width, "height": height, "fps": fps}
        self._clock = clock
        self._factory = capture_factory
        self._cap: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def describe(self) -> str:
        return f"camera {self.view!r} ({'file' if self.is_file else 'device'} {self.device})"

    def start(self) -> None:
        import cv2

        if self._thread is not None:
            return
        if self.is_file and not Path(self.device).exists():
            raise FileNotFoundError(f"{self.describe()}: no such file")
        cap = (self._factory or cv2.VideoCapture)(self.device)
        if not cap.isOpened():
            raise RuntimeError(f"{self.describe()} could not be opened")
        for prop, value in self._props.items():
            if value is not None:
                key = {
                    "width": cv2.CAP_PROP_FRAME_WIDTH,
                    "height": cv2.CAP_PROP_FRAME_HEIGHT,
                    "fps": cv2.CAP_PROP_FPS,
                }
                cap.set(key[prop], value)
        self._cap = cap
        super().start()
        self._thread = threading.Thread(target=self._capture, name=f"camera-{self.view}", daemon=True)
        self._thread.start()

    def _capture(self) -> None:
        import cv2

        try:
            while not self._stop.is_set():
                ok, bgr = self._cap.read()
                stamp = self._clock()
                if not ok or bgr is None:
                    self.finish(None if self.is_file else RuntimeError("the device stopped delivering"))
                    return
                if self.is_file:
                    stamp = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                if self.lossless:
                    with self._cond:
                        self._cond.wait_for(
                            lambda: len(self._queue) < self._queue.maxlen or self._stop.is_set()
                        )
                self.put(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), stamp)
        except Exception as e:  # surfaced to the reader instead of dying silently in a thread
            self.finish(e)

    def read(self, timeout: float | None = None) -> Frame | None:
        frame = super().read(timeout)
        if frame is not None and self.lossless:
            with self._cond:
                self._cond.notify_all()  # room for the capture thread
        return frame

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class DatasetReplaySource(FrameSource):
    """Replays one view of an `Episode` with its timestamps (`t / fps + offset`).

    With `realtime=True`, `read` waits until each frame's time has come on the wall clock.
    """

    def __init__(self, episode: Any, view: str, offset: float = 0.0, realtime: bool = False) -> None:
        super().__init__(view)
        if view not in episode.views:
            raise ValueError(f"episode has no view {view!r}; views: {list(episode.views)}")
        self._frames = episode.views[view]
        self._stamps = episode.timestamps + offset
        self.realtime = realtime
        self._t0: float | None = None

    def start(self) -> None:
        self._seq = 0
        self.ended = False
        self._t0 = time.monotonic()

    def read(self, timeout: float | None = None) -> Frame | None:
        if self._t0 is None:
            self.start()
        i = self._seq
        if i >= len(self._frames):
            self.ended = True
            return None
        if self.realtime:
            wait = self._t0 + (self._stamps[i] - self._stamps[0]) - time.monotonic()
            if timeout is not None and wait > timeout:
                time.sleep(max(timeout, 0.0))
                return None
            if wait > 0:
                time.sleep(wait)
        return Frame(self.view, self._frames[i], float(self._stamps[i]), self._next_seq())


def poll(sources: list[FrameSource], sync: Any | None = None) -> tuple[list[Frame], list[Any]]:
    """Drain every queued source without waiting; push the frames into `sync` if given.

    Returns (frames, bundles). Never blocks on a slow camera: a source with nothing queued yields
    nothing this round (but a camera silent since start still raises its first-frame TimeoutError).
    """
    frames: list[Frame] = []
    bundles: list[Any] = []
    for src in sources:
        while True:
            f = src.read(timeout=0.0)
            if f is None:
                break
            frames.append(f)
            if sync is not None:
                bundles += sync.push(f)
            if not isinstance(src, QueuedSource):
                break  # pull sources (sim, replay) give one frame per poll
    return frames, bundles
