"""Progress from hops: three perspectives and their fusion, for whole episodes and online.

For frames s_0..s_T with start s_init = s_0 and a goal image s_goal:
- incremental:        Φ_I(0) = 0, Φ_I(t) = Φ_I(t−1) + (1−Φ)·H if H ≥ 0 else Φ·H, H = H(s_{t−1}, s_t)
- forward-anchored:   Φ_F(t) = H(s_init, s_t)            (a hop from Φ = 0 is the progress itself)
- backward-anchored:  Φ_B(t) = 1 + H(s_goal, s_t)        (a hop back from Φ = 1)
- fused: the model's `config.fusion` of them — `mean` (all three), `anchored` (forward and backward
  only: the incremental sum drifts over long episodes, which moves the end-of-episode level that
  success/partial/failure is read from) or `consistency` (each weighed by its agreement with the
  others). Every fusion is returned under its own name too.

The goal image of a new episode comes from a reference demonstration of the task: the last frame of
a successful demo — by default the one stored in the checkpoint for that task (the training data's,
or the adaptation demo's), or any episode/frames passed as `goal`.
"""

from __future__ import annotations

import numpy as np
import torch

from robo_reward.data.episode import IMAGE_KEY, Episode
from robo_reward.data.labels import apply_hop

PERSPECTIVES = ("incremental", "forward", "backward")


def incremental_progress(hops: np.ndarray, phi0: float = 0.0) -> np.ndarray:
    """(T−1,) consecutive hops → (T,) progress, starting at `phi0`."""
    phi = np.empty(len(hops) + 1)
    phi[0] = phi0
    for t, h in enumerate(np.asarray(hops, dtype=np.float64)):
        phi[t + 1] = apply_hop(phi[t], h)
    return phi


def forward_anchored(hops_from_start: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(hops_from_start, dtype=np.float64), 0.0, 1.0)


def backward_anchored(hops_from_goal: np.ndarray) -> np.ndarray:
    return np.clip(1.0 + np.asarray(hops_from_goal, dtype=np.float64), 0.0, 1.0)


def fuse_mean(perspectives: dict[str, np.ndarray]) -> np.ndarray:
    return np.mean(np.stack(list(perspectives.values())), axis=0)


def fuse_consistency(perspectives: dict[str, np.ndarray], temperature: float = 0.1) -> np.ndarray:
    """Per frame, weight each perspective by exp(−d/τ), d its mean absolute gap to the others.

    A perspective that disagrees with the other two (e.g. incremental drift) loses weight, while
    three agreeing ones reduce to the plain mean.
    """
    P = np.stack(list(perspectives.values()))  # (n, T)
    n = len(P)
    gaps = np.abs(P[:, None, :] - P[None, :, :]).sum(axis=1) / max(n - 1, 1)  # (n, T)
    w = np.exp(-(gaps - gaps.min(axis=0, keepdims=True)) / temperature)
    return (w * P).sum(axis=0) / w.sum(axis=0)


FUSIONS = ("mean", "anchored", "consistency")


def fuse(perspectives: dict[str, np.ndarray], fusion: str) -> dict[str, np.ndarray]:
    """Every fusion of the three perspectives by name, plus `fused`: the one named `fusion`."""
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
    anchored = {k: perspectives[k] for k in ("forward", "backward")}
    out = {
        "mean": fuse_mean(perspectives),
        "anchored": fuse_mean(anchored),
        "consistency": fuse_consistency(perspectives),
    }
    return {**out, "fused": out[fusion]}


def _frame_views(obj, views: tuple[str, ...], index: int = -1) -> dict[str, np.ndarray]:
    """{view: (1, H, W, 3)} from an Episode (frame `index`) or a {view: (H, W, 3)} dict."""
    if isinstance(obj, Episode):
        return {v: obj.views[v][index][None] for v in views}
    return {v: np.asarray(obj[v] if v in obj else obj[IMAGE_KEY + v])[None] for v in views}


def store_reference(references: dict, ep: Episode, views: tuple[str, ...], replace: bool = True) -> None:
    """The last frame of a successful episode, all views (V, H, W, 3), becomes its task's goal
    reference, stored under both the task name and the instruction."""
    frame = np.stack([ep.views[v][-1] for v in views])
    for key in {ep.task_name, ep.task} - {""}:
        if replace or key not in references:
            references[key] = frame


def resolve_goal(model, goal, *task_keys: str) -> dict[str, np.ndarray]:
    """Goal frame {view: (1, H, W, 3)}: `goal` if given (an Episode's last frame or a frame dict),
    else the checkpoint's stored reference for the first of `task_keys` it knows."""
    views = model.config.views
    if goal is not None:
        return _frame_views(goal, views)
    for key in task_keys:
        if key and key in model.references:
            ref = model.references[key]  # (V, H, W, 3)
            return {v: ref[i][None] for i, v in enumerate(views)}
    raise KeyError(
        f"no goal reference for task {next((k for k in task_keys if k), '')!r}: pass a goal (a reference "
        f"demo) or adapt the model to the task; stored references: {sorted(model.references)}"
    )


class ProgressEstimator:
    """A GRM as a progress source: `estimator(episode) -> (T,)` fused progress.

    `goal`: a reference demo (its last frame) or {view: image}; None looks the episode's task up in
    the checkpoint's stored references (by `task_name`, then instruction). `fusion`: one of
    `FUSIONS`; None uses the model's `config.fusion`.
    """

    def __init__(self, model, cache=None, goal=None, fusion: str | None = None, batch_size: int = 512):
        from robo_reward.models.grm.features import FeatureCache

        fusion = model.config.fusion if fusion is None else fusion
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        self.model = model.eval()
        self.cache = cache if cache is not None else FeatureCache(model)
        self.goal = goal
        self.fusion = fusion
        self.batch_size = batch_size

    def goal_views(self, ep: Episode) -> dict[str, np.ndarray]:
        return resolve_goal(self.model, self.goal, ep.task_name, ep.task)

    @torch.no_grad()
    def perspectives(self, ep: Episode) -> dict[str, np.ndarray]:
        """Every perspective, every fusion and `fused` (the estimator's fusion), each (T,)."""
        m = self.model
        feats = self.cache(ep).to(m.device)  # (T, V, F)
        goal = m.encode_frames(self.goal_views(ep))[0]  # (V, F)
        T, r = len(feats), m.ref_index
        prev = torch.cat([feats[:1], feats[:-1]])  # H(s_{t-1}, s_t); row 0 is unused
        before = torch.cat([prev, feats[:1].expand(T, -1, -1), goal[None].expand(T, -1, -1)])
        after = feats.repeat(3, 1, 1)
        hops = self._hops(feats[0, r], goal[r], before, after, ep.task).reshape(3, T)
        per = {
            "incremental": incremental_progress(hops[0, 1:]),
            "forward": forward_anchored(hops[1]),
            "backward": backward_anchored(hops[2]),
        }
        return {**per, **fuse(per, self.fusion)}

    def _hops(self, start, goal, before, after, task: str) -> np.ndarray:
        m, out = self.model, []
        text = m.embed_text([task])
        for i in range(0, len(before), self.batch_size):
            b, a = before[i : i + self.batch_size], after[i : i + self.batch_size]
            n = len(b)
            logits = m(start.expand(n, -1), goal.expand(n, -1), b, a, text.expand(n, -1))
            out.append(m.expected_hop(logits).cpu().numpy())
        return np.concatenate(out)

    def __call__(self, ep: Episode) -> np.ndarray:
        return self.perspectives(ep)["fused"]


class OnlineProgress:
    """Stateful progress for N environments stepped together (a gymnasium vector env).

    `tasks` are the instructions (the observation contract's `task`, e.g. `info["task"]`): they feed
    the instruction embedding and look up the stored goal reference (stored under both the task name
    and its instruction). `reset(obs, env_ids, tasks, goals)` starts (some) envs: their current
    frame becomes s_init and the incremental progress restarts at 0. `step(obs)` takes the batched observation {"observation.images.<view>": (N, H, W, 3)}
    after an env step and returns fused progress (N,) (`config.fusion`); all perspectives of the last step are in
    `self.last`. One batched forward per step: 3N queries.
    """

    def __init__(self, model, num_envs: int, tasks: list[str] | str):
        self.model = model.eval()
        self.num_envs = num_envs
        self.tasks = [tasks] * num_envs if isinstance(tasks, str) else list(tasks)
        if len(self.tasks) != num_envs:
            raise ValueError(f"{len(self.tasks)} tasks for {num_envs} envs")
        V, Fd = model.config.num_views, model.feature_dim
        self.start = torch.zeros(num_envs, V, Fd)  # s_init, every view
        self.goal = torch.zeros(num_envs, V, Fd)
        self.prev = torch.zeros(num_envs, V, Fd)
        self.text = torch.zeros(num_envs, model.config.width)
        self.phi_incremental = np.zeros(num_envs)
        self.started = np.zeros(num_envs, dtype=bool)
        self.last: dict[str, np.ndarray] = {}

    def _features(self, obs: dict, env_ids: np.ndarray) -> torch.Tensor:
        views = {v: np.asarray(obs[IMAGE_KEY + v])[env_ids] for v in self.model.config.views}
        return self.model.encode_frames(views).cpu()  # (n, V, F)

    @torch.no_grad()
    def reset(
        self, obs: dict, env_ids=None, tasks: list[str] | None = None, goals: list | None = None
    ) -> None:
        """obs: the batched observation of all N envs; env_ids: which of them start (default all)."""
        ids = np.arange(self.num_envs) if env_ids is None else np.asarray(env_ids, dtype=np.int64).ravel()
        m = self.model
        for j, i in enumerate(ids):
            if tasks is not None:
                self.tasks[i] = tasks[j]
            goal = resolve_goal(m, None if goals is None else goals[j], self.tasks[i])
            self.goal[i] = m.encode_frames(goal)[0].cpu()
            self.text[i] = m.embed_text([self.tasks[i]])[0].cpu()
        feats = self._features(obs, ids)
        self.start[ids] = feats
        self.prev[ids] = feats
        self.phi_incremental[ids] = 0.0
        self.started[ids] = True

    @torch.no_grad()
    def step(self, obs: dict) -> np.ndarray:
        if not self.started.all():
            raise RuntimeError(f"reset() envs {np.flatnonzero(~self.started).tolist()} before stepping them")
        m, N, r = self.model, self.num_envs, self.model.ref_index
        cur = self._features(obs, np.arange(N))
        dev = m.device
        logits = m(
            self.start[:, r].repeat(3, 1).to(dev),
            self.goal[:, r].repeat(3, 1).to(dev),
            torch.cat([self.prev, self.start, self.goal]).to(dev),
            cur.repeat(3, 1, 1).to(dev),
            self.text.repeat(3, 1).to(dev),
        )
        hops = m.expected_hop(logits).cpu().numpy().reshape(3, N)
        self.phi_incremental = apply_hop(self.phi_incremental, hops[0])
        per = {
            "incremental": self.phi_incremental.copy(),
            "forward": forward_anchored(hops[1]),
            "backward": backward_anchored(hops[2]),
        }
        self.last = {**per, **fuse(per, self.model.config.fusion)}
        self.prev = cur
        return self.last["fused"]
