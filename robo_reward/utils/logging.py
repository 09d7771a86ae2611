"""Metrics (JSONL, one record per line), run summaries and progress bars for long jobs."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class MetricsLogger:
    """Appends `{"step": ..., "time": ..., **metrics}` lines to `<run>/metrics.jsonl`.

    Raises on NaN/inf so a diverging run stops loudly instead of writing garbage.
    """

    def __init__(self, run_dir: str | Path, filename: str = "metrics.jsonl"):
        self.path = Path(run_dir) / filename
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = self.path.open("a")
        self._t0 = time.time()

    def log(self, step: int, **metrics: float) -> None:
        clean: dict[str, Any] = {}
        for k, v in metrics.items():
            v = float(v)
            if not math.isfinite(v):
                raise FloatingPointError(f"metric {k!r} is {v} at step {step}")
            clean[k] = v
        self._f.write(json.dumps({"step": int(step), "time": time.time() - self._t0, **clean}) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_metrics(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def progress_bar(disable: bool | None = None) -> Progress:
    """A rich progress bar; off when not a terminal unless ROBO_REWARD_PROGRESS=1."""
    if disable is None:
        disable = not (sys.stderr.isatty() or os.environ.get("ROBO_REWARD_PROGRESS") == "1")
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        disable=disable,
        transient=False,
    )
