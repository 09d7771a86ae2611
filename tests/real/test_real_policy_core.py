import numpy as np
import pytest

from robo_reward.real.backends import ConstantBackend, HoldBackend, make_backend
from robo_reward.real.bundles import SyncedObservation
from robo_reward.real.inputs import BadInput
from robo_reward.real.policy_core import ArmSpec, ChunkBuffer, PolicyRunner
from robo_reward.real.rig import load_rig
from robo_reward.real.safety import SafetyFilter, SafetyLimits

ARM = ArmSpec(joint_names=("j1", "j2"), gripper_joint="g", position_scale=0.05, rotation_scale=0.3)
LIMITS = SafetyLimits(
    joint_lower=[-1.0, -1.0], joint_upper=[1.0, 1.0], max_joint_velocity=[10.0, 10.0],
    ee_box_min=[-1, -1, 0.0], ee_box_max=[1, 1, 1], max_linear_speed=10.0, max_angular_speed=10.0,
    watchdog_timeout=0.3,
)  # fmt: skip


def obs(t: float, joints=(0.1, 0.2), ee=(0.0, 0.0, 0.5)) -> SyncedObservation:
    state = np.array([*joints, 0.0, *ee], np.float32)
    names = ("j1", "j2", "g", "ee_x", "ee_y", "ee_z")
    return SyncedObservation(int(t * 1e9), {"front": np.zeros((4, 4, 3), np.uint8)}, state, names)


def runner(backend, space="joint", **kw) -> PolicyRunner:
    r = PolicyRunner(backend, ARM, SafetyFilter(LIMITS), space, control_period=0.1, task="t", **kw)
    r.activate()
    return r


def test_chunk_buffer_receding_horizon():
    b = ChunkBuffer()
    b.fill(np.arange(8)[:, None] * np.ones((1, 3)), n_steps=3, obs_stamp=1.0)
    assert len(b) == 3
    a, stamp, first = b.pop()
    assert a[0] == 0 and stamp == 1.0 and first
    assert not b.pop()[2]
    b.fill(np.full((8, 3), 9.0), n_steps=2, obs_stamp=2.0)  # a new chunk replaces the rest
    assert len(b) == 2 and b.pop()[0][0] == 9.0
    b.clear()
    assert b.pop() is None


def test_gripper_mapping_round_trip():
    arm = ArmSpec(("j",), gripper_open=0.04, gripper_closed=0.0)
    assert arm.gripper_command(-1.0) == pytest.approx(0.04)
    assert arm.gripper_command(1.0) == pytest.approx(0.0)
    assert arm.gripper_action(arm.gripper_command(0.3)) == pytest.approx(0.3)


def test_joint_runner_streams_chunk_then_holds():
    r = runner(ConstantBackend([0.5, -0.5, 1.0], action_dim=3, chunk_size=8), n_action_steps=2)
    assert r.tick(0.0) is None  # nothing observed: not even a hold is possible
    r.observe(obs(1.0), now=1.0)
    o, contract = r.take_observation()
    assert contract["task"] == "t" and contract["observation.state"].shape == (6,)
    assert r.take_observation() is None  # the same observation is used once
    r.set_chunk(o, ConstantBackend([0.5, -0.5, 1.0], 3, 8).infer(contract))
    c = r.tick(1.05)
    assert not c.hold and c.first_of_chunk and c.obs_stamp == pytest.approx(1.0)
    np.testing.assert_allclose(c.joints, [0.5, -0.5])
    assert c.gripper == pytest.approx(1.0)
    assert not r.tick(1.1).first_of_chunk
    held = r.tick(1.15)  # buffer empty: hold at the measured joints, gripper kept
    assert held.hold and held.reasons == ("no_action",)
    np.testing.assert_allclose(held.joints, [0.1, 0.2], atol=1e-6)
    assert held.gripper == pytest.approx(1.0)


def test_out_of_limit_command_is_clamped():
    r = runner(ConstantBackend([5.0, -5.0, 3.0], 3, 8))
    r.observe(obs(1.0), now=1.0)
    o, contract = r.take_observation()
    r.set_chunk(o, np.tile([5.0, -5.0, 3.0], (8, 1)))
    c = r.tick(1.0)
    # clipped to the limits (±1), then to v_max·dt = 1 rad from the measured (0.1, 0.2)
    np.testing.assert_allclose(c.joints, [1.0, -0.8])
    assert set(c.reasons) == {"joint_limit", "joint_velocity", "gripper_limit"}
    assert r.safety.counts["joint_limit"] == 1
    np.testing.assert_allclose(r.tick(1.05).joints, [1.0, -1.0])  # the next step gets there


def test_watchdog_and_estop_hold():
    r = runner(ConstantBackend([0.0, 0.0, 0.0], 3, 8), n_action_steps=8)
    r.observe(obs(1.0), now=1.0)
    o, contract = r.take_observation()
    r.set_chunk(o, np.zeros((8, 3)))
    assert not r.tick(1.1).hold
    c = r.tick(1.5)  # newest observation 0.5 s old > 0.3 s
    assert c.hold and c.reasons == ("watchdog",) and len(r.buffer) == 0
    r.observe(obs(1.6, joints=(0.3, 0.3)), now=1.6)
    assert r.wants_inference()
    r.estop.trigger()
    assert not r.wants_inference()
    c = r.tick(1.62)
    assert c.hold and c.reasons == ("estop",)
    np.testing.assert_allclose(c.joints, [0.1, 0.2], atol=1e-6)  # one hold, one target: where it began
    r.estop.reset()
    assert r.wants_inference()
    o, contract = r.take_observation()
    r.set_chunk(o, np.zeros((8, 3)))
    assert not r.tick(1.65).hold
    r.estop.trigger()
    np.testing.assert_allclose(r.tick(1.7).joints, [0.3, 0.3], atol=1e-6)  # a new hold: where the arm is now


def test_twist_mapping_and_deactivate():
    r = runner(ConstantBackend([1.0, 0, 0, 0, 0, 0.5, -1.0], 7, 8), space="ee_delta")
    r.observe(obs(1.0), now=1.0)
    o, contract = r.take_observation()
    r.set_chunk(o, np.tile([1.0, 0, 0, 0, 0, 0.5, -1.0], (8, 1)))
    c = r.tick(1.0)
    np.testing.assert_allclose(c.linear, [0.5, 0.0, 0.0])  # 1 · 0.05 m / 0.1 s
    np.testing.assert_allclose(c.angular, [0.0, 0.0, 1.5])  # 0.5 · 0.3 rad / 0.1 s
    assert c.gripper == pytest.approx(-1.0)
    np.testing.assert_allclose(
        ARM.twist_action(c.linear, c.angular, c.gripper, 0.1), [1, 0, 0, 0, 0, 0.5, -1]
    )
    stop = r.deactivate()
    assert stop.hold and np.all(stop.linear == 0) and stop.reasons == ("inactive",)
    assert r.tick(1.1).reasons == ("inactive",)


def test_dimension_mismatch_is_refused():
    with pytest.raises(ValueError, match="have 7 values"):
        runner(HoldBackend(action_dim=3), space="ee_delta")
    with pytest.raises(ValueError, match="constant_action has"):
        make_backend("constant", action=[0.0], action_dim=3)
    with pytest.raises(ValueError, match="unknown policy backend"):
        make_backend("magic", action_dim=3)


def test_random_flow_backend_gives_chunks():
    rig = load_rig("sim")
    arm = ArmSpec.from_config(rig.robot)
    b = make_backend(
        "flow", checkpoint="random:flow-tiny", action_dim=7, state_dim=len(arm.state_names), views=rig.views
    )
    o = SyncedObservation(
        0, {v: np.zeros((96, 96, 3), np.uint8) for v in rig.views}, np.zeros(11, np.float32)
    )
    chunk = b.infer(o.contract("put the red cube on the green pad"))
    assert chunk.shape == (b.chunk_size, 7) and np.all(np.isfinite(chunk))


def _infer_and_tick(r: PolicyRunner, now: float):
    taken = r.take_observation()
    if taken is not None:
        o, contract = taken
        r.set_chunk(o, r.backend.infer(contract))
    return r.tick(now)


def test_bundle_from_the_future_does_not_freeze_the_runner():
    """A bundle stamped an hour ahead is refused; fresh bundles keep inference and commands going."""
    r = runner(ConstantBackend([0.2, 0.2, 0.0], 3, 8), n_action_steps=1)
    r.observe(obs(1.0), now=1.0)
    assert not _infer_and_tick(r, 1.0).hold
    with pytest.raises(BadInput, match="ahead of this node's clock") as e:
        r.observe(obs(3601.1), now=1.1)
    assert e.value.kind == "future_stamp"
    r.observe(obs(1.1), now=1.1)
    assert r.watchdog.age(1.15) == pytest.approx(0.05)
    c = _infer_and_tick(r, 1.15)
    assert not c.hold and c.obs_stamp == pytest.approx(1.1) and r.counts["inferences"] == 2


def test_stamp_slightly_ahead_is_clamped_and_the_watchdog_still_trips():
    r = runner(ConstantBackend([0.2, 0.2, 0.0], 3, 8), n_action_steps=8)
    r.observe(obs(1.15), now=1.0)  # 0.15 s ahead, within the 0.2 s lead: used, its age counts from now
    assert r.watchdog.clamped == 1
    assert not _infer_and_tick(r, 1.0).hold
    assert _infer_and_tick(r, 1.31).reasons == ("watchdog",)  # 0.31 s > 0.3 s after it arrived


def test_backwards_stamps_are_refused_until_the_clock_itself_goes_back():
    r = runner(HoldBackend(3))
    r.observe(obs(100.0), now=100.0)
    with pytest.raises(BadInput) as e:
        r.observe(obs(99.9), now=100.05)
    assert e.value.kind == "backwards_stamp"
    r.observe(obs(50.0), now=50.0)  # the clock stepped back 50 s: the new time is accepted
    assert r.newest.stamp == pytest.approx(50.0) and not r.watchdog.expired(50.1)


def test_activate_starts_from_fresh_observations():
    r = runner(ConstantBackend([0.2, 0.2, 0.0], 3, 8))
    r.observe(obs(5.0), now=5.0)
    r.deactivate()
    r.activate()
    assert r.newest is None and r.watchdog.expired(5.01)
    r.observe(obs(5.1), now=5.1)
    assert not _infer_and_tick(r, 5.1).hold


@pytest.mark.parametrize(
    "state, kind",
    [
        (obs(1.0, joints=(np.nan, 0.0)), "non_finite"),
        (obs(1.0, ee=(0.0, np.inf, 0.5)), "non_finite"),
        (obs(1.0, joints=(3e38, 0.0)), "implausible_joints"),  # huge, yet a finite float32
        (obs(1.0, joints=(1.2, 0.0)), "implausible_joints"),  # limit 1.0 + tolerance 0.1 < 1.2
        (SyncedObservation(10**9, {}, np.zeros(2, np.float32), ("j1", "g")), "missing_joints"),
    ],
)
def test_unusable_observations_are_refused(state, kind):
    r = runner(HoldBackend(3))
    with pytest.raises(BadInput) as e:
        r.observe(state, now=1.0)
    assert e.value.kind == kind and r.newest is None


def test_reading_just_outside_the_limits_holds_at_the_limit():
    r = runner(HoldBackend(3))
    r.observe(obs(1.0, joints=(1.05, 0.0)), now=1.0)  # within the 0.1 rad tolerance
    c = r.tick(1.0)
    assert c.hold and c.joints.tolist() == [1.0, 0.0] and "gate_joint_limit" in c.reasons


def test_hold_on_a_nan_reading_repeats_the_last_command():
    """Were a NaN reading to reach a hold, the gate sends the last command instead of NaN."""
    r = runner(ConstantBackend([0.5, -0.5, 0.0], 3, 8))
    r.observe(obs(1.0), now=1.0)
    sent = _infer_and_tick(r, 1.0)
    r.newest = obs(1.05, joints=(np.nan, 0.2))  # as if it had passed observe()
    r.estop.trigger()
    held = r.tick(1.06)
    assert held.hold and "gate_non_finite" in held.reasons
    np.testing.assert_array_equal(held.joints, sent.joints)
