"""Metrics (JSONL, one record per line), run summaries and progress for long jobs."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class MetricsLogger:
    """Appends `{"step": ..., "time": ..., **metrics}` lines to `<run>/metrics.jsonl`, writes the same
    scalars as TensorBoard events under `<run>/tensorboard/` and, on close, draws every curve in
    `<run>/metrics.png` (the whole file, earlier sessions of a resumed run included).

    Raises on NaN/inf so a diverging run stops loudly instead of writing garbage.
    """

    def __init__(
        self,
        run_dir: str | Path,
        filename: str = "metrics.jsonl",
        tensorboard: bool = True,
        plot: bool = True,
    ):
        self.path = Path(run_dir) / filename
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tensorboard_dir = self.path.parent / "tensorboard" if tensorboard else None
        self.plot_path = self.path.with_suffix(".png") if plot else None
        self._f = self.path.open("a")
        self._t0 = time.time()
        self._events = None

    def log(self, step: int, **metrics: float) -> None:
        clean: dict[str, Any] = {}
        for k, v in metrics.items():
            v = float(v)
            if not math.isfinite(v):
                raise FloatingPointError(f"metric {k!r} is {v} at step {step}")
            clean[k] = v
        self._f.write(json.dumps({"step": int(step), "time": time.time() - self._t0, **clean}) + "\n")
        self._f.flush()
        if self.tensorboard_dir is not None:
            events = self._events or self._open_events(int(step))
            for k, v in clean.items():
                events.add_scalar(k, v, int(step))
            events.flush()

    def _open_events(self, first_step: int):
        from torch.utils.tensorboard import SummaryWriter

        earlier = sorted(p.name for p in self.tensorboard_dir.glob("events.out.tfevents.*"))
        # a resumed run logs again from its checkpoint: TensorBoard is told to drop what an earlier
        # session logged from this step on, as metrics.jsonl was cut back
        self._events = SummaryWriter(str(self.tensorboard_dir), purge_step=first_step)
        _sort_before(self.tensorboard_dir, earlier)
        return self._events

    def close(self) -> None:
        """Close the log and the event file; draw the curves."""
        if self._f.closed:
            return
        self._f.close()
        if self._events is not None:
            self._events.close()
        if self.plot_path is not None:
            from robo_reward.utils.plots import metrics_plot

            metrics_plot(read_metrics(self.path), self.plot_path, title=self.path.parent.name)

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
            return
        with contextlib.suppress(Exception):  # the curves up to a failure help, but must not hide it
            self.close()


def _sort_before(folder: Path, earlier: list[str]) -> None:
    """Rename the earlier sessions' event files so that they sort before the file just opened.

    TensorBoard reads a folder's event files in name order, `events.out.tfevents.<second>.<host>.<pid>.<n>`
    (n counts the writers of a process), and a purge acts only on what was read before it. A session
    started within the second of the last one, with a pid or count that gained a digit (9 → 10), sorts
    first, and its purge would keep the earlier session's later steps. The earlier files are closed (their
    sessions ended); they keep their order, one second before the new file's."""
    ours = sorted(set(p.name for p in folder.glob("events.out.tfevents.*")) - set(earlier))
    if not earlier or not ours or max(earlier) < ours[0]:
        return
    second = int(ours[0].split(".")[3]) - 1
    for rank, name in enumerate(sorted(earlier)):
        (folder / name).rename(
            folder / f"events.out.tfevents.{second:010d}.{rank:06d}.{name.split('.', 4)[4]}"
        )


def read_metrics(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def progress_bar(disable: bool | None = None) -> Progress:
    """Progress of a long step: a live rich bar on a terminal (or with ROBO_REWARD_PROGRESS=1), a plain
    line now and then anywhere else (`LineProgress`). `disable=True` shows nothing (DDP ranks > 0);
    `disable=False` forces the live bar."""
    if disable is None and not (sys.stderr.isatty() or os.environ.get("ROBO_REWARD_PROGRESS") == "1"):
        return LineProgress()
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        disable=bool(disable),
        transient=False,
    )


class LineProgress(Progress):
    """Progress for a log: instead of redrawing a bar, a plain line now and then.

    A task prints a line when it crosses a quarter of its total (at most one per `min_gap_s`), at least
    every `heartbeat_s` while it advances, and when it finishes (or the display stops before that), so
    a long step shows life and a short one costs one line.
    """

    def __init__(
        self, stream: TextIO | None = None, min_gap_s: float = 10.0, heartbeat_s: float = 30.0, **kwargs: Any
    ):
        super().__init__(disable=True, **kwargs)
        self.stream, self.min_gap_s, self.heartbeat_s = stream, min_gap_s, heartbeat_s
        self._shown: dict[TaskID, tuple[float, int, float]] = {}  # last line's time, quarter, completed

    def add_task(self, description: str, *args: Any, **kwargs: Any) -> TaskID:
        task_id = super().add_task(description, *args, **kwargs)
        task = self._tasks[task_id]
        self._shown[task_id] = (self.get_time(), _quarter(task), task.completed)
        return task_id

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        super().update(task_id, **kwargs)
        self._maybe_show(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._maybe_show(task_id)

    def stop(self) -> None:
        for task_id, task in list(self._tasks.items()):
            if task.completed != self._shown[task_id][2]:
                self._show(task)
        super().stop()

    def _maybe_show(self, task_id: TaskID) -> None:
        task = self._tasks[task_id]
        last_time, last_quarter, last_completed = self._shown[task_id]
        if task.completed == last_completed:  # only its info changed
            return
        gap = self.get_time() - last_time
        just_finished = task.finished and last_completed < (task.total or 0)
        if (
            just_finished
            or gap >= self.heartbeat_s
            or (_quarter(task) > last_quarter and gap >= self.min_gap_s)
        ):
            self._show(task)

    def _show(self, task: Task) -> None:
        self._shown[task.id] = (self.get_time(), _quarter(task), task.completed)
        parts = [f"{task.description}: {task.completed:g}"]
        if task.total:
            parts[0] += f"/{task.total:g} ({task.percentage:.0f}%)"
        parts.append(f"{_clock(task.elapsed or 0.0)} elapsed")
        if not task.finished and task.time_remaining is not None:
            parts.append(f"~{_clock(task.time_remaining)} left")
        if task.fields.get("info"):
            parts.append(str(task.fields["info"]))
        print(", ".join(parts), file=self.stream or sys.stderr, flush=True)


def _quarter(task: Task) -> int:
    return int(4 * task.completed / task.total) if task.total else 0


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
