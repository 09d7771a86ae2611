"""Training state as safetensors + JSON (nothing pickled): optimizer state and DDP setup."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file

from robo_reward.utils.io import atomic_path, read_json, write_json


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


def init_distributed() -> tuple[int, int, torch.device]:
    """(rank, world_size, device) — torchrun DDP when WORLD_SIZE > 1 (gloo on CPU, nccl on GPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if world > 1 and not dist.is_initialized():
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        if cuda:
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return rank, world, device


def cleanup_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
