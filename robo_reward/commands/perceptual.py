"""`robo-reward perceptual ...`: fit a perceptual reward from a few demos, score datasets with it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np

from robo_reward.models.perceptual.configuration_perceptual import SEGMENT_COMPONENTS, SEGMENT_TREND
from robo_reward.utils.cli_helpers import console, emit_json, print_table

DEFAULT_STEPS = 3


def resolve_num_steps(steps: int | None, episodes) -> int:
    """`steps` if given; else the sim registry's stage count for the demos' task; else 3.

    The number of steps is the user's choice in the method (a prior about the task, not a label);
    for sim tasks the registry's stage count is that prior.
    """
    if steps is not None:
        return steps
    names = {ep.task_name for ep in episodes if ep.task_name}
    if len(names) == 1:
        try:
            from robo_reward.sim import task_spec

            return max(2, int(task_spec(names.pop()).num_stages))
        except (ImportError, KeyError, ValueError):
            pass
    return DEFAULT_STEPS


def select_episodes(episodes, task: str | None = None, outcome: str | None = None):
    """(index, episode) pairs, optionally of one task (registry name or instruction) and outcome."""
    return [
        (i, ep)
        for i, ep in enumerate(episodes)
        if (task is None or task in (ep.task_name, ep.task)) and (outcome is None or ep.outcome == outcome)
    ]


def fit(
    demos: Path,
    out: Path,
    episodes: int = 5,
    task: str | None = None,
    encoder: str = "tcn-small-sim",
    steps: int | None = None,
    views: list[str] | None = None,
    alpha: float = 5.0,
    top_m: int = 32,
    combination: Literal["expected_step", "geometric"] = "expected_step",
    trend: float = SEGMENT_TREND,
    components: int | None = SEGMENT_COMPONENTS,
    seed: int = 0,
    json: Path | None = None,
) -> dict:
    """Fit a perceptual reward from the first EPISODES successful demos of DEMOS (a dataset folder).

    ENCODER is an encoder checkpoint (e.g. from `robo-reward encoder train`), a shipped model's name
    (default: tcn-small-sim, the multi-view TCN trained on the sim tasks) or a preset name for random
    weights (tcn-small, drawn with SEED). STEPS defaults to the sim task's stage count. TREND: the share
    of a segment's cost from the residual about a linear trend (0: the paper's constant model).
    COMPONENTS: segment in this many whitened principal components of each episode (None: every
    feature, as the paper). Writes OUT (config.json + model.safetensors + fit.json) and reports how the
    found steps agree with any stage column.
    """
    from robo_reward.utils.preflight import require_dataset, require_positive

    require_dataset(demos, "--demos")
    require_positive(episodes=episodes, steps=steps, top_m=top_m)

    import torch

    from robo_reward.data.lerobot_io import load_episodes
    from robo_reward.models.perceptual.configuration_perceptual import PerceptualConfig
    from robo_reward.models.perceptual.modeling_perceptual import PerceptualReward, segmentation_agreement

    t0 = time.perf_counter()
    chosen = select_episodes(load_episodes(demos, views=views), task, "success")[:episodes]
    if not chosen:
        raise SystemExit(f"no successful episodes in {demos}" + (f" for task {task!r}" if task else ""))
    demo_eps = [ep for _, ep in chosen]
    config = PerceptualConfig(
        encoder=str(encoder),
        views=tuple(views) if views else None,
        alpha=alpha,
        top_m=top_m,
        num_steps=resolve_num_steps(steps, demo_eps),
        combination=combination,
        segment_trend=trend,
        segment_components=components,
    )
    torch.manual_seed(seed)  # random weights when ENCODER is a preset
    reward = PerceptualReward.fit(demo_eps, config)
    reward.fit_info.update({"demos": str(Path(demos).resolve()), "episode_indices": [i for i, _ in chosen]})
    reward.save_pretrained(out)
    result = {
        "checkpoint": str(out),
        "demos": len(demo_eps),
        "num_steps": reward.num_steps,
        "fit_s": time.perf_counter() - t0,
        "demo_starts": reward.fit_info["demo_starts"],
    }
    if all(ep.stage is not None for ep in demo_eps):
        result["demo_jaccard"] = float(np.mean(segmentation_agreement(reward.segmenter, demo_eps)))
    console.print(result)
    emit_json(json, result)
    return result


def score(
    checkpoint: Path,
    data: Path,
    json: Path | None = None,
    task: str | None = None,
    include_fit_demos: bool = False,
    max_episodes: int | None = None,
    baselines: bool = True,
    plot: Path | None = None,
    negatives: Path | None = None,
    grm: Path | None = None,
) -> dict:
    """Score every episode of DATA with a fitted perceptual reward: VOC (sparse/medium/dense) on
    successful episodes, AUROC success-vs-failure of the last-third mean, S/P/F accuracy, and the
    Jaccard overlap of the reward's steps with the stage column where there is one; with
    --baselines (default) the goal-embedding distance and linear-time baselines in the same table.
    The demos the reward was fitted on are left out when DATA is their dataset. NEGATIVES: a second
    dataset (e.g. collected with `--failures 1.0`) whose episodes are all scored as non-successes
    against DATA's successes (`auroc_success_vs_negatives`), for tasks where DATA holds few failures.
    GRM: a general reward model checkpoint scored on the same episodes, in the same table (its goal
    reference for a task it has none of: the first fitted demo)."""
    from robo_reward.utils.preflight import require_checkpoint, require_dataset

    require_checkpoint(checkpoint)
    require_dataset(data)
    if negatives is not None:
        require_dataset(negatives, "--negatives")
    if grm is not None:
        require_checkpoint(grm, "--grm")

    from robo_reward.data.lerobot_io import load_episodes
    from robo_reward.models.perceptual.modeling_perceptual import PerceptualReward
    from robo_reward.models.perceptual.segmentation import boundary_shifts, stage_starts, step_ious
    from robo_reward.rewards import evaluation
    from robo_reward.rewards.metrics import auroc, tail_mean
    from robo_reward.utils.cli_helpers import markdown_table

    reward = PerceptualReward.from_pretrained(checkpoint)
    eps = select_episodes(load_episodes(data, views=reward.config.views), task)
    if not include_fit_demos and reward.fit_info.get("demos") == str(Path(data).resolve()):
        used = set(reward.fit_info.get("episode_indices", []))
        eps = [(i, ep) for i, ep in eps if i not in used]
    eps = eps[:max_episodes] if max_episodes else eps
    if not eps:
        raise SystemExit(f"no episodes to score in {data}")
    episodes = [ep for _, ep in eps]
    t0 = time.perf_counter()
    # every frame's features once: the reward and the segmentation both read them
    features = {id(ep): reward.features(ep) for ep in episodes}

    def perceptual(ep):  # subsampled copies (sparse/medium VOC) are new objects: computed afresh
        f = features.get(id(ep))
        return reward(ep) if f is None else reward.progress_from_features(f)

    sources = {"perceptual": perceptual}
    if baselines or grm is not None:
        demo = load_episodes(reward.fit_info["demos"], [reward.fit_info["episode_indices"][0]])[0]
    if baselines:
        from robo_reward.rewards.baselines import GoalDistanceProgress, linear_time_progress

        sources["goal_distance"] = GoalDistanceProgress.from_demo(reward.encoder, demo, reward.config.views)
        sources["linear_time"] = linear_time_progress
    if grm is not None:
        sources["grm"] = grm_progress(grm, demo)
    results = evaluation.evaluate_sources(sources, episodes)
    outcomes = np.array([ep.outcome for ep in episodes])
    keep = outcomes != "partial"
    for r in results.values():
        tails = np.array([tail_mean(c) for c in r["progress"]])
        r["auroc_success_vs_failure"] = auroc(tails[keep], (outcomes == "success")[keep])
    p = results["perceptual"]
    p["seconds"] = time.perf_counter() - t0  # features, all sources, metrics
    if negatives is not None:
        extra = [ep for _, ep in select_episodes(load_episodes(negatives, views=reward.config.views), task)]
        extra = [ep for ep in extra if ep.outcome != "success"]
        if not extra:
            raise SystemExit(f"no unsuccessful episodes in {negatives}")
        success_tails = [tail_mean(c) for c, o in zip(p["progress"], outcomes, strict=True) if o == "success"]
        negative_tails = [tail_mean(reward(ep)) for ep in extra]
        p["negatives"] = len(extra)
        p["auroc_success_vs_negatives"] = auroc(
            np.array(success_tails + negative_tails),
            np.array([True] * len(success_tails) + [False] * len(negative_tails)),
        )
    segmenter = reward.segmenter
    ious, shifts = [], []
    for ep in episodes:
        if ep.stage is None or ep.outcome != "success":
            continue
        predicted, true = segmenter.segment_features(features[id(ep)]), stage_starts(ep.stage)
        ious.append(step_ious(predicted, true, len(ep)))
        shifts.append(boundary_shifts(predicted, true))
    if ious:
        p["segmentation_jaccard"] = float(np.mean([np.mean(i) for i in ious]))
        # per step, over episodes that reach it: which steps fail, and are boundaries early or late
        p["segmentation_step_iou"] = _ragged_mean(ious)
        p["segmentation_boundary_shift"] = _ragged_mean(shifts)
    rows = [
        {**row, "auroc_s_vs_f": results[row["source"]]["auroc_success_vs_failure"]}
        for row in evaluation.table_rows(results)
    ]
    print_table(f"perceptual reward on {len(episodes)} episodes", rows)
    result = {
        "data": str(data),
        "checkpoint": str(checkpoint),
        "outcomes": {o: int((outcomes == o).sum()) for o in ("success", "partial", "failure")},
        "sources": evaluation.json_ready(results),
        "table": markdown_table(rows),
    }
    if plot is not None:
        evaluation.plot_progress(episodes, results, plot)
    emit_json(json, result)
    return result


def grm_progress(checkpoint: Path, demo):
    """The GRM's fused progress as a progress source; `demo` (a success) is its goal reference when
    the checkpoint holds none for the demo's task."""
    from robo_reward.commands.grm import add_reference
    from robo_reward.models.grm.inference import ProgressEstimator
    from robo_reward.models.grm.modeling_grm import GRM

    model = GRM.from_pretrained(checkpoint)
    if not ({demo.task_name, demo.task} & set(model.references)):
        add_reference(model, demo)
    return ProgressEstimator(model)


def _ragged_mean(rows) -> list[float]:
    """Column means of rows of unequal length (NaN entries and missing columns ignored)."""
    width = max((len(r) for r in rows), default=0)
    grid = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        grid[i, : len(r)] = r
    return [float(np.nanmean(c)) if np.isfinite(c).any() else float("nan") for c in grid.T]


COMMANDS = {"fit": fit, "score": score}
