"""Metrics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from robo_reward.rewards import metrics as M


def test_spearman_hand_values():
    assert M.spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert M.spearman([3, 2, 1], [1, 2, 3]) == pytest.approx(-1.0)
    # ties: ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4) -> 4.5 / sqrt(4.5 * 5)
    assert M.spearman([1, 2, 2, 3], [0, 1, 2, 3]) == pytest.approx(4.5 / np.sqrt(22.5))
    assert M.spearman([0.5, 0.5, 0.5], [1, 2, 3]) == 0.0  # constant says nothing about order


def test_voc_hand_value():
    # ranks (1, 3, 2, 4) against (1, 2, 3, 4): sum d^2 = 2 -> 1 - 6*2 / (4*15) = 0.8
    assert M.voc(np.array([0.0, 0.2, 0.1, 0.5])) == pytest.approx(0.8)
    assert M.voc(np.linspace(0, 1, 50)) == pytest.approx(1.0)


def test_sample_indices():
    np.testing.assert_array_equal(M.sample_indices(10, 4), [0, 3, 6, 9])
    np.testing.assert_array_equal(M.sample_indices(5, 0), np.arange(5))
    np.testing.assert_array_equal(M.sample_indices(3, 8), np.arange(3))


def test_classify_progress_rules():
    # last third of 6 frames = last 2 frames
    assert M.classify_progress([0, 0.2, 0.4, 0.6, 0.9, 0.95]) == "success"  # final .95, tail .925
    assert M.classify_progress([0, 0.2, 0.4, 0.6, 0.3, 0.85]) == "partial"  # final .85 but tail .575
    assert M.classify_progress([0, 0.1, 0.3, 0.5, 0.5, 0.5]) == "partial"  # tail 0.5 >= 0.4
    assert M.classify_progress([0, 0.1, 0.1, 0.2, 0.3, 0.4]) == "failure"  # tail 0.35
    assert M.tail_mean(np.arange(9.0)) == pytest.approx(7.0)


def test_confusion_matrix_and_accuracy():
    true = ["success", "success", "partial", "failure", "failure"]
    pred = ["success", "partial", "partial", "failure", "success"]
    expected = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(M.confusion_matrix(true, pred), expected)
    assert M.accuracy(true, pred) == pytest.approx(3 / 5)


def test_auroc_hand_value_with_ties():
    # positives 0.9, 0.8; negatives 0.8, 0.3 -> pairs 1 + 1 + 0.5 + 1 over 4
    assert M.auroc(np.array([0.9, 0.8, 0.3, 0.8]), np.array([1, 0, 0, 1])) == pytest.approx(0.875)
    assert M.auroc(np.array([0.1, 0.2]), np.array([1, 0])) == pytest.approx(0.0)
    assert np.isnan(M.auroc(np.array([0.1, 0.2]), np.array([1, 1])))


def test_pearson_distance_hand_values():
    assert M.pearson_distance([1, 2, 3], [2, 4, 6]) == pytest.approx(0.0, abs=1e-7)
    assert M.pearson_distance([1, 2, 3], [3, 2, 1]) == pytest.approx(1.0)
    assert M.pearson_distance([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)  # rho = 1/2


def test_epic_canonicalize_hand_value():
    # R = [[0, 1], [2, 3]], gamma 0.5: row means (0.5, 2.5), mean 1.5
    # C[i, j] = R[i, j] + 0.5 * rowmean[j] - rowmean[i] - 0.75 = [[-1, 1], [-1, 1]]
    c = M.epic_canonicalize(np.array([[0.0, 1.0], [2.0, 3.0]]), gamma=0.5)
    np.testing.assert_allclose(c, [[-1.0, 1.0], [-1.0, 1.0]])


def test_epic_is_invariant_to_potential_shaping_and_scale():
    rng = np.random.default_rng(0)
    n, gamma = 12, 0.9
    reward = rng.normal(size=(n, n))
    phi = rng.normal(size=n)
    shaped = 3.0 * reward + gamma * phi[None, :] - phi[:, None]
    assert M.epic_distance(reward, shaped, gamma) == pytest.approx(0.0, abs=1e-6)
    assert M.epic_distance(reward, -reward, gamma) == pytest.approx(1.0)


def test_separable_closed_form_matches_matrix():
    rng = np.random.default_rng(1)
    u, v, gamma = rng.normal(size=7), rng.normal(size=7), 0.8
    full = M.epic_canonicalize(u[None, :] + v[:, None], gamma)
    closed = M.epic_canonicalize_separable(u, v, gamma)
    np.testing.assert_allclose(full, np.broadcast_to(closed, (7, 7)), atol=1e-12)


def test_progress_epic_distance():
    true = [np.linspace(0, 1, 10), np.linspace(0, 0.5, 6)]
    success = [np.r_[np.zeros(9), 1.0], np.zeros(6)]
    assert M.progress_epic_distance(true, true, success=success) == pytest.approx(0.0, abs=1e-7)
    # a positive affine map of progress is the same reward up to scale (no success term)
    scaled = [0.5 * p + 0.2 for p in true]
    assert M.progress_epic_distance(true, scaled) == pytest.approx(0.0, abs=1e-7)
    # reversed progress on a single linear episode is the opposite reward
    assert M.progress_epic_distance(true[:1], [true[0][::-1]]) == pytest.approx(1.0)
    noisy = [p + np.random.default_rng(2).normal(0, 0.3, len(p)) for p in true]
    d = M.progress_epic_distance(true, noisy, success=success)
    assert 0.0 < d < 0.5


def _episode(progress: np.ndarray, outcome: str):
    from robo_reward.data.episode import Episode

    T = len(progress)
    return Episode(
        views={"front": np.zeros((T, 4, 4, 3), np.uint8)},
        state=np.zeros((T, 2), np.float32),
        action=np.zeros((T, 7), np.float32),
        task="t",
        progress=np.asarray(progress, np.float32),
        success=np.r_[np.zeros(T - 1, bool), outcome == "success"],
        outcome=outcome,
    )


def test_evaluation_harness_oracle_and_plot(tmp_path, capsys):
    from robo_reward.rewards import evaluation as E

    eps = [
        _episode(np.linspace(0, 1, 30), "success"),
        _episode(np.linspace(0, 1, 25) ** 2, "success"),
        _episode(np.r_[np.linspace(0, 0.5, 10), np.full(10, 0.5)], "partial"),
        _episode(np.linspace(0, 0.2, 20), "failure"),
    ]
    calls = []
    results = E.evaluate_sources(
        {"oracle": lambda ep: calls.append(ep) or E.privileged_progress(ep),
         "reversed": lambda ep: 1.0 - E.privileged_progress(ep)}, eps,
    )  # fmt: skip
    # progress counts every call of a source (both sources are called alike), ending where it should
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .startswith(f"score episodes: {2 * len(calls)}/{2 * len(calls)} (")
    )
    oracle, rev = results["oracle"], results["reversed"]
    for d in ("sparse", "medium", "dense"):
        assert oracle[f"voc_{d}"] == pytest.approx(1.0)
        assert rev[f"voc_{d}"] == pytest.approx(-1.0)
    assert oracle["spf_accuracy"] == 1.0 and oracle["auroc"] == 1.0
    assert oracle["epic"] == pytest.approx(0.0, abs=1e-7)
    assert rev["auroc"] == 0.0 and rev["epic"] > 0.5
    rows = E.table_rows(results)
    assert [r["source"] for r in rows] == ["oracle", "reversed"]
    assert "progress" not in E.json_ready(results)["oracle"]
    assert E.plot_progress(eps, results, tmp_path / "p.png").stat().st_size > 0
    with pytest.raises(ValueError, match="returned 3 values"):
        E.evaluate_source(lambda ep: np.zeros(3), eps)


def test_auroc_reads_where_an_episode_ends_not_its_last_third():
    from robo_reward.rewards import evaluation as E

    # a success that ends as soon as it gets there (last third 0.8, 1.0: mean 0.9) against a partial
    # that stalls just short of it (last third all 0.92): the tail mean orders them the wrong way round,
    # the final progress the right way — for the privileged progress itself
    eps = [
        _episode(np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.0]), "success"),
        _episode(np.r_[np.linspace(0, 0.92, 6), np.full(6, 0.92)], "partial"),
    ]
    r = E.evaluate_source(E.privileged_progress, eps)
    assert r["auroc"] == 1.0 and r["auroc_tail"] == 0.0


def test_kendall_tau_hand_value_and_scipy():
    from scipy.stats import kendalltau

    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0])
    # 6 pairs, one discordant (2,3): (5 − 1) / 6
    assert M.kendall_tau(a, b) == pytest.approx(4 / 6)
    tied = np.array([0.0, 0.0, 1.0, 2.0, 2.0])
    other = np.array([0.1, 0.3, 0.2, 0.5, 0.4])
    assert M.kendall_tau(tied, other) == pytest.approx(kendalltau(tied, other).statistic)  # τ-b with ties
    assert M.kendall_tau(np.ones(4), a) == 0.0


def test_success_failure_gap_hand_value():
    final = np.array([0.9, 1.0, 0.5, 0.2, 0.4])
    outcomes = ["success", "success", "partial", "failure", "failure"]
    assert M.success_failure_gap(final, outcomes) == pytest.approx(0.95 - 0.3)
    assert np.isnan(M.success_failure_gap(final[:2], outcomes[:2]))


def test_potential_diagnostics_separate_noise_offset_and_over_rating():
    rng = np.random.default_rng(0)
    truth = [np.linspace(0, 1, 41) ** 2 for _ in range(20)]
    biases = rng.normal(0, 0.1, 20)
    offset = [t + b for t, b in zip(truth, biases, strict=True)]  # a constant per episode
    noisy = [t + rng.normal(0, 0.05, 41) for t in truth]
    d = M.potential_diagnostics(offset, truth, windows=(2, 8))
    # a per-episode offset cancels in every difference: perfect differences, all error between episodes
    assert d["diff_snr@2"] == float("inf") and d["diff_corr@2"] == pytest.approx(1.0)
    assert d["bias_spread"] == pytest.approx(np.std(biases))
    assert d["error_std"] == pytest.approx(0.0, abs=1e-12)
    n = M.potential_diagnostics(noisy, truth, windows=(2, 8))
    # white noise σ = 0.05: a k-frame difference carries noise of std √2·σ whatever k, while the signal
    # grows with k, so longer windows are cleaner
    dt2 = np.concatenate([t[2:] - t[:-2] for t in truth])
    assert n["diff_snr@2"] == pytest.approx(np.std(dt2) / (np.sqrt(2) * 0.05), rel=0.15)
    assert n["diff_snr@8"] > 3 * n["diff_snr@2"] and n["error_std"] == pytest.approx(0.05, rel=0.1)
    over = M.potential_diagnostics([t + 0.3 * (t > 0.5) for t in truth], truth)
    assert over["over_rate"] == pytest.approx(np.mean(truth[0] > 0.5))
