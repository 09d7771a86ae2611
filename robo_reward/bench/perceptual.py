"""`robo-reward bench perceptual`: the perceptual reward from 5 demos per task, trained TCN encoder vs
the same network with random weights, in one table.

Per task and encoder: `perceptual fit` on the first `demos` successful episodes of `<data>/<task>`,
then `perceptual score` on the rest of that dataset (the fitted demos are left out). Table values are
means over tasks (Jaccard over the multi-step tasks only — `reach`'s two stages are the halves of one
motion, not steps a segmenter could see; NaN entries, e.g. AUROC on a task without
`failure` episodes, are skipped). With `grm`, the other progress sources scored on the same episodes
(the GRM, the goal-embedding distance on the TCN's embedding, linear time) get rows of their own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robo_reward.models.perceptual.configuration_perceptual import SEGMENT_COMPONENTS, SEGMENT_TREND
from robo_reward.utils.cli_helpers import console, emit_json, markdown_table, print_table

TASKS = ("push", "pick_place", "stack", "open_drawer", "drawer_store", "reach")
ENCODERS = {"tcn": "tcn-small-sim", "random": "tcn-small"}  # shipped TCN; the same preset, random weights
OTHER_SOURCES = {"grm": "grm", "goal_distance": "goal distance (tcn)", "linear_time": "linear time"}
METRICS = {
    "jaccard": "segmentation_jaccard",
    "voc_dense": "voc_dense",
    "auroc_success_vs_failure": "auroc_success_vs_failure",
    "auroc_success_vs_rest": "auroc",
    "spf_accuracy": "spf_accuracy",
}


def _mean(values: list[float]) -> float:
    v = np.asarray([x for x in values if x is not None], np.float64)
    return float(np.nanmean(v)) if v.size and not np.all(np.isnan(v)) else float("nan")


def summarize(per_task: dict[str, dict[str, dict]], multi_step: list[str]) -> list[dict]:
    """One row per encoder: each metric's mean over tasks (Jaccard over `multi_step` tasks only)."""
    rows = []
    for name, by_task in per_task.items():
        row = {"encoder": name}
        for key, field in METRICS.items():
            ts = [t for t in by_task if t in multi_step] if key == "jaccard" else list(by_task)
            row[key] = _mean([by_task[t].get(field) for t in ts])
        row["goal_baseline_voc"] = _mean([by_task[t].get("goal_voc_dense") for t in by_task])
        row["goal_baseline_auroc"] = _mean([by_task[t].get("goal_auroc") for t in by_task])
        rows.append(row)
    return rows


def multi_step_tasks(tasks) -> list[str]:
    """The tasks with more than one stage whose stages are visible steps (`Task.visible_steps`)."""
    from robo_reward.sim.registry import task_spec

    return [t for t in tasks if task_spec(t).num_stages > 1 and task_spec(t).visible_steps]


def run(
    data: Path = Path("data/perc/eval"),
    out: Path = Path("runs/bench/perceptual"),
    tasks: tuple[str, ...] = TASKS,
    demos: int = 5,
    negatives: dict[str, Path] | None = None,
    trend: float = SEGMENT_TREND,
    components: int | None = SEGMENT_COMPONENTS,
    grm: Path | None = None,
    json: Path | None = None,
) -> dict:
    from robo_reward.commands.perceptual import fit, score

    missing = [t for t in tasks if not (Path(data) / t).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"no dataset for {missing} under {data}; make them with "
            f"`robo-reward sim collect --out {data}/TASK --task TASK --episodes 40 --failures 0.35 --seed 0`"
        )
    negatives = negatives or {}
    per_task: dict[str, dict[str, dict]] = {}
    others: dict[str, dict[str, dict]] = {}  # sources scored beside the TCN's reward
    for name, encoder in ENCODERS.items():
        per_task[name] = {}
        for task in tasks:
            console.print(f"[bold]{name}[/bold] {task}")
            ckpt = Path(out) / name / task
            fit(
                Path(data) / task,
                ckpt,
                episodes=demos,
                task=task,
                encoder=encoder,
                trend=trend,
                components=components,
            )
            with_grm = grm if name == "tcn" else None
            r = score(ckpt, Path(data) / task, task=task, negatives=negatives.get(task), grm=with_grm)
            per_task[name][task] = {
                **r["sources"]["perceptual"],
                "goal_voc_dense": r["sources"]["goal_distance"]["voc_dense"],
                "goal_auroc": r["sources"]["goal_distance"]["auroc"],
            }
            if with_grm is not None:
                for source, label in OTHER_SOURCES.items():
                    others.setdefault(label, {})[task] = r["sources"][source]
    multi = multi_step_tasks(tasks)
    rows = summarize({**per_task, **others}, multi)
    print_table(f"perceptual reward from {demos} demos per task (means over tasks)", rows)
    result = {"rows": rows, "per_task": {**per_task, **others}, "table_markdown": markdown_table(rows)}
    emit_json(json, result)
    return result
