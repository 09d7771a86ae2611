"""Geometry the tasks share: cube and drawer dimensions, colours, where things are, random placement."""

from __future__ import annotations

import numpy as np

from robo_reward.sim.scene import GRIPPER_MAX, ObjectSpec, Scene

# --- cubes (sim/objects/cube.xml) ------------------------------------------------------------------
CUBE_HALF = 0.0225
RED = (0.85, 0.2, 0.2, 1.0)
BLUE = (0.2, 0.35, 0.85, 1.0)
WHITE = (0.93, 0.93, 0.9, 1.0)
LIFT = 0.06  # height above the table that counts as lifted
PLACE_TOL = 0.03  # cube centre within this (xy) of the goal centre
RELEASED = 1.2 * GRIPPER_MAX  # gripper opening (two fingers) that counts as let go

# --- the drawer (sim/objects/drawer.xml) -----------------------------------------------------------
DRAWER = ObjectSpec("drawer", "drawer")
DRAWER_OPEN = 0.12  # drawer travel (m) that counts as open
HOOK_OFFSET = np.array([0.034, 0.0, -0.015])  # from the handle bar to the gap between bar and front
FLOOR_Z = 0.016  # drawer floor top, in the drawer frame
INTERIOR_LO = np.array([-0.108, -0.09])  # drawer interior (xy, drawer frame)
INTERIOR_HI = np.array([0.10, 0.09])


def xy_dist(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a)[:2] - np.asarray(b)[:2]))


def sample_xy(rng: np.random.Generator, lo, hi, avoid=(), min_dist: float = 0.0, tries: int = 200):
    """Uniform point in the box [lo, hi] at least `min_dist` from every point in `avoid`."""
    for _ in range(tries):
        p = rng.uniform(lo, hi)
        if all(np.linalg.norm(p - np.asarray(a)[:2]) >= min_dist for a in avoid):
            return p
    raise RuntimeError("could not sample a free position")


def place_cube(scene: Scene, cube: str, xy, rng: np.random.Generator) -> None:
    """Put `<cube>/` on the table at `xy`, turned by a random yaw within ±45°."""
    scene.set_free_pose(f"{cube}/joint", [*xy, CUBE_HALF], yaw=rng.uniform(-np.pi / 4, np.pi / 4))


def place_cabinet(scene: Scene, rng: np.random.Generator, opening: float = 0.0) -> None:
    scene.set_mocap("drawer/cabinet", [rng.uniform(0.70, 0.75), rng.uniform(0.16, 0.26), 0.0])
    scene.joint_qpos("drawer/slide")[:] = opening


def drawer_opening(scene: Scene) -> float:
    return float(scene.joint_qpos("drawer/slide")[0])


def hook_point(scene: Scene) -> np.ndarray:
    """Where the (closed) fingers go to pull: between the handle bar and the drawer front."""
    return scene.site_pos("drawer/handle") + HOOK_OFFSET


def cube_in_drawer(scene: Scene, margin: float = 0.0) -> tuple[bool, bool]:
    """(over the drawer interior, resting on the drawer floor)."""
    local = scene.body_pos("cube/cube") - scene.body_pos("drawer/drawer")
    inset = CUBE_HALF - margin
    over = bool(np.all(local[:2] > INTERIOR_LO + inset) and np.all(local[:2] < INTERIOR_HI - inset))
    resting = over and abs(local[2] - CUBE_HALF - FLOOR_Z) < 0.012
    return over, resting
