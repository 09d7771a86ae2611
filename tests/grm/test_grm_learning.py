"""The tiny GRM learns on synthetic episodes: loss falls, VOC beats a shuffled baseline; resume works;
adaptation runs in bounded time; two-process DDP training."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from robo_reward.models.grm import GRM, ProgressEstimator, get_config
from robo_reward.rewards.metrics import voc
from robo_reward.train.grm.adapt import adapt
from robo_reward.train.grm.trainer import split_episodes, train
from robo_reward.utils.logging import read_metrics


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synthetic_episodes):
    run = tmp_path_factory.mktemp("grm") / "run"
    train_eps, val_eps = split_episodes(synthetic_episodes, 0.25, seed=0)
    config = get_config("grm-tiny", steps=150, checkpoint_every=50)
    train(config, train_eps, run, val_episodes=val_eps)
    return run, val_eps


def test_loss_falls_and_voc_beats_shuffled(trained, check_curves):
    run, val_eps = trained
    losses = [m["losses/loss"] for m in read_metrics(run / "metrics.jsonl") if "losses/loss" in m]
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:2])
    check_curves(run)
    model = GRM.from_pretrained(run)
    estimator = ProgressEstimator(model)
    rng = np.random.default_rng(0)
    vocs, shuffled = [], []
    for ep in val_eps:
        if ep.outcome == "success":
            phi = estimator(ep)
            vocs.append(voc(phi))
            shuffled.append(voc(rng.permutation(phi)))
    assert np.mean(vocs) > 0.8 and np.mean(vocs) > np.mean(shuffled) + 0.5


def test_resume_continues_from_the_checkpoint(trained, synthetic_episodes, tmp_path):
    run, val_eps = trained
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    config = get_config("grm-tiny", steps=170, checkpoint_every=50)
    train_eps, _ = split_episodes(synthetic_episodes, 0.25, seed=0)  # the run's own data
    train(config, train_eps, copy, val_episodes=val_eps, resume=True)
    steps = [m["step"] for m in read_metrics(copy / "metrics.jsonl") if "losses/loss" in m]
    assert steps[-1] == 170 and steps.count(160) == 1  # resumed at 150, no restart from 0


def test_trains_on_the_pretrained_encoders(tmp_path, synthetic_episodes, pretrained_weights, monkeypatch):
    """EfficientNet-Lite0 stages + MiniLM instructions: BatchNorm is not recalibrated (the ImageNet
    statistics stay), the checkpoint scores episodes, and it loads without the converted files."""
    from safetensors.torch import load_file

    from robo_reward.models.pretrained import LITE_MEAN, LITE_STD, converted_weights

    config = get_config(
        "grm-tiny", steps=20, checkpoint_every=10, feature_stages=(2, 3), text_encoder="minilm",
        backbone="tf_efficientnet_lite0", backbone_weights="efficientnet_lite0",
        image_mean=LITE_MEAN, image_std=LITE_STD,
    )  # fmt: skip
    run = train(config, synthetic_episodes[:8], tmp_path / "run")
    losses = [m["losses/loss"] for m in read_metrics(run / "metrics.jsonl") if "losses/loss" in m]
    assert losses and np.all(np.isfinite(losses))
    stored = load_file(str(converted_weights("efficientnet_lite0")))
    monkeypatch.setenv("ROBO_REWARD_PRETRAINED", str(tmp_path / "nothing-converted-here"))
    model = GRM.from_pretrained(run)
    encoder = model.encoder.backbone.state_dict()
    assert all(torch.equal(v, stored[k]) for k, v in encoder.items())  # running stats included
    phi = ProgressEstimator(model)(synthetic_episodes[0])
    assert np.all(np.isfinite(phi)) and phi.shape == (len(synthetic_episodes[0]),)


def test_one_shot_adaptation_is_bounded_and_keeps_old_tasks(trained, synthetic_episodes, capsys):
    from grm_synthetic import synthetic_episode

    run, _ = trained
    model = GRM.from_pretrained(run)
    demo = synthetic_episode("slide", seed=999)
    demo.task_name, demo.task = "slide_new", "push the red square to the right side"
    capsys.readouterr()
    stats = adapt(model, demo, synthetic_episodes[:6], steps=30, max_seconds=20)
    assert stats["steps"] > 0 and stats["seconds"] < 30
    # a log shows where it got to (the step count, against the step budget)
    assert capsys.readouterr().err.splitlines()[-1].startswith(f"adapt: {stats['steps']}/30 (")
    assert "slide_new" in model.references
    assert not any(p.requires_grad for p in model.encoder.parameters())


@pytest.mark.slow
def test_two_process_ddp(tmp_path, synthetic_episodes):
    from robo_reward.data.lerobot_io import write_dataset

    data = write_dataset(synthetic_episodes[:8], tmp_path / "data")
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "MASTER_ADDR": "127.0.0.1", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        "29517",
        "-m",
        "robo_reward.cli",
        "grm",
        "train",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "run"),
        "--config",
        "grm-tiny",
        "--steps",
        "20",
        "--val-fraction",
        "0",
    ]
    subprocess.run(cmd, check=True, env=env, timeout=300, cwd=Path(__file__).parents[2])
    summary = (tmp_path / "run" / "summary.json").read_text()
    assert '"world_size": 2' in summary
    assert GRM.from_pretrained(tmp_path / "run").config.preset == "grm-tiny"


def _ddp_worker(rank: int, out: str, port: int) -> None:
    import torch
    from grm_synthetic import synthetic_episode

    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE="2",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        GLOO_SOCKET_IFNAME="lo",
    )
    torch.set_num_threads(1)
    eps = [synthetic_episode(t, seed=i) for t in ("slide", "lift") for i in range(3)]
    train(get_config("grm-tiny", steps=6, checkpoint_every=3, log_every=3), eps, out)
    torch.distributed.destroy_process_group()


def test_two_process_ddp_in_memory(tmp_path):
    """The fast DDP check: two gloo processes train a few steps (spawned, no dataset, no CLI)."""
    import torch.multiprocessing as mp

    sys.path.insert(0, str(Path(__file__).parent))  # spawned children import grm_synthetic
    port = 29600 + os.getpid() % 300
    mp.start_processes(_ddp_worker, args=(str(tmp_path / "run"), port), nprocs=2, start_method="spawn")
    summary = (tmp_path / "run" / "summary.json").read_text()
    assert '"world_size": 2' in summary and '"steps": 6' in summary
