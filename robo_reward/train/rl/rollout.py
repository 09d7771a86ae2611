"""Decision-level rollouts in a gymnasium vector env, for every RL algorithm.

Each env runs its own queue of actions: when it is empty, the algorithm decides for that env (envs
needing a decision at the same step are batched) and the first `n_action_steps` actions of the
chunk are queued. One transition = one decision: closed when its actions run out or its episode
ends mid-chunk (the env is then reset at once with `reset_mask`, the vector env being built with
`AutoresetMode.DISABLED`, so decisions never straddle episodes).

A transition carries the learner's observation of the state it was taken in and of the state after
it (`next_obs`): for a chunk that ran out, that is the observation of the env's next decision (the
same forward pass); for a time-limit truncation, the final observation is embedded before the reset;
a terminated decision has none (nothing bootstraps from a terminal state).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from robo_reward.data.episode import EPISODE_STEP_KEY
from robo_reward.rewards.sources import info_array
from robo_reward.train.rl.ppo import chunk_return


@dataclass
class Decision:
    """What an algorithm returns for n envs: learner observations (n, O), the chunks to execute
    (n, H, A) in real units, and per env the tensors the algorithm wants back with the transition."""

    obs: torch.Tensor
    chunks: np.ndarray
    records: list[dict[str, torch.Tensor]]


@dataclass
class Transition:
    obs: torch.Tensor  # (O,)
    record: dict[str, torch.Tensor]  # the algorithm's own (e.g. the action: chunk noise, chain, log-prob)
    env: int
    step: int = 0  # env steps of its episode before the decision
    rewards: list[float] = field(default_factory=list)
    reward: float = 0.0  # Σ_j γ^j r_j over the executed steps
    discount: float = 1.0  # γ^n
    terminated: bool = False
    truncated: bool = False
    next_obs: torch.Tensor | None = None  # (O,); None after a terminated decision

    @property
    def episode_end(self) -> bool:
        return self.terminated or self.truncated

    @property
    def next_step(self) -> int:
        return self.step + len(self.rewards)

    def final(self, time_limit: str) -> bool:
        """No bootstrap after this decision: the task ended, or its time ran out and the learner
        treats the time limit as the end of a finite-horizon task (`time_limit="terminal"`)."""
        return self.terminated or (self.truncated and time_limit == "terminal")


@dataclass
class EpisodeRecord:
    index: int  # 1-based count of finished training episodes
    env: int
    seed: int
    success: bool
    length: int
    reward_sum: float
    final_progress: float
    max_progress: float


def obs_to_batch(obs: dict, index: np.ndarray | None, instructions: list[str], device) -> dict:
    """A vector env's batched observation (rows `index`) as a policy batch in the contract."""
    idx = slice(None) if index is None else index
    batch = {
        k: torch.as_tensor(np.asarray(v)[idx], device=device)
        for k, v in obs.items()
        if k.startswith("observation.")
    }
    batch["task"] = list(np.asarray(instructions, dtype=object)[idx])
    return batch


ActFn = Callable[[dict], Decision]
EmbedFn = Callable[[dict], torch.Tensor]


class DecisionCollector:
    """Steps `envs` with decisions from `act`; `collect(n)` returns ≥ n finished transitions.

    act(batch) → Decision for the envs in the batch; embed(batch) → (n, O) learner observations
    (for truncated episodes' final states). Episode seeds run seed, seed + 1, ... in reset order.
    """

    def __init__(
        self, envs, instructions: list[str], gamma: float, n_action_steps: int, seed: int, device="cpu"
    ):
        self.envs, self.gamma, self.n_exec = envs, gamma, n_action_steps
        self.instructions, self.device = instructions, device
        self.N = envs.num_envs
        self.policy_time = 0.0
        self.episodes_done = 0
        self.env_steps = 0
        self.seeds = [seed + i for i in range(self.N)]
        self._next_seed = seed + self.N
        self.obs, info = envs.reset(seed=list(self.seeds))
        self.queue: list[np.ndarray] = [np.zeros((0, 0))] * self.N
        self.open: list[Transition | None] = [None] * self.N
        self.pending: list[Transition | None] = [None] * self.N  # closed, waiting for next_obs
        self.done: list[Transition] = []
        self._ep = [self._new_episode_stats(info, i) for i in range(self.N)]

    def _new_episode_stats(self, info: dict, i: int) -> dict:
        p = float(info_array(info, "progress", self.N)[i])
        return {"length": 0, "reward_sum": 0.0, "max_progress": p, "final_progress": p}

    def _decide(self, act: ActFn, ids: np.ndarray) -> None:
        t0 = time.perf_counter()
        batch = obs_to_batch(self.obs, ids, self.instructions, self.device)
        batch[EPISODE_STEP_KEY] = torch.tensor([self._ep[i]["length"] for i in ids])
        decision = act(batch)
        for j, i in enumerate(ids):
            if self.pending[i] is not None:
                self.pending[i].next_obs = decision.obs[j].cpu()
                self.done.append(self.pending[i])
                self.pending[i] = None
            self.queue[i] = decision.chunks[j, : self.n_exec]
            self.open[i] = Transition(
                obs=decision.obs[j].cpu(), record=decision.records[j], env=int(i), step=self._ep[i]["length"]
            )
        self.policy_time += time.perf_counter() - t0

    def _close(self, i: int, terminated: bool, truncated: bool) -> Transition:
        tr = self.open[i]
        tr.reward, tr.discount = chunk_return(np.array(tr.rewards), self.gamma)
        tr.terminated, tr.truncated = terminated, truncated and not terminated
        self.open[i] = None
        return tr

    def collect(self, min_transitions: int, act: ActFn, embed: EmbedFn, on_episode=None) -> list[Transition]:
        """Step until ≥ `min_transitions` transitions are finished (or `on_episode` returns True, e.g.
        when the episode budget is spent); return them in the order they finished."""
        stop = False
        while not stop and len(self.done) < min_transitions:
            need = np.array([len(q) == 0 for q in self.queue])
            if need.any():
                self._decide(act, np.flatnonzero(need))
            actions = np.stack([q[0] for q in self.queue]).astype(np.float32)
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
                    if tr.terminated:
                        self.done.append(tr)
                    elif tr.truncated:
                        truncated_ids.append(i)
                        self.pending[i] = tr
                    else:
                        self.pending[i] = tr
                if ended[i]:
                    self.episodes_done += 1
                    rec = EpisodeRecord(self.episodes_done, i, self.seeds[i], bool(success[i]), **ep)
                    if on_episode is not None and on_episode(rec):
                        stop = True
            if truncated_ids:  # the final observation, before it is reset away
                ids = np.array(truncated_ids)
                t0 = time.perf_counter()
                final = embed(obs_to_batch(obs, ids, self.instructions, self.device))
                self.policy_time += time.perf_counter() - t0
                for j, i in enumerate(ids):
                    self.pending[i].next_obs = final[j].cpu()
                    self.done.append(self.pending[i])
                    self.pending[i] = None
            self.obs = obs
            if ended.any():
                seeds = [None] * self.N
                for i in np.flatnonzero(ended):
                    seeds[i] = self.seeds[i] = self._next_seed
                    self._next_seed += 1
                self.obs, info = self.envs.reset(seed=seeds, options={"reset_mask": ended.copy()})
                for i in np.flatnonzero(ended):
                    self.queue[i] = np.zeros((0, 0))
                    self._ep[i] = self._new_episode_stats(info, i)
        out, self.done = self.done, []
        return out

    def state(self) -> dict:
        """Counters a resumed run continues from (episodes restart at a fresh seed, see `resume_at`)."""
        return {
            "episodes_done": self.episodes_done,
            "env_steps": self.env_steps,
            "next_seed": self._next_seed,
        }
