"""DP segmentation: exact (matches brute force), recovers change points; overlap metric."""

import itertools

import numpy as np
import pytest

from robo_reward.models.perceptual.segmentation import (
    average_std,
    boundary_shifts,
    jaccard_overlap,
    segment_costs,
    segment_dp,
    stage_starts,
    starts_to_labels,
    step_ious,
)


def brute_force(
    features: np.ndarray, num_steps: int, min_len: int, weighting: str, trend: float = 0.0
) -> tuple[float, list[int]]:
    T = len(features)
    best = (np.inf, [])
    for cuts in itertools.combinations(range(1, T), num_steps - 1):
        starts = [0, *cuts]
        if min(np.diff([*starts, T])) < min_len:
            continue
        best = min(best, (average_std(features, starts, weighting, trend), starts))
    return best


def test_costs_match_direct_std():
    x = np.random.default_rng(0).normal(size=(9, 4))
    cost = segment_costs(x, min_len=2, weighting="segment")
    assert cost[2, 7] == pytest.approx(x[2:7].std(axis=0).mean())
    assert cost[0, 9] == pytest.approx(x.std(axis=0).mean())
    assert np.isinf(cost[3, 4]) and np.isinf(cost[5, 5]) and np.isinf(cost[6, 2])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("num_steps,min_len", [(2, 1), (3, 1), (3, 2), (4, 2)])
@pytest.mark.parametrize("weighting", ["segment", "frame"])
@pytest.mark.parametrize("trend", [0.0, 0.75, 1.0])
def test_dp_matches_brute_force(seed, num_steps, min_len, weighting, trend):
    # the DP's prefix-sum costs against the objective computed segment by segment (np.polyfit)
    x = np.random.default_rng(seed).normal(size=(11, 3))
    value, _ = brute_force(x, num_steps, min_len, weighting, trend)
    starts = segment_dp(x, num_steps, min_len, weighting, trend)
    assert len(starts) == num_steps and starts[0] == 0
    assert average_std(x, starts, weighting, trend) == pytest.approx(value, abs=1e-12)


def test_trend_costs_are_residual_stds_about_the_least_squares_line():
    x = np.random.default_rng(2).normal(size=(12, 4)) + np.arange(12)[:, None] * [0.5, -1.0, 0.0, 2.0]
    t = np.arange(3, 10, dtype=float)
    design = np.stack([np.ones_like(t), t], axis=1)
    coef, *_ = np.linalg.lstsq(design, x[3:10], rcond=None)
    resid = (x[3:10] - design @ coef).std(axis=0).mean()
    const = x[3:10].std(axis=0).mean()
    assert segment_costs(x, weighting="segment", trend=1.0)[3, 10] == pytest.approx(resid)
    assert segment_costs(x, weighting="segment", trend=0.75)[3, 10] == pytest.approx(
        0.25 * const + 0.75 * resid
    )
    assert segment_costs(x, weighting="frame", trend=1.0)[3, 10] == pytest.approx(7 * resid)
    # two frames lie on a line: no residual
    assert segment_costs(x, weighting="segment", trend=1.0)[4, 6] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="trend"):
        segment_costs(x, trend=1.5)


@pytest.mark.parametrize("seed", range(5))
def test_trend_keeps_a_long_steady_ramp_whole_where_the_constant_model_cuts_it(seed):
    # a 30-frame ramp, a 6-frame hold, a 20-frame ramp the other way; each step starts with a jump
    rng = np.random.default_rng(seed)
    d1, d2 = rng.normal(size=6), rng.normal(size=6)
    ramp1 = np.arange(30)[:, None] * d1 * 0.2
    hold = np.repeat((ramp1[-1] + rng.normal(size=6))[None], 6, axis=0)
    ramp2 = hold[-1] + rng.normal(size=6) + np.arange(20)[:, None] * d2 * 0.2
    x = np.concatenate([ramp1, hold, ramp2]) + rng.normal(scale=0.05, size=(56, 6))
    assert segment_dp(x, 3, trend=1.0) == [0, 30, 36]
    constant = segment_dp(x, 3, trend=0.0)
    assert constant[1] < 25  # the piecewise-constant model splits the first ramp
    assert jaccard_overlap(constant, [0, 30, 36], 56) < 0.7


def test_frame_weighting_scales_costs_by_length():
    x = np.random.default_rng(0).normal(size=(9, 4))
    assert segment_costs(x, weighting="frame")[2, 7] == pytest.approx(
        5 * segment_costs(x, weighting="segment")[2, 7]
    )


def test_dp_recovers_change_points_of_piecewise_constant_features():
    rng = np.random.default_rng(1)
    true = [0, 17, 29, 52]
    levels = rng.normal(scale=3.0, size=(4, 6))
    x = np.concatenate([np.repeat(levels[i][None], n, 0) for i, n in enumerate(np.diff([*true, 70]))])
    x += rng.normal(scale=0.3, size=x.shape)
    assert segment_dp(x, 4) == true
    assert jaccard_overlap(segment_dp(x, 4), true, 70) == 1.0


def test_dp_rejects_impossible_splits():
    with pytest.raises(ValueError, match="cannot split"):
        segment_dp(np.zeros((5, 2)), 3, min_len=2)


def test_jaccard_overlap_hand_computed():
    # true steps [0,4) [4,10); predicted [0,6) [6,10): IoU 4/6 and 4/6
    assert jaccard_overlap([0, 6], [0, 4], 10) == pytest.approx(4 / 6)
    # disjoint spans: union is the sum of lengths; a missing predicted step scores 0
    assert jaccard_overlap([0, 9], [0, 1, 5], 10) == pytest.approx((1 / 9 + 0 + 0) / 3)
    assert jaccard_overlap([0, 3, 7], [0, 3, 7], 10) == 1.0


def test_step_ious_hand_computed():
    # true [0,4) [4,7) [7,10); predicted [0,2) [2,8) [8,10)
    # step 0: ∩ 2, ∪ 4 → 1/2; step 1: ∩ [4,7) = 3, ∪ [2,8) = 6 → 1/2; step 2: ∩ [8,10) = 2, ∪ 3 → 2/3
    ious = step_ious([0, 2, 8], [0, 4, 7], 10)
    assert ious == pytest.approx([1 / 2, 1 / 2, 2 / 3])
    assert jaccard_overlap([0, 2, 8], [0, 4, 7], 10) == pytest.approx(np.mean(ious))
    assert step_ious([0, 5], [0, 3, 6], 10) == pytest.approx([3 / 5, 1 / 7, 0.0])  # a missing step is 0


def test_boundary_shifts_signed_and_missing():
    # boundaries found 2 frames early, then 1 late; a missing predicted step gives NaN
    np.testing.assert_array_equal(boundary_shifts([0, 2, 8], [0, 4, 7]), [-2.0, 1.0])
    np.testing.assert_array_equal(boundary_shifts([0, 5], [0, 3, 6]), [2.0, np.nan])
    assert boundary_shifts([0], [0]).shape == (0,)


def test_stage_starts_and_labels_round_trip():
    stage = np.array([0, 0, 1, 1, 1, 2, 3, 3])
    starts = stage_starts(stage)
    assert starts == [0, 2, 5, 6]
    np.testing.assert_array_equal(starts_to_labels(starts, len(stage)), stage)
    assert stage_starts(np.array([0, 1, 2, 1, 2, 3])) == [0, 1, 2, 5]  # a step back is not a new step
