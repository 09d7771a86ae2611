"""Save and load models as a folder: `config.json` + `model.safetensors` (+ any JSON extras).

Every model in robo_reward is built only from its config, so a folder holds all it needs.
Writes go to a temporary folder that replaces the target in one rename, so a crash never leaves
a half-written checkpoint. Loading never unpickles anything.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from robo_reward.utils.io import read_json, write_json

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def config_to_dict(config: Any) -> dict:
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    if isinstance(config, dict):
        return dict(config)
    raise TypeError(f"config must be a dataclass or dict, got {type(config).__name__}")


def write_checkpoint(folder: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` to fill a fresh sibling folder, then swap it in for `folder`.

    A crash leaves either the previous checkpoint or the new one, never a mix of the two.
    """
    folder = Path(folder)
    tmp, old = folder.with_name(f".{folder.name}.writing"), folder.with_name(f".{folder.name}.old")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    write(tmp)
    if folder.exists():
        if old.exists():
            shutil.rmtree(old)
        folder.rename(old)
    tmp.rename(folder)
    if old.exists():
        shutil.rmtree(old)
    return folder


def save_folder(
    folder: str | Path,
    config: Any,
    tensors: dict[str, torch.Tensor],
    extras: dict[str, Any] | None = None,
    weights_name: str = WEIGHTS_NAME,
) -> Path:
    """Write `config.json`, `model.safetensors` and `<name>.json` for each extra, atomically."""

    def write(tmp: Path) -> None:
        write_json(tmp / CONFIG_NAME, config_to_dict(config))
        flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
        save_file(flat, str(tmp / weights_name))
        for name, obj in (extras or {}).items():
            write_json(tmp / f"{name}.json", obj)

    return write_checkpoint(folder, write)


def load_folder(folder: str | Path, weights_name: str = WEIGHTS_NAME) -> tuple[dict, dict[str, torch.Tensor]]:
    """Return `(config_dict, tensors)` from a checkpoint folder, with clear errors if it is incomplete."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"checkpoint folder {folder} does not exist")
    for name in (CONFIG_NAME, weights_name):
        if not (folder / name).exists():
            raise FileNotFoundError(f"checkpoint {folder} has no {name}")
    return read_json(folder / CONFIG_NAME), load_file(str(folder / weights_name))


def load_extra(folder: str | Path, name: str) -> Any:
    return read_json(Path(folder) / f"{name}.json")
