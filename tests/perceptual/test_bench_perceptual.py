"""The perceptual benchmark's table: means over tasks, Jaccard over multi-step tasks, NaN skipped."""

import math

import pytest

from robo_reward.bench.perceptual import TASKS, multi_step_tasks, summarize


def _task(j, voc, sf, rest, spf, gv, ga):
    return {
        "segmentation_jaccard": j, "voc_dense": voc, "auroc_success_vs_failure": sf, "auroc": rest,
        "spf_accuracy": spf, "goal_voc_dense": gv, "goal_auroc": ga,
    }  # fmt: skip


def test_summarize_by_hand():
    per_task = {
        "tcn": {
            "push": _task(0.8, 0.9, math.nan, 0.7, 0.5, 0.6, 0.5),  # no failures: AUROC s-vs-f is NaN
            "stack": _task(0.6, 1.0, 0.9, 0.9, 0.7, 0.4, 0.7),
            "reach": _task(1.0, 0.8, 0.7, 0.8, 0.9, 0.2, 0.6),  # one motion: not in the Jaccard mean
        }
    }
    (row,) = summarize(per_task, multi_step=["push", "stack"])
    assert row["encoder"] == "tcn"
    assert row["jaccard"] == pytest.approx(0.7)
    assert row["voc_dense"] == pytest.approx(0.9)
    assert row["auroc_success_vs_failure"] == pytest.approx(0.8)
    assert row["auroc_success_vs_rest"] == pytest.approx(0.8)
    assert row["spf_accuracy"] == pytest.approx(0.7)
    assert row["goal_baseline_voc"] == pytest.approx(0.4) and row["goal_baseline_auroc"] == pytest.approx(0.6)


def test_other_sources_get_rows_without_goal_columns():
    per_task = {
        "tcn": {"push": _task(0.8, 0.9, 0.9, 0.7, 0.5, 0.6, 0.5)},
        "grm": {
            "push": {"voc_dense": 0.7, "auroc_success_vs_failure": 0.6, "auroc": 0.5, "spf_accuracy": 0.4}
        },
    }
    tcn, grm = summarize(per_task, multi_step=["push"])
    assert grm["encoder"] == "grm" and grm["voc_dense"] == pytest.approx(0.7)
    assert grm["spf_accuracy"] == pytest.approx(0.4) and tcn["jaccard"] == pytest.approx(0.8)
    assert math.isnan(grm["jaccard"]) and math.isnan(grm["goal_baseline_voc"])


def test_missing_dataset_is_a_clear_error(tmp_path):
    from robo_reward.bench.perceptual import run

    with pytest.raises(FileNotFoundError, match="sim collect"):
        run(data=tmp_path, tasks=("push",))


def test_jaccard_tasks_are_the_multi_step_ones():
    # reach has two stages (half way, arrived) along one motion: no step a segmenter could see
    assert multi_step_tasks(TASKS) == ["push", "pick_place", "stack", "open_drawer", "drawer_store"]
