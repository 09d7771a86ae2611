"""Expert collection with noise injection: executed vs recorded actions (`clean_labels`)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from suite_checks import check_phase_names

from robo_reward.sim import make_env
from robo_reward.sim.collect import collect_episodes
from robo_reward.sim.experts import make_expert
from robo_reward.sim.rollout import rollout
from robo_reward.sim.staged import staged_drop
from robo_reward.sim.tasks import TASKS

S = 16
NOISE = 0.2


def _reference(task: str, seed: int, noise: float):
    """Roll out a noisy expert while a noise-free twin (same plan rng) reads the same states: returns the
    executed actions, the twin's clean actions and the visited states, all per step."""
    env = make_env(task, render=False)
    noisy = make_expert(env, noise=noise, rng=np.random.default_rng(seed))
    clean = make_expert(env, noise=0.0, rng=np.random.default_rng(seed))
    executed, labels = [], []

    def act(obs, info):
        labels.append(clean.act(obs, info))
        executed.append(noisy.act(obs, info))
        return executed[-1]

    traj = rollout(env, act, seed=seed)
    states = np.stack([o["observation.state"] for o in traj.observations])
    env.close()
    return np.stack(executed), np.stack(labels), states


@pytest.mark.parametrize("task", ["reach", "pick_place"])
def test_clean_labels_record_the_noise_free_expert_action(task):
    seed = 3
    executed, labels, states = _reference(task, seed, NOISE)
    (ep,) = collect_episodes(task, 1, seed=seed, image_size=S, noise=NOISE, clean_labels=True)
    T = len(executed)
    # same noisy execution → same states; the stored actions are the clean twin's, plus the final hold
    np.testing.assert_allclose(ep.state, states, atol=1e-6)
    np.testing.assert_array_equal(ep.action[:T], labels)
    # and they differ from what ran by the injected noise on the arm dims only (std ≈ NOISE)
    diff = executed - ep.action[:T]
    np.testing.assert_array_equal(diff[:, 6], 0.0)
    moving = np.abs(diff[:, :6]).sum(1) > 0
    assert moving.mean() > 0.9
    assert np.std(diff[moving, :6]) == pytest.approx(NOISE, rel=0.3)


def test_default_records_the_executed_noisy_action():
    seed = 3
    executed, labels, states = _reference("reach", seed, NOISE)
    (ep,) = collect_episodes("reach", 1, seed=seed, image_size=S, noise=NOISE)
    T = len(executed)
    np.testing.assert_allclose(ep.state, states, atol=1e-6)
    np.testing.assert_array_equal(ep.action[:T], executed)
    assert not np.array_equal(ep.action[:T], labels)


def test_clean_labels_without_noise_change_nothing():
    a, b = (
        collect_episodes("reach", 1, seed=5, image_size=S, clean_labels=flag)[0] for flag in (False, True)
    )
    np.testing.assert_array_equal(a.action, b.action)
    np.testing.assert_array_equal(a.state, b.state)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="noise"):
        collect_episodes("reach", 1, image_size=S, noise=-0.1)
    env = make_env("reach", render=False)
    with pytest.raises(ValueError, match="label_fn"):
        rollout(env, lambda o, i: np.zeros(7, np.float32), seed=0, max_steps=2, label_fn=lambda: np.zeros(6))
    env.close()


# --- noise limited to named phases (`noise_phases`) ----------------------------------------------------
FREE = ("above_cube", "lift", "carry")


def _phase_trace(task: str, seed: int, noise: float, noise_phases, noise_rotation: bool = True):
    """Roll out a noisy expert; per step: the phase it acted in, the executed and the clean action."""
    env = make_env(task, render=False)
    expert = make_expert(
        env,
        noise=noise,
        rng=np.random.default_rng(seed),
        noise_phases=noise_phases,
        noise_rotation=noise_rotation,
    )
    phases, executed, clean = [], [], []

    def act(obs, info):
        executed.append(expert.act(obs, info))
        phases.append(expert.phase_name)
        clean.append(expert.clean_action)
        return executed[-1]

    rollout(env, act, seed=seed)
    env.close()
    return np.array(phases), np.stack(executed), np.stack(clean)


def test_noise_only_in_named_phases():
    phases, executed, clean = _phase_trace("pick_place", 3, NOISE, FREE)
    noisy = np.isin(phases, FREE)
    assert noisy.any() and (~noisy).any()
    assert {"descend", "close", "lower", "release"} <= set(phases[~noisy])
    diff = executed - clean
    np.testing.assert_array_equal(diff[~noisy], 0.0)  # precise phases run exactly the expert's action
    np.testing.assert_array_equal(diff[:, 6], 0.0)
    moved = np.abs(diff[noisy, :6]).sum(1) > 0
    assert moved.mean() > 0.9
    assert np.std(diff[noisy][moved, :6]) == pytest.approx(NOISE, rel=0.3)


def test_noise_rotation_off_keeps_rotation_exact():
    phases, executed, clean = _phase_trace("pick_place", 3, NOISE, FREE, noise_rotation=False)
    noisy = np.isin(phases, FREE)
    diff = executed - clean
    np.testing.assert_array_equal(diff[:, 3:], 0.0)
    np.testing.assert_array_equal(diff[~noisy], 0.0)
    moved = np.abs(diff[noisy, :3]).sum(1) > 0
    assert moved.mean() > 0.9
    assert np.std(diff[noisy][moved, :3]) == pytest.approx(NOISE, rel=0.3)


def test_naming_every_phase_is_the_default():
    ref_phases, ref_exec, _ = _phase_trace("pick_place", 4, NOISE, None)
    phases, executed, _ = _phase_trace("pick_place", 4, NOISE, TASKS["pick_place"].phase_names)
    np.testing.assert_array_equal(phases, ref_phases)
    np.testing.assert_array_equal(executed, ref_exec)


def test_collect_with_noise_phases_matches_the_expert_rollout():
    phases, executed, clean = _phase_trace("pick_place", 3, NOISE, FREE)
    (ep,) = collect_episodes(
        "pick_place", 1, seed=3, image_size=S, noise=NOISE, noise_phases=FREE, clean_labels=True
    )
    np.testing.assert_array_equal(ep.action[: len(clean)], clean)


def test_unknown_or_empty_noise_phase_raises():
    with pytest.raises(ValueError, match=r"unknown noise phase.*'grab'.*pick_place"):
        collect_episodes("pick_place", 1, image_size=S, noise=0.1, noise_phases=("above_cube", "grab"))
    env = make_env("reach", render=False)
    with pytest.raises(ValueError, match="unknown noise phase.*'carry'"):
        make_expert(env, noise=0.1, noise_phases=["carry"])  # a pick_place phase, not one of reach's
    with pytest.raises(ValueError, match="noise_phases is empty"):
        make_expert(env, noise=0.1, noise_phases=[])
    env.close()


@pytest.mark.parametrize("task", sorted(TASKS))
def test_phase_names_cover_every_plan(task):
    check_phase_names(task)


# --- gradual rotation (`rot_gain`) ---------------------------------------------------------------------
def _yaw_errors(seed: int, rot_gain: float) -> tuple[np.ndarray, bool]:
    """|grasp yaw error| (degrees, modulo the cube's 90° symmetry) after each step of a pick_place expert."""
    from robo_reward.sim.waypoints import body_yaw

    env = make_env("pick_place", render=False)
    expert = make_expert(env, rng=np.random.default_rng(seed), rot_gain=rot_gain)
    sc = env.unwrapped.scene
    errors = []

    def act(obs, info):
        errors.append((np.degrees(sc.ee_yaw - body_yaw(sc, "cube/cube")) + 45) % 90 - 45)
        return expert.act(obs, info)

    traj = rollout(env, act, seed=seed)
    env.close()
    return np.abs(errors), bool(traj.success[-1])


def test_rot_gain_spreads_the_grasp_rotation_over_the_approach():
    seed = 1005  # cube turned ≈ 34° from the gripper at the start
    fast, ok_fast = _yaw_errors(seed, 1.0)
    slow, ok_slow = _yaw_errors(seed, 0.25)
    assert fast[0] == pytest.approx(slow[0]) and fast[0] > 25
    assert ok_fast and ok_slow
    assert fast[3] < 2.0  # dead-beat: aligned within three steps
    # proportional: about a quarter of the remaining error goes per step (0.75³ ≈ 0.42 left after three)
    assert 0.3 * slow[0] < slow[3] < 0.6 * slow[0]
    assert slow[12] < 2.0  # and aligned long before the grasp closes
    # 0: the gripper keeps its start rotation; the fingers grip the turned cube as it is, and still win
    still, ok_still = _yaw_errors(seed, 0.0)
    assert ok_still and np.all(np.abs(still - still[0]) < 3.0)
    with pytest.raises(ValueError, match="rot_gain"):
        make_expert(make_env("reach", render=False), rot_gain=-0.1)


# --- staged missed grasp and its recovery (`regrasp`) ---------------------------------------------------
def _regrasp_trace(seed: int, **staged):
    """Roll out an expert with a staged mistake (`regrasp=True` by default); per step: phase, executed
    action, recorded label, ee and cube position (xy, or xyz with `xyz=True`) and gripper opening."""
    env = make_env("pick_place", render=False)
    dims = 3 if staged.pop("xyz", False) else 2
    expert = make_expert(env, rng=np.random.default_rng(seed), **(staged or {"regrasp": True}))
    sc = env.unwrapped.scene
    rows = []

    def act(obs, info):
        a = expert.act(obs, info)
        cube = sc.body_pos("cube/cube")[:dims].copy()
        rows.append(
            (expert.phase_name, a, expert.label_action, sc.ee_pos[:dims].copy(), cube, sc.gripper_opening)
        )
        return a

    traj = rollout(env, act, seed=seed)
    env.close()
    return rows, traj


def test_regrasp_misses_first_then_recovers_and_labels_the_miss_with_the_correction():
    rows, traj = _regrasp_trace(seed=2)
    phases = [r[0] for r in rows]
    order = ["above_miss", "descend_miss", "close_miss", "reopen", "above_cube", "descend", "close", "lift"]
    firsts = [phases.index(p) for p in order]
    assert firsts == sorted(firsts)  # the staged miss, then the recovery, then the plan's own grasp
    assert traj.success[-1]
    # it closes 2.5-4 cm from the cube's centre (the plan's grasp closes within the descend tolerance)
    close_miss = next(r for r in rows if r[0] == "close_miss")
    close = next(r for r in rows if r[0] == "close")
    assert 0.02 < np.linalg.norm(close_miss[3] - close_miss[4]) < 0.045
    assert np.linalg.norm(close[3] - close[4]) < 0.01
    for name, executed, label, ee, cube, _ in rows:
        if name in ("above_miss", "descend_miss", "close_miss"):
            # executed: toward the off-centre point (and closing); recorded: toward the cube, open
            assert label[6] == -1.0
            if name == "close_miss":
                assert executed[6] == 1.0
            to_cube = cube - ee
            if np.linalg.norm(to_cube) > 0.01:
                assert label[:2] @ to_cube > executed[:2] @ to_cube
        else:  # everything else is recorded as executed
            np.testing.assert_array_equal(label, executed)
    # after closing on the miss the recorded action opens the gripper
    reopen = next(r for r in rows if r[0] == "reopen")
    assert reopen[2][6] == -1.0


def test_collect_regrasp_records_labels_and_keeps_other_episodes_unchanged():
    base = collect_episodes("pick_place", 4, seed=10, image_size=S, noise=0.05)
    staged = collect_episodes("pick_place", 4, seed=10, image_size=S, noise=0.05, regrasp=0.5)
    longer = [i for i in range(4) if len(staged[i].action) != len(base[i].action)]
    assert len(longer) == 2  # round(0.5 × 4) episodes stage a miss; they take longer
    for i in range(4):
        assert staged[i].success[-1]
        if i in longer:
            assert len(staged[i].action) > len(base[i].action) + 5
        else:
            np.testing.assert_array_equal(staged[i].action, base[i].action)
    with pytest.raises(ValueError, match="regrasp must be a fraction"):
        collect_episodes("pick_place", 1, image_size=S, regrasp=1.5)
    env = make_env("reach", render=False)
    with pytest.raises(ValueError, match="regrasp needs a task that picks a cube"):
        make_expert(env, regrasp=True)
    env = make_env("pick_place", render=False)
    with pytest.raises(ValueError, match="does not combine with failure"):
        make_expert(env, regrasp=True, failure="drop")


# --- staged slip of a lifted cube and its recovery (`drop`) ---------------------------------------------
def test_drop_lets_the_lifted_cube_slip_then_picks_it_up_again_with_labels_for_the_way_back():
    rows, traj = _regrasp_trace(seed=3, drop=True, xyz=True)
    phases = [r[0] for r in rows]
    assert traj.success[-1]
    slip, empty = phases.index("slip"), phases.index("close_empty")
    # the cube was lifted (≥ 6 cm up) when the slip began, then lies on the table, the gripper shut on nothing
    assert rows[slip][4][2] > 0.06
    assert rows[empty + 3][4][2] < 0.03 and rows[empty + 3][5] < 0.01
    # then the grasp runs again: descend, close, lift, and the carry that was interrupted
    again = phases[empty + 4 :]
    assert {"descend", "close", "lift", "carry"} <= set(again)
    runs = [name for name, _ in itertools.groupby(phases)]
    assert runs.count("slip") == 1 and runs.count("close") == 2  # one slip, one more grasp
    for name, executed, label, ee, cube, _ in rows:
        if name == "slip":  # executed: stop and open; recorded: keep holding on, toward the pad
            assert executed[6] == -1.0 and label[6] == 1.0
            assert np.abs(executed[:3]).max() < 0.25 < np.abs(label[:2]).max()
        elif name == "close_empty":  # executed: shut on nothing; recorded: open and head for the cube
            assert executed[6] == 1.0 and label[6] == -1.0
            assert label[:2] @ (cube - ee)[:2] > 0
        else:
            np.testing.assert_array_equal(label, executed)


def test_collect_drop_is_drawn_on_its_own_and_combines_with_regrasp():
    base = collect_episodes("pick_place", 4, seed=10, image_size=S, noise=0.05, regrasp=0.5)
    both = collect_episodes("pick_place", 4, seed=10, image_size=S, noise=0.05, regrasp=0.5, drop=0.5)
    changed = [i for i in range(4) if not np.array_equal(both[i].action, base[i].action)]
    assert len(changed) == 2  # round(0.5 × 4) episodes drop their cube; the regrasp draw is unchanged
    assert all(e.success[-1] for e in both)
    with pytest.raises(ValueError, match="drop must be a fraction"):
        collect_episodes("pick_place", 1, image_size=S, drop=-0.1)
    with pytest.raises(ValueError, match="drop needs a task that picks a cube"):
        make_expert(make_env("push", render=False), drop=True)
    with pytest.raises(ValueError, match="does not combine with failure"):
        make_expert(make_env("pick_place", render=False), drop=True, failure="stall")
    with pytest.raises(ValueError, match="drop needs a plan"):
        reach = make_env("reach", render=False).unwrapped
        staged_drop(reach.task.plan(reach.scene, np.random.default_rng(0), None), np.random.default_rng(0))


# --- turning the gripper above the cube (`align`) -------------------------------------------------------
def test_align_keeps_the_start_rotation_until_above_the_cube_then_aligns_before_descending():
    from robo_reward.sim.waypoints import body_yaw

    seed = 1005  # cube turned ≈ 34° from the gripper at the start
    env = make_env("pick_place", render=False)
    expert = make_expert(env, rng=np.random.default_rng(seed), align=True)
    sc = env.unwrapped.scene
    rows = []

    def act(obs, info):
        a = expert.act(obs, info)
        err = abs((np.degrees(sc.ee_yaw - body_yaw(sc, "cube/cube")) + 45) % 90 - 45)
        above = sc.body_pos("cube/cube") + [0, 0, 0.104]  # the above_cube target
        rows.append(
            (expert.phase_name, err, np.linalg.norm((sc.ee_pos - above)[:2]), sc.ee_pos[2] - above[2])
        )
        return a

    traj = rollout(env, act, seed=seed)
    env.close()
    assert traj.success[-1]
    start = rows[0][1]
    assert start > 25
    turning = next(k for k, r in enumerate(rows) if abs(r[1] - start) > 3)
    # nothing turns while the gripper is far from the point above the cube; it turns once there
    assert turning >= 4
    assert rows[turning][2] < 0.06 and rows[turning][3] < 0.04
    descend = [r for r in rows if r[0] == "descend"]
    assert descend and all(r[1] < 4 for r in descend)  # aligned before it descends
    with pytest.raises(ValueError, match="align needs a task that picks a cube"):
        make_expert(make_env("open_drawer", render=False), align=True)


# --- instruction wordings (`wordings`) ------------------------------------------------------------------
def test_wordings_vary_the_instruction_only_and_keep_held_out_ones_out_of_training():
    wordings = TASKS["reach"].wordings
    train = collect_episodes("reach", 8, seed=3, image_size=S)
    canonical = collect_episodes("reach", 8, seed=3, image_size=S, wordings="canonical")
    held_out = collect_episodes("reach", 8, seed=3, image_size=S, wordings="held_out")
    assert {e.task for e in canonical} == {wordings.canonical}
    assert {e.task for e in train} <= set(wordings.train) and len({e.task for e in train}) > 1
    assert {e.task for e in held_out} <= set(wordings.held_out)
    # the wording has its own generator: the episodes are the canonical collection's, value for value
    for a, b, c in zip(train, canonical, held_out, strict=True):
        np.testing.assert_array_equal(a.action, b.action)
        np.testing.assert_array_equal(a.state, c.state)
    # seeded: the same collection draws the same wordings
    assert [e.task for e in collect_episodes("reach", 8, seed=3, image_size=S)] == [e.task for e in train]
    with pytest.raises(ValueError, match="wording split must be one of"):
        collect_episodes("reach", 1, image_size=S, wordings="test")
