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


def test_adapting_a_model_without_replay_refuses_then_uses_its_packed_replay(datasets, tmp_path, capsys):
    import shutil

    root, train, demo = datasets
    run = tmp_path / "run"
    main(["grm", "train", "--data", str(train), "--out", str(run), "--config", "grm-tiny", "--steps", "5"])
    shipped = tmp_path / "shipped"  # a bare model folder, as in models/: no run arguments beside it
    shutil.copytree(run / "checkpoint", shipped)
    capsys.readouterr()
    adapt = [
        "grm",
        "adapt",
        "--checkpoint",
        str(shipped),
        "--demo",
        str(demo),
        "--steps",
        "3",
        "--max-seconds",
        "20",
    ]

    with pytest.raises(SystemExit) as refused:
        main([*adapt, "--out", str(tmp_path / "a0")])
    assert refused.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "forget its old tasks" in err[0] and "--replay" in err[0]
    assert not (tmp_path / "a0").exists()

    main([*adapt, "--out", str(tmp_path / "a1"), "--allow-forgetting", "--json", str(tmp_path / "a1.json")])
    assert "warning: adapting without replay" in capsys.readouterr().err
    assert json.loads((tmp_path / "a1.json").read_text())["replay_episodes"] == 0

    main(["grm", "pack-replay", "--checkpoint", str(shipped), "--data", str(train), "--episodes", "3"])
    from robo_reward.data.lerobot_io import load_episodes

    packed = load_episodes(shipped / "replay")
    assert len(packed) == 3 and len({ep.task_name for ep in packed}) == min(
        3, len({e.task_name for e in load_episodes(train)})
    )
    main([*adapt, "--out", str(tmp_path / "a2"), "--json", str(tmp_path / "a2.json")])
    assert json.loads((tmp_path / "a2.json").read_text())["replay_episodes"] > 0  # the shipped episodes


def test_balanced_choice_takes_tasks_in_turn():
    from robo_reward.train.grm.replay import balanced_choice

    keys = ["a"] * 5 + ["b"] * 2 + ["c"]
    chosen = balanced_choice(keys, 6, seed=0)
    assert [keys[i] for i in chosen].count("a") == 3  # b and c run out: the rest comes from a
    assert [keys[i] for i in chosen].count("b") == 2 and [keys[i] for i in chosen].count("c") == 1
    assert balanced_choice(keys, 3, seed=1) != [] and sorted(
        {keys[i] for i in balanced_choice(keys, 3, seed=1)}
    ) == ["a", "b", "c"]
    assert len(balanced_choice(keys, 50, seed=0)) == len(keys)
