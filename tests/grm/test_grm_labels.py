"""Progress labels, hop targets, two-hot bins, fusion and pair sampling against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from robo_reward.data import labels as L
from robo_reward.data.sampling import PairSampler
from robo_reward.models.grm import inference as I


def test_hop_labels_forward_and_backward():
    np.testing.assert_allclose(L.hop_labels(0.2, 0.6), 0.5)  # 0.4 of the 0.8 left
    np.testing.assert_allclose(L.hop_labels(0.5, 0.25), -0.5)  # lost half of the 0.5 made
    np.testing.assert_allclose(L.hop_labels([0.0, 1.0, 0.3], [1.0, 0.0, 0.3]), [1.0, -1.0, 0.0])
    np.testing.assert_allclose(L.hop_labels(1.0, 1.0), 0.0)


def test_apply_hop_inverts_hop_labels():
    np.testing.assert_allclose(L.apply_hop(0.2, 0.5), 0.6)
    np.testing.assert_allclose(L.apply_hop(0.5, -0.5), 0.25)
    rng = np.random.default_rng(0)
    p, q = rng.random(100), rng.random(100)
    np.testing.assert_allclose(L.apply_hop(p, L.hop_labels(p, q)), q, atol=1e-9)


def test_two_hot_and_expectation():
    np.testing.assert_allclose(L.two_hot([0.25], 5), [[0, 0, 0.5, 0.5, 0]])
    np.testing.assert_allclose(L.two_hot([1.0, -1.0], 5), [[0, 0, 0, 0, 1], [1, 0, 0, 0, 0]])
    values = np.linspace(-1, 1, 37)
    np.testing.assert_allclose(L.expected_hop(L.two_hot(values, 41)), values, atol=1e-12)
    assert L.bin_centers(41)[20] == 0.0


def test_segment_progress_hand_values():
    np.testing.assert_allclose(L.segment_progress(5, [2]), [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(L.segment_progress(3, []), [0, 0.5, 1.0])
    np.testing.assert_allclose(L.segment_progress(5, [0, 2, 2, 9]), [0, 0.25, 0.5, 0.75, 1.0])  # cleaned


def test_stage_progress_completed_and_incomplete_runs():
    np.testing.assert_allclose(L.stage_progress([0, 0, 1, 1], 2, completed=True), [0, 0.25, 0.5, 1.0])
    # stage 1 reached, then lost (a drop): runs that never complete rise only half a stage
    np.testing.assert_allclose(
        L.stage_progress([0, 0, 1, 1, 0, 0], 2, completed=False), [0, 0.25, 0.5, 0.625, 0, 0.125]
    )
    np.testing.assert_allclose(
        L.stage_progress([0, 0, 2], 2, completed=True), [0, 0.5, 1.0]
    )  # terminal stage


def test_stage_progress_success_frame_is_one_and_stalls_stay_below_the_cap():
    # a one-frame final run (success right after entering the last stage) still ends on 1.0
    np.testing.assert_allclose(
        L.stage_progress([0, 0, 1, 1, 2], 3, completed=True), [0, 1 / 6, 1 / 3, 1 / 2, 1.0]
    )
    # stuck in the last of 4 stages (put down off the goal): flat at 3/4, never (3 + ½)/4 = 0.875
    np.testing.assert_allclose(L.stage_progress([2, 3, 3, 3], 4, completed=False), [0.5, 0.75, 0.75, 0.75])
    # the cap only bites above it: stage 1 of 2 still rises half a stage
    np.testing.assert_allclose(L.stage_progress([1, 1], 2, completed=False), [0.5, 0.625])
    np.testing.assert_allclose(
        L.stage_progress([3, 3], 4, completed=False, incomplete_cap=1.0), [0.75, 0.8125]
    )


def test_incomplete_runs_rise_with_motion_not_time():
    # moves 0.3 then 0.1 into frames 1 and 2, then stalls: the half stage is made by frame 2
    motion = np.array([0.0, 0.3, 0.1, 0.0, 0.0])
    np.testing.assert_allclose(
        L.stage_progress([0] * 5, 1, completed=False, motion=motion), [0, 0.375, 0.5, 0.5, 0.5]
    )
    # no motion at all: back to the time ramp; completed runs ignore motion
    np.testing.assert_allclose(
        L.stage_progress([0] * 4, 1, completed=False, motion=np.zeros(4)), [0, 0.125, 0.25, 0.375]
    )
    np.testing.assert_allclose(
        L.stage_progress([0, 0, 1], 2, completed=True, motion=np.array([0, 1.0, 0])), [0, 0.25, 1.0]
    )
    np.testing.assert_allclose(L.state_motion([[0, 0], [3, 4], [3, 4]]), [0, 5, 0])
    with pytest.raises(ValueError, match="state must be"):
        L.state_motion(np.zeros(3))


def test_progress_labels_sources(synthetic_episodes):
    success = synthetic_episodes[0]
    phi = L.progress_labels(success, num_stages=2)
    assert phi[0] == 0.0 and phi[-1] == 1.0 and np.all(np.diff(phi) >= 0)
    no_stage = type(success)(**{**success.__dict__, "stage": None})
    np.testing.assert_allclose(L.progress_labels(no_stage), np.linspace(0, 1, len(success)))  # uniform time

    class Halves:
        def segment(self, episode):
            return [0, 4]

    seg = L.progress_labels(no_stage, segmenter=Halves())
    assert seg[4] == pytest.approx(0.5) and seg[-1] == 1.0
    flicker = type(success)(**{**success.__dict__, "stage": success.stage.copy()})
    flicker.stage[-2] = 0  # the stage detector drops for one frame just before success
    np.testing.assert_allclose(L.progress_labels(flicker, num_stages=2), phi)
    failure = next(ep for ep in synthetic_episodes if ep.outcome == "failure")
    with pytest.raises(ValueError, match="no progress label"):
        L.progress_labels(type(failure)(**{**failure.__dict__, "stage": None}))


def test_label_frames_evenly_inside_segments():
    np.testing.assert_array_equal(L.label_frames(10, [4], 2), [0, 2, 4, 7, 9])


def test_pair_sampler_balance_and_zero_hops():
    labels = [np.linspace(0, 1, 21), np.r_[np.linspace(0, 0.5, 11), np.full(10, 0.5)]]
    sampler = PairSampler(labels, zero_fraction=0.05)
    batch = sampler.sample(20000, np.random.default_rng(0))
    expected = L.hop_labels(
        np.array([labels[e][p] for e, p in zip(batch.episode, batch.before, strict=True)]),
        np.array([labels[e][q] for e, q in zip(batch.episode, batch.after, strict=True)]),
    )
    np.testing.assert_allclose(batch.hop, expected, atol=1e-6)
    assert np.mean(batch.hop == 0) == pytest.approx(0.05, abs=0.01)
    moving = batch.hop[batch.hop != 0]
    # balanced over hop bins: forward and backward pairs about equally, large hops not rare
    assert np.mean(moving > 0) == pytest.approx(0.5, abs=0.1)
    assert np.mean(np.abs(moving) > 0.5) > 0.15


def test_incremental_and_anchored_fusion_hand_values():
    np.testing.assert_allclose(I.incremental_progress([0.5, -0.5, 1.0]), [0, 0.5, 0.25, 1.0])
    np.testing.assert_allclose(I.forward_anchored([-0.2, 0.3, 1.2]), [0, 0.3, 1.0])
    np.testing.assert_allclose(I.backward_anchored([-1.0, -0.25, 0.0]), [0, 0.75, 1.0])
    per = {"a": np.array([0.2]), "b": np.array([0.4]), "c": np.array([0.9])}
    np.testing.assert_allclose(I.fuse_mean(per), [0.5])
    named = {"incremental": np.array([0.2]), "forward": np.array([0.4]), "backward": np.array([0.9])}
    fused = I.fuse(named, "anchored")
    np.testing.assert_allclose(fused["anchored"], [0.65])  # (0.4 + 0.9) / 2, incremental left out
    np.testing.assert_allclose(fused["mean"], [0.5])
    np.testing.assert_allclose(fused["fused"], [0.65])
    with pytest.raises(ValueError, match="fusion must be one of"):
        I.fuse(named, "max")


def test_consistency_fusion_hand_value():
    per = {"a": np.array([0.5]), "b": np.array([0.5]), "c": np.array([0.9])}
    # gaps to the others: a .2, b .2, c .4 -> weights 1, 1, exp(-2) at tau 0.1
    w = np.exp(-2.0)
    np.testing.assert_allclose(I.fuse_consistency(per, 0.1), [(0.5 + 0.5 + 0.9 * w) / (2 + w)])
    same = {"a": np.array([0.3, 0.7]), "b": np.array([0.3, 0.7])}
    np.testing.assert_allclose(I.fuse_consistency(same), [0.3, 0.7])


def test_pair_sampler_balances_groups():
    labels = [np.linspace(0, 1, 40), np.linspace(0, 1, 4)]  # a long and a very short episode
    sampler = PairSampler(labels, groups=[0, 1], zero_fraction=0.0)
    batch = sampler.sample(4000, np.random.default_rng(1))
    assert np.mean(batch.episode == 1) == pytest.approx(0.5, abs=0.05)


def test_progress_label_source_reads_the_privileged_column(synthetic_episodes):
    from robo_reward.train.grm.batches import TrainData

    data = TrainData.build(synthetic_episodes, frames_per_segment=4, label_source="progress", label_stride=3)
    for ep, phi, frames in zip(data.episodes, data.labels, data.frames, strict=True):
        np.testing.assert_allclose(phi, ep.progress)  # every frame, the simulator's own value
        assert frames.tolist() == sorted({*range(0, len(ep), 3), len(ep) - 1})
    failure = next(i for i, ep in enumerate(data.episodes) if ep.outcome == "failure")
    assert data.labels[failure].max() == pytest.approx(0.2)  # how far it got, where it got there
    no_progress = type(synthetic_episodes[0])(**{**synthetic_episodes[0].__dict__, "progress": None})
    with pytest.raises(ValueError, match="needs a progress column"):
        TrainData.build([no_progress], frames_per_segment=4, label_source="progress")
