"""Chunk-level rollouts in a gymnasium vector env, for PPO.

Each env runs its own queue of actions: when it is empty, the policy samples a chunk for that env
(envs needing one at the same step are batched), and the first `n_action_steps` actions are
executed. One transition = one executed chunk, closed when its actions run out or its episode ends
mid-chunk (then the env is reset at once with `reset_mask`, the vector env being built with
`AutoresetMode.DISABLED`, so chunks never straddle episodes). Envs drift out of step after
resets; that is fine, since GAE runs per env over its own sequence.

A chunk still running when `collect` returns stays open and is closed in the next call: it keeps the
log-probability of the policy that sampled it, which is exactly the behaviour policy PPO's ratio needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from robo_reward.rewards.wrappers import info_array
from robo_reward.train.rl.actor_critic import FlowActorCritic, obs_to_batch
from robo_reward.train.rl.ppo import chunk_return


@dataclass
class Transition:
    features: torch.Tensor  # (d,)
    chain: torch.Tensor  # (K+1, H, A)
    logp: float
    value: float
    logp_elements: torch.Tensor | None = None  # (K·H·A,) the terms of logp, for element-level ratios
    obs: dict | None = None  # kept only when the trunk is trained
    rewards: list[float] = field(default_factory=list)
    reward: float = 0.0  # Σ γ^j r_j over the executed steps
    discount: float = 1.0  # γ^n
    terminated: bool = False
    episode_end: bool = False
    next_value: float | None = None


@dataclass
class EpisodeRecord:
    index: int  # 1-based count of finished training episodes
    env: int
    success: bool
    length: int
    reward_sum: float
    final_progress: float
    max_progress: float


class ChunkCollector:
    def __init__(
        self,
        envs,
        actor: FlowActorCritic,
        instructions: list[str],
        gamma: float,
        n_action_steps: int,
        seed: int = 0,
        keep_obs: bool = False,
    ):
        self.envs, self.actor, self.gamma = envs, actor, gamma
        self.instructions = instructions
        self.n_exec = n_action_steps
        self.keep_obs = keep_obs
        self.N = envs.num_envs
        self.generator = torch.Generator().manual_seed(seed)
        self._seed = seed
        self.policy_time = 0.0
        self.episodes_done = 0
        self.env_steps = 0
        self.obs, info = envs.reset(seed=seed)
        self._next_seed = seed + self.N
        self.queue: list[np.ndarray] = [np.zeros((0, 0))] * self.N
        self.open: list[Transition | None] = [None] * self.N
        self.pending: list[Transition | None] = [None] * self.N  # closed, waiting for V(next state)
        self.closed: list[list[Transition]] = [[] for _ in range(self.N)]
        self._ep = [self._new_episode_stats(info, i) for i in range(self.N)]

    def _new_episode_stats(self, info: dict, i: int) -> dict:
        p = float(info_array(info, "progress", self.N)[i])
        return {"length": 0, "reward_sum": 0.0, "max_progress": p, "final_progress": p}

    def _start_chunks(self, ids: np.ndarray) -> None:
        t0 = time.perf_counter()
        batch = obs_to_batch(self.obs, ids, self.instructions, self.actor.policy.device)
        out = self.actor.act(batch, generator=self.generator)
        actions = out["action"].cpu().numpy()
        for j, i in enumerate(ids):
            if self.pending[i] is not None:
                self.pending[i].next_value = float(out["value"][j])
                self.pending[i] = None
            self.queue[i] = actions[j, : self.n_exec]
            self.open[i] = Transition(
                features=out["features"][j].cpu(),
                chain=out["chain"][j].cpu(),
                logp=float(out["logp"][j]),
                logp_elements=out["logp_elements"][j].cpu(),
                value=float(out["value"][j]),
                obs={k: v[j : j + 1] for k, v in batch.items()} if self.keep_obs else None,
            )
        self.policy_time += time.perf_counter() - t0

    def _close(self, i: int, terminated: bool, truncated: bool) -> Transition:
        tr = self.open[i]
        tr.reward, tr.discount = chunk_return(np.array(tr.rewards), self.gamma)
        tr.terminated, tr.episode_end = terminated, terminated or truncated
        if terminated:
            tr.next_value = 0.0
        self.open[i] = None
        self.closed[i].append(tr)
        return tr

    def collect(self, chunks_per_env: int, on_episode=None) -> list[list[Transition]]:
        """Step until every env has closed ≥ `chunks_per_env` transitions (or the episode budget is
        reached via `on_episode` returning True); return the per-env closed sequences."""
        stop = False
        while not stop and min(len(c) for c in self.closed) < chunks_per_env:
            need = np.array([len(q) == 0 for q in self.queue])
            if need.any():
                self._start_chunks(np.flatnonzero(need))
            actions = np.stack([q[0] for q in self.queue])
            self.queue = [q[1:] for q in self.queue]
            obs, reward, term, trunc, info = self.envs.step(actions)
            self.env_steps += self.N
            progress = info_array(info, "progress", self.N)
            success = info_array(info, "success", self.N) > 0 if "success" in info else term
            ended = term | trunc
            truncated_ids = []
            for i in range(self.N):
                self.open[i].rewards.append(float(reward[i]))
                ep = self._ep[i]
                ep["length"] += 1
                ep["reward_sum"] += float(reward[i])
                ep["max_progress"] = max(ep["max_progress"], float(progress[i]))
                ep["final_progress"] = float(progress[i])
                if ended[i] or len(self.queue[i]) == 0:
                    tr = self._close(i, bool(term[i]), bool(trunc[i]))
                    if trunc[i] and not term[i]:
                        truncated_ids.append(i)
                    elif not ended[i]:
                        self.pending[i] = tr
                if ended[i]:
                    self.episodes_done += 1
                    rec = EpisodeRecord(self.episodes_done, i, bool(success[i]), **ep)
                    if on_episode is not None and on_episode(rec):
                        stop = True
            self.obs = obs
            if truncated_ids:  # bootstrap from the final observation, before it is reset away
                ids = np.array(truncated_ids)
                t0 = time.perf_counter()
                _, v = self.actor.values(obs_to_batch(obs, ids, self.instructions, self.actor.policy.device))
                self.policy_time += time.perf_counter() - t0
                for j, i in enumerate(ids):
                    self.closed[i][-1].next_value = float(v[j])
            if ended.any():
                seeds = [None] * self.N
                for i in np.flatnonzero(ended):
                    seeds[i] = self._next_seed
                    self._next_seed += 1
                self.obs, info = self.envs.reset(seed=seeds, options={"reset_mask": ended.copy()})
                for i in np.flatnonzero(ended):
                    self.queue[i] = np.zeros((0, 0))
                    self._ep[i] = self._new_episode_stats(info, i)
        # transitions waiting for V(next state): evaluate it now, batched
        waiting = np.array([p is not None for p in self.pending])
        if waiting.any():
            ids = np.flatnonzero(waiting)
            t0 = time.perf_counter()
            _, v = self.actor.values(obs_to_batch(self.obs, ids, self.instructions, self.actor.policy.device))
            self.policy_time += time.perf_counter() - t0
            for j, i in enumerate(ids):
                self.pending[i].next_value = float(v[j])
                self.pending[i] = None
        out, self.closed = self.closed, [[] for _ in range(self.N)]
        return out
