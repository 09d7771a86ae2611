"""`robo-reward sim ...`: list tasks, watch an expert, collect datasets, render contact sheets."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np

from robo_reward.utils.cli_helpers import console, emit_json, print_table


def list_(robosuite: bool = True) -> None:
    """List the tasks (a grounding scene's one per row): name, stages, episode length, instruction,
    wordings (training / held out)."""
    from robo_reward.sim import list_tasks, task_spec
    from robo_reward.sim.validate import suite_tasks

    rows = []
    for name in suite_tasks() + [t for t in list_tasks() if t.startswith("robosuite/") and robosuite]:
        spec = task_spec(name)
        rows.append(
            {
                "task": name,
                "stages": spec.num_stages,
                "max_steps": spec.max_steps,
                "instruction": spec.instruction,
                "wordings": f"{len(spec.wordings.train)} / {len(spec.wordings.held_out)}",
            }
        )
    print_table("robo_reward tasks", rows)


def demo(
    task: str = "all",
    seeds: int = 3,
    image_size: int = 96,
    out: Path = Path("runs/sim-demo"),
    json: Path | None = None,
) -> dict:
    """Run the scripted expert on a task (or `all` native tasks); print success and progress; save sheets."""
    from robo_reward.sim import list_tasks
    from robo_reward.sim.collect import collect_episodes
    from robo_reward.utils.logging import progress_bar
    from robo_reward.utils.plots import contact_sheet

    tasks = [t for t in list_tasks() if not t.startswith("robosuite/")] if task == "all" else [task]
    rows = []
    with progress_bar() as bar:
        job = bar.add_task("expert demos", total=len(tasks) * seeds, info="")
        for name in tasks:
            t0 = time.perf_counter()
            eps = collect_episodes(name, seeds, image_size=image_size, on_episode=lambda _: bar.advance(job))
            dt = time.perf_counter() - t0
            sheet = contact_sheet(
                eps[0].views,
                out / f"{name}.png",
                curves={"progress": eps[0].progress},
                title=f"{name}: {eps[0].task}",
                fps=eps[0].fps,
            )
            rows.append(
                {
                    "task": name,
                    "success": float(np.mean([e.outcome == "success" for e in eps])),
                    "final_progress": float(np.mean([e.progress[-1] for e in eps])),
                    "steps": int(np.mean([len(e) for e in eps])),
                    "steps_per_s": sum(len(e) for e in eps) / dt,
                    "sheet": str(sheet),
                }
            )
    print_table("scripted experts", rows)
    result = {"tasks": rows}
    emit_json(json, result)
    return result


def collect(
    out: Path,
    task: str = "pick_place",
    episodes: int = 50,
    failures: float = 0.0,
    noise: float = 0.0,
    clean_labels: bool = False,
    noise_phases: str = "",
    noise_rotation: bool = True,
    rot_gain: float = 1.0,
    regrasp: float = 0.0,
    drop: float = 0.0,
    align: bool = False,
    wordings: Literal["train", "held_out", "canonical"] = "train",
    seed: int = 0,
    image_size: int = 96,
    overwrite: bool = False,
) -> Path:
    """Collect scripted-expert episodes of `task` (comma-separated list, or `all`) into a LeRobotDataset v3.

    `--failures 0.3` injects a failure mode (missed grasp, drop, wrong place, stall) into 30 % of them,
    labelled `partial` or `failure`. `--noise 0.1` adds Gaussian noise to the expert's arm actions; with
    `--clean-labels` the noisy actions are executed but the expert's noise-free actions are stored.
    `--noise-phases above_cube,lift,carry` adds the noise only in those expert phases (default: all);
    `--no-noise-rotation` keeps it off the rotation dims (translation only). `--rot-gain 0.25` makes the
    expert remove a quarter of its rotation error per step (a visible servo over the approach) instead of
    all of it in the first steps; `--rot-gain 0` never rotates the gripper. `--regrasp 0.3` makes 30 % of
    the episodes without a failure miss their first grasp by 2.5-4 cm and recover (re-open, rise, grasp
    again); the miss is recorded with the correct action as its label. `--drop 0.2` makes 20 % of them
    (drawn independently) let the lifted cube slip out, close on nothing and pick it up again; the slip is
    labelled with holding on and the empty closed gripper with the way back. `--align` makes the expert
    turn the gripper to the cube's yaw once above it, where the wrist camera sees the rotation, instead
    of in the first steps. Each episode's instruction is drawn from the task's training wordings
    (`--wordings train`, seeded), from its held-out ones (`held_out`, to test a policy on phrasings it
    was not trained on), or is the canonical one (`canonical`). A grounding scene (e.g.
    `pick_place_color`) instructs its tasks in turn; name one (`pick_place_color:blue`) for only that.
    """
    from robo_reward.utils.errors import UserError
    from robo_reward.utils.preflight import require_fraction, require_positive

    if Path(out).exists() and not overwrite:
        raise UserError(f"--out {out} exists: pass --overwrite to replace it, or choose another folder")
    require_positive(episodes=episodes, image_size=image_size)
    for name, value in (("failures", failures), ("regrasp", regrasp), ("drop", drop)):
        require_fraction(name, value, upper_open=False)

    from robo_reward.data.episode import ENV_STATE_KEY
    from robo_reward.data.lerobot_io import write_dataset
    from robo_reward.sim import STATE_NAMES, list_tasks
    from robo_reward.sim.collect import collect_episodes
    from robo_reward.utils.logging import progress_bar

    names = [t for t in list_tasks() if not t.startswith("robosuite/")] if task == "all" else task.split(",")
    phases = [p.strip() for p in noise_phases.split(",") if p.strip()] or None
    all_eps = []
    with progress_bar() as bar:
        job = bar.add_task("collect", total=episodes * len(names), info="")
        for i, name in enumerate(names):
            all_eps += collect_episodes(
                name,
                episodes,
                failures=failures,
                seed=seed + 100_000 * i,
                image_size=image_size,
                noise=noise,
                clean_labels=clean_labels,
                noise_phases=phases,
                noise_rotation=noise_rotation,
                rot_gain=rot_gain,
                regrasp=regrasp,
                drop=drop,
                align=align,
                wordings=wordings,
                on_episode=lambda _: bar.advance(job),
            )
        # one column has one width in every episode: tasks whose objects differ (or an env without object
        # state, e.g. robosuite's, beside a native one) leave it out
        widths = {e.extras[ENV_STATE_KEY].shape[1] if ENV_STATE_KEY in e.extras else None for e in all_eps}
        if len(widths) > 1:
            for e in all_eps:
                e.extras.pop(ENV_STATE_KEY, None)
            console.print(
                f"the tasks' object states differ ({sorted(widths, key=str)}): no {ENV_STATE_KEY} column"
            )
        job = bar.add_task("write dataset", total=len(all_eps), info=str(out))
        write_dataset(
            all_eps,
            out,
            state_names=list(STATE_NAMES),
            action_names=["dx", "dy", "dz", "drx", "dry", "drz", "gripper"],
            overwrite=overwrite,
            progress_callback=lambda n: bar.update(job, completed=n),
        )
    outcomes = {o: sum(e.outcome == o for e in all_eps) for o in ("success", "partial", "failure")}
    console.print(f"wrote {len(all_eps)} episodes ({outcomes}) to {out}")
    return out


def render(
    task: str = "pick_place",
    out: Path = Path("grid.png"),
    seed: int = 0,
    image_size: int = 96,
    frames: int = 8,
    failure: Literal["none", "miss_grasp", "drop", "wrong_place", "stall"] = "none",
) -> Path:
    """Write a contact sheet (views × time) of one expert episode with its progress and stage curves."""
    from robo_reward.sim import make_env
    from robo_reward.sim.experts import make_expert
    from robo_reward.sim.rollout import run_episode
    from robo_reward.utils.plots import contact_sheet

    env = make_env(task, image_size=image_size)
    try:
        expert = make_expert(
            env, failure=None if failure == "none" else failure, rng=np.random.default_rng(seed)
        )
        ep = run_episode(env, expert.act, seed=seed)
    finally:
        env.close()
    stage = ep.stage / max(1, int(ep.stage.max())) if ep.stage is not None else None
    curves = {"progress": ep.progress, **({"stage (scaled)": stage} if stage is not None else {})}
    contact_sheet(ep.views, out, curves=curves, n_frames=frames, title=f"{task} ({ep.outcome}): {ep.task}")
    console.print(f"wrote {out} ({len(ep)} frames, outcome {ep.outcome})")
    return out


def validate(
    tasks: str = "all", seeds: int = 20, noise: float = 0.0, render: bool = False, json: Path | None = None
) -> list[dict]:
    """Check every task against its targets over `seeds` seeds: expert success ≥ 90 %, success with
    failure injection ≤ 10 %, progress starting ≤ 0.05 and ending ≥ 0.95, Spearman(progress, time) ≥ 0.9."""
    from robo_reward.sim.validate import validate as run_validate

    names = None if tasks == "all" else tasks.split(",")
    rows = run_validate(names, seeds=seeds, noise=noise, render=render)
    print_table(
        f"task suite over {seeds} seeds",
        [{k: v for k, v in r.items() if k != "failure_outcomes"} for r in rows],
    )
    emit_json(json, {"seeds": seeds, "noise": noise, "tasks": rows})
    return rows


COMMANDS = {
    "list": list_,
    "demo": demo,
    "collect": collect,
    "render": render,
    "validate": validate,
}
