"""The S/P/F truth label: where an episode ends, against hand-built stage/success columns."""

from __future__ import annotations

import numpy as np
import pytest

from robo_reward.data.episode import Episode
from robo_reward.rewards import evaluation as E


def _ep(stage, progress, outcome, task_name="stack", success_last=False):
    T = len(stage)
    return Episode(
        views={"front": np.zeros((T, 4, 4, 3), np.uint8)},
        state=np.zeros((T, 2), np.float32),
        action=np.zeros((T, 7), np.float32),
        task="t",
        task_name=task_name,
        progress=np.asarray(progress, np.float32),
        stage=np.asarray(stage, np.int64),
        success=np.r_[np.zeros(T - 1, bool), success_last],
        outcome=outcome,
    )


def test_end_state_outcome_hand_cases():
    # reached stage 2, dropped the cube, ended at stage 0: recorded partial, ends a failure
    drop = _ep([0, 1, 2, 0, 0, 0], [0, 0.3, 0.5, 0.15, 0.15, 0.15], "partial")
    assert E.end_state_outcome(drop) == "failure"
    kept = _ep([0, 1, 2, 2, 3, 3], [0, 0.3, 0.5, 0.6, 0.8, 0.8], "partial")
    assert E.end_state_outcome(kept) == "partial"
    # the stage falls for a frame while letting go, then the success frame: success
    won = _ep([0, 1, 2, 3, 0, 3], [0, 0.3, 0.5, 0.75, 0.2, 1.0], "success", success_last=True)
    assert E.end_state_outcome(won) == "success"
    # a single-stage task (not in the registry: one stage seen): the last frame's progress decides
    near = _ep([0, 0, 0], [0, 0.6, 0.5], "partial", task_name="touch")
    far = _ep([0, 0, 0], [0, 0.55, 0.41], "partial", task_name="touch")
    assert E.end_state_outcome(near) == "partial" and E.end_state_outcome(far) == "failure"
    # reach's stage 1 is the half-way mark: where it ends decides, whatever it reached before
    back = _ep([0, 1, 1, 0], [0, 0.6, 0.55, 0.45], "partial", task_name="reach")
    held = _ep([0, 1, 1, 1], [0, 0.6, 0.55, 0.52], "partial", task_name="reach")
    assert E.end_state_outcome(back) == "failure" and E.end_state_outcome(held) == "partial"
    # no stage column: the recorded outcome stands
    bare = Episode(**{**drop.__dict__, "stage": None})
    assert E.end_state_outcome(bare) == "partial"


def test_evaluate_source_reports_both_truths():
    drop = _ep([0, 1, 2, 0, 0, 0], [0, 0.3, 0.5, 0.15, 0.15, 0.15], "partial")
    won = _ep([0, 1, 2, 3, 3, 3], [0, 0.3, 0.5, 0.75, 0.9, 1.0], "success", success_last=True)
    res = E.evaluate_source(E.privileged_progress, [drop, won])
    assert res["spf_accuracy"] == 1.0  # failure and success, both right
    assert res["spf_accuracy_recorded"] == 0.5  # the drop's recorded 'partial' is missed
    assert res["confusion"] == [[1, 0, 0], [0, 0, 0], [0, 0, 1]]
    assert res["confusion_recorded"] == [[1, 0, 0], [0, 0, 1], [0, 0, 0]]
    # per-episode rows: the rule's inputs, by hand (last third of 6 frames = the last 2)
    rows = res["per_episode"]
    assert [r["truth"] for r in rows] == ["failure", "success"]
    assert [r["recorded"] for r in rows] == ["partial", "success"]
    assert [r["predicted"] for r in rows] == ["failure", "success"]
    assert rows[0]["final"] == pytest.approx(0.15) and rows[0]["tail_mean"] == pytest.approx(0.15)
    assert rows[1]["final"] == pytest.approx(1.0) and rows[1]["tail_mean"] == pytest.approx(0.95)
    assert rows[1]["frames"] == 6 and E.json_ready({"x": res})["x"]["per_episode"] == rows
