"""Evaluation over several tasks: which tasks a name covers, the instruction each episode is given, and
the per-instruction, confusion and summary tables, checked against counts made by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robo_reward.sim import task_spec
from robo_reward.sim.policy_evaluation import episode_wording, evaluate
from robo_reward.sim.suite_evaluation import (
    confusion_tables,
    evaluation_tasks,
    instruction_rows,
    summary,
    swap_rate,
)
from robo_reward.utils.errors import UnknownNameError

SIX = ["reach", "push", "pick_place", "stack", "open_drawer", "drawer_store"]


def test_evaluation_tasks_split_grounding_scenes():
    every = evaluation_tasks("all")
    assert every[:6] == SIX
    assert {
        "pick_place_color:red",
        "pick_place_color:blue",
        "drawer_or_cube:drawer",
        "drawer_or_cube:cube",
    } == set(every[6:])
    assert evaluation_tasks("pick_place_color") == ["pick_place_color:red", "pick_place_color:blue"]
    assert evaluation_tasks("pick_place_color:blue") == ["pick_place_color:blue"]
    assert evaluation_tasks("push") == ["push"]
    with pytest.raises(UnknownNameError, match="unknown task 'pick_plaec'"):
        evaluation_tasks("pick_plaec")


def test_episode_wordings_come_from_their_split_and_depend_on_the_seed_only():
    w = task_spec("pick_place").wordings
    held = [episode_wording(w, "held_out", s) for s in range(40)]
    train = [episode_wording(w, "train", s) for s in range(40)]
    assert set(held) == set(w.held_out) and set(train) == set(w.train)  # every wording drawn, none else
    assert held == [episode_wording(w, "held_out", s) for s in range(40)]
    assert {episode_wording(w, "canonical", s) for s in range(5)} == {w.canonical}


class _RecordingPolicy:
    """Acts with zero chunks and records the instructions it is given per query."""

    def __init__(self):
        from robo_reward.models.flow_policy import make_config
        from robo_reward.sim import STATE_NAMES

        self.config = make_config("flow-tiny", state_dim=len(STATE_NAMES), views=("front",), image_size=16)
        self.device = torch.device("cpu")
        self.seen: list[list[str]] = []

    def eval(self):
        return self

    def sample(self, batch, num_steps=None, generator=None, noise_scale=None):
        self.seen.append(list(batch["task"]))
        return torch.zeros(len(batch["task"]), self.config.chunk_size, self.config.action_dim)


def test_each_episode_is_instructed_with_its_own_wording():
    pytest.importorskip("mujoco")
    policy = _RecordingPolicy()
    out = evaluate(
        policy, "pick_place_color:blue", episodes=3, num_envs=2, seed=40, max_steps=4, wordings="held_out"
    )
    wordings = task_spec("pick_place_color:blue").wordings
    expected = [episode_wording(wordings, "held_out", 40 + ep) for ep in range(3)]
    assert [r["instruction"] for r in out["per_episode"]] == expected
    assert all(
        r["achieved"] == [] and not r["success"] for r in out["per_episode"]
    )  # zero actions do nothing
    # first query: episodes 0 and 1 side by side; every later query asks for the episodes then running
    assert policy.seen[0] == expected[:2]
    assert {t for query in policy.seen for t in query} == set(expected)


def _result(task: str, episodes: list[tuple[int, str, tuple[str, ...]]]) -> dict:
    rows = [
        {"seed": s, "instruction": text, "achieved": list(done), "success": done == (task,)}
        for s, text, done in episodes
    ]
    return {
        "task": task,
        "episodes": len(rows),
        "success_rate": float(np.mean([r["success"] for r in rows])),
        "per_episode": rows,
    }


def test_confusion_swap_instruction_and_summary_tables_by_hand():
    red, blue = "scene:red", "scene:blue"
    results = [
        _result("reach", [(1, "reach it", ("reach",)), (2, "go", ()), (3, "reach it", ("reach",))]),
        _result(red, [(1, "red a", (red,)), (2, "red b", (blue,)), (3, "red a", (red,))]),
        _result(blue, [(1, "blue a", (blue,)), (2, "blue a", (blue,)), (3, "blue a", ())]),
    ]
    tables = confusion_tables(results)
    assert list(tables) == ["scene"]
    assert tables["scene"]["rows"] == [
        {"instructed": red, red: 2, blue: 1, "none": 0},
        {"instructed": blue, red: 0, blue: 2, "none": 1},
    ]
    assert tables["scene"]["grounded_rate"] == pytest.approx(4 / 6)
    # seed 1: both grounded; seed 2: red did blue's task; seed 3: blue did nothing
    assert tables["scene"]["swap_rate"] == pytest.approx(1 / 3)
    assert swap_rate(results[1:2]) == pytest.approx(2 / 3)  # one instruction alone: its own diagonal
    assert instruction_rows(results)[:2] == [
        {"task": "reach", "instruction": "reach it", "success": 1.0, "episodes": 2},
        {"task": "reach", "instruction": "go", "success": 0.0, "episodes": 1},
    ]
    s = summary(results)
    assert s["single_tasks"]["tasks"] == 1 and s["single_tasks"]["mean_success"] == pytest.approx(2 / 3)
    assert s["all_tasks"]["mean_success"] == pytest.approx((2 / 3 + 2 / 3 + 2 / 3) / 3)
    assert s["all_tasks"]["min_success"] == pytest.approx(2 / 3)
    assert confusion_tables(results[:2]) == {}  # one instruction of a scene: nothing to swap


def test_cli_eval_of_a_scene_prints_its_confusion_table(tmp_path, capsys):
    pytest.importorskip("mujoco")
    import json

    from robo_reward.cli import main
    from robo_reward.models.flow_policy import FlowPolicy, make_config
    from robo_reward.sim import STATE_NAMES

    torch.manual_seed(0)
    ckpt = tmp_path / "policy"
    FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES), source_image_size=32)).save_pretrained(
        ckpt
    )
    js = tmp_path / "eval.json"
    main(["policy", "eval", "--checkpoint", str(ckpt), "--task", "drawer_or_cube", "--episodes", "2",
          "--record", "0", "--wordings", "train", "--json", str(js)])  # fmt: skip
    out = json.loads(js.read_text())
    assert [r["task"] for r in out["tasks"]] == ["drawer_or_cube:drawer", "drawer_or_cube:cube"]
    table = out["confusion"]["drawer_or_cube"]
    assert sum(v for row in table["rows"] for k, v in row.items() if k != "instructed") == 4
    train = {t: task_spec(t).wordings.train for t in ("drawer_or_cube:drawer", "drawer_or_cube:cube")}
    assert all(row["instruction"] in train[row["task"]] for row in out["instructions"])
    assert "instruction given × task achieved" in capsys.readouterr().out
