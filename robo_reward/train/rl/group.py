"""Group-relative self-imitation (`RLConfig.algorithm = "group"`): same-state groups of episodes.

Each round resets the vector env so that every `group_size` consecutive envs start from one simulator
state (one seed), runs every env to the end of its episode, and scores each episode by its discounted
return under the chosen reward. Within a group the returns are standardised (GRPO-style; a group whose
returns are all equal carries no signal and gets advantage 0), and the executed chunks of the episodes
above their group's mean go into a buffer with weight Â. The action expert then takes `awr_steps`
flow-matching steps on chunks drawn from the buffer in proportion to their weight (plus the demo term).

Why groups: comparing episodes that started from the same state removes the variance of the start,
which a value head fitted on ~150 episodes cannot; and the comparison is per episode, where a learned
reward is most reliable (its end-of-episode progress), not per chunk. It is also where shaping pays:
under the sparse reward a group whose episodes all fail (or all succeed alike) teaches nothing, while
the shaped return still ranks them by the progress they made and how fast.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from robo_reward.rewards.wrappers import info_array
from robo_reward.train.rl.actor_critic import FlowActorCritic, obs_to_batch
from robo_reward.train.rl.awr import ReplayBuffer, actor_step, buffer_flow_matching
from robo_reward.train.rl.ppo import chunk_return
from robo_reward.train.rl.rollout import EpisodeRecord, Transition


@dataclass
class EpisodeChunks:
    """One episode of a group: its start seed, the executed chunks and the discounted return."""

    seed: int
    transitions: list[Transition] = field(default_factory=list)  # one per executed chunk
    ret: float = 0.0  # Σ_t γ^t r_t from the first step
    length: int = 0
    success: bool = False


def group_advantages(returns: np.ndarray, groups: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """(R − mean_g) / std_g within each group g; 0 for a group whose returns are all equal."""
    returns = np.asarray(returns, dtype=np.float64)
    adv = np.zeros_like(returns)
    for g in np.unique(groups):
        m = groups == g
        std = returns[m].std()
        if std > eps:
            adv[m] = (returns[m] - returns[m].mean()) / std
    return adv


class GroupCollector:
    """Runs rounds of same-state groups in a vector env (built with `AutoresetMode.DISABLED`)."""

    def __init__(
        self,
        envs,
        actor: FlowActorCritic,
        instructions: list[str],
        gamma: float,
        n_action_steps: int,
        group_size: int,
        seed: int = 0,
        noisy: bool = False,
    ):
        self.envs, self.actor, self.gamma = envs, actor, gamma
        self.instructions, self.n_exec = instructions, n_action_steps
        self.N = envs.num_envs
        if group_size < 2 or self.N % group_size:
            raise ValueError(f"group_size must be ≥ 2 and divide num_envs={self.N}, got {group_size}")
        self.group_size, self.noisy = group_size, noisy
        self.generator = torch.Generator().manual_seed(seed)
        self.next_seed = seed
        self.policy_time = 0.0
        self.episodes_done = 0
        self.env_steps = 0

    def groups(self) -> np.ndarray:
        return np.arange(self.N) // self.group_size

    def collect(self, on_episode=None) -> list[EpisodeChunks]:
        """One round: every env runs one episode; envs of a group share the start seed."""
        g = self.groups()
        seeds = [self.next_seed + int(k) for k in g]
        self.next_seed += int(g.max()) + 1
        obs, info = self.envs.reset(seed=seeds)
        episodes = [EpisodeChunks(seed=s) for s in seeds]
        stats = [{"reward_sum": 0.0, "max_progress": p, "final_progress": p} for p in self._progress(info)]
        queue: list[np.ndarray] = [np.zeros((0, 0))] * self.N
        active = np.ones(self.N, bool)
        idle = np.zeros((self.N, self.envs.single_action_space.shape[0]), np.float32)
        while active.any():
            need = np.flatnonzero(active & np.array([len(q) == 0 for q in queue]))
            if len(need):
                t0 = time.perf_counter()
                batch = obs_to_batch(obs, need, self.instructions, self.actor.policy.device)
                # σ = 0 (self-imitation): the policy's own sampler, x_0 ~ N(0, τ²I), so the chunks
                # imitated later are samples of the policy itself and do not widen its distribution;
                # σ > 0 (PPO): the noisy chain whose likelihood the ratio needs
                out = self.actor.act(batch, deterministic=not self.noisy, generator=self.generator)
                self.policy_time += time.perf_counter() - t0
                actions = out["action"].cpu().numpy()
                for j, i in enumerate(need):
                    queue[i] = actions[j, : self.n_exec]
                    episodes[i].transitions.append(Transition(
                        features=out["features"][j].cpu(), chain=out["chain"][j].cpu(),
                        logp=float(out["logp"][j]), logp_elements=out["logp_elements"][j].cpu(),
                        value=float(out["value"][j]),
                    ))  # fmt: skip
            step_actions = idle.copy()
            for i in np.flatnonzero(active):
                step_actions[i], queue[i] = queue[i][0], queue[i][1:]
            obs, reward, term, trunc, info = self.envs.step(step_actions)
            progress = self._progress(info)
            success = info_array(info, "success", self.N) > 0 if "success" in info else term
            ended = (term | trunc) & active
            for i in np.flatnonzero(active):
                ep = episodes[i]
                ep.transitions[-1].rewards.append(float(reward[i]))
                ep.ret += self.gamma**ep.length * float(reward[i])
                ep.length += 1
                s = stats[i]
                s["reward_sum"] += float(reward[i])
                s["max_progress"] = max(s["max_progress"], float(progress[i]))
                s["final_progress"] = float(progress[i])
            self.env_steps += int(active.sum())
            for i in np.flatnonzero(ended):
                episodes[i].success = bool(success[i])
                for tr in episodes[i].transitions:
                    tr.reward, tr.discount = chunk_return(np.array(tr.rewards), self.gamma)
                episodes[i].transitions[-1].terminated = bool(term[i])
                episodes[i].transitions[-1].episode_end = True
                self.episodes_done += 1
                if on_episode is not None:
                    on_episode(EpisodeRecord(self.episodes_done, int(i), bool(success[i]),
                                             episodes[i].length, **stats[i]))  # fmt: skip
            if ended.any():  # park finished envs at a fresh start; their steps are ignored
                active &= ~ended
                obs, info = self.envs.reset(seed=seeds, options={"reset_mask": ended.copy()})
        return episodes

    def _progress(self, info: dict) -> list[float]:
        return info_array(info, "progress", self.N).astype(float).tolist()


def group_update(
    actor, optimizer, buffer: ReplayBuffer, episodes: list[EpisodeChunks], groups: np.ndarray, cfg,
    bc=None, generator: torch.Generator | None = None,
) -> dict[str, float]:  # fmt: skip
    """Add the chunks of above-mean episodes (weight Â) to the buffer; weighted flow-matching steps."""
    returns = np.array([e.ret for e in episodes])
    adv = group_advantages(returns, groups)
    stats: dict[str, list[float]] = {
        "charts/group_return_mean": [float(returns.mean())],
        "charts/groups_with_signal": [
            float(np.mean([np.ptp(returns[groups == k]) > 1e-6 for k in np.unique(groups)]))
        ],  # fmt: skip
    }
    for e, a in zip(episodes, adv, strict=True):
        if a > 0 and e.transitions:
            buffer.add(e.transitions, np.full(len(e.transitions), a))
    if len(buffer):
        device = actor.policy.device
        f_all, c_all = buffer.features.to(device), buffer.chunks.to(device)
        probs = buffer.returns.clamp(min=0).double()
        for _ in range(cfg.awr_steps):
            idx = torch.multinomial(probs, cfg.minibatch_size, replacement=True, generator=generator)
            loss = buffer_flow_matching(actor, f_all[idx], c_all[idx]).mean()
            actor_step(actor, optimizer, loss, "losses/self_imitation", cfg, bc, stats)
    out = {k: float(np.mean(v)) for k, v in stats.items()}
    out["charts/buffer"] = float(len(buffer))
    return out


def episode_transitions(
    episodes: list[EpisodeChunks], groups: np.ndarray
) -> tuple[list[Transition], np.ndarray, np.ndarray]:
    """For PPO on groups: every chunk with its episode's group advantage, and the return to fit V."""
    adv = group_advantages(np.array([e.ret for e in episodes]), groups)
    flat = [t for e in episodes for t in e.transitions]
    chunk_adv = np.concatenate([np.full(len(e.transitions), a) for e, a in zip(episodes, adv, strict=True)])
    chunk_ret = np.concatenate([np.full(len(e.transitions), e.ret) for e in episodes])
    return flat, chunk_adv, chunk_ret
