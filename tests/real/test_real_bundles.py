import numpy as np
import pytest

from robo_reward.real.bundles import StampAssembler
from robo_reward.real.images import MalformedImage
from robo_reward.real.inputs import BadInput
from robo_reward.real.sync_core import CameraSyncCore


def test_assembler_emits_complete_stamps_only():
    a = StampAssembler(("front", "wrist"), max_pending=2)
    img = np.zeros((2, 2, 3), np.uint8)
    assert a.add("front", 10, img) is None
    assert a.add("state", 10, (("j",), [0.5])) is None
    obs = a.add("wrist", 10, img)
    assert obs.stamp_ns == 10 and obs.state.tolist() == [0.5] and obs.state_names == ("j",)
    assert a.add("front", 5, img) is None and a.stale == 1  # older than the last emitted
    a.add("front", 20, img)  # stamp 20 loses its wrist image ...
    a.add("front", 30, img)
    a.add("state", 30, (("j",), [0.1]))
    assert a.add("wrist", 30, img).stamp_ns == 30
    assert a.incomplete == 1  # ... and is dropped when 30 completes
    with pytest.raises(ValueError, match="unknown part"):
        a.add("side", 40, img)


def test_assembler_rewind_after_a_clock_step():
    a = StampAssembler(("front",), max_pending=4)
    img = np.zeros((2, 2, 3), np.uint8)
    a.add("state", 100, (("j",), [0.5]))
    assert a.add("front", 100, img).stamp_ns == 100
    a.add("front", 120, img)  # pending
    a.rewind(latest_ns=50)  # the clock is now at 50 (lead included)
    assert a.pending == {} and a.last_stamp_ns == -1
    a.add("state", 40, (("j",), [0.1]))
    assert a.add("front", 40, img).stamp_ns == 40 and a.stale == 0


def _ok(img):
    return lambda: img


def test_sync_core_pairs_state_and_counts_faults():
    core = CameraSyncCore(
        ("front", "side"), slop=0.02, joint_order=("j1", "g"), use_ee=True, state_max_age=0.05
    )
    img = np.zeros((4, 4, 3), np.uint8)
    core.push_joint_state(1.0, ["g", "j1"], [0.03, 0.5], now=1.0)
    core.push_ee_position(1.0, (0.1, 0.2, 0.3), now=1.0)
    assert core.push_image("front", 1.000, _ok(img), now=1.0) == []
    out = core.push_image("side", 1.010, _ok(img), now=1.01)
    assert len(out) == 1
    o = out[0]
    assert o.state_names == ("j1", "g", "ee_x", "ee_y", "ee_z")
    np.testing.assert_allclose(o.state, [0.5, 0.03, 0.1, 0.2, 0.3], rtol=1e-6)
    assert o.stamp == pytest.approx(1.005) and o.skew == pytest.approx(0.01)

    def bad():
        raise MalformedImage("image is 3x3")

    with pytest.raises(MalformedImage):
        core.push_image("front", 1.1, bad, now=1.1)
    assert core.malformed["front"] == 1 and "3x3" in core.last_error
    core.push_image("front", 2.0, _ok(img), now=2.0)
    assert core.push_image("side", 2.0, _ok(img), now=2.0) == []  # no joint state near t = 2 s
    c = core.counters()
    assert c["no_state"] == 1 and c["bundles"] == 2 and c["malformed"] == {"front": 1}


@pytest.mark.parametrize(
    "names, positions, kind",
    [
        (["j1", "g"], [], "no_positions"),  # an effort-only driver
        (["j1", "g"], [0.1], "wrong_size"),
        (["j1", "g"], [0.1, np.nan], "non_finite"),
        (["j1", "g"], [0.1, 1e308], "non_finite"),  # finite, but inf in the float32 state
        (["j1"], [0.1], "missing_joints"),
        (["j1", "j1", "g"], [0.1, 0.2, 0.3], "duplicate_names"),
    ],
)
def test_unusable_joint_states_are_refused(names, positions, kind):
    core = CameraSyncCore(("front",), slop=0.02, joint_order=("j1", "g"), use_ee=False)
    with pytest.raises(BadInput) as e:
        core.push_joint_state(1.0, names, positions, now=1.0)
    assert e.value.kind == kind
    assert core.push_image("front", 1.0, _ok(np.zeros((2, 2, 3), np.uint8)), now=1.0) == []
    assert core.counters()["no_state"] == 1  # nothing was kept from it


def test_sync_core_future_late_and_clock_step():
    core = CameraSyncCore(("front",), slop=0.02, joint_order=("j",), use_ee=True)
    img = _ok(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(BadInput, match="ahead of this node's clock"):
        core.push_image("front", 3601.0, img, now=1.0)  # an hour ahead would stall the view
    with pytest.raises(BadInput, match="NaN"):
        core.push_ee_position(1.0, (0.1, np.nan, 0.3), now=1.0)
    core.push_joint_state(1.0, ["j"], [0.2], now=1.0)
    core.push_ee_position(1.0, (0.1, 0.2, 0.3), now=1.0)
    assert len(core.push_image("front", 1.0, img, now=1.0)) == 1
    with pytest.raises(BadInput) as e:
        core.push_image("front", 0.9, img, now=1.05)
    assert e.value.kind == "backwards_stamp"
    # the clock steps back 0.9 s: frames stamped in the new time are used again
    core.push_joint_state(0.1, ["j"], [0.2], now=0.1)
    core.push_ee_position(0.1, (0.1, 0.2, 0.3), now=0.1)
    assert len(core.push_image("front", 0.1, img, now=0.1)) == 1
