"""Instruction grounding: does swapping the instruction on the same initial state change which task is
done? Run each seed of a grounding scene once per instruction (`instruction_swaps`) and count
instruction given × task achieved (`confusion_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from robo_reward.sim.rollout import rollout

NONE = "none"  # the column of episodes that achieved no task of the scene


def achieved_label(achieved: Collection[str]) -> str:
    """The column an episode counts in: the task it achieved, `none`, or several joined by ` & `."""
    return " & ".join(sorted(achieved)) or NONE


@dataclass(frozen=True)
class ConfusionTable:
    """`counts[i, j]`: episodes instructed `instructed[i]` that ended having achieved `achieved[j]`."""

    instructed: tuple[str, ...]
    achieved: tuple[str, ...]
    counts: np.ndarray  # (len(instructed), len(achieved)) int

    @property
    def grounded_rate(self) -> float:
        """The share of episodes that achieved exactly the task they were instructed."""
        diagonal = sum(self.count(t, t) for t in self.instructed)
        return diagonal / max(int(self.counts.sum()), 1)

    def count(self, instructed: str, achieved: str) -> int:
        if achieved not in self.achieved:
            return 0
        return int(self.counts[self.instructed.index(instructed), self.achieved.index(achieved)])

    def rows(self) -> list[dict]:
        """One dict per instruction (for a printed table or JSON)."""
        return [
            {"instructed": t, **{a: int(n) for a, n in zip(self.achieved, row, strict=True)}}
            for t, row in zip(self.instructed, self.counts, strict=True)
        ]


def confusion_table(
    episodes: Iterable[tuple[str, Collection[str]]], instructed: Sequence[str] | None = None
) -> ConfusionTable:
    """Count (instructed task, achieved tasks) pairs, one per episode: rows in `instructed` order (else
    first seen), columns the instructed tasks first (so the diagonal is the grounded episodes), then
    other outcomes in first-seen order, `none` last."""
    pairs = [(task, achieved_label(done)) for task, done in episodes]
    rows = list(instructed or dict.fromkeys(t for t, _ in pairs))
    unknown = {t for t, _ in pairs} - set(rows)
    if unknown:
        raise ValueError(f"episodes instructed {sorted(unknown)}, not among the rows {rows}")
    seen = [a for a in dict.fromkeys(a for _, a in pairs) if a not in rows and a != NONE]
    cols = [*rows, *seen, NONE]
    counts = np.zeros((len(rows), len(cols)), dtype=np.int64)
    for task, label in pairs:
        counts[rows.index(task), cols.index(label)] += 1
    return ConfusionTable(tuple(rows), tuple(cols), counts)


def instruction_swaps(
    env,
    make_act: Callable[[str], Callable[[dict, dict], np.ndarray]],
    seeds: Iterable[int],
    tasks: Sequence[str] | None = None,
) -> list[tuple[str, tuple[str, ...]]]:
    """Run every seed once per task of the env's scene (or `tasks`), instructing it through the reset
    options; `make_act(task)` gives the action function of that episode (a policy reads the wording from
    `info["task"]`). Returns (instructed task, tasks achieved at the end) per episode."""
    tasks = list(tasks or env.unwrapped.task.task_names())
    out = []
    for seed in seeds:
        for task in tasks:
            traj = rollout(env, make_act(task), seed=seed, options={"task": task})
            out.append((task, traj.achieved))
    return out
