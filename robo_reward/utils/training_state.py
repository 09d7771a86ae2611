"""Resumable training state beside the weights, as safetensors + JSON (nothing pickled).

- Optimizer: tensor state → `<path>` (safetensors), param groups and scalars → `<path>.json`.
- Random generators: numpy `Generator`s → `rng.json` (their bit-generator state), torch's global
  generator and any `torch.Generator`s → `rng.safetensors`. Restoring them makes a resumed
  single-process run draw exactly the batches, noise and augmentations the uninterrupted run would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from robo_reward.utils.io import atomic_path, read_json, write_json

RNG_JSON = "rng.json"
RNG_TENSORS = "rng.safetensors"
TORCH_GLOBAL = "torch_global"


def save_optimizer(opt: torch.optim.Optimizer, path: str | Path) -> None:
    """Tensor state → `<path>` (safetensors), everything else → `<path>.json`."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{pid}.{k}"] = v.detach().contiguous().cpu()
            else:
                scalars.setdefault(str(pid), {})[k] = v
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))
    write_json(path.with_suffix(".json"), {"param_groups": sd["param_groups"], "scalars": scalars})


def load_optimizer(opt: torch.optim.Optimizer, path: str | Path) -> None:
    path = Path(path)
    meta = read_json(path.with_suffix(".json"))
    state: dict[int, dict[str, Any]] = {}
    for key, v in load_file(str(path)).items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    for pid, st in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(st)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_rng_state(
    folder: str | Path,
    numpy_generators: dict[str, np.random.Generator] | None = None,
    torch_generators: dict[str, torch.Generator] | None = None,
) -> None:
    """The state of the named generators and of torch's global generator, into `folder`."""
    folder = Path(folder)
    write_json(folder / RNG_JSON, {k: g.bit_generator.state for k, g in (numpy_generators or {}).items()})
    tensors = {TORCH_GLOBAL: torch.get_rng_state()}
    tensors |= {k: g.get_state() for k, g in (torch_generators or {}).items()}
    save_file(tensors, str(folder / RNG_TENSORS))


def load_rng_state(
    folder: str | Path,
    numpy_generators: dict[str, np.random.Generator] | None = None,
    torch_generators: dict[str, torch.Generator] | None = None,
) -> None:
    """Restore what `save_rng_state` wrote, in place; a generator missing from the files is an error."""
    folder = Path(folder)
    states = read_json(folder / RNG_JSON)
    tensors = load_file(str(folder / RNG_TENSORS))
    for name, gen in (numpy_generators or {}).items():
        gen.bit_generator.state = states[name]
    for name, gen in (torch_generators or {}).items():
        gen.set_state(tensors[name])
    torch.set_rng_state(tensors[TORCH_GLOBAL])
