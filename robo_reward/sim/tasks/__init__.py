"""The task suite: every module in this package is imported, and each `@register`ed `Task` in it joins
`TASKS` under its name; so a new task is one module here (plus the MJCF of any new object).

The first six keep their places in `TASKS`: `sim collect --task all` seeds the i-th task's episodes
from seed + 100000·i, so a collection of them stays what it was; newer tasks follow in name order.
"""

from __future__ import annotations

import importlib
import pkgutil

from robo_reward.sim.tasks.base import TASKS, Evaluation, Task, Wordings, register

_FIRST = ("reach", "push", "pick_place", "stack", "open_drawer", "drawer_store")


def _import_all() -> None:
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{module}")
    order = sorted(TASKS, key=lambda n: (_FIRST.index(n) if n in _FIRST else len(_FIRST), n))
    registered = dict(TASKS)
    TASKS.clear()
    TASKS.update((n, registered[n]) for n in order)


_import_all()

__all__ = ["TASKS", "Evaluation", "Task", "Wordings", "register"]
