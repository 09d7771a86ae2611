import numpy as np
import pytest

from robo_reward.real.bundles import StampAssembler, state_vector
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


def test_state_vector_reorders():
    v = state_vector(["b", "a", "g"], [2.0, 1.0, 3.0], ("a", "b", "g"))
    assert v.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(KeyError, match="lacks"):
        state_vector(["a"], [1.0], ("a", "b"))


def _ok(img):
    return lambda: img


def test_sync_core_pairs_state_and_counts_faults():
    from robo_reward.real.images import MalformedImage

    core = CameraSyncCore(
        ("front", "side"), slop=0.02, joint_order=("j1", "g"), use_ee=True, state_max_age=0.05
    )
    img = np.zeros((4, 4, 3), np.uint8)
    core.push_joint_state(1.0, ["g", "j1"], [0.03, 0.5])
    core.push_ee_position(1.0, (0.1, 0.2, 0.3))
    assert core.push_image("front", 1.000, _ok(img)) == []
    out = core.push_image("side", 1.010, _ok(img))
    assert len(out) == 1
    o = out[0]
    assert o.state_names == ("j1", "g", "ee_x", "ee_y", "ee_z")
    np.testing.assert_allclose(o.state, [0.5, 0.03, 0.1, 0.2, 0.3], rtol=1e-6)
    assert o.stamp == pytest.approx(1.005) and o.skew == pytest.approx(0.01)

    def bad():
        raise MalformedImage("image is 3x3")

    assert core.push_image("front", 1.1, bad) == []
    assert core.malformed["front"] == 1 and "3x3" in core.last_error
    core.push_image("front", 2.0, _ok(img))
    assert core.push_image("side", 2.0, _ok(img)) == []  # no joint state near t = 2 s
    c = core.counters()
    assert c["no_state"] == 1 and c["bundles"] == 2 and c["malformed"] == {"front": 1}
