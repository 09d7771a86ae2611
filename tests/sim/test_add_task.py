"""Adding a task takes what the README's "Add a task" says: one module (`toy_task.py`) and the MJCF of its
new object (`toy_button.xml`); nothing else in the suite changes, and the registry-walking checks, the
validator and the collector take the new task in."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from suite_checks import check_phase_names, check_task

from robo_reward.paths import sim_assets
from robo_reward.sim import list_tasks, task_spec
from robo_reward.sim.collect import collect_episodes
from robo_reward.sim.tasks import TASKS, register
from robo_reward.sim.validate import suite_tasks, validate

HERE = Path(__file__).parent


@pytest.fixture
def press_button(tmp_path, monkeypatch):
    """The project's data folders with the toy's MJCF added, and the toy's module imported."""
    shutil.copytree(sim_assets(), tmp_path / "sim")
    shutil.copy(HERE / "toy_button.xml", tmp_path / "sim" / "objects" / "button.xml")
    monkeypatch.setenv("ROBO_REWARD_HOME", str(tmp_path))
    module = importlib.import_module("toy_task")
    register(module.PressButton)  # imported once per session: registers again after an earlier test
    yield "press_button"
    TASKS.pop("press_button")


def test_a_new_task_is_one_module_and_its_mjcf(press_button):
    assert press_button in list_tasks() and press_button in suite_tasks()
    assert task_spec(press_button).instruction == "press the red button"
    check_task(press_button, image_size=16)
    check_phase_names(press_button)
    (row,) = validate([press_button], seeds=3)
    assert row["ok"] and row["expert_success"] == 1.0 and row["failure_success"] == 0.0
    eps = collect_episodes(press_button, 2, seed=1, image_size=16, failures=0.5)
    assert sorted(e.outcome for e in eps) == ["failure", "success"]  # the stall stops before the hover
    assert all(e.task in TASKS[press_button].wordings.train for e in eps)
    assert np.all([e.progress[0] <= 0.05 for e in eps])


def test_the_toy_task_leaves_the_suite_as_it_was():
    assert "press_button" not in TASKS
