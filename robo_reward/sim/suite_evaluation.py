"""A policy over several tasks at once: which tasks `--task X` names, the per-task and per-instruction
tables, and each grounding scene's confusion table (instruction given × task achieved).

A grounding scene's tasks run on the same seeds, so each initial state is run once per instruction;
`confusion_tables` counts what every episode achieved and `swap_rate` says on how many initial states
every instruction achieved its own task and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from robo_reward.sim.confusion import confusion_table
from robo_reward.sim.policy_evaluation import evaluate, wilson_interval


def evaluation_tasks(name: str) -> list[str]:
    """What `--task NAME` evaluates: `all` every native task with each grounding scene split into its
    tasks; a scene its tasks; anything else itself (a one-line error when it is unknown)."""
    from robo_reward.sim import list_tasks, task_spec
    from robo_reward.sim.registry import ROBOSUITE_PREFIX

    if name == "all":
        scenes = [t for t in list_tasks() if not t.startswith(ROBOSUITE_PREFIX)]
        return [t for s in scenes for t in (task_spec(s).tasks or (s,))]
    spec = task_spec(name)  # raises UnknownNameError naming the choices
    return list(spec.tasks) if spec.tasks and name == name.partition(":")[0] else [name]


def scene_of(task: str) -> str:
    return task.partition(":")[0]


def instruction_rows(results: Sequence[dict]) -> list[dict]:
    """Success per (task, instruction wording), in the order the wordings first appear."""
    rows: dict[tuple[str, str], list[bool]] = {}
    for r in results:
        for ep in r["per_episode"]:
            rows.setdefault((r["task"], ep["instruction"]), []).append(ep["success"])
    return [
        {"task": task, "instruction": text, "success": float(np.mean(ok)), "episodes": len(ok)}
        for (task, text), ok in rows.items()
    ]


def confusion_tables(results: Sequence[dict]) -> dict[str, dict[str, Any]]:
    """Per grounding scene with more than one of its tasks evaluated: the confusion table's rows, the
    grounded share (the diagonal) and `swap_rate`."""
    by_scene: dict[str, list[dict]] = {}
    for r in results:
        if ":" in r["task"]:
            by_scene.setdefault(scene_of(r["task"]), []).append(r)
    out = {}
    for scene, rs in by_scene.items():
        if len(rs) < 2:
            continue
        tasks = [r["task"] for r in rs]
        table = confusion_table(
            [(r["task"], ep["achieved"]) for r in rs for ep in r["per_episode"]], instructed=tasks
        )
        out[scene] = {"rows": table.rows(), "grounded_rate": table.grounded_rate, "swap_rate": swap_rate(rs)}
    return out


def swap_rate(results: Sequence[dict]) -> float:
    """The share of seeds run under every one of a scene's instructions on which each instruction
    achieved exactly its own task: swapping the instruction changed the task done."""
    achieved: dict[int, dict[str, tuple[str, ...]]] = {}
    for r in results:
        for ep in r["per_episode"]:
            achieved.setdefault(ep["seed"], {})[r["task"]] = tuple(ep["achieved"])
    tasks = {r["task"] for r in results}
    full = [runs for runs in achieved.values() if set(runs) == tasks]
    return float(np.mean([all(done == (t,) for t, done in runs.items()) for runs in full])) if full else 0.0


def summary(results: Sequence[dict]) -> dict[str, Any]:
    """Mean and worst success over the single tasks (scenes with one task), and over every task."""
    single = [r for r in results if ":" not in r["task"]]
    out: dict[str, Any] = {}
    for name, rs in (("single_tasks", single), ("all_tasks", list(results))):
        if rs:
            n = sum(r["episodes"] for r in rs)
            k = sum(round(r["success_rate"] * r["episodes"]) for r in rs)
            out[name] = {
                "tasks": len(rs),
                "mean_success": float(np.mean([r["success_rate"] for r in rs])),
                "min_success": float(min(r["success_rate"] for r in rs)),
                "pooled_ci95": list(wilson_interval(k, n)),
            }
    return out


def evaluate_suite(policy, tasks: Sequence[str], **kwargs) -> dict[str, Any]:
    """`evaluate` every task (same seeds, `kwargs` as `evaluate` takes them), then the tables."""
    results = [evaluate(policy, task, **kwargs) for task in tasks]
    return {
        "tasks": results,
        "instructions": instruction_rows(results),
        "confusion": confusion_tables(results),
        "summary": summary(results),
    }
