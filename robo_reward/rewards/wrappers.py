"""Reward wrappers for gymnasium vector envs: sparse, privileged dense, GRM-, perceptual-shaped, naive.

One wrapper, `ProgressRewardWrapper`, turns any batched progress source (`robo_reward.rewards.sources`)
into a reward through `robo_reward.rewards.shaping` (PBRS by default; the γ-less difference and
Φ-as-reward baselines by name). A progress source is stateful per env (the GRM fuses an episode's
history online), is told which envs were reset, and is queried for several envs at once so a learned
model batches its inference across the vector env.

Potential evaluation can be thinned to every k-th step of an episode (`potential_every`, e.g. the
number of actions executed per policy chunk): in between, Φ is held. A held potential is a function
of the (state, last evaluation) pair, so the shaping stays potential-based and the chunk-level
reward telescopes to r_success + γⁿΦ(chunk end) − Φ(chunk start) exactly as with per-step Φ.

Wall time is split: `timings["sim"]` (inner env.step/reset) and `timings["reward"]` (the progress
source), so learners can report reward-model cost apart from simulation and policy time.

Works with every autoreset mode; RL in this project uses `AutoresetMode.DISABLED` and resets
finished envs itself with `options={"reset_mask": mask}`, which this wrapper forwards and uses to
reset the per-env state of the progress source.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from robo_reward.rewards.shaping import ShapingConfig, shaped_step_reward, success_from_progress
from robo_reward.rewards.sources import ProgressSource, info_array


class ProgressRewardWrapper(VectorWrapper):
    """reward = r_success + scale·shaping(Φ) for each env, or the env's own (sparse) reward.

    source=None gives the sparse reward (success only) with the same timing and bookkeeping.
    info gains `potential` (Φ after the step), `env_reward` and `progress_success`.
    """

    def __init__(
        self,
        env: VectorEnv,
        source: ProgressSource | None,
        shaping: ShapingConfig | None = None,
        potential_every: int = 1,
    ):
        super().__init__(env)
        if potential_every < 1:
            raise ValueError(f"potential_every must be ≥ 1, got {potential_every}")
        self.source = source
        self.shaping = shaping or ShapingConfig()
        if self.shaping.success_source == "progress" and self.autoreset_mode != AutoresetMode.DISABLED:
            # the inner env does not know the wrapper ended the episode, so it would not reset it
            raise ValueError("success_source='progress' needs a vector env with AutoresetMode.DISABLED")
        self.potential_every = potential_every
        n = self.num_envs
        self.potential = np.zeros(n)
        self.episode_steps = np.zeros(n, dtype=np.int64)
        self._finished = np.zeros(n, bool)  # finished envs, for NEXT_STEP autoreset bookkeeping
        self.timings = {"sim": 0.0, "reward": 0.0}
        self.reward_calls = 0

    @property
    def autoreset_mode(self) -> AutoresetMode:
        return self.env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)

    def reset(self, *, seed: Any = None, options: dict | None = None):
        options = dict(options or {})
        mask = options.get("reset_mask")
        mask = np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool).copy()
        t0 = time.perf_counter()
        obs, info = self.env.reset(seed=seed, options=options)
        self.timings["sim"] += time.perf_counter() - t0
        self._reset_state(mask, obs, info)
        return obs, info

    def _reset_state(self, mask: np.ndarray, obs: dict, info: dict) -> None:
        self.episode_steps[mask] = 0
        self._finished[mask] = False
        if self.source is not None:
            t0 = time.perf_counter()
            phi = self.source.reset(mask, obs, info)
            self.timings["reward"] += time.perf_counter() - t0
            self.reward_calls += 1
            self.potential[mask] = np.asarray(phi)[mask]

    def step(self, actions):
        t0 = time.perf_counter()
        obs, env_reward, terminated, truncated, info = self.env.step(actions)
        self.timings["sim"] += time.perf_counter() - t0
        n = self.num_envs
        # NEXT_STEP autoreset: envs that finished last step were reset by this step
        autoreset = self._finished & (self.autoreset_mode == AutoresetMode.NEXT_STEP)
        live = ~autoreset
        self.episode_steps[live] += 1
        success_env = info_array(info, "success", n) > 0 if "success" in info else terminated.copy()
        reward = np.asarray(env_reward, dtype=np.float64).copy()
        if self.source is None:
            info["potential"] = np.zeros(n)
        else:
            ended = terminated | truncated
            due = live & ((self.episode_steps % self.potential_every == 0) | ended)
            next_phi = self.potential.copy()
            if due.any():
                t1 = time.perf_counter()
                phi = np.asarray(self.source.update(due, obs, info), dtype=np.float64)
                self.timings["reward"] += time.perf_counter() - t1
                self.reward_calls += 1
                next_phi[due] = phi[due]
            cfg = self.shaping
            if cfg.success_source == "progress":
                success = success_from_progress(next_phi, cfg.success_delta) & live
                terminated = terminated | success  # the success state is absorbing: bonus paid once
            else:
                success = success_env & live
            final = terminated | truncated if cfg.time_limit == "terminal" else terminated
            shaped = shaped_step_reward(cfg, self.potential, next_phi, success, final)
            reward = np.where(live, shaped, 0.0)
            self.potential = np.where(live, next_phi, self.potential)
            info["potential"] = next_phi
            info["progress_success"] = success
        info["env_reward"] = np.asarray(env_reward, dtype=np.float64)
        if autoreset.any():
            self._reset_state(autoreset, obs, info)
            reward[autoreset] = 0.0
        self._finished = terminated | truncated
        return obs, reward, terminated, truncated, info


def reward_timings(env: Any) -> dict[str, float]:
    """The sim/reward seconds of the innermost `ProgressRewardWrapper` around `env` (zeros if none)."""
    while env is not None:
        if isinstance(env, ProgressRewardWrapper):
            return dict(env.timings)
        env = getattr(env, "env", None)
    return {"sim": 0.0, "reward": 0.0}
