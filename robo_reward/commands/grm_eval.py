"""`robo-reward grm {eval, codec}`: how good a GRM is, and how far its Φ moves with what it is fed.

Also what every `grm` command loads a model and its goal references with (`load_grm`, `add_reference`)."""

from __future__ import annotations

from pathlib import Path

from robo_reward.utils.cli_helpers import set_threads


def load_grm(checkpoint: Path, reference: Path | None = None, reference_episodes: tuple[int, ...] = ()):
    """The GRM, with goal references added from a reference dataset's successful episodes (per task)."""
    from robo_reward.models.grm.modeling_grm import GRM

    model = GRM.from_pretrained(checkpoint)
    if reference is not None:
        from robo_reward.data.lerobot_io import load_episodes

        for ep in load_episodes(reference, episodes=reference_episodes or None):
            if ep.outcome == "success":
                add_reference(model, ep, replace=False)
    return model


def add_reference(model, ep, replace: bool = True) -> None:
    from robo_reward.models.grm.inference import store_reference

    store_reference(model.references, ep, model.config.views, replace)


def eval(
    checkpoint: Path,
    data: list[Path],
    json: Path | None = None,
    plots: Path | None = None,
    reference: Path | None = None,
    reference_episodes: tuple[int, ...] = (),
    tasks: tuple[str, ...] = (),
    perspectives: bool = True,
    chunk_policy: Path | None = None,
    chunk_tasks: tuple[str, ...] = ("open_drawer", "pick_place"),
    chunk_episodes: int = 10,
    chunk_seed: int = 0,
    threads: int | None = None,
) -> dict:
    """VOC (sparse/medium/dense), S/P/F accuracy + confusion, AUROC, Kendall τ, success − failure gap,
    EPIC and the potential diagnostics for the GRM, its perspectives and baselines (linear time,
    privileged progress) over the datasets, as one table.

    `--chunk-policy P` adds chunk ranking: from `--chunk-episodes` rollouts of policy P on each of
    `--chunk-tasks`, 5 candidate chunks per state executed 8 steps from the same simulator state; the
    GRM's pair accuracy against privileged progress, and at each judge margin the share of states kept
    and of those right, wrong and tied to the oracle (the DPO pair builder's view).

    Goal images: the checkpoint's stored reference per task; else `--reference` dataset's successful
    episodes; else the first successful episode of the task in the data (then left out of the metrics).
    """
    from robo_reward.utils.preflight import require_checkpoint, require_dataset, require_datasets

    require_checkpoint(checkpoint)
    require_datasets(data)
    if reference is not None:
        require_dataset(reference, "--reference")

    from robo_reward.data.lerobot_io import load_episodes
    from robo_reward.models.grm.features import FeatureCache
    from robo_reward.models.grm.inference import ProgressEstimator
    from robo_reward.rewards import evaluation as E
    from robo_reward.rewards.baselines import linear_time_progress
    from robo_reward.train.grm.batches import task_key
    from robo_reward.utils.cli_helpers import emit_json, markdown_table, print_table

    set_threads(threads)
    model = load_grm(checkpoint, reference, reference_episodes)
    episodes = [ep for d in data for ep in load_episodes(d) if not tasks or task_key(ep) in tasks]
    used_as_reference = set()
    for i, ep in enumerate(episodes):
        if ep.outcome == "success" and not ({ep.task_name, ep.task} & set(model.references)):
            add_reference(model, ep)
            used_as_reference.add(i)
    episodes = [ep for i, ep in enumerate(episodes) if i not in used_as_reference]
    cache = FeatureCache(model)
    est = ProgressEstimator(model, cache=cache)
    memo: dict[int, tuple] = {}  # id -> (episode kept alive so its id stays unique, perspectives)

    def view(name: str):
        def source(ep):
            entry = memo.get(id(ep))
            if entry is None or entry[0] is not ep:
                entry = memo[id(ep)] = (ep, est.perspectives(ep))
            return entry[1][name]

        return source

    sources = {"grm": view("fused")}
    if perspectives:
        sources |= {
            f"grm-{p}": view(p)
            for p in ("incremental", "forward", "backward", "mean", "anchored", "consistency")
        }
    sources["linear-time"] = linear_time_progress
    if all(ep.progress is not None for ep in episodes):
        sources["privileged"] = E.privileged_progress
    results = E.evaluate_sources(sources, episodes)
    rows = E.table_rows(results)
    print_table(f"progress sources on {len(episodes)} episodes", rows)
    out = {
        "checkpoint": str(checkpoint),
        "data": [str(d) for d in data],
        "episodes": len(episodes),
        "references_from_data": len(used_as_reference),
        "results": E.json_ready(results),
        "table_markdown": markdown_table(rows),
    }
    if chunk_policy is not None:
        from robo_reward.train.dpo.judges import chunk_ranking

        out["chunk_ranking"] = chunk_ranking(model, chunk_policy, chunk_tasks, chunk_episodes, chunk_seed)
        print_table("chunk ranking (same-state 8-step chunks, against privileged progress)",
                    [{"task": t, **row} for t, row in out["chunk_ranking"]["rows"].items()])  # fmt: skip
    if plots is not None:
        Path(plots).mkdir(parents=True, exist_ok=True)
        E.plot_progress(
            episodes,
            {k: results[k] for k in ("grm", "linear-time", "privileged") if k in results},
            Path(plots) / "progress.png",
        )
        (Path(plots) / "table.md").write_text(out["table_markdown"] + "\n")
    emit_json(json, out)
    return out


def codec(
    checkpoint: Path,
    task: str = "pick_place,open_drawer",
    episodes: int = 10,
    failures: float = 0.5,
    seed: int = 90_000,
    image_size: int = 64,
    json: Path | None = None,
    threads: int | None = 1,
) -> dict:
    """How far the GRM's Φ moves when the same frames go through the datasets' h264 video (what it was
    trained on) instead of arriving raw (what RL and the ROS reward node feed it): per task, scripted
    episodes (`--failures` of them with an injected failure) scored as rendered and after a dataset round
    trip; the per-frame and final-Φ gaps, AUROC of the final Φ on each side, and the codec's pixel change."""
    from robo_reward.utils.preflight import require_checkpoint

    require_checkpoint(checkpoint)
    if episodes < 1 or not 0 <= failures <= 1:
        from robo_reward.utils.errors import UserError

        raise UserError(f"need --episodes ≥ 1 and --failures in [0, 1], got {episodes} and {failures}")
    from robo_reward.models.grm.inference import ProgressEstimator
    from robo_reward.rewards.codec_check import codec_gap
    from robo_reward.sim.collect import collect_episodes
    from robo_reward.utils.cli_helpers import emit_json, print_table

    set_threads(threads)
    model = load_grm(checkpoint)
    rows = []
    for name in [t.strip() for t in task.split(",") if t.strip()]:
        eps = collect_episodes(
            name, episodes, failures=failures, seed=seed, image_size=image_size, noise=0.05
        )
        gap = codec_gap(ProgressEstimator(model), eps)  # its feature cache keys frames by their pixels
        rows.append({"task": name, **{k: round(v, 4) if isinstance(v, float) else v for k, v in gap.items()}})
    print_table(f"GRM Φ, raw frames against the same frames stored as video ({checkpoint})", rows)
    result = {"table": rows}
    emit_json(json, result)
    return result
