"""Pair sampling for hop training, balanced over hop bins × time-gap bins (within each task).

Every ordered pair (p, q) of labelled frames of an episode is a training query; pairs with q before
p are the reversed-clip negatives (their hops are backward, negative). Pairs are grouped into cells
by hop value and time gap, and a batch draws a group (a task) uniformly, then one of its cells
uniformly, so rare large hops, long gaps and tasks with short episodes are seen as often as the
many small hops of long episodes. A fraction of each batch (~5 %) are zero-hop pairs: the same
frame twice, or two frames with equal progress (a stall), which teach the model "no change".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robo_reward.data.labels import hop_labels

HOP_EDGES = np.array([-1.0, -0.5, -0.25, -0.1, 0.0, 0.1, 0.25, 0.5, 1.0])
GAP_EDGES = np.array([0.0, 0.1, 0.25, 0.5, 1.0])


@dataclass
class PairBatch:
    episode: np.ndarray  # (B,) int index into the episode list
    before: np.ndarray  # (B,) frame index p
    after: np.ndarray  # (B,) frame index q
    hop: np.ndarray  # (B,) float target H(p → q)


class PairSampler:
    """Balanced pair sampler over episodes with per-frame progress labels.

    labels: per-episode progress (T_e,); frames: per-episode labelled frame indices (default: all),
    e.g. `label_frames` — frames sampled evenly inside keyframe segments; groups: per-episode group
    id (e.g. the task), balanced first (default: one group).
    """

    def __init__(
        self,
        labels: list[np.ndarray],
        frames: list[np.ndarray] | None = None,
        groups: list[int] | None = None,
        zero_fraction: float = 0.05,
        hop_edges: np.ndarray = HOP_EDGES,
        gap_edges: np.ndarray = GAP_EDGES,
    ):
        if not labels:
            raise ValueError("no episodes to sample pairs from")
        self.zero_fraction = zero_fraction
        eps, ps, qs, hops, gaps = [], [], [], [], []
        zero_eps, zero_p, zero_q = [], [], []
        for e, phi in enumerate(labels):
            idx = np.arange(len(phi)) if frames is None else np.asarray(frames[e], dtype=np.int64)
            p, q = np.meshgrid(idx, idx, indexing="ij")
            p, q = p.ravel(), q.ravel()
            h = hop_labels(phi[p], phi[q])
            moving = np.abs(h) > 1e-9
            eps.append(np.full(moving.sum(), e))
            ps.append(p[moving])
            qs.append(q[moving])
            hops.append(h[moving])
            gaps.append(np.abs(q[moving] - p[moving]) / max(len(phi) - 1, 1))
            zero_eps.append(np.full((~moving).sum(), e))
            zero_p.append(p[~moving])
            zero_q.append(q[~moving])
        self.ep, self.p, self.q = np.concatenate(eps), np.concatenate(ps), np.concatenate(qs)
        self.hop = np.concatenate(hops).astype(np.float32)
        gap = np.concatenate(gaps)
        self.zero = (np.concatenate(zero_eps), np.concatenate(zero_p), np.concatenate(zero_q))
        if len(self.hop) == 0:
            raise ValueError("every pair has zero hop: the labels never change")
        hop_bin = np.clip(np.searchsorted(hop_edges, self.hop, side="right") - 1, 0, len(hop_edges) - 2)
        gap_bin = np.clip(np.searchsorted(gap_edges, gap, side="right") - 1, 0, len(gap_edges) - 2)
        group = np.zeros(len(labels), np.int64) if groups is None else np.asarray(groups, np.int64)
        n_cells = (len(hop_edges) - 1) * (len(gap_edges) - 1)
        cell = group[self.ep] * n_cells + hop_bin * (len(gap_edges) - 1) + gap_bin
        order = np.argsort(cell, kind="stable")
        self._order = order
        self.cells, self._starts, self._counts = np.unique(cell[order], return_index=True, return_counts=True)
        # cells of each group, contiguous because cell ids sort by group first
        cell_group = self.cells // n_cells
        self.groups, self._group_start, self._group_count = np.unique(
            cell_group, return_index=True, return_counts=True
        )

    @property
    def num_pairs(self) -> int:
        return len(self.hop)

    def sample(self, batch_size: int, rng: np.random.Generator) -> PairBatch:
        """`batch_size` pairs: a group, then one of its cells, then a pair in it, each uniformly;
        ~zero_fraction zero hops."""
        n_zero = int(rng.binomial(batch_size, self.zero_fraction)) if len(self.zero[0]) else 0
        n = batch_size - n_zero
        g = rng.integers(len(self.groups), size=n)
        c = self._group_start[g] + (rng.random(n) * self._group_count[g]).astype(np.int64)
        pick = self._order[self._starts[c] + (rng.random(n) * self._counts[c]).astype(np.int64)]
        zi = rng.integers(len(self.zero[0]), size=n_zero)
        return PairBatch(
            episode=np.r_[self.ep[pick], self.zero[0][zi]],
            before=np.r_[self.p[pick], self.zero[1][zi]],
            after=np.r_[self.q[pick], self.zero[2][zi]],
            hop=np.r_[self.hop[pick], np.zeros(n_zero, np.float32)].astype(np.float32),
        )
