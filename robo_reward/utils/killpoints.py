"""Deterministic crash injection, so resume can be tested against a kill at an exact place.

`ROBO_REWARD_KILL_AT=<point>` makes the process SIGKILL itself the first time it reaches
`kill_point("<point>")`; `<point>@<n>` waits for the n-th time. Unset, a kill point costs one
dictionary lookup. The points trainers pass through:

    run.started          the run folder and its run.json exist, no step taken yet
    step                 after an optimizer step and its log line (one per step)
    checkpoint.files     a checkpoint's files are written in its temporary folder, the manifest is not
    checkpoint.written   the temporary folder is complete (manifest included), nothing swapped yet
    checkpoint.swap      the previous checkpoint is moved aside, the new one not yet in place
    checkpoint.swapped   the new checkpoint is in place, the previous one not yet deleted
    checkpoint.pruning   an old checkpoint is being deleted (trainers that keep several)
"""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter

KILL_ENV = "ROBO_REWARD_KILL_AT"
_passes: Counter[str] = Counter()


def kill_point(name: str) -> None:
    """SIGKILL this process here if `ROBO_REWARD_KILL_AT` names this point (and this pass)."""
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    point, _, nth = spec.partition("@")
    if point != name:
        return
    _passes[name] += 1
    if _passes[name] == int(nth or 1):
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
