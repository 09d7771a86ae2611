"""ApproxTimeSync on synthetic streams, checked against an exhaustive search."""

from __future__ import annotations

import numpy as np
import pytest

from robo_reward.bench.calibration import arrival_order, max_disjoint_bundles
from robo_reward.bench.calibration import synthetic_streams as make_streams
from robo_reward.cameras.sync import ApproxTimeSync, Frame, LateFrameError, SyncPolicy

IMG = np.zeros((2, 2, 3), np.uint8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_three_streams_30_25_15_hz(seed):
    rates = {"front": 30.0, "side": 25.0, "wrist": 15.0}
    slop = 0.012
    streams = make_streams(rates, seconds=3.0, jitter=0.005, drop=0.1, seed=seed)
    sync = ApproxTimeSync(list(rates), slop=slop, queue_size=64)
    bundles = []
    for f in arrival_order(streams, {"front": 0.0, "side": 0.015, "wrist": 0.04}, seed):
        bundles += sync.push(f)

    assert bundles, "no bundle at all"
    assert all(b.skew <= slop + 1e-9 for b in bundles)
    used = [id(f) for b in bundles for f in b.frames.values()]
    assert len(used) == len(set(used)), "a frame was used twice"
    for v in rates:  # bundles are in time order per view
        stamps = [b.frames[v].stamp for b in bundles]
        assert stamps == sorted(stamps)
    assert len(bundles) == max_disjoint_bundles(streams, slop)

    c = sync.counters
    n_in = sum(len(s) for s in streams.values())
    assert sum(c.received.values()) == n_in
    assert c.bundles == len(bundles)
    assert sum(c.used.values()) == 3 * len(bundles)
    pending = sum(sync.pending().values())
    assert sum(c.used.values()) + sum(c.unmatched.values()) + pending == n_in
    stats = c.as_dict()
    assert stats["skew_max_s"] <= slop + 1e-9 and 0 <= stats["skew_mean_s"] <= stats["skew_max_s"]


def test_hand_computed_bundles():
    # front 10 Hz, side 5 Hz, offsets of a few ms: bundles at 0.0, 0.2, 0.4 only.
    front = [Frame("front", IMG, t, i) for i, t in enumerate([0.0, 0.1, 0.2, 0.3, 0.4])]
    side = [Frame("side", IMG, t, i) for i, t in enumerate([0.003, 0.204, 0.395])]
    sync = ApproxTimeSync(["front", "side"], slop=0.01)
    bundles = []
    for f in sorted(front + side, key=lambda f: f.stamp):
        bundles += sync.push(f)
    assert [b.seqs for b in bundles] == [
        {"front": 0, "side": 0},
        {"front": 2, "side": 1},
        {"front": 4, "side": 2},
    ]
    assert [round(b.skew, 6) for b in bundles] == [0.003, 0.004, 0.005]
    assert sync.counters.unmatched == {"front": 2, "side": 0}


def test_duplicates_late_and_overflow_are_counted():
    sync = ApproxTimeSync(["a", "b"], slop=0.01, queue_size=3)
    assert sync.push(Frame("a", IMG, 1.0, 0)) == []
    assert sync.push(Frame("a", IMG, 1.0, 0)) == []  # exact duplicate
    assert sync.push(Frame("a", IMG, 1.05, 0)) == []  # same seq again
    assert sync.push(Frame("a", IMG, 0.9, 5)) == []  # older than what we have: late
    for i, t in enumerate([1.1, 1.2, 1.3]):  # queue of 3: 1.0 falls out
        sync.push(Frame("a", IMG, t, i + 1))
    (bundle,) = sync.push(Frame("b", IMG, 1.301, 0))
    assert bundle.seqs == {"a": 3, "b": 0}
    c = sync.counters
    assert (c.duplicate["a"], c.late["a"], c.overflow["a"], c.unmatched["a"]) == (2, 1, 1, 2)
    assert c.dropped == 6
    with pytest.raises(ValueError, match="unknown view"):
        sync.push(Frame("c", IMG, 2.0, 0))
    strict = ApproxTimeSync(["a"], slop=0.0, policy=SyncPolicy(on_late="raise"))
    strict.push(Frame("a", IMG, 1.0, 0))
    with pytest.raises(LateFrameError, match="older than"):
        strict.push(Frame("a", IMG, 0.5, 1))


def test_rewind_forgets_frames_from_the_clocks_future():
    sync = ApproxTimeSync(["a", "b"], slop=0.01)
    sync.push(Frame("a", IMG, 5.0, 0))
    sync.push(Frame("a", IMG, 100.0, 1))  # a stamp far ahead: every later frame of `a` is late
    assert sync.push(Frame("a", IMG, 6.0, 2)) == [] and sync.counters.late["a"] == 1
    assert sync.rewind(latest=10.0) == 1 and sync.pending() == {"a": 1, "b": 0}
    assert sync.push(Frame("a", IMG, 6.0, 3)) == []  # queued again: 5.0 is the newest kept
    (bundle,) = sync.push(Frame("b", IMG, 6.001, 0))
    assert bundle.seqs == {"a": 3, "b": 0} and sync.counters.late["a"] == 1


def test_reuse_holds_the_slow_view():
    streams = make_streams({"front": 30.0, "side": 25.0, "wrist": 15.0}, 2.0, 0.003, 0.0, seed=3)
    slop = 0.04
    sync = ApproxTimeSync(["front", "side", "wrist"], slop=slop, policy=SyncPolicy(allow_reuse=True))
    bundles = []
    for f in arrival_order(streams, {"front": 0.0, "side": 0.0, "wrist": 0.0}, 3):
        bundles += sync.push(f)
    # expected: every front frame whose nearest side/wrist frames lie within slop, except the last
    # ones that still wait for a later frame of the other views.
    expected = 0
    last = {v: s[-1].stamp for v, s in streams.items()}
    for r in streams["front"]:
        if any(last[v] < r.stamp for v in ("side", "wrist")):
            continue
        near = [min(streams[v], key=lambda f, t=r.stamp: abs(f.stamp - t)).stamp for v in ("side", "wrist")]
        expected += max([r.stamp, *near]) - min([r.stamp, *near]) <= slop + 1e-9
    assert len(bundles) == expected > 40
    assert len({b.frames["front"].seq for b in bundles}) == len(bundles)  # the pacing view never repeats
    assert len({b.frames["wrist"].seq for b in bundles}) < len(bundles)  # the 15 Hz view is reused
    assert all(b.skew <= slop + 1e-9 for b in bundles)
    assert sync.counters.used["wrist"] == len({b.frames["wrist"].seq for b in bundles})


def test_bad_arguments():
    with pytest.raises(ValueError, match="unique"):
        ApproxTimeSync(["a", "a"], 0.01)
    with pytest.raises(ValueError, match="slop"):
        ApproxTimeSync(["a"], -1)
    with pytest.raises(ValueError, match="reference"):
        ApproxTimeSync(["a"], 0.01, policy=SyncPolicy(allow_reuse=True, reference="b"))


def test_exhaustive_bundle_count_by_hand():
    def stream(view, stamps):
        return [Frame(view, IMG, s, i) for i, s in enumerate(stamps)]

    # a: 0, 1, 2; b: 0.005, 2.0; c: 0.0, 1.0, 2.004 → bundles at t≈0 and t≈2 (b has nothing near 1)
    streams = {
        "a": stream("a", [0.0, 1.0, 2.0]),
        "b": stream("b", [0.005, 2.0]),
        "c": stream("c", [0.0, 1.0, 2.004]),
    }
    assert max_disjoint_bundles(streams, slop=0.01) == 2
    assert max_disjoint_bundles(streams, slop=0.004) == 1  # only t≈2 fits (skew 0.004); t≈0 has 0.005
    with pytest.raises(ValueError, match="3 views"):
        max_disjoint_bundles({"a": streams["a"]}, slop=0.01)
