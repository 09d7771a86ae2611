"""Metrics for progress estimators — pure functions on plain arrays, shared by every reward model.

- VOC (value-order correlation): Spearman rank correlation of predicted progress against frame
  order on successful episodes, at sparse / medium / dense frame sampling.
- S/P/F: success / partial / failure classification from a progress curve, with a confusion matrix.
- AUROC of an episode score (its final progress), success against every other outcome.
- EPIC distance (Gleave et al. 2020): Pearson distance between canonicalised rewards.
- Kendall τ of predicted against privileged progress per episode, and the success − failure gap of
  the final progress (the two ranking metrics Robometer reports beside VOC).

Nothing here knows about models or episodes beyond numpy arrays; `robo_reward.rewards.evaluation`
runs any progress source (GRM, perceptual reward, baselines) through these into one table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

OUTCOMES = ("success", "partial", "failure")
# Frames per episode kept at each sampling density; 0 keeps every frame.
DENSITIES: dict[str, int] = {"sparse": 8, "medium": 24, "dense": 0}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation with average ranks for ties; 0.0 when either input is constant.

    A constant prediction says nothing about order, so it scores 0 rather than NaN.
    """
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"spearman needs equal lengths, got {a.shape} and {b.shape}")
    if len(a) < 2:
        return 0.0
    ra, rb = rankdata(a) - (len(a) + 1) / 2, rankdata(b) - (len(b) + 1) / 2
    denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall τ-b of two (T,) arrays: (concordant − discordant) / √(pairs untied in a · pairs untied
    in b), ties counted as neither; 0.0 when either input is constant."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"kendall_tau needs equal lengths, got {a.shape} and {b.shape}")
    i, j = np.triu_indices(len(a), k=1)
    da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    denom = np.sqrt(np.count_nonzero(da) * np.count_nonzero(db))
    return float((da * db).sum() / denom) if denom > 0 else 0.0


def success_failure_gap(final: np.ndarray, outcomes: Sequence[str]) -> float:
    """Mean final progress of successful episodes minus that of failed ones (NaN without both)."""
    final, outcomes = np.asarray(final, dtype=np.float64), np.asarray(outcomes)
    s, f = final[outcomes == "success"], final[outcomes == "failure"]
    return float(s.mean() - f.mean()) if len(s) and len(f) else float("nan")


def potential_diagnostics(
    predicted: Sequence[np.ndarray],
    truth: Sequence[np.ndarray],
    windows: Sequence[int] = (2, 4, 8, 16),
    over: float = 0.2,
) -> dict[str, float]:
    """How a learned potential Φ̂ errs against privileged progress Φ, in the terms shaping cares about.

    - `diff_snr@k`: over every k-frame window of every episode, std(ΔΦ) / std(ΔΦ̂ − ΔΦ): how much of a
      k-step potential difference (the shaped reward of a k-step decision) is signal rather than noise;
    - `diff_corr@k`: the correlation of ΔΦ̂ with ΔΦ over those windows;
    - `bias_spread`: the std over episodes of each episode's mean error Φ̂ − Φ (a start-dependent
      offset), beside `error_std` (the std of the error within episodes, around their own mean);
    - `over_rate`: the share of frames Φ̂ puts more than `over` above Φ (states the model over-rates).
    """
    out: dict[str, float] = {}
    errors = [
        np.asarray(p, np.float64) - np.asarray(t, np.float64) for p, t in zip(predicted, truth, strict=True)
    ]
    for k in windows:
        d_hat, d_true = [], []
        for p, t in zip(predicted, truth, strict=True):
            p, t = np.asarray(p, np.float64), np.asarray(t, np.float64)
            if len(p) > k:
                d_hat.append(p[k:] - p[:-k])
                d_true.append(t[k:] - t[:-k])
        if not d_hat:
            continue
        dh, dt = np.concatenate(d_hat), np.concatenate(d_true)
        noise = np.std(dh - dt)
        out[f"diff_snr@{k}"] = float(np.std(dt) / noise) if noise > 1e-12 else float("inf")
        out[f"diff_corr@{k}"] = float(np.corrcoef(dh, dt)[0, 1]) if np.std(dh) > 0 and np.std(dt) > 0 else 0.0
    out["bias_spread"] = float(np.std([e.mean() for e in errors]))
    out["error_std"] = float(np.sqrt(np.mean([np.var(e) for e in errors])))
    out["over_rate"] = float(np.mean(np.concatenate(errors) > over))
    return out


def voc(progress: np.ndarray) -> float:
    """Value-order correlation: Spearman(predicted progress (T,), frame index 0..T-1)."""
    progress = np.asarray(progress)
    return spearman(progress, np.arange(len(progress)))


def sample_indices(length: int, n: int) -> np.ndarray:
    """`n` frame indices spread evenly over [0, length-1], first and last included; all if n ≤ 0."""
    if n <= 0 or n >= length:
        return np.arange(length)
    return np.unique(np.linspace(0, length - 1, n).round().astype(np.int64))


def classify_progress(
    progress: np.ndarray,
    success_final: float = 0.8,
    success_tail: float = 0.6,
    partial_tail: float = 0.4,
) -> str:
    """Outcome of one episode from its progress curve (T,).

    success: final Φ > `success_final` and mean Φ over the last third > `success_tail`;
    partial: mean Φ over the last third ≥ `partial_tail` (how far it got and stayed);
    failure: otherwise. The last third, not the whole episode, because a partial run that stalls at
    a high stage should not be diluted by its slow start.
    """
    progress = np.asarray(progress, dtype=np.float64)
    if len(progress) == 0:
        raise ValueError("cannot classify an empty progress curve")
    tail = tail_mean(progress)
    if progress[-1] > success_final and tail > success_tail:
        return "success"
    if tail >= partial_tail:
        return "partial"
    return "failure"


def tail_mean(progress: np.ndarray, fraction: float = 1 / 3) -> float:
    """Mean of the last `fraction` of the curve (at least one frame) — what the S/P/F rule reads."""
    progress = np.asarray(progress, dtype=np.float64)
    k = max(1, int(np.ceil(len(progress) * fraction)))
    return float(progress[-k:].mean())


def confusion_matrix(
    true: Sequence[str], predicted: Sequence[str], labels: Sequence[str] = OUTCOMES
) -> np.ndarray:
    """(L, L) int counts; rows are true labels, columns predicted, in the order of `labels`."""
    if len(true) != len(predicted):
        raise ValueError(f"{len(true)} true labels but {len(predicted)} predictions")
    index = {label: i for i, label in enumerate(labels)}
    out = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(true, predicted, strict=True):
        out[index[t], index[p]] += 1
    return out


def accuracy(true: Sequence[str], predicted: Sequence[str]) -> float:
    if len(true) == 0:
        return float("nan")
    return float(np.mean([t == p for t, p in zip(true, predicted, strict=True)]))


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve = P(score of a random positive > score of a random negative).

    Ties count one half (Mann-Whitney U). NaN when there are no positives or no negatives.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    positive = np.asarray(positive, dtype=bool).ravel()
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def pearson_distance(a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None) -> float:
    """sqrt((1 − ρ)/2) in [0, 1], ρ the (weighted) Pearson correlation; 0.5 when either is constant."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    w = np.full(a.shape, 1.0 / len(a)) if weights is None else np.asarray(weights, np.float64).ravel()
    w = w / w.sum()
    da, db = a - (w * a).sum(), b - (w * b).sum()
    var = (w * da * da).sum() * (w * db * db).sum()
    rho = (w * da * db).sum() / np.sqrt(var) if var > 1e-24 else 0.0
    return float(np.sqrt(max(0.0, (1.0 - min(1.0, rho)) / 2.0)))


def epic_canonicalize(reward: np.ndarray, gamma: float) -> np.ndarray:
    """Canonically shaped reward of an action-free reward R(s, s') over N states, uniform D_S.

    reward: (N, N), reward[i, j] = R(s_i, s_j). Returns C(R) (N, N):
        C(R)(s, s') = R(s, s') + E[γ R(s', S') − R(s, S') − γ R(S, S')],   S, S' ~ D_S
    C removes every potential-based shaping term γΦ(s') − Φ(s), so rewards that differ only by
    shaping have the same canonical form (EPIC distance 0).
    """
    reward = np.asarray(reward, dtype=np.float64)
    if reward.ndim != 2 or reward.shape[0] != reward.shape[1]:
        raise ValueError(f"reward must be (N, N), got {reward.shape}")
    row_mean = reward.mean(axis=1)  # E_{S'} R(s, S') for each s
    return reward + gamma * row_mean[None, :] - row_mean[:, None] - gamma * reward.mean()


def epic_distance(
    reward_a: np.ndarray,
    reward_b: np.ndarray,
    gamma: float,
    transitions: np.ndarray | None = None,
) -> float:
    """EPIC pseudometric between two rewards given as (N, N) matrices over the same N states.

    transitions: (M, 2) int pairs (i, j) where the Pearson distance is measured (the coverage
    distribution D_T); all N² pairs when None.
    """
    ca, cb = epic_canonicalize(reward_a, gamma), epic_canonicalize(reward_b, gamma)
    if transitions is None:
        return pearson_distance(ca, cb)
    i, j = np.asarray(transitions, dtype=np.int64).T
    return pearson_distance(ca[i, j], cb[i, j])


def epic_canonicalize_separable(next_term: np.ndarray, state_term: np.ndarray, gamma: float) -> np.ndarray:
    """Closed form of `epic_canonicalize` for R(s, s') = u(s') + v(s), in O(N) instead of O(N²).

    next_term u (N,), state_term v (N,). Substituting into the definition gives
    C(R)(s, s') = u(s') + γ v(s') − E[u] − γ E[v]: a function of s' alone, returned as (N,).
    """
    u, v = np.asarray(next_term, np.float64).ravel(), np.asarray(state_term, np.float64).ravel()
    return u + gamma * v - u.mean() - gamma * v.mean()


def progress_epic_distance(
    progress_a: Sequence[np.ndarray],
    progress_b: Sequence[np.ndarray],
    gamma: float = 0.99,
    success: Sequence[np.ndarray] | None = None,
) -> float:
    """EPIC distance between the rewards two progress estimators induce on the same episodes.

    progress_a/b: per-episode progress curves (T_e,) — e.g. a model's and the simulator's privileged
    progress; success: per-episode success flags (T_e,) for the sparse term r_success, or None.
    States are all frames (uniform D_S); the coverage distribution D_T is every consecutive-frame
    transition of every episode.

    Why not compare the shaped rewards r_success(s') + γΦ(s') − Φ(s) directly? EPIC is invariant to
    potential shaping by construction, so every shaped reward canonicalises to r_success and sits at
    distance 0 from the sparse reward and from every other shaped one — that *is* the
    policy-invariance guarantee, and it carries no information about the estimator. Progress is
    therefore compared as the dense reward R(s, s') = r_success(s') + Φ(s'), which EPIC does tell
    apart (0: same up to shaping and positive scale; 1: opposite).
    """
    if len(progress_a) != len(progress_b):
        raise ValueError("both estimators must cover the same episodes")
    lengths = [len(p) for p in progress_a]
    if [len(p) for p in progress_b] != lengths:
        raise ValueError("progress curves must have equal lengths episode by episode")
    phi_a, phi_b = np.concatenate(progress_a), np.concatenate(progress_b)
    r_success = np.zeros_like(phi_a) if success is None else np.concatenate(success).astype(np.float64)
    zeros = np.zeros_like(phi_a)
    canon_a = epic_canonicalize_separable(r_success + phi_a, zeros, gamma)
    canon_b = epic_canonicalize_separable(r_success + phi_b, zeros, gamma)
    # every transition s -> s' of D_T: canonical rewards depend on s' only, so weigh next states
    starts = np.cumsum([0, *lengths[:-1]])
    next_states = np.concatenate([s + np.arange(1, n) for s, n in zip(starts, lengths, strict=True)])
    if len(next_states) == 0:
        raise ValueError("EPIC needs at least one episode with two frames")
    return pearson_distance(canon_a[next_states], canon_b[next_states])
