"""`robo-reward grm {train, eval, adapt, label}` end to end on a tiny synthetic LeRobot dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
from grm_synthetic import synthetic_episode

from robo_reward.cli import main


@pytest.fixture(scope="module")
def datasets(tmp_path_factory, synthetic_episodes):
    from robo_reward.data.lerobot_io import write_dataset

    root = tmp_path_factory.mktemp("grm_cli")
    train = write_dataset(synthetic_episodes, root / "train")
    new_task = []
    for i, outcome in enumerate(["success", "success", "success", "partial"]):
        ep = synthetic_episode("lift", outcome, seed=500 + i)
        ep.task_name, ep.task = "lift_far", "raise the blue square to the top"
        new_task.append(ep)
    demo = write_dataset(new_task, root / "demo")
    return root, train, demo


def test_cli_train_eval_adapt_label(datasets):
    root, train, demo = datasets
    run = root / "run"
    main(["grm", "train", "--data", str(train), "--out", str(run), "--config", "grm-tiny", "--steps", "40"])
    assert (run / "checkpoint" / "model.safetensors").exists()

    out = root / "eval.json"
    main(
        [
            "grm",
            "eval",
            "--checkpoint",
            str(run),
            "--data",
            str(train),
            "--json",
            str(out),
            "--plots",
            str(root / "plots"),
        ]
    )
    result = json.loads(out.read_text())
    assert {"grm", "grm-forward", "linear-time", "privileged"} <= set(result["results"])
    assert result["results"]["privileged"]["voc_dense"] == pytest.approx(1.0)
    assert (root / "plots" / "progress.png").exists() and (root / "plots" / "table.md").exists()

    adapted = root / "adapted"
    main(
        [
            "grm",
            "adapt",
            "--checkpoint",
            str(run),
            "--demo",
            str(demo),
            "--episode",
            "0",
            "--out",
            str(adapted),
            "--eval-data",
            str(demo),
            "--steps",
            "20",
            "--max-seconds",
            "30",
            "--json",
            str(root / "adapt.json"),
        ]
    )
    report = json.loads((root / "adapt.json").read_text())
    assert report["task"] == "lift_far" and report["replay_episodes"] > 0  # replay from the run's data
    assert set(report["voc_before"]["new"]) == set(report["voc_after"]["new"]) == {"lift_far"}

    labelled = root / "labelled"
    main(["grm", "label", str(demo), "--checkpoint", str(adapted), "--out", str(labelled)])
    from robo_reward.data.lerobot_io import load_episodes

    eps = load_episodes(labelled)
    column = eps[0].extras["grm_progress"]
    assert column.shape == (len(eps[0]),) and np.all((column >= 0) & (column <= 1))
