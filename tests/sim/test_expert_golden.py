"""The scripted experts reproduce the committed datasets value for value.

`expert_digests.json` holds, per case (task × seed × expert options), the sha256 of the recorded actions,
states, progress, stages and success flags of one expert rollout, as `collect_episodes` records them,
plus a few rendered collections through `collect_episodes` itself. A case that changes means the
datasets a collection makes have changed. Regenerate only for an intended change, and say so:

    PYTHONPATH=$PWD python tests/sim/test_expert_golden.py

MuJoCo's floating-point results differ in their last bits between CPU families (its SIMD paths), and
a noisy or contact-rich episode can grow that into a different trajectory (push seed 3: 63 steps on an
AMD EPYC, 68 where the digests were made), so a digest holds for the machines of one family: a case also
accepts the [digest, steps] pairs listed under `also`, one per other family it was recorded on. On a
machine of a new family, with the code unchanged, add its digests (never for a code change):

    PYTHONPATH=$PWD python tests/sim/test_expert_golden.py --add-variant
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mujoco
import numpy as np
import pytest

from robo_reward.sim import make_env
from robo_reward.sim.collect import collect_episodes
from robo_reward.sim.experts import make_expert
from robo_reward.sim.rollout import rollout

DIGESTS = Path(__file__).with_name("expert_digests.json")
FREE = ["above_cube", "lift", "carry"]
COLLECT_SIZE = 8  # collect_episodes renders; the digests leave the images out


def digest(actions, states, progress, stage, success) -> str:
    h = hashlib.sha256()
    for a, dtype in ((actions, np.float32), (states, np.float32), (progress, np.float32)):
        h.update(np.ascontiguousarray(a, dtype=dtype).tobytes())
    h.update(np.ascontiguousarray(stage, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(success, dtype=bool).tobytes())
    return h.hexdigest()


def rollout_digest(env, case: dict) -> tuple[str, int]:
    """One expert episode recorded the way `collect_episodes` records it, without rendering."""
    opts = {k: v for k, v in case.items() if k not in ("task", "seed", "labels", "sha256", "steps", "also")}
    expert = make_expert(env, rng=np.random.default_rng(case["seed"]), **opts)
    label = (lambda: expert.clean_action) if case.get("labels") == "clean" else (lambda: expert.label_action)
    traj = rollout(env, expert.act, seed=case["seed"], label_fn=label)
    states = np.stack([o["observation.state"] for o in traj.observations])
    return digest(traj.actions, states, traj.progress, traj.stage, traj.success), len(traj.actions)


def collect_digest(case: dict) -> list[str]:
    opts = {k: v for k, v in case.items() if k not in ("task", "n", "sha256", "also")}
    eps = collect_episodes(case["task"], case["n"], image_size=COLLECT_SIZE, **opts)
    return [digest(e.action, e.state, e.progress, e.stage, e.success) for e in eps]


def expert_cases(task: str, failure_modes, picks_cube: bool) -> list[dict]:
    cases = [{"seed": 0}, {"seed": 1}]
    cases += [{"seed": 10 + i, "failure": m} for i, m in enumerate(failure_modes)]
    cases += [
        {"seed": 2, "noise": 0.1, "labels": "clean"},
        {"seed": 3, "noise": 0.1, "noise_rotation": False, "rot_gain": 0.5},
    ]
    if picks_cube:
        cases += [
            {"seed": 4, "regrasp": True},
            {"seed": 5, "drop": True},
            {"seed": 6, "align": True, "noise": 0.05, "noise_phases": FREE},
        ]
    return [{"task": task, **c} for c in cases]


COLLECT_CASES = [
    {"task": "pick_place", "n": 4, "seed": 20, "failures": 0.25, "regrasp": 0.34, "drop": 0.34},
    {"task": "push", "n": 2, "seed": 30, "noise": 0.1, "clean_labels": True},
]


def _load() -> dict:
    return json.loads(DIGESTS.read_text())


def test_digests_cover_every_failure_mode_and_option():
    from robo_reward.sim.tasks import TASKS

    golden = _load()
    for task in golden["tasks"]:
        cases = [c for c in golden["cases"] if c["task"] == task]
        assert {c["failure"] for c in cases if "failure" in c} == set(TASKS[task].failure_modes), task
        picks = {"regrasp", "drop", "align"} & {k for c in cases for k in c}
        assert picks == set(TASKS[task].recovery_options), task


def test_experts_reproduce_the_recorded_datasets():
    golden = _load()
    if golden["mujoco"] != mujoco.__version__:
        pytest.fail(f"digests made with mujoco {golden['mujoco']}, this is {mujoco.__version__}")
    envs: dict = {}
    try:
        for case in golden["cases"]:
            env = envs.setdefault(case["task"], make_env(case["task"], render=False))
            sha, steps = rollout_digest(env, case)
            assert [sha, steps] in [[case["sha256"], case["steps"]], *case.get("also", [])], case
    finally:
        for env in envs.values():
            env.close()
    for case in golden["collect"]:
        assert collect_digest(case) in [case["sha256"], *case.get("also", [])], case


def _generate() -> dict:
    from robo_reward.sim.tasks import TASKS

    tasks = ["reach", "push", "pick_place", "stack", "open_drawer", "drawer_store"]
    cases = []
    for task in tasks:
        cls = TASKS[task]
        env = make_env(task, render=False)
        for case in expert_cases(task, cls.failure_modes, bool(cls.recovery_options)):
            case["sha256"], case["steps"] = rollout_digest(env, case)
            cases.append(case)
        env.close()
    collect = [{**c, "sha256": collect_digest(c)} for c in COLLECT_CASES]
    return {"mujoco": mujoco.__version__, "tasks": tasks, "cases": cases, "collect": collect}


def _add_variant(golden: dict, mine: dict) -> int:
    """Add this machine's digests to `golden`'s cases where they differ; the number of cases added to."""
    added = 0
    for old, new in zip(golden["cases"], mine["cases"], strict=True):
        if [new["sha256"], new["steps"]] not in [[old["sha256"], old["steps"]], *old.get("also", [])]:
            old.setdefault("also", []).append([new["sha256"], new["steps"]])
            added += 1
    for old, new in zip(golden["collect"], mine["collect"], strict=True):
        if new["sha256"] not in [old["sha256"], *old.get("also", [])]:
            old.setdefault("also", []).append(new["sha256"])
            added += 1
    return added


if __name__ == "__main__":
    import sys

    mine = _generate()
    if "--add-variant" in sys.argv[1:]:
        golden = _load()
        n = _add_variant(golden, mine)
        DIGESTS.write_text(json.dumps(golden, indent=1) + "\n")
        print(f"added this machine's digests to {n} case(s) of {DIGESTS}")
    else:
        DIGESTS.write_text(json.dumps(mine, indent=1) + "\n")
        print(f"wrote {DIGESTS}")
