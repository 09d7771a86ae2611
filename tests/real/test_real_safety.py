import numpy as np
import pytest

from robo_reward.real.rig import load_rig
from robo_reward.real.safety import EStop, SafetyFilter, SafetyLimits, Watchdog


@pytest.fixture
def limits():
    return SafetyLimits(
        joint_lower=[-1.0, -2.0], joint_upper=[1.0, 2.0], max_joint_velocity=[1.0, 2.0],
        gripper_min=0.0, gripper_max=0.04, ee_box_min=[0.0, -0.5, 0.0], ee_box_max=[1.0, 0.5, 0.5],
        max_linear_speed=0.5, max_angular_speed=1.0, watchdog_timeout=0.2,
    )  # fmt: skip


def test_joint_limits_then_velocity(limits):
    f = SafetyFilter(limits)
    out, rep = f.joints([5.0, 0.1], reference=[0.95, 0.0], dt=0.1)
    np.testing.assert_allclose(out, [1.0, 0.1])  # clipped to the upper limit; step 0.05 ≤ 0.1
    assert rep.reasons == ("joint_limit",)
    out, rep = f.joints([0.0, 1.5], reference=[0.95, 0.0], dt=0.1)
    np.testing.assert_allclose(out, [0.85, 0.2])  # at most v_max·dt = (0.1, 0.2) per step
    assert rep.reasons == ("joint_velocity",)
    out, rep = f.joints([0.9, 0.1], reference=[0.95, 0.0], dt=0.1)
    assert not rep.clamped
    assert f.counts == {"joint_limit": 1, "joint_velocity": 1}


def test_non_finite_holds_reference(limits):
    out, rep = SafetyFilter(limits).joints([np.nan, 0.0], reference=[0.5, 0.5], dt=0.1)
    np.testing.assert_allclose(out, [0.5, 0.5])
    assert rep.reasons == ("non_finite",)
    with pytest.raises(ValueError, match="the arm has"):
        SafetyFilter(limits).joints([0.0], reference=[0.0, 0.0], dt=0.1)


def test_gripper(limits):
    f = SafetyFilter(limits)
    assert f.gripper(0.1) == (0.04, f.gripper(0.1)[1]) and f.gripper(0.1)[1].reasons == ("gripper_limit",)
    assert not f.gripper(0.02)[1].clamped


def test_twist_speed_scaled_keeping_direction(limits):
    lin, ang, rep = SafetyFilter(limits).twist([3.0, 4.0, 0.0], [0.0, 0.0, 2.0], None, 0.1)
    np.testing.assert_allclose(lin, [0.3, 0.4, 0.0])
    np.testing.assert_allclose(ang, [0.0, 0.0, 1.0])
    assert rep.reasons == ("linear_speed", "angular_speed")


def test_twist_box(limits):
    f = SafetyFilter(limits)
    # inside, heading out through z = 0.5: stops at the wall
    lin, _, rep = f.twist([0.0, 0.0, 0.4], [0, 0, 0], [0.5, 0.0, 0.48], 0.1)
    np.testing.assert_allclose(lin, [0.0, 0.0, 0.2])
    assert rep.reasons == ("ee_box",)
    # outside (z too high): further out is refused, back in is allowed
    lin, _, rep = f.twist([0.0, 0.0, 0.3], [0, 0, 0], [0.5, 0.0, 0.6], 0.1)
    np.testing.assert_allclose(lin, 0.0, atol=1e-12)
    assert rep.reasons == ("ee_box",)
    lin, _, rep = f.twist([0.0, 0.0, -0.3], [0, 0, 0], [0.5, 0.0, 0.6], 0.1)
    np.testing.assert_allclose(lin, [0.0, 0.0, -0.3])
    assert not rep.clamped


def test_non_finite_ee_position_gives_zero_twist(limits):
    """One NaN axis of the measured EE position: the box cannot be checked, so the arm stops (the
    clamp of the z axis at the wall used to turn the NaN x into a NaN velocity)."""
    lin, ang, rep = SafetyFilter(limits).twist([0.0, 0.0, 0.4], [0.0, 0.0, 0.5], [np.nan, 0.0, 0.48], 0.1)
    assert lin.tolist() == [0.0, 0.0, 0.0] and ang.tolist() == [0.0, 0.0, 0.0]
    assert rep.reasons == ("non_finite_ee_position",)


def test_watchdog():
    w = Watchdog(0.2)
    assert w.expired(now=10.0)  # nothing seen yet
    w.feed(10.0, now=10.0)
    assert not w.expired(10.15)
    assert w.expired(10.25) and w.trips == 1
    w.feed(9.0, now=10.25)  # an older stamp does not refresh it
    assert w.expired(10.3) and w.trips == 1
    w.feed(10.3, now=10.3)
    assert not w.expired(10.31)
    assert w.expired(10.6) and w.trips == 2
    with pytest.raises(ValueError):
        Watchdog(0.0)


def test_watchdog_future_stamp_counts_as_now():
    w = Watchdog(0.2)
    w.feed(10.0 + 3600.0, now=10.0)  # an hour ahead: clamped to the arrival time
    assert w.clamped == 1 and w.age(10.1) == pytest.approx(0.1)
    assert w.expired(10.25)  # no fresh data for 0.25 s > 0.2 s: it holds
    w.feed(10.3, now=10.3)  # fresh data: it recovers
    assert not w.expired(10.35)


def test_watchdog_clock_step_back_expires_until_fresh_data():
    w = Watchdog(0.2)
    w.feed(1000.0, now=1000.0)
    assert not w.expired(1000.1)
    assert w.age(500.0) == np.inf and w.expired(500.0)  # the clock went 500 s back
    assert w.clock_steps == 1
    w.feed(500.05, now=500.05)  # older than the newest stamp, but stamped in the new time
    assert not w.expired(500.1) and w.age(500.1) == pytest.approx(0.05)


def test_estop_latches():
    e = EStop()
    e.trigger("button")
    e.trigger("again")
    assert e.engaged and e.triggers == 1
    e.reset()
    assert not e.engaged


@pytest.mark.parametrize("rig", ["sim", "example_rig"])
def test_limits_from_rig(rig):
    r = load_rig(rig)
    lim = SafetyLimits.from_config(r.robot, r.safety)
    assert len(lim.joint_lower) == len(r.joint_names)
    assert np.all(lim.joint_lower < lim.joint_upper)
    assert np.all(lim.max_joint_velocity <= r.safety["max_joint_velocity"])
    assert lim.gripper_min < lim.gripper_max


def test_bad_limits():
    with pytest.raises(ValueError, match="lower <= upper"):
        SafetyLimits(joint_lower=[1.0], joint_upper=[0.0], max_joint_velocity=[1.0])
    with pytest.raises(ValueError, match="max_joint_velocity"):
        SafetyLimits(joint_lower=[0.0], joint_upper=[1.0], max_joint_velocity=[0.0])
