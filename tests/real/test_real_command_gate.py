"""The final command gate: unit cases by hand, then property tests over random NaN/inf/huge inputs
to the gate alone and to the whole runner (observations, chunks, holds, e-stop, deactivate)."""

import numpy as np
import pytest

from robo_reward.real.backends import ConstantBackend
from robo_reward.real.bundles import SyncedObservation
from robo_reward.real.command_gate import Command, CommandGate
from robo_reward.real.inputs import BadInput
from robo_reward.real.policy_core import ArmSpec, PolicyRunner
from robo_reward.real.safety import SafetyFilter, SafetyLimits, limit_norm

LIMITS = SafetyLimits(
    joint_lower=[-1.0, -2.0], joint_upper=[1.0, 2.0], max_joint_velocity=[1.0, 1.0],
    gripper_min=-1.0, gripper_max=1.0, ee_box_min=[-0.5, -0.5, 0.0], ee_box_max=[0.5, 0.5, 0.8],
    max_linear_speed=0.5, max_angular_speed=2.0, watchdog_timeout=0.3,
)  # fmt: skip
ARM = ArmSpec(joint_names=("j1", "j2"), gripper_joint="g")
STATE_NAMES = ("j1", "j2", "g", "ee_x", "ee_y", "ee_z")
SPECIALS = np.array([np.nan, np.inf, -np.inf, 1e308, -1e308, 3e38, 0.0])


def test_joint_command_clipped_and_non_finite_holds_the_last_one():
    gate = CommandGate(LIMITS, "joint")
    assert gate.admit(Command(True, None, joints=np.array([np.nan, 0.0]))) is None  # nothing to hold yet
    c = gate.admit(Command(False, 0.5, joints=np.array([3.0, -0.5])))
    assert c.joints.tolist() == [1.0, -0.5] and c.reasons == ("gate_joint_limit",)
    c = gate.admit(Command(True, np.inf, joints=np.array([0.1, np.nan]), reasons=("estop",)))
    assert c.hold and c.joints.tolist() == [1.0, -0.5] and c.gripper == 0.5
    assert c.reasons == ("estop", "gate_non_finite")
    assert gate.admit(Command(False, None, joints=np.zeros(3))).joints.tolist() == [1.0, -0.5]  # wrong size
    assert gate.counts == {"gate_non_finite": 3, "gate_joint_limit": 1} and gate.refused == 1


def test_twist_non_finite_is_zero_and_speed_is_capped():
    gate = CommandGate(LIMITS, "ee_delta")
    c = gate.admit(Command(False, 2.0, linear=np.array([0.0, np.nan, 0.0]), angular=np.zeros(3)))
    assert c.hold and c.linear.tolist() == [0.0, 0.0, 0.0] and c.angular.tolist() == [0.0, 0.0, 0.0]
    assert c.gripper == 1.0 and set(c.reasons) == {"gate_non_finite", "gate_gripper_limit"}
    c = gate.admit(Command(False, None, linear=np.array([3.0, 4.0, 0.0]), angular=np.array([0, 0, -4.0])))
    np.testing.assert_allclose(c.linear, [0.3, 0.4, 0.0])
    np.testing.assert_allclose(c.angular, [0.0, 0.0, -2.0])
    assert c.reasons == ("gate_speed",)


def test_admitting_twice_changes_nothing():
    gate = CommandGate(LIMITS, "joint")
    once = gate.admit(Command(False, 7.0, joints=np.array([5.0, -5.0])))
    twice = gate.admit(once)
    assert twice.joints.tolist() == once.joints.tolist() and twice.reasons == once.reasons
    assert twice.gripper == once.gripper


def test_limit_norm_keeps_direction_without_overflow():
    vec, scaled = limit_norm(np.array([1e308, -1e308, 0.0]), 0.5)
    assert scaled and np.all(np.isfinite(vec))
    np.testing.assert_allclose(vec, [0.5 / np.sqrt(2), -0.5 / np.sqrt(2), 0.0])
    vec, scaled = limit_norm(np.array([0.3, 0.4, 0.0]), 0.5)  # exactly at the limit: unchanged
    assert not scaled and vec.tolist() == [0.3, 0.4, 0.0]


def _random_values(rng: np.random.Generator, size: int, scale: float = 3.0, p: float = 0.3) -> np.ndarray:
    """N(0, scale²) values, each replaced by NaN/inf/huge/zero with probability `p`."""
    v = rng.normal(0.0, scale, size)
    special = rng.random(size) < p
    v[special] = rng.choice(SPECIALS, int(special.sum()))
    return v


def _assert_safe(c: Command, space: str) -> None:
    if c.gripper is not None:
        assert np.isfinite(c.gripper) and LIMITS.gripper_min <= c.gripper <= LIMITS.gripper_max
    if space == "joint":
        assert c.joints.shape == (2,) and np.all(np.isfinite(c.joints))
        assert np.all(c.joints >= LIMITS.joint_lower) and np.all(c.joints <= LIMITS.joint_upper)
    else:
        assert np.all(np.isfinite(c.linear)) and np.all(np.isfinite(c.angular))
        assert np.linalg.norm(c.linear) <= LIMITS.max_linear_speed * (1 + 1e-9)
        assert np.linalg.norm(c.angular) <= LIMITS.max_angular_speed * (1 + 1e-9)


@pytest.mark.parametrize("space", ["joint", "ee_delta"])
def test_gate_property_random_commands(space):
    rng = np.random.default_rng(0)
    gate = CommandGate(LIMITS, space)
    admitted = 0
    for _ in range(2000):
        sizes = rng.choice([2, 3], p=[0.9, 0.1]), rng.choice([3, 2], p=[0.9, 0.1])
        cmd = Command(
            hold=bool(rng.random() < 0.5),
            gripper=None if rng.random() < 0.2 else float(_random_values(rng, 1)[0]),
            joints=_random_values(rng, sizes[0]),
            linear=_random_values(rng, sizes[1]),
            angular=_random_values(rng, 3),
        )
        out = gate.admit(cmd)
        if out is None:  # only a joint command with nothing finite admitted before it
            assert space == "joint" and gate.last_joints is None
            continue
        admitted += 1
        _assert_safe(out, space)
    assert admitted > 1900


@pytest.mark.parametrize("space", ["joint", "ee_delta"])
def test_runner_property_every_command_is_safe(space):
    """Random observations and chunks full of NaN/inf/huge values, random e-stops, deactivations
    and clock jitter: every command the runner gives is finite and inside the limits."""
    rng = np.random.default_rng(1)
    width = 3 if space == "joint" else 7
    runner = PolicyRunner(
        ConstantBackend([0.0] * width, width), ARM, SafetyFilter(LIMITS), space, 0.1, "t", n_action_steps=3
    )
    runner.activate()
    now, given, moved, refused = 100.0, 0, 0, 0
    for _ in range(2000):
        now += float(rng.uniform(0.0, 0.1))
        op = rng.random()
        if op < 0.35:
            with np.errstate(over="ignore"):  # 1e308 → inf in float32, as on the wire
                state = _random_values(rng, 6, scale=0.7, p=0.05).astype(np.float32)
            stamp = now + float(rng.choice([0.0, -0.05, -1.0, 0.1, 3600.0]))
            try:
                runner.observe(SyncedObservation(int(stamp * 1e9), {}, state, STATE_NAMES), now)
            except BadInput:
                refused += 1
            taken = runner.take_observation()
            if taken is not None:
                runner.set_chunk(taken[0], _random_values(rng, 5 * width).reshape(5, width))
        elif op < 0.4:
            runner.estop.trigger() if not runner.estop.engaged else runner.estop.reset()
        elif op < 0.43:
            commands = [runner.deactivate()]
            runner.activate()
        else:
            commands = [runner.tick(now)]
        if op >= 0.4:
            for c in commands:
                if c is not None:
                    given, moved = given + 1, moved + (not c.hold)
                    _assert_safe(c, space)
    assert given > 900 and moved > 120 and refused > 300, (given, moved, refused)
