import numpy as np
import pytest

from robo_reward.real.images import MalformedImage
from robo_reward.real.inputs import BadInput, InputGuard, check_stamp, finite_vector, named_positions


def test_check_stamp_refuses_the_future_only():
    assert check_stamp(10.15, now=10.0, max_lead=0.2) == 10.15  # within the lead
    assert check_stamp(0.0, now=10.0) == 0.0  # old is the watchdog's business, not a format error
    with pytest.raises(BadInput, match="3600.000 s ahead") as e:
        check_stamp(3610.0, now=10.0)
    assert e.value.kind == "future_stamp"
    with pytest.raises(BadInput) as e:
        check_stamp(float("nan"), now=10.0)
    assert e.value.kind == "bad_stamp"


def test_finite_vector():
    assert finite_vector([1, 2.5], "x", size=2).tolist() == [1.0, 2.5]
    for values, size, kind in (
        ([1.0, np.inf], 2, "non_finite"),
        ([1.0], 2, "wrong_size"),
        (["a"], None, "not_numeric"),
    ):
        with pytest.raises(BadInput) as e:
            finite_vector(values, "x", size)
        assert e.value.kind == kind


def test_named_positions_reorders_and_names_the_problem():
    assert named_positions(["b", "a", "g"], [2.0, 1.0, 3.0], ("a", "b", "g")).tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(BadInput, match="no positions") as e:
        named_positions(["a", "b"], [], ("a", "b"))  # effort-only JointState
    assert e.value.kind == "no_positions"
    with pytest.raises(BadInput, match=r"lacks \['b'\]"):
        named_positions(["a"], [1.0], ("a", "b"))


def test_guard_counts_per_topic_and_throttles_warnings_per_topic():
    guard = InputGuard(warn_period=2.0)
    first = guard.reject("/cam", MalformedImage("unknown encoding 'yuv422'"), now=100.0)
    assert first == "dropped a message on /cam: unknown encoding 'yuv422'"
    assert guard.reject("/cam", MalformedImage("empty image 0x0"), now=100.5) is None  # throttled
    assert guard.reject("/joints", BadInput("no positions", "no_positions"), now=100.6) is not None
    later = guard.reject("/cam", BadInput("stamp 5 s ahead", "future_stamp"), now=102.1)
    assert later == "dropped a message on /cam: stamp 5 s ahead (1 more dropped since the last warning)"
    guard.reject("/joints", IndexError("index 3 is out of bounds"), now=103.0)
    assert guard.as_dict() == {
        "/cam": {"malformed_image": 2, "future_stamp": 1},
        "/joints": {"no_positions": 1, "unexpected": 1},
    }
    assert guard.total == 5 and guard.unexpected == 1
