"""BC's checkpoints: `out/checkpoints/step_XXXXXX/`, each one verified unit, the newest `keep` kept.

A checkpoint folder is a loadable policy folder (config.json + model.safetensors + ...) plus `ema/`
(the averaged policy, when ema_decay > 0), the optimizer, the random generators, `trainer_state.json`
and the manifest that `TrainingRun` verifies on resume.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from robo_reward.utils.checkpoint import Manifest, recover_interrupted_swap
from robo_reward.utils.distributed import barrier
from robo_reward.utils.io import write_json
from robo_reward.utils.killpoints import kill_point
from robo_reward.utils.run_folder import TrainingRun
from robo_reward.utils.training_state import save_optimizer, save_rng_state

CHECKPOINTS_DIR = "checkpoints"
_NAME = re.compile(r"\.?step_(\d+)(\.writing|\.old)?")


def checkpoint_folder(out: Path, step: int) -> Path:
    return Path(out) / CHECKPOINTS_DIR / f"step_{step:06d}"


def _steps_on_disk(parent: Path) -> list[int]:
    found = (_NAME.fullmatch(p.name) for p in parent.iterdir()) if parent.is_dir() else ()
    return sorted({int(m.group(1)) for m in found if m})


def latest_checkpoint(run: TrainingRun) -> Manifest | None:
    """The newest checkpoint of the run, verified, after recovering interrupted swaps; None if none."""
    parent = run.out / CHECKPOINTS_DIR
    if run.rank == 0:
        for step in _steps_on_disk(parent):
            recover_interrupted_swap(checkpoint_folder(run.out, step))
    barrier()
    steps = [s for s in _steps_on_disk(parent) if checkpoint_folder(run.out, s).is_dir()]
    return run.load_checkpoint(checkpoint_folder(run.out, steps[-1])) if steps else None


def save_checkpoint(
    run: TrainingRun,
    step: int,
    policy,
    optimizer: torch.optim.Optimizer,
    ema,
    bc_config,
    rng: np.random.Generator,
    augment_gen: torch.Generator,
    keep: int,
) -> Path:
    """Write checkpoint `step` as one unit, then delete all but the newest `keep` (by step number)."""

    def write(tmp: Path) -> None:
        policy.save_pretrained(tmp, atomic=False)
        if ema is not None:
            ema.save_pretrained(tmp / "ema", atomic=False)
        save_optimizer(optimizer, tmp / "optimizer.safetensors")
        save_rng_state(tmp, {"batches": rng}, {"augment": augment_gen})
        write_json(tmp / "trainer_state.json", {"step": step, "bc_config": dataclasses.asdict(bc_config)})

    folder = run.save_checkpoint(checkpoint_folder(run.out, step), write, {"step": step})
    prune_checkpoints(run.out, keep)
    return folder


def prune_checkpoints(out: Path, keep: int) -> None:
    """Delete every checkpoint but the `keep` newest by step number (keep ≤ 0: keep all). Each goes
    through a `.deleting` name first, so a kill never leaves a half-deleted `step_*` folder."""
    parent = Path(out) / CHECKPOINTS_DIR
    for leftover in parent.glob(".step_*.deleting"):
        shutil.rmtree(leftover)
    steps = [s for s in _steps_on_disk(parent) if checkpoint_folder(out, s).is_dir()]
    if keep <= 0:
        return
    for step in steps[:-keep]:
        folder = checkpoint_folder(out, step)
        doomed = folder.with_name(f".{folder.name}.deleting")
        folder.rename(doomed)
        kill_point("checkpoint.pruning")
        shutil.rmtree(doomed)
