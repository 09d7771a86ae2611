"""The raw-vs-stored skew check: a score blind to pixels has no gap; one that reads them moves by at most
what the codec changed."""

import numpy as np

from robo_reward.rewards.codec_check import codec_gap


def test_gap_is_zero_for_a_pixel_blind_score_and_bounded_for_a_pixel_score(stepped):
    eps = [stepped(seed=s) for s in range(2)] + [stepped(seed=2, stall_after=1, outcome="failure")]
    blind = codec_gap(lambda ep: np.linspace(0, 1, len(ep)), eps)
    assert blind["phi_gap_mean"] == 0.0 and blind["final_gap_mean"] == 0.0
    assert blind["auroc_raw"] == blind["auroc_stored"] == 0.5  # every final Φ is 1: all tied
    assert blind["pixel_change"] > 0  # h264 is lossy
    mean_pixel = lambda ep: np.mean([ep.views[v].mean(axis=(1, 2, 3)) for v in ep.views], axis=0) / 255  # noqa: E731
    seen = codec_gap(mean_pixel, eps)
    # |mean(a) − mean(b)| ≤ mean|a − b| per frame and view: the gap is at most the pixel change / 255 (up
    # to how the episodes' lengths weigh the two means differently)
    assert 0 < seen["phi_gap_mean"] <= 1.5 * seen["pixel_change"] / 255
    assert seen["episodes"] == 3 and seen["phi_gap_p90"] >= seen["phi_gap_mean"] / 10
