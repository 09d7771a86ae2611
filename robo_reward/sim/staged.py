"""Plan transforms for the scripted experts' pick phases: staged mistakes and their recovery, and where
the gripper turns to the grasp yaw.

A staged mistake is executed while another phase's action is recorded as its label (`Phase.label`), so a
policy cloned from the demos learns the recovery, not the mistake:
- `staged_miss`: the first grasp closes 2.5-4 cm beside the cube, re-opens, rises and grasps again;
- `staged_drop`: the lifted cube slips out, the gripper closes on nothing, then picks it up again.
`align_above` makes the gripper turn to the grasp yaw above the cube rather than in the first steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from robo_reward.sim.scene import Scene
from robo_reward.sim.waypoints import CLOSE, OPEN, Phase, offset


def align_above(phases: list[Phase]) -> list[Phase]:
    """Turn the gripper to the grasp yaw only above the cube, and descend only once aligned.

    Each `above_cube` phase keeps the gripper's rotation until it is within 5 cm (xy) of its target and
    less than 2.6 cm above it, where the cube is large in the wrist view, then turns (dead-beat); it ends
    once the position is reached and the yaw is within 3°. The default expert turns in the first steps of
    an episode, when the cube is a few pixels in every view, so the rotation a policy must copy is one it
    cannot see."""
    out = []
    for p in phases:
        if p.name == "above_cube" and p.yaw is not None:
            p = dataclasses.replace(p, yaw=_yaw_above(p), until=_reached_aligned(p))
        out.append(p)
    return out


def _yaw_above(p: Phase) -> Callable[[Scene], float]:
    def yaw(sc: Scene) -> float:
        d = sc.ee_pos - p.target(sc)
        return p.yaw(sc) if np.linalg.norm(d[:2]) < 0.05 and d[2] < 0.026 else sc.ee_yaw

    return yaw


def _reached_aligned(p: Phase) -> Callable[[Scene], bool]:
    return lambda sc: bool(
        np.linalg.norm(p.target(sc) - sc.ee_pos) < p.tol and abs(sc.ee_yaw - p.yaw(sc)) < np.radians(3)
    )


def staged_miss(phases: list[Phase], rng: np.random.Generator) -> list[Phase]:
    """Insert a missed grasp and its recovery before the plan's first `above_cube`/`descend` pair.

    The miss is 2.5-4 cm from the true grasp point in a random horizontal direction, about the error a
    cloned policy makes. Approaching and closing there are executed but labelled with the true grasp's
    approach; re-opening and rising are recorded as executed; then the plan's own grasp runs. A miss that
    catches an edge of the cube re-opens too: such grasps slip (the expert's own lift loses them)."""
    i = next((k for k, p in enumerate(phases) if p.name == "above_cube"), None)
    if i is None or i + 1 >= len(phases) or phases[i + 1].name != "descend":
        raise ValueError("regrasp needs a plan with an above_cube → descend grasp")
    above, descend = phases[i], phases[i + 1]
    ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0.025, 0.04)
    miss = offset(descend.target, [dist * np.cos(ang), dist * np.sin(ang), 0.0])
    staged = [
        Phase("above_miss", offset(miss, [0, 0, 0.1]), OPEN, tol=0.012, yaw=above.yaw, label=above),
        Phase("descend_miss", miss, OPEN, tol=0.006, speed=0.5, yaw=above.yaw, timeout=12, label=descend),
        Phase("close_miss", miss, CLOSE, tol=1.0, wait=3, label=descend),
        Phase("reopen", offset(miss, [0, 0, 0.05]), OPEN, tol=0.012, timeout=10),
    ]
    return [*phases[:i], *staged, *phases[i:]]


def staged_drop(phases: list[Phase], rng: np.random.Generator) -> list[Phase]:
    """Make the plan's first lifted cube slip out of the gripper, and recover from it.

    Right after the lift (0-1 steps into the carry), the gripper stops and opens for 2 steps, labelled
    with the carry (keep holding), and the cube falls; it then closes on nothing for 4 steps, the state a
    cloned policy reaches when a grasp slips, labelled with the way back (open, go above the cube). Then
    the plan's grasp runs again from `above_cube`, recorded as executed."""
    i = next((k for k, p in enumerate(phases) if p.name == "lift"), None)
    j = next((k for k, p in enumerate(phases) if p.name == "above_cube"), None)
    if i is None or j is None or j > i or i + 1 >= len(phases) or phases[i + 1].name != "carry":
        raise ValueError("drop needs a plan with an above_cube ... lift → carry pick")
    carry, still = phases[i + 1], (lambda sc: sc.ee_pos)
    staged = [
        Phase("carry_slip", carry.target, CLOSE, tol=0.0, timeout=int(rng.integers(0, 2))),
        Phase("slip", still, OPEN, tol=0.0, timeout=2, label=carry),
        Phase("close_empty", still, CLOSE, tol=0.0, timeout=4, label=phases[j]),
    ]
    return [*phases[: i + 1], *staged, *phases[j:]]
