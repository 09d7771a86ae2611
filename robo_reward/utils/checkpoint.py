"""Checkpoints as folders: written as one unit, verified before they are trusted.

Model folders: `config.json` + `model.safetensors` (+ any JSON extras), via `save_folder` / `load_folder`.
Every model in robo_reward is built only from its config, so a folder holds all it needs. Loading
never unpickles anything.

The swap. `write_checkpoint(folder, write)` fills `.<name>.writing/`, moves the previous `folder` aside
to `.<name>.old/`, renames the new one in and deletes the old. A process killed at any instant leaves
one of four states, and `recover_interrupted_swap` (run by every write, and by trainers before they
resume) turns each into a complete checkpoint — the old one or the new one, never a mix:

    folder + .writing      killed before the swap     → keep folder, drop .writing
    .old + .writing        killed inside the swap     → .writing is complete: rename it in
    folder + .old          killed after the swap      → drop .old
    .writing alone         killed filling the first   → drop it (there was no checkpoint yet)

Training checkpoints add `manifest.json`, written last inside the temporary folder: the run id, the
hash of the config that produced it, counters (step, episodes, ...) and the size and SHA-256 of every
file. `verify_checkpoint` refuses a checkpoint whose manifest is missing, whose files differ from it,
or that belongs to another run or config — so resume either continues exactly or says why not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from robo_reward.utils.errors import ResumeError
from robo_reward.utils.io import read_json, write_json
from robo_reward.utils.killpoints import kill_point

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "robo_reward.checkpoint.v1"


def config_to_dict(config: Any) -> dict:
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    if isinstance(config, dict):
        return dict(config)
    raise TypeError(f"config must be a dataclass or dict, got {type(config).__name__}")


# ---------------------------------------------------------------- the atomic swap


def _siblings(folder: Path) -> tuple[Path, Path]:
    return folder.with_name(f".{folder.name}.writing"), folder.with_name(f".{folder.name}.old")


def recover_interrupted_swap(folder: str | Path) -> str | None:
    """Finish or undo a `write_checkpoint` that was killed (see the module docstring).

    Returns what it did ("completed", "restored", "discarded", "cleaned") or None when there was
    nothing to recover. Only the process that writes `folder` may call this.
    """
    folder = Path(folder)
    new, old = _siblings(folder)
    if folder.exists():
        leftovers = [p for p in (new, old) if p.exists()]
        for p in leftovers:
            shutil.rmtree(p)
        return "cleaned" if leftovers else None
    if old.exists() and new.exists():  # the rename of `new` is the last step: `new` is complete
        new.rename(folder)
        shutil.rmtree(old)
        return "completed"
    if old.exists():
        old.rename(folder)
        return "restored"
    if new.exists():
        shutil.rmtree(new)
        return "discarded"
    return None


def readable_checkpoint(folder: str | Path) -> Path | None:
    """Where the complete checkpoint of `folder` is right now, without moving anything (for readers
    that must not repair a folder another process may be writing); None if there is none."""
    folder = Path(folder)
    new, old = _siblings(folder)
    if folder.is_dir():
        return folder
    if old.is_dir():
        return new if new.is_dir() else old
    return None


def write_checkpoint(
    folder: str | Path, write: Callable[[Path], None], on_stage: Callable[[str], None] | None = None
) -> Path:
    """Call `write(tmp)` to fill a fresh sibling folder, then swap it in for `folder`.

    A crash leaves either the previous checkpoint or the new one, never a mix of the two.
    `on_stage(name)` is called at "written", "swap" and "swapped" (crash-injection tests use it).
    """
    folder = Path(folder)
    new, old = _siblings(folder)
    recover_interrupted_swap(folder)
    new.mkdir(parents=True)
    write(new)
    stage = on_stage or (lambda name: None)
    stage("written")
    if folder.exists():
        folder.rename(old)
        stage("swap")
    new.rename(folder)
    stage("swapped")
    if old.exists():
        shutil.rmtree(old)
    return folder


# ---------------------------------------------------------------- model folders


def write_folder_files(
    folder: Path,
    config: Any,
    tensors: dict[str, torch.Tensor],
    extras: dict[str, Any] | None = None,
    weights_name: str = WEIGHTS_NAME,
) -> None:
    """Write `config.json`, the weights and `<name>.json` per extra into an existing folder, in place."""
    write_json(folder / CONFIG_NAME, config_to_dict(config))
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    save_file(flat, str(folder / weights_name))
    for name, obj in (extras or {}).items():
        write_json(folder / f"{name}.json", obj)


def save_folder(
    folder: str | Path,
    config: Any,
    tensors: dict[str, torch.Tensor],
    extras: dict[str, Any] | None = None,
    weights_name: str = WEIGHTS_NAME,
    atomic: bool = True,
) -> Path:
    """Write `config.json`, `model.safetensors` and `<name>.json` for each extra, atomically.

    `atomic=False` writes straight into `folder`: for a folder that is itself the temporary folder of
    a larger checkpoint, whose own swap makes the whole atomic.
    """
    if not atomic:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_folder_files(folder, config, tensors, extras, weights_name)
        return folder
    return write_checkpoint(
        folder, lambda tmp: write_folder_files(tmp, config, tensors, extras, weights_name)
    )


def load_folder(folder: str | Path, weights_name: str = WEIGHTS_NAME) -> tuple[dict, dict[str, torch.Tensor]]:
    """Return `(config_dict, tensors)` from a checkpoint folder, with clear errors if it is incomplete.

    A folder caught in the middle of its swap is read from its complete sibling."""
    folder = Path(folder)
    complete = readable_checkpoint(folder)
    if complete is None:
        raise FileNotFoundError(f"checkpoint folder {folder} does not exist")
    for name in (CONFIG_NAME, weights_name):
        if not (complete / name).exists():
            raise FileNotFoundError(f"checkpoint {folder} has no {name}")
    return read_json(complete / CONFIG_NAME), load_file(str(complete / weights_name))


def load_extra(folder: str | Path, name: str) -> Any:
    folder = Path(folder)
    return read_json((readable_checkpoint(folder) or folder) / f"{name}.json")


# ---------------------------------------------------------------- training checkpoints: the manifest


@dataclasses.dataclass(frozen=True)
class Manifest:
    """What a verified training checkpoint is: whose (run id, config hash) and how far (counters)."""

    folder: Path
    run_id: str
    config_hash: str
    counters: dict[str, int]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _file_table(folder: Path) -> dict[str, dict[str, Any]]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)
    return {
        p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in files
    }


def write_training_checkpoint(
    folder: str | Path,
    write: Callable[[Path], None],
    *,
    run_id: str,
    config_hash: str,
    counters: dict[str, int],
) -> Path:
    """`write(tmp)` fills the checkpoint; the manifest goes in last; then the whole folder is swapped in."""

    def fill(tmp: Path) -> None:
        write(tmp)
        kill_point("checkpoint.files")
        manifest = {
            "format": MANIFEST_FORMAT,
            "run_id": run_id,
            "config_hash": config_hash,
            "counters": {k: int(v) for k, v in counters.items()},
            "files": _file_table(tmp),
        }
        write_json(tmp / MANIFEST_NAME, manifest)

    return write_checkpoint(folder, fill, on_stage=lambda stage: kill_point(f"checkpoint.{stage}"))


def verify_checkpoint(
    folder: str | Path, *, run_id: str | None = None, config_hash: str | None = None
) -> Manifest:
    """The manifest of a training checkpoint after checking every file against it (size and SHA-256)
    and, when given, that it was written by run `run_id` under config `config_hash`.

    Raises `ResumeError`, naming the file or the mismatch, for anything that cannot be trusted.
    """
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not path.exists():
        raise ResumeError(
            f"checkpoint {folder} has no {MANIFEST_NAME}, so it cannot be verified (written by an older "
            "version?): start a new run with --overwrite or another --out"
        )
    try:
        manifest = read_json(path)
        files, counters = manifest["files"], manifest["counters"]
        if manifest.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format {manifest.get('format')!r}")
    except (ValueError, KeyError, TypeError) as e:
        raise ResumeError(f"checkpoint manifest {path} is damaged ({e}): start a new run") from e
    for name, entry in files.items():
        file = folder / name
        if not file.is_file():
            raise ResumeError(f"checkpoint {folder} is missing {name}: it was damaged after it was written")
        if file.stat().st_size != entry["bytes"] or _sha256(file) != entry["sha256"]:
            raise ResumeError(f"checkpoint file {file} differs from its manifest: it was damaged or edited")
    if run_id is not None and manifest.get("run_id") != run_id:
        raise ResumeError(
            f"checkpoint {folder} belongs to run {manifest.get('run_id')}, not to this folder's run {run_id}: "
            "start a new run with --overwrite or another --out"
        )
    if config_hash is not None and manifest.get("config_hash") != config_hash:
        raise ResumeError(
            f"checkpoint {folder} was written under another configuration: resume with the options the run "
            "started with, or start a new run with --overwrite or another --out"
        )
    return Manifest(folder, manifest.get("run_id", ""), manifest.get("config_hash", ""), dict(counters))
