"""Grounding scenes: the instruction alone says which task to do; experts, progress, swaps, wordings."""

from __future__ import annotations

import numpy as np
import pytest

from robo_reward.sim import make_env, task_spec
from robo_reward.sim.collect import collect_episodes
from robo_reward.sim.confusion import NONE, confusion_table, instruction_swaps
from robo_reward.sim.experts import make_expert
from robo_reward.sim.rollout import rollout
from robo_reward.sim.tasks import TASKS
from robo_reward.sim.validate import suite_tasks

GROUNDING = [name for cls in TASKS.values() if len(cls.task_names()) > 1 for name in cls.task_names()]
SEEDS = range(20)


def test_the_suite_has_grounding_scenes():
    assert {"pick_place_color:red", "pick_place_color:blue"} <= set(GROUNDING)
    assert {"drawer_or_cube:drawer", "drawer_or_cube:cube"} <= set(GROUNDING)


@pytest.mark.parametrize("task", GROUNDING)
def test_experts_always_succeed_and_their_progress_never_falls(task):
    env = make_env(task, render=False)
    for seed in SEEDS:
        traj = rollout(env, make_expert(env, rng=np.random.default_rng(seed)).act, seed=seed)
        assert traj.outcome == "success" and traj.achieved == (task,), seed
        # monotone up to the jitter of a held cube (a tenth of a percent)
        assert np.diff(traj.progress).min() >= -1e-3, seed
        assert traj.progress[0] <= 0.05 and traj.progress[-1] == 1.0
    env.close()


@pytest.mark.parametrize("scene", ["pick_place_color", "drawer_or_cube"])
def test_swapping_the_instruction_on_one_initial_state_changes_the_task_done(scene):
    env = make_env(scene, render=False)
    tasks = TASKS[scene].task_names()
    # the initial state depends on the seed only, not on the instruction
    starts = []
    for task in tasks:
        obs, info = env.reset(seed=5, options={"task": task})
        assert info["task_name"] == task and info["task"] == task_spec(task).instruction
        starts.append((obs["observation.state"], env.unwrapped.environment_state()))
    for a, b in zip(starts, starts[1:], strict=False):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])

    def expert(failure=None):
        return lambda task: make_expert(env, failure=failure, rng=np.random.default_rng(0)).act

    table = confusion_table(instruction_swaps(env, expert(), seeds=[0, 1]), tasks)
    assert table.instructed == tasks and table.achieved == (*tasks, NONE)
    np.testing.assert_array_equal(table.counts, [[2, 0, 0], [0, 2, 0]])
    assert table.grounded_rate == 1.0
    # the grounding mistake does the scene's other task
    mistake = next(f for f in TASKS[scene].failure_modes if f.startswith("wrong_"))
    table = confusion_table(instruction_swaps(env, expert(mistake), seeds=[0]), tasks)
    np.testing.assert_array_equal(table.counts, [[0, 1, 0], [1, 0, 0]])
    assert table.grounded_rate == 0.0
    env.close()


def test_confusion_table_counts_by_hand():
    episodes = [
        ("s:a", ("s:a",)),
        ("s:a", ()),
        ("s:b", ("s:a",)),
        ("s:b", ("s:b", "s:a")),
        ("s:b", ("s:b",)),
        ("s:b", ("s:b",)),
    ]
    table = confusion_table(episodes)
    assert table.instructed == ("s:a", "s:b")
    assert table.achieved == ("s:a", "s:b", "s:a & s:b", NONE)
    np.testing.assert_array_equal(table.counts, [[1, 0, 0, 1], [1, 2, 1, 0]])
    assert table.grounded_rate == pytest.approx(3 / 6)
    assert table.rows()[1] == {"instructed": "s:b", "s:a": 1, "s:b": 2, "s:a & s:b": 1, NONE: 0}
    assert table.count("s:a", "s:c") == 0
    with pytest.raises(ValueError, match="not among the rows"):
        confusion_table(episodes, instructed=["s:a"])


def test_reset_options_name_the_task_by_name_or_wording():
    env = make_env("pick_place_color", render=False)
    blue = TASKS["pick_place_color"].wordings_of("pick_place_color:blue")
    _, info = env.reset(seed=0)
    assert info["task_name"] == "pick_place_color:red"  # a scene's first task by default
    _, info = env.reset(seed=0, options={"instruction": blue.held_out[0]})
    assert info["task_name"] == "pick_place_color:blue" and info["task"] == blue.held_out[0]
    _, info = env.reset(seed=0, options={"task": "pick_place_color:blue", "instruction": "blue one, please"})
    assert info["task"] == "blue one, please"
    with pytest.raises(ValueError, match="not a registered wording"):
        env.reset(seed=0, options={"instruction": "blue one, please"})
    with pytest.raises(ValueError, match="is a wording of 'pick_place_color:blue', not of"):
        env.reset(seed=0, options={"task": "pick_place_color:red", "instruction": blue.train[1]})
    with pytest.raises(ValueError, match="is not one of"):
        env.reset(seed=0, options={"task": "pick_place"})
    # a named task of the scene is its own env, and its spec is that task's
    fixed = make_env("pick_place_color:blue", render=False)
    assert fixed.reset(seed=0)[1]["task_name"] == "pick_place_color:blue"
    assert task_spec("pick_place_color:blue").instruction == blue.canonical
    assert task_spec("pick_place_color").tasks == ("pick_place_color:red", "pick_place_color:blue")
    with pytest.raises(KeyError):
        make_env("pick_place_color:green")
    # a cloned state carries the instructed task into another env
    other = make_env("pick_place_color", render=False)
    other.reset(seed=1)
    other.unwrapped.set_sim_state(fixed.unwrapped.get_sim_state())
    _, info = other.unwrapped.observe()
    assert info["task_name"] == "pick_place_color:blue" and info["task"] == blue.canonical


def test_held_out_wordings_are_never_trained_on_and_a_scene_words_its_tasks_apart():
    trained = {w for t in suite_tasks() for w in task_spec(t).wordings.train}
    for task in suite_tasks():
        wordings = task_spec(task).wordings
        assert len(set(wordings.all)) == len(wordings.all), task
        assert not set(wordings.held_out) & trained, task
    for cls in TASKS.values():
        seen: dict[str, str] = {}
        for task in cls.task_names():
            for w in cls.wordings_of(task).all:
                assert seen.setdefault(w, task) == task, (w, task)


def test_collect_instructs_a_scenes_tasks_in_turn():
    eps = collect_episodes("drawer_or_cube", 4, seed=7, image_size=16)
    assert [e.task_name for e in eps] == ["drawer_or_cube:drawer", "drawer_or_cube:cube"] * 2
    for e in eps:
        assert e.outcome == "success" and e.task in task_spec(e.task_name).wordings.train
