"""Evaluation harness: any progress source → VOC, S/P/F, AUROC, EPIC, in one table, with plots.

A *progress source* is any callable `episode -> (T,) progress in [0, 1]` (the GRM, the perceptual
reward, a baseline, the simulator's privileged progress), so every estimator lands in the same table
through the same code. The maths lives in `robo_reward.rewards.metrics`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from robo_reward.data.episode import Episode
from robo_reward.rewards import metrics as M

ProgressSource = Callable[[Episode], np.ndarray]


def subsample_episode(ep: Episode, idx: np.ndarray) -> Episode:
    """The episode restricted to frames `idx` (every per-frame column sliced alike)."""
    idx = np.asarray(idx)

    def cut(a):
        return None if a is None else a[idx]

    return dataclasses.replace(
        ep,
        views={k: v[idx] for k, v in ep.views.items()},
        state=ep.state[idx],
        action=ep.action[idx],
        progress=cut(ep.progress),
        stage=cut(ep.stage),
        success=cut(ep.success),
        extras={k: np.asarray(v)[idx] for k, v in ep.extras.items()},
    )


def privileged_progress(ep: Episode) -> np.ndarray:
    """The simulator's stage-based progress: the oracle row of every table (evaluation only)."""
    if ep.progress is None:
        raise ValueError("episode has no privileged progress column")
    return np.asarray(ep.progress, dtype=np.float64)


def _num_stages(ep: Episode) -> int:
    """Stages of the episode's task: the sim registry's count, else the highest stage seen + 1."""
    if ep.task_name:
        try:
            from robo_reward.sim import task_spec

            return int(task_spec(ep.task_name).num_stages)
        except (ImportError, KeyError):
            pass
    return int(np.max(ep.stage)) + 1


def end_state_outcome(ep: Episode) -> str:
    """Outcome from where the episode *ends*, the truth the S/P/F rule is scored against.

    success: successful on the last frame; partial: the last frame is past stage 0 (a completed stage
    that was kept), or for a single-stage task has progress ≥ 0.5; failure: otherwise.
    The recorded `outcome` of sim episodes calls a run `partial` when stage 1 was reached at *any*
    time, so a dropped object that ends back at stage 0 (Φ ≈ 0.15 to the end) is `partial` — a label
    no progress curve can earn under the rule (partial: mean Φ over the last third ≥ 0.4).
    Episodes without stage and success columns keep their recorded outcome.
    """
    if ep.stage is None or ep.success is None:
        return ep.outcome
    if bool(np.asarray(ep.success)[-1]):
        return "success"
    if _num_stages(ep) > 1:
        return "partial" if int(np.asarray(ep.stage)[-1]) >= 1 else "failure"
    if ep.progress is None:
        return ep.outcome
    return "partial" if float(np.asarray(ep.progress)[-1]) >= 0.5 else "failure"


def _checked(source: ProgressSource, ep: Episode) -> np.ndarray:
    out = np.asarray(source(ep), dtype=np.float64).reshape(-1)
    if len(out) != len(ep):
        raise ValueError(f"progress source returned {len(out)} values for an episode of {len(ep)} frames")
    if not np.all(np.isfinite(out)):
        raise ValueError("progress source returned non-finite values")
    return out


def evaluate_source(
    source: ProgressSource,
    episodes: Sequence[Episode],
    densities: dict[str, int] | None = None,
    gamma: float = 0.99,
) -> dict:
    """Metrics of one progress source over `episodes`.

    VOC at each density is the mean over successful episodes of Spearman(progress, frame order),
    the source seeing only the subsampled frames (an incremental estimator integrates over them).
    S/P/F, AUROC and EPIC (to the privileged progress, where present) use every frame. AUROC scores each
    episode by its final Φ (where it ends, which is what the end-state truth reads), success against
    partial and failure; `auroc_tail` scores it by the mean Φ over its last third instead, which penalises
    successes for ending early (the env stops at success, so their last third still holds the climb):
    privileged progress itself gets well below 1 on it. S/P/F is scored
    against `end_state_outcome` (`spf_accuracy`, `confusion`) and, for reference, against the
    recorded outcome (`spf_accuracy_recorded`, `confusion_recorded`). `per_episode` lists, for each
    episode, its task, both truths, the predicted class, the final Φ and the last-third mean the rule reads.
    Returns a dict of numbers plus `"progress"`: the dense curve per episode, for plots.
    """
    densities = M.DENSITIES if densities is None else densities
    out: dict = {"episodes": len(episodes)}
    successes = [ep for ep in episodes if ep.outcome == "success"]
    dense: list[np.ndarray] = [_checked(source, ep) for ep in episodes]
    for name, n in densities.items():
        if n <= 0:
            vals = [M.voc(p) for p, ep in zip(dense, episodes, strict=True) if ep.outcome == "success"]
        else:
            vals = [
                M.voc(_checked(source, subsample_episode(ep, M.sample_indices(len(ep), n))))
                for ep in successes
            ]
        out[f"voc_{name}"] = float(np.mean(vals)) if vals else float("nan")
        out[f"voc_{name}_std"] = float(np.std(vals)) if vals else float("nan")
    true = [end_state_outcome(ep) for ep in episodes]
    recorded = [ep.outcome for ep in episodes]
    pred = [M.classify_progress(p) for p in dense]
    out["spf_accuracy"] = M.accuracy(true, pred)
    out["confusion"] = M.confusion_matrix(true, pred).tolist()
    out["confusion_labels"] = list(M.OUTCOMES)
    out["spf_accuracy_recorded"] = M.accuracy(recorded, pred)
    out["confusion_recorded"] = M.confusion_matrix(recorded, pred).tolist()
    scores = np.array([M.tail_mean(p) for p in dense])
    finals = np.array([p[-1] for p in dense])
    is_success = np.array([t == "success" for t in true])
    out["auroc"] = M.auroc(finals, is_success)
    out["auroc_tail"] = M.auroc(scores, is_success)
    out["success_failure_gap"] = M.success_failure_gap(finals, true)
    out["per_episode"] = [
        {
            "index": i,
            "task": ep.task_name or ep.task,
            "frames": len(ep),
            "truth": t,
            "recorded": rec,
            "predicted": pr,
            "final": float(p[-1]),
            "tail_mean": float(sc),
        }
        for i, (ep, t, rec, pr, p, sc) in enumerate(
            zip(episodes, true, recorded, pred, dense, scores, strict=True)
        )
    ]
    with_truth = [i for i, ep in enumerate(episodes) if ep.progress is not None]
    if with_truth:
        success = [
            np.asarray(episodes[i].success, np.float64)
            if episodes[i].success is not None
            else np.zeros(len(episodes[i]))
            for i in with_truth
        ]
        truth = [privileged_progress(episodes[i]) for i in with_truth]
        out["kendall_tau"] = float(
            np.mean([M.kendall_tau(dense[i], t) for i, t in zip(with_truth, truth, strict=True)])
        )
        out["potential"] = M.potential_diagnostics([dense[i] for i in with_truth], truth)
        out["epic"] = M.progress_epic_distance(
            [dense[i] for i in with_truth],
            [privileged_progress(episodes[i]) for i in with_truth],
            gamma=gamma,
            success=success,
        )
    out["progress"] = dense
    return out


def evaluate_sources(
    sources: dict[str, ProgressSource], episodes: Sequence[Episode], **kwargs
) -> dict[str, dict]:
    """`evaluate_source` for each named source over the same episodes, showing progress per source call."""
    from robo_reward.utils.logging import progress_bar

    densities = M.DENSITIES if kwargs.get("densities") is None else kwargs["densities"]
    successes = sum(ep.outcome == "success" for ep in episodes)
    calls = len(episodes) + successes * sum(n > 0 for n in densities.values())  # see evaluate_source

    def counted(name: str, source: ProgressSource) -> ProgressSource:
        def call(ep: Episode) -> np.ndarray:
            out = source(ep)
            bar.update(job, advance=1, info=name)
            return out

        return call

    with progress_bar() as bar:
        job = bar.add_task("score episodes", total=len(sources) * calls, info="")
        return {
            name: evaluate_source(counted(name, src), episodes, **kwargs) for name, src in sources.items()
        }


TABLE_COLUMNS = (
    "voc_sparse",
    "voc_medium",
    "voc_dense",
    "spf_accuracy",
    "spf_accuracy_recorded",
    "auroc",
    "auroc_tail",
    "kendall_tau",
    "success_failure_gap",
    "epic",
)


def table_rows(results: dict[str, dict]) -> list[dict]:
    """One row per source with the headline numbers (for `markdown_table` / `print_table`)."""
    return [{"source": name, **{c: r.get(c) for c in TABLE_COLUMNS}} for name, r in results.items()]


def json_ready(results: dict[str, dict]) -> dict[str, dict]:
    """Results without the per-episode curves (for `--json`)."""
    return {name: {k: v for k, v in r.items() if k != "progress"} for name, r in results.items()}


def plot_progress(
    episodes: Sequence[Episode], results: dict[str, dict], out: str | Path, max_episodes: int = 4
) -> Path:
    """Predicted progress of every source against the privileged progress for a few episodes (PNG).

    Picks up to `max_episodes`, one per outcome first so failures are on the page too.
    """
    from robo_reward.utils.io import atomic_path
    from robo_reward.utils.plots import _plt

    plt = _plt()
    picked: list[int] = []
    for outcome in M.OUTCOMES:
        picked += [i for i, ep in enumerate(episodes) if ep.outcome == outcome][:1]
    picked += [i for i in range(len(episodes)) if i not in picked]
    picked = picked[:max_episodes]
    fig, axes = plt.subplots(1, len(picked), figsize=(3.2 * len(picked), 2.8), squeeze=False)
    for ax, i in zip(axes[0], picked, strict=False):
        ep = episodes[i]
        if ep.progress is not None:
            ax.plot(ep.progress, "k--", lw=1.5, label="privileged")
        for name, r in results.items():
            if name != "privileged":  # drawn above, dashed
                ax.plot(r["progress"][i], label=name, lw=1.2)
        ax.set_title(f"{ep.task_name or ep.task[:24]} ({ep.outcome})", fontsize=8)
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("frame", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("progress")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out
