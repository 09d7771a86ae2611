"""CLI end to end on a tiny dataset: `encoder train`, `perceptual fit`, `perceptual score`; baselines."""

import numpy as np
import pytest

from robo_reward.data.lerobot_io import write_dataset
from robo_reward.rewards.baselines import GoalDistanceProgress, linear_time_progress


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, stepped):
    eps = [stepped(s) for s in range(6)]
    eps += [stepped(50 + s, stall_after=s % 2, outcome="failure") for s in range(3)]
    return write_dataset(eps, tmp_path_factory.mktemp("perc") / "ds")


def test_train_fit_score(dataset, tmp_path):
    from robo_reward.commands.encoder import train
    from robo_reward.commands.perceptual import fit, score

    trained = train([dataset], tmp_path / "enc", config="tcn-tiny", steps=10, json=tmp_path / "enc.json")
    assert (tmp_path / "enc.json").exists() and trained["final_loss"] is not None
    fitted = fit(dataset, tmp_path / "perc", episodes=4, encoder=str(tmp_path / "enc"), steps=3)
    assert fitted["demos"] == 4 and fitted["num_steps"] == 3 and 0.0 <= fitted["demo_jaccard"] <= 1.0
    out = score(tmp_path / "perc", dataset, json=tmp_path / "score.json", plot=tmp_path / "p.png")
    assert out["outcomes"] == {"success": 2, "partial": 0, "failure": 3}  # the 4 fit demos left out
    perc = out["sources"]["perceptual"]
    assert set(out["sources"]) == {"perceptual", "goal_distance", "linear_time"}
    assert -1.0 <= perc["voc_dense"] <= 1.0 and 0.0 <= perc["auroc_success_vs_failure"] <= 1.0
    assert "segmentation_jaccard" in perc and (tmp_path / "p.png").exists()
    # per-step diagnostics: one IoU per step (their mean is the Jaccard), one shift per inner boundary
    assert len(perc["segmentation_step_iou"]) == 3 and len(perc["segmentation_boundary_shift"]) == 2
    assert np.mean(perc["segmentation_step_iou"]) == pytest.approx(perc["segmentation_jaccard"])
    assert out["sources"]["linear_time"]["voc_dense"] == pytest.approx(1.0)
    # extra negatives: the same dataset's 3 failures scored again against its 2 held-out successes
    extra = score(tmp_path / "perc", dataset, negatives=dataset, baselines=False)["sources"]["perceptual"]
    assert extra["negatives"] == 3
    assert extra["auroc_success_vs_negatives"] == pytest.approx(perc["auroc_success_vs_failure"])


def test_score_puts_a_grm_in_the_same_table(dataset, tmp_path):
    from robo_reward.commands.grm import add_reference
    from robo_reward.commands.perceptual import fit, score
    from robo_reward.data.lerobot_io import load_episodes
    from robo_reward.models.grm import ProgressEstimator, build_grm, get_config
    from robo_reward.models.grm.modeling_grm import GRM
    from robo_reward.rewards.metrics import voc

    build_grm(get_config("grm-tiny", views=("front", "side"))).save_pretrained(tmp_path / "grm")
    fit(dataset, tmp_path / "perc", episodes=4, encoder="tcn-tiny", steps=3)
    out = score(tmp_path / "perc", dataset, grm=tmp_path / "grm")
    assert set(out["sources"]) == {"perceptual", "goal_distance", "linear_time", "grm"}
    # the GRM's VOC, computed directly: the first fitted demo as its goal reference, the 2 held-out
    # successes scored
    eps = load_episodes(dataset)
    model = GRM.from_pretrained(tmp_path / "grm")
    add_reference(model, eps[0])
    est = ProgressEstimator(model)
    direct = np.mean([voc(est(ep)) for ep in eps[4:6]])
    assert out["sources"]["grm"]["voc_dense"] == pytest.approx(direct, abs=1e-6)
    assert "grm" in out["table"]


def test_goal_distance_baseline(tiny_encoder, stepped):
    demo = stepped(0)
    goal = GoalDistanceProgress.from_demo(tiny_encoder, demo)
    phi = goal(demo)
    assert phi.shape == (len(demo),) and phi.min() >= 0.0 and phi.max() <= 1.0
    assert phi[0] == pytest.approx(0.0, abs=1e-5) and phi[-1] == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(linear_time_progress(demo)[[0, -1]], [0.0, 1.0])
