"""Training data for the GRM: labelled episodes, references per task, and batch assembly.

A batch is a set of hop queries built from the balanced `PairSampler`, with the augmentations of
the design: start/goal references swapped with another episode's of the same task, view dropout
(before/after views), context dropout (start/goal), and anchor queries (BEFORE = the start or goal
reference itself) that teach the forward- and backward-anchored perspectives used at inference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from robo_reward.data.episode import Episode
from robo_reward.data.labels import Segmenter, hop_labels, keyframes, label_frames, progress_labels, two_hot
from robo_reward.data.sampling import PairSampler
from robo_reward.models.grm.inference import store_reference


def task_key(ep: Episode) -> str:
    return ep.task_name or ep.task


def num_stages_of(task_name: str, episodes: list[Episode]) -> int | None:
    """Stages of a sim task from its registry spec, else the highest stage seen + 1."""
    if task_name:
        try:
            from robo_reward.sim import task_spec

            return int(task_spec(task_name).num_stages)
        except (ImportError, KeyError):
            pass
    stages = [int(np.max(ep.stage)) for ep in episodes if ep.stage is not None]
    return max(stages) + 1 if stages else None


@dataclass
class TrainData:
    """Labelled episodes grouped by task; `usable` drops tasks with no successful episode (no goal)."""

    episodes: list[Episode]
    labels: list[np.ndarray]  # (T_e,) progress per frame
    frames: list[np.ndarray]  # labelled frames (evenly inside keyframe segments)
    by_task: dict[str, list[int]] = field(default_factory=dict)
    successes: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        episodes: list[Episode],
        frames_per_segment: int,
        segmenter: Segmenter | None = None,
        label_source: str = "stages",
        label_stride: int = 2,
    ) -> TrainData:
        """Labels from keyframe segments (`label_source="stages"`), or the privileged progress column
        of every `label_stride`-th frame and the last (`"progress"`, simulator episodes)."""
        groups: dict[str, list[Episode]] = defaultdict(list)
        for ep in episodes:
            groups[task_key(ep)].append(ep)
        stages = {k: num_stages_of(eps[0].task_name, eps) for k, eps in groups.items()}
        kept, labels, frames = [], [], []
        for ep in episodes:
            if ep.outcome != "success" and ep.stage is None:
                continue  # how far a failure got is unknown without stages
            if not any(e.outcome == "success" for e in groups[task_key(ep)]):
                continue  # no goal image for this task
            kept.append(ep)
            if label_source == "progress":
                if ep.progress is None:
                    raise ValueError(
                        f"label_source='progress' needs a progress column; episode of {task_key(ep)!r} has none"
                    )
                labels.append(np.asarray(ep.progress, dtype=np.float64))
                frames.append(np.unique(np.r_[np.arange(0, len(ep), label_stride), len(ep) - 1]))
            else:
                labels.append(progress_labels(ep, stages[task_key(ep)], segmenter))
                frames.append(label_frames(len(ep), keyframes(ep, segmenter), frames_per_segment))
        if not kept:
            raise ValueError("no usable episodes: need successful episodes (goal images) of each task")
        data = cls(kept, labels, frames)
        for i, ep in enumerate(kept):
            data.by_task.setdefault(task_key(ep), []).append(i)
            if ep.outcome == "success":
                data.successes.setdefault(task_key(ep), []).append(i)
        return data

    def sampler(self, zero_fraction: float) -> PairSampler:
        tasks = {k: i for i, k in enumerate(self.by_task)}
        groups = [tasks[task_key(ep)] for ep in self.episodes]
        return PairSampler(self.labels, self.frames, groups=groups, zero_fraction=zero_fraction)

    def references(self, views: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Goal reference per task: the last frame of its first successful episode (see `store_reference`)."""
        refs: dict[str, np.ndarray] = {}
        for idx in self.successes.values():
            store_reference(refs, self.episodes[idx[0]], views)
        return refs


FeatureFn = Callable[[np.ndarray, np.ndarray], torch.Tensor]  # (episodes (B,), frames (B,)) -> (B, V, F)


def make_batch(
    model,
    data: TrainData,
    sampler: PairSampler,
    features: FeatureFn,
    batch_size: int,
    rng: np.random.Generator,
    config,
) -> dict[str, torch.Tensor]:
    """One batch of hop queries as model inputs + two-hot targets (see module doc)."""
    b = sampler.sample(batch_size, rng)
    B, V = len(b.hop), config.num_views
    start_ep, goal_ep = np.empty(B, np.int64), np.empty(B, np.int64)
    for i, e in enumerate(b.episode):
        key = task_key(data.episodes[e])
        swap = rng.random() < config.reference_swap_prob
        start_ep[i] = rng.choice(data.by_task[key]) if swap else e
        own_goal = data.episodes[e].outcome == "success" and not swap
        goal_ep[i] = e if own_goal else rng.choice(data.successes[key])
    target = b.hop.astype(np.float64)
    before = features(b.episode, b.before)
    after = features(b.episode, b.after)
    start_all = features(start_ep, np.zeros(B, np.int64))
    goal_all = features(goal_ep, np.array([len(data.episodes[g]) - 1 for g in goal_ep]))
    # anchor queries: BEFORE is the start (Φ = 0) or the goal (Φ = 1) reference frame itself
    phi_after = np.array([data.labels[e][q] for e, q in zip(b.episode, b.after, strict=True)])
    u, anchor = rng.random(B), config.anchor_fraction
    from_start, from_goal = u < anchor / 2, (u >= anchor / 2) & (u < anchor)
    before[from_start], before[from_goal] = start_all[from_start], goal_all[from_goal]
    target[from_start] = hop_labels(0.0, phi_after[from_start])
    target[from_goal] = hop_labels(1.0, phi_after[from_goal])
    drop = torch.zeros(B, 2 + 2 * V, dtype=torch.bool)
    drop[:, :2] = torch.from_numpy(rng.random((B, 2)) < config.context_dropout)
    for offset in (2, 2 + V):  # view dropout, keeping at least one view of each set
        d = torch.from_numpy(rng.random((B, V)) < config.view_dropout)
        d[d.all(dim=1), rng.integers(V)] = False
        drop[:, offset : offset + V] = d
    tasks = [data.episodes[e].task for e in b.episode]
    r = model.ref_index
    return {
        "start": start_all[:, r],
        "goal": goal_all[:, r],
        "before": before,
        "after": after,
        "tasks": tasks,
        "drop": drop,
        "target": torch.from_numpy(two_hot(target, config.num_bins)).float(),
        "hop": torch.from_numpy(target).float(),
    }


def cached_features(cache, episodes: list[Episode]) -> FeatureFn:
    """Frozen encoder: every episode's (T, V, F) features once, in one table, then indexing."""
    tables = [cache(ep) for ep in episodes]
    offsets = np.cumsum([0, *[len(t) for t in tables[:-1]]])
    flat = torch.cat(tables)
    return lambda e, idx: flat[torch.from_numpy(offsets[e] + idx)]


def live_features(model, episodes: list[Episode]) -> FeatureFn:
    """End-to-end: encode the requested frames now, with gradients through the encoder."""
    views = model.config.views

    def features(e: np.ndarray, idx: np.ndarray) -> torch.Tensor:
        out = [None] * len(e)
        for ep in np.unique(e):
            rows = np.flatnonzero(e == ep)
            feats = model.encode_frames({v: episodes[ep].views[v][idx[rows]] for v in views})
            for j, row in enumerate(rows):
                out[row] = feats[j]
        return torch.stack(out)

    return features


def hop_loss(model, batch: dict, core=None) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy against the two-hot targets; also the mean absolute error of the expected hop.

    `model` may be a DistributedDataParallel wrapper of `core` (the GRM itself).
    """
    core = core or model
    dev = core.device
    logits = model(
        batch["start"].to(dev),
        batch["goal"].to(dev),
        batch["before"].to(dev),
        batch["after"].to(dev),
        batch["tasks"],
        batch["drop"].to(dev),
    )
    loss = -(batch["target"].to(dev) * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()
    with torch.no_grad():
        mae = (core.expected_hop(logits) - batch["hop"].to(dev)).abs().mean()
    return loss, {"loss": float(loss.detach()), "hop_mae": float(mae)}
