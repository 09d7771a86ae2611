"""`robo-reward bench ...`: speed and quality measurements, each a ratio or table from one run."""

from __future__ import annotations

import importlib
from pathlib import Path

from tyro.conf import Positional

from robo_reward.models.perceptual.configuration_perceptual import SEGMENT_COMPONENTS, SEGMENT_TREND
from robo_reward.utils.cli_helpers import emit_json


def _run(module: str, **kwargs) -> dict:
    return importlib.import_module(f"robo_reward.bench.{module}").run(**kwargs)


def sim(json: Path | None = None, steps: int = 200, image_size: int = 96) -> dict:
    """Env steps/s with 3 views vs the raw MuJoCo step+render rate of the same scene; vector-env scaling."""
    return _run("sim", json=json, steps=steps, image_size=image_size)


def policy(
    json: Path | None = None, checkpoint: list[Path] | None = None, threads: int | None = None
) -> dict:
    """Flow-policy chunk latency p50/p95 per preset, trunk vs expert split, batched throughput.

    `--checkpoint DIR` adds saved policies (e.g. a shipped model under models/) as rows of the table;
    `--threads 2` sets torch's thread count (the latency targets are stated at 2)."""
    if checkpoint:
        from robo_reward.utils.preflight import require_checkpoint

        for c in checkpoint:
            require_checkpoint(c)
    return _run("policy", json=json, checkpoints=tuple(checkpoint or ()), threads=threads)


def reward(
    checkpoint: Path = Path("models/grm-lite-sim"),
    data: Path | None = None,
    task: str = "open_drawer",
    steps: int = 100,
    image_size: int = 128,
    episodes: int = 20,
    threads: int = 2,
    json: Path | None = None,
) -> dict:
    """GRM speed: online reward per control step (1 env, 3 views, `--threads`) beside the env step's own
    time, and with `--data DIR` offline labelling frames/s over its first `--episodes` (features computed,
    then cached)."""
    from robo_reward.utils.preflight import require_checkpoint, require_dataset

    require_checkpoint(checkpoint)
    if data is not None:
        require_dataset(data, "--data")
    return _run(
        "reward", checkpoint=checkpoint, data=data, task=task, steps=steps, image_size=image_size,
        episodes=episodes, threads=threads, json=json,
    )  # fmt: skip


def ros(json: Path | None = None, seconds: float = 10.0, rate: float = 30.0) -> dict:
    """Camera-stamp → command-publish latency over real ROS 2 on loopback, dropped bundles, CPU use."""
    return _run("ros", json=json, seconds=seconds, rate=rate)


def calibration(json: Path | None = None, views: int = 12, seeds: int = 3) -> dict:
    """Camera sync bundle count vs the exhaustive optimum; ChArUco calibration error vs MuJoCo's truth."""
    return _run("calibration", json=json, views=views, seeds=seeds)


def perceptual(
    data: Path = Path("data/perc/eval"),
    out: Path = Path("runs/bench/perceptual"),
    demos: int = 5,
    reach_negatives: Path | None = None,
    trend: float = SEGMENT_TREND,
    components: int | None = SEGMENT_COMPONENTS,
    grm: Path | None = None,
    json: Path | None = None,
) -> dict:
    """Perceptual reward from DEMOS demos per task (DATA/<task>, scored on the rest), shipped TCN encoder
    vs the same network with random weights: Jaccard vs sim stages, VOC, AUROC, S/P/F, goal baseline.
    REACH_NEGATIVES: an all-failure reach dataset scored as extra negatives (reach has few failures).
    TREND: the segmentation's linear-trend share (0: the paper's piecewise-constant steps). COMPONENTS:
    the whitened principal components it reads (None: every feature). GRM: a reward
    model checkpoint scored on the same episodes, with the baselines, as rows of the same table."""
    negatives = {"reach": reach_negatives} if reach_negatives else None
    return _run(
        "perceptual",
        data=data,
        out=out,
        demos=demos,
        negatives=negatives,
        trend=trend,
        components=components,
        grm=grm,
        json=json,
    )


def recipes() -> list[dict]:
    """Every named recipe: its name, what it measures or makes, and its command line."""
    from robo_reward.bench.recipes import RECIPES

    for r in RECIPES.values():
        print(f"{r.name}\t{r.about}\n    {r.command_line()}")
    return [{"name": r.name, "about": r.about, "command": r.command_line()} for r in RECIPES.values()]


def run(name: Positional[str]) -> dict:
    """Run the named recipe (after the recipes it needs whose outputs are missing); see `bench recipes`."""
    from robo_reward.bench.recipes import get_recipe, run_with_needs

    print(get_recipe(name).command_line())
    return run_with_needs(name)


def all(
    report: Path = Path("docs/results.md"),
    only: list[str] | None = None,
    recipe: list[str] | None = None,
    json: Path | None = None,
) -> dict:
    """Run the recipes behind every published number (or the sections named by --only) and write the
    report (`docs/results.md`; the measurements beside it in `docs/results.json`). Sections: sim, tasks,
    grm, adapt, reward_speed, perceptual, policy, rl, dpo, dpo_keep, dpo_critic, quickstart, vla,
    calibration, ros. `--recipe NAME [NAME ...]` re-measures single recipes and keeps the other results
    of their sections. Hours on 2 CPU cores; datasets and checkpoints a recipe needs are made first when
    missing."""
    from robo_reward.bench.report import run_all

    result = run_all(report, only=only, recipes=recipe)
    emit_json(json, result)
    return result


COMMANDS = {
    "recipes": recipes,
    "run": run,
    "sim": sim,
    "policy": policy,
    "reward": reward,
    "ros": ros,
    "calibration": calibration,
    "perceptual": perceptual,
    "all": all,
}
