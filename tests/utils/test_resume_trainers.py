"""`--resume` through each trainer's API, from the states a crash or a mistake leaves behind.

The bar is the uninterrupted run: a resumed single-process run must end with the same weights and
the same metrics.jsonl (timings aside), bit for bit — or refuse.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from robo_reward.utils.errors import ResumeError, UserError
from robo_reward.utils.logging import read_metrics

sys.path.insert(0, str(Path(__file__).parents[1] / "grm"))
from grm_synthetic import synthetic_episode

TIMING_KEYS = {"time", "samples_per_s"}


@pytest.fixture(scope="module")
def episodes():
    return [synthetic_episode(task, "success", seed=s) for task in ("slide", "lift") for s in range(3)]


def _metrics(out: Path) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in TIMING_KEYS} for m in read_metrics(out / "metrics.jsonl")]


def _same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_file(str(a)), load_file(str(b))
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


# ---------------------------------------------------------------- GRM: one checkpoint folder


def _train_grm(episodes, out: Path, steps: int, resume: bool = False, lr: float | None = None) -> Path:
    from robo_reward.models.grm import get_config
    from robo_reward.train.grm.trainer import train

    overrides = {"lr": lr} if lr is not None else {}
    config = get_config("grm-tiny", steps=steps, checkpoint_every=2, log_every=1, batch_size=8, **overrides)
    train(config, episodes, out, resume=resume)
    return out / "checkpoint" / "model.safetensors"


def test_a_kill_inside_the_checkpoint_swap_resumes_the_saved_weights(tmp_path, episodes):
    """Killed between moving the old checkpoint aside and renaming the new one in: the new one is
    complete and is the one resumed (the old code resumed random weights with the saved optimizer).
    grm-tiny warms up for 5 steps, so a 4-step run is the first 4 steps of the 6-step one."""
    reference = _train_grm(episodes, tmp_path / "ref", steps=6)
    run = tmp_path / "run"
    _train_grm(episodes, run, steps=4)
    (run / "checkpoint").rename(run / ".checkpoint.old")
    shutil.copytree(run / ".checkpoint.old", run / ".checkpoint.writing")
    resumed = _train_grm(episodes, run, steps=6, resume=True)
    assert _same_weights(resumed, reference)
    assert _metrics(run) == _metrics(tmp_path / "ref")
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []


def test_resume_with_other_options_is_refused(tmp_path, episodes):
    _train_grm(episodes, tmp_path / "run", steps=2)
    with pytest.raises(ResumeError, match=r"changed: lr"):
        _train_grm(episodes, tmp_path / "run", steps=4, resume=True, lr=1e-2)
    with pytest.raises(ResumeError, match=r"changed: episodes"):
        _train_grm(episodes[:-1], tmp_path / "run", steps=4, resume=True)


# ---------------------------------------------------------------- BC: checkpoints/step_*


def _bc(out: Path, steps: int, **kw):
    from robo_reward.train.bc import BCConfig

    return BCConfig(out=out, config="flow-tiny", steps=steps, batch_size=8, log_every=1, ckpt_every=2, **kw)


def test_bc_metrics_are_cut_back_to_the_checkpoint(tmp_path, episodes, check_curves):
    """A run killed after logging steps past its last checkpoint: those lines go, then come back once.
    (BC warms up for 100 steps, so a 4-step run is the first 4 steps of the 6-step one.)"""
    from torch.utils.tensorboard import SummaryWriter

    from robo_reward.train.bc import train_bc

    reference = train_bc(_bc(tmp_path / "ref", 6), episodes=episodes)
    run = tmp_path / "run"
    train_bc(_bc(run, 4), episodes=episodes)
    with (run / "metrics.jsonl").open("a") as f:  # what the killed run had logged after step 4
        f.write('{"step": 5, "time": 1.0, "loss": 9.0}\n{"step": 6, "ti')
    with SummaryWriter(str(run / "tensorboard")) as events:  # and as TensorBoard events
        events.add_scalar("loss", 9.0, 5)
    final = train_bc(_bc(run, 6, resume=True), episodes=episodes)
    assert [m["step"] for m in _metrics(run)] == [1, 2, 3, 4, 5, 6]
    assert _metrics(run) == _metrics(tmp_path / "ref")
    check_curves(run)  # TensorBoard too shows the resumed step 5, not the killed run's
    assert _same_weights(final / "model.safetensors", reference / "model.safetensors")


def test_bc_second_run_into_a_used_folder_refuses_or_replaces_it(tmp_path, episodes):
    """The old code let a second run share the folder: keep-2 deleted each of its new checkpoints (the
    first run's had higher steps) and a resume took the first run's newest checkpoint."""
    from robo_reward.train.bc import train_bc

    out = tmp_path / "run"
    train_bc(_bc(out, 8), episodes=episodes)
    with pytest.raises(UserError, match="is not empty"):
        train_bc(_bc(out, 4, seed=1), episodes=episodes)
    train_bc(_bc(out, 4, seed=1, overwrite=True), episodes=episodes)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_000002", "step_000004"]
    assert [m["step"] for m in read_metrics(out / "metrics.jsonl")] == [1, 2, 3, 4]


def test_bc_refuses_a_damaged_checkpoint(tmp_path, episodes):
    from robo_reward.train.bc import train_bc

    out = tmp_path / "run"
    train_bc(_bc(out, 4), episodes=episodes)
    weights = out / "checkpoints" / "step_000004" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF  # inside the tensor data: the file still loads, with one wrong weight
    weights.write_bytes(bytes(data))
    with pytest.raises(ResumeError, match="model.safetensors differs from its manifest"):
        train_bc(_bc(out, 6, resume=True), episodes=episodes)


def test_bc_keeps_the_newest_checkpoints_by_step_number(tmp_path):
    from robo_reward.train.bc.checkpoints import prune_checkpoints

    for step in (999_998, 999_999, 1_000_000):  # past six digits, names no longer sort by step
        (tmp_path / "checkpoints" / f"step_{step:06d}").mkdir(parents=True)
    prune_checkpoints(tmp_path, keep=2)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_1000000", "step_999999"]
