"""Perceptual reward: feature scores, classifiers, the combination rule, fit/score/save/load."""

import numpy as np
import pytest

from robo_reward.models.perceptual import (
    PerceptualConfig,
    PerceptualReward,
    PerceptualSegmenter,
    combine_steps,
    feature_scores,
)
from robo_reward.models.perceptual.modeling_perceptual import (
    common_reward_steps,
    gaussian_log_ratio,
    global_pool,
    segmentation_agreement,
)
from robo_reward.rewards.metrics import tail_mean, voc


def test_feature_scores_hand_computed():
    pos = np.array([[1.0, 0.0], [3.0, 0.0]])  # μ⁺ = (2, 0), σ⁺ = (1, 0)
    neg = np.array([[0.0, 1.0], [0.0, -1.0], [0.0, 0.0], [0.0, 0.0]])  # μ⁻ = (0, 0), σ⁻ = (0, √0.5)
    z = feature_scores(pos, neg, alpha=5.0)
    np.testing.assert_allclose(z, [5 * 2 - (1 + 0), 5 * 0 - (0 + np.sqrt(0.5))])
    assert feature_scores(pos, neg, alpha=1.0)[0] == pytest.approx(1.0)


def test_gaussian_log_ratio_hand_computed():
    x = np.array([[1.0, 2.0]])
    # feature 0: N(1; 1, 1) vs N(1; 0, 2): 0 − (−0.5·(1/2)² − ln 2) = 0.125 + ln 2
    # feature 1: N(2; 0, 1) vs N(2; 2, 1): −2 − 0 = −2
    r = gaussian_log_ratio(
        x, np.array([1.0, 0.0]), np.array([1.0, 1.0]), np.array([0.0, 2.0]), np.array([2.0, 1.0])
    )
    assert r[0] == pytest.approx((0.125 + np.log(2) - 2.0) / 2)


def test_combination_rules():
    one_hot = np.eye(4)
    np.testing.assert_allclose(combine_steps(one_hot), [0, 1 / 3, 2 / 3, 1], atol=1e-9)
    # scaling all probabilities leaves the normalised posterior unchanged
    np.testing.assert_allclose(
        combine_steps(0.2 * one_hot + 0.01), combine_steps(0.8 * one_hot + 0.04), atol=1e-9
    )
    assert combine_steps(np.full((1, 3), 0.7))[0] == pytest.approx(0.5)
    assert combine_steps(np.array([[0.5, 0.5, 0.0]]))[0] == pytest.approx(0.25)
    # geometric: Σ 2^i p_i / Σ 2^i with weights 1, 2, 4
    np.testing.assert_allclose(
        combine_steps(np.array([[1.0, 0, 0], [0, 1.0, 1.0], [0, 0, 0]]), "geometric"), [1 / 7, 6 / 7, 0.0]
    )
    # moving probability mass to later steps never lowers progress
    a = np.array([[0.6, 0.3, 0.1]])
    b = np.array([[0.3, 0.3, 0.4]])
    for rule in ("expected_step", "geometric"):
        assert combine_steps(b, rule)[0] > combine_steps(a, rule)[0]
    with pytest.raises(ValueError):
        combine_steps(np.ones((3, 1)))


def test_common_reward_steps_hand_computed():
    assert common_reward_steps(8, [11, 8, 6]) == 3  # the 6-frame demo fits 3 steps of 2 frames
    assert common_reward_steps(8, [40, 50]) == 8
    assert common_reward_steps(8, [40, 50], min_len=10) == 4
    assert common_reward_steps(8, [3, 40]) == 2  # never below 2 steps
    with pytest.raises(ValueError, match="at least one"):
        common_reward_steps(8, [])


def test_config_rejects_a_trend_share_outside_0_1():
    with pytest.raises(ValueError, match="segment_trend"):
        PerceptualConfig(segment_trend=-0.1)
    # a fit saved before the trend term keeps the constant model it was fitted with
    assert PerceptualConfig.from_dict({"num_steps": 3}).segment_trend == 0.0
    assert PerceptualConfig.from_dict({"num_steps": 3}).segment_components is None
    with pytest.raises(ValueError, match="segment_components"):
        PerceptualConfig(segment_components=0)
    assert PerceptualConfig.from_dict({"num_steps": 3, "segment_trend": 0.5}).segment_trend == 0.5


def test_short_demos_lower_the_reward_steps_for_all(tiny_encoder, stepped):
    # 30 requested steps of ≥ 2 frames: the shortest demo (36-57 frames) sets one count for all,
    # so step i means the same part of the task in every demo
    demos = [stepped(s) for s in range(3)]
    config = PerceptualConfig(encoder="tcn-tiny", num_steps=3, reward_steps=30, top_m=8)
    reward = PerceptualReward.fit(demos, config, encoder=tiny_encoder)
    expected = min(len(d) for d in demos) // 2
    assert [len(s) for s in reward.fit_info["reward_starts"]] == [expected] * 3
    assert reward.reward_steps == expected


def test_task_steps_use_the_trend_cost_and_reward_steps_the_constant_model(tiny_encoder, stepped):
    from robo_reward.models.perceptual.modeling_perceptual import (
        episode_features,
        principal_components,
        standardise_per_episode,
    )
    from robo_reward.models.perceptual.segmentation import segment_dp

    demos = [stepped(s) for s in range(2)]
    config = PerceptualConfig(
        encoder="tcn-tiny", num_steps=3, reward_steps=6, top_m=8, segment_trend=1.0, segment_components=2
    )
    reward = PerceptualReward.fit(demos, config, encoder=tiny_encoder)
    for ep, starts, reward_starts in zip(
        demos, reward.fit_info["demo_starts"], reward.fit_info["reward_starts"], strict=True
    ):
        x = standardise_per_episode(episode_features(tiny_encoder, ep, None, config.pool_grid))
        assert starts == segment_dp(principal_components(x, 2), 3, trend=1.0)
        assert reward_starts == segment_dp(x, 6, trend=0.0)
        assert reward.segmenter.segment(ep) == starts


def test_global_pool_averages_each_channels_cells():
    grid = np.array([[1.0, 2.0, 3.0, 4.0, 10.0, 10.0, 10.0, 10.0]])  # 2 channels x 2x2 cells
    np.testing.assert_allclose(global_pool(grid, 2), [[2.5, 10.0]])
    assert global_pool(grid, 1) is grid


def test_grid_features_pool_to_the_global_mean(tiny_encoder, stepped):
    frames = stepped(0).views["front"][:4]  # 32² input: every stage's map splits evenly into 2x2
    np.testing.assert_allclose(
        global_pool(tiny_encoder.layer_features(frames, pool_grid=2), 2),
        tiny_encoder.layer_features(frames, pool_grid=1),
        atol=1e-5,
    )


@pytest.fixture(scope="module")
def fitted(tiny_encoder, stepped):
    demos = [stepped(s) for s in range(5)]
    config = PerceptualConfig(encoder="tcn-tiny", num_steps=3, top_m=16)
    return PerceptualReward.fit(demos, config, encoder=tiny_encoder), demos


def test_segmenter_finds_the_synthetic_steps(fitted, tiny_encoder, stepped):
    reward, demos = fitted
    held_out = [stepped(s) for s in range(10, 14)]
    assert np.mean(segmentation_agreement(reward.segmenter, held_out)) > 0.9
    standalone = PerceptualSegmenter(tiny_encoder, num_steps=3)
    starts = standalone.segment(held_out[0])
    assert len(starts) == 3 and starts[0] == 0 and starts == sorted(starts)


def test_reward_orders_frames_and_separates_failures(fitted, stepped):
    reward, _ = fitted
    for seed in range(20, 24):
        phi = reward(stepped(seed))
        assert phi.shape == (len(stepped(seed)),) and phi.min() >= 0 and phi.max() <= 1
        assert voc(phi) > 0.85
        assert phi[:5].mean() < 0.2 and phi[-5:].mean() > 0.8
    stalled = reward(stepped(30, stall_after=1, outcome="failure"))
    assert tail_mean(stalled) < 0.7 < tail_mean(reward(stepped(30)))


def test_save_load_round_trip(fitted, tmp_path, stepped):
    reward, _ = fitted
    reward.save_pretrained(tmp_path / "perc")
    assert {p.name for p in (tmp_path / "perc").iterdir()} == {"config.json", "model.safetensors", "fit.json"}
    loaded = PerceptualReward.from_pretrained(tmp_path / "perc")
    ep = stepped(40)
    np.testing.assert_allclose(loaded(ep), reward(ep), atol=1e-6)
    assert loaded.num_steps == 3 and loaded.config == reward.config
    assert loaded.reward_steps == reward.reward_steps == 8  # finer steps for the reward: max(8, 2·3)
    assert loaded.fit_info["demo_starts"] == reward.fit_info["demo_starts"]


def test_online_frames_api_matches_episode_scoring(fitted, stepped):
    reward, _ = fitted
    ep = stepped(41)
    np.testing.assert_allclose(
        reward.progress_frames({v: f[:7] for v, f in ep.views.items()}), reward(ep)[:7]
    )
    # features already reduced to channel means are accepted as they are
    means = global_pool(reward.features(ep), reward.config.pool_grid)
    np.testing.assert_allclose(reward.progress_from_features(means), reward(ep), atol=1e-6)


def test_principal_components_match_the_covariance_eigenvectors():
    from robo_reward.models.perceptual.modeling_perceptual import principal_components

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6)) + 3.0
    y = principal_components(x, 3)
    centred = x - x.mean(0)
    values, vectors = np.linalg.eigh(centred.T @ centred / len(x))  # ascending
    for j in range(3):
        expected = centred @ vectors[:, -1 - j] / np.sqrt(values[-1 - j])
        sign = np.sign(expected @ y[:, j])  # an eigenvector's sign is arbitrary
        np.testing.assert_allclose(y[:, j], sign * expected, atol=1e-8)
    np.testing.assert_allclose(y.T @ y / len(x), np.eye(3), atol=1e-8)  # whitened, uncorrelated
    # rank 2: a third component would be noise, so it is dropped
    flat = np.outer(rng.normal(size=30), [1.0, 2.0, 0.0]) + np.outer(rng.normal(size=30), [0.0, 1.0, 1.0])
    assert principal_components(flat, 3).shape == (30, 2)


def test_components_give_a_change_in_few_channels_the_weight_of_a_change_in_many():
    """50 channels drift together along one smooth arc (the arm's travel) and 2 step at frame 42 (the
    gripper closing). Every channel standardised, the 50 outvote the 2 and the cut lands in the arc;
    in whitened principal components the arc and the step are one component each and the step wins."""
    from robo_reward.models.perceptual.modeling_perceptual import (
        principal_components,
        standardise_per_episode,
    )
    from robo_reward.models.perceptual.segmentation import segment_dp

    rng = np.random.default_rng(1)
    t = np.linspace(0, 1, 60)
    arc = np.sin(np.pi * t)[:, None] * rng.uniform(0.5, 1.5, 50)
    step = (np.arange(60) >= 42)[:, None] * np.array([1.0, -1.0])
    x = standardise_per_episode(np.hstack([arc, step]) + 0.02 * rng.normal(size=(60, 52)))
    assert abs(segment_dp(x, 2, trend=0.75)[1] - 42) > 5
    assert segment_dp(principal_components(x, 5), 2, trend=0.75) == [0, 42]
