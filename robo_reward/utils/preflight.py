"""Cheap checks of a command's inputs, run before any heavy import so that a mistake answers at once.

Each raises `UserError` with one sentence: what is wrong and what to do. This module imports only the
standard library (a command calls it before torch, lerobot or MuJoCo load).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

from robo_reward.utils.errors import UserError

RUN_FILE = "run.json"
# what marks a folder as a run folder, for --overwrite (it never deletes a folder without one)
RUN_MARKERS = (RUN_FILE, "metrics.jsonl", "checkpoint", "checkpoints", "model", "summary.json")


def require_dataset(path: str | Path, flag: str = "--data") -> Path:
    """A LeRobot dataset folder (it has meta/info.json)."""
    path = Path(path)
    if not path.exists():
        raise UserError(
            f"{flag} {path} does not exist: give a dataset folder (made by `robo-reward sim collect`)"
        )
    if not (path / "meta" / "info.json").is_file():
        raise UserError(f"{flag} {path} is not a LeRobot dataset (no meta/info.json): give a dataset folder")
    return path


def require_datasets(paths: Iterable[str | Path] | None, flag: str = "--data") -> list[Path]:
    paths = list(paths or [])
    if not paths:
        raise UserError(f"{flag} needs at least one dataset folder")
    return [require_dataset(p, flag) for p in paths]


def require_checkpoint(path: str | Path, flag: str = "--checkpoint") -> Path:
    """A saved model: a folder with config.json, or a run folder holding one in checkpoint/ or model/."""
    path = Path(path)
    if not path.exists():
        raise UserError(
            f"{flag} {path} does not exist: give a checkpoint folder (config.json + model.safetensors)"
        )
    if not any((path / sub / "config.json").is_file() for sub in ("", "checkpoint", "model")):
        raise UserError(f"{flag} {path} holds no model (no config.json in it, checkpoint/ or model/)")
    return path


def require_positive(**values: float | int | None) -> None:
    """Each given number (None: not given) is finite and > 0; the keyword is the option's name."""
    for name, value in values.items():
        if value is not None and not (math.isfinite(value) and value > 0):
            raise UserError(f"--{name.replace('_', '-')} must be a positive number, got {value}")


def require_fraction(name: str, value: float, *, upper_open: bool = True) -> None:
    """`value` lies in [0, 1) (or [0, 1] with `upper_open=False`)."""
    ok = 0 <= value < 1 if upper_open else 0 <= value <= 1
    if not (math.isfinite(value) and ok):
        raise UserError(
            f"--{name.replace('_', '-')} must be in [0, {'1)' if upper_open else '1]'}, got {value}"
        )


def holds_results(out: Path) -> bool:
    """Whether `out` holds anything a new run would destroy (a lone run.json is a run that failed
    before its first step: nothing to lose)."""
    return out.is_dir() and any(p.name != RUN_FILE for p in out.iterdir())


def check_out_folder(out: str | Path, *, resume: bool, overwrite: bool) -> None:
    """`--out` is usable for a new run (empty, or `overwrite` of a run folder) or for `resume`."""
    out = Path(out)
    if resume and overwrite:
        raise UserError("--resume and --overwrite contradict each other: pass one of them")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file: give a folder")
    if resume:
        if not (out / RUN_FILE).exists():
            raise UserError(
                f"--resume: {out} holds no run to resume (no {RUN_FILE}); start the run without --resume"
            )
        return
    if holds_results(out):
        if not overwrite:
            raise UserError(
                f"--out {out} is not empty: pass --resume to continue its run, --overwrite to replace it, "
                "or choose another folder"
            )
        if not any((out / m).exists() for m in RUN_MARKERS):
            raise UserError(
                f"--overwrite: {out} does not look like a run folder (none of {', '.join(RUN_MARKERS)}), "
                "so it is not deleted: choose another --out"
            )
