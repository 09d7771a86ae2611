"""Preference pairs from a policy: K sampled chunks per observation, scored, best vs worst.

score = world_weight · (progress gain of the chunk, executed by the world model from the cloned sim
state and judged by the GRM, the perceptual reward, their consensus or privileged progress)
+ action_weight · (−L1 to the demo chunk).
With scorer=critic the world-model term is instead the chunk's value by a noise-sac fine-tune's critics
(`critic_judge.py`): nothing is executed, and the candidates are the policy's prior-noise samples whose
noise the critics read.

Two sources of observations:
- `--task T` (`pairs_from_task`): the policy's own rollouts in the sim; every chunk boundary gives
  one observation, its sim state is cloned and each candidate is executed from it. No demo exists
  there, so only the world-model reward counts.
- `--data DIR` (`pairs_from_data`): frames of demonstrations; the demo's own chunk gives the action
  reward. Demos carry no simulator state, so the world-model reward is only available when an
  episode has a `sim_state` column (extras) and the task is a sim task; otherwise pairs are ranked
  by the action reward alone (stated in the pair set's meta).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from robo_reward.data.episode import IMAGE_KEY, STATE_KEY, Episode
from robo_reward.data.preferences import PreferencePairs
from robo_reward.train.dpo.configuration_dpo import PairsConfig
from robo_reward.train.dpo.world_model import (
    ConsensusJudge,
    Outcome,
    SimWorldModel,
    SourceJudge,
    SuccessJudge,
    action_rewards,
    choose_pair,
)

# Rollout seeds away from 0..N, the seeds demos are collected with (a BC policy knows those states).
PAIRS_SEED_BASE = 30_000
# judges that read the outcome's images (the world model renders for them)
LOOKING_SCORERS = ("grm", "perceptual", "consensus")


@torch.no_grad()
def sample_candidates(policy, batch: dict, k: int, generator: torch.Generator | None = None) -> np.ndarray:
    """(B, K, H, A) chunks in real units; the trunk runs once per observation, not once per sample."""
    features = policy.encode(batch).repeat_interleave(k, 0)
    chunks = policy.unnormalize_action(policy.sample_normalized(features, generator=generator))
    return chunks.view(-1, k, *chunks.shape[1:]).cpu().numpy()


def _policy_obs(policy, obs: dict) -> dict[str, np.ndarray]:
    """The observation arrays the policy reads (its views and the state), without a batch axis."""
    keys = [IMAGE_KEY + v for v in policy.config.views] + [STATE_KEY]
    return {k: np.asarray(obs[k]) for k in keys}


def _to_batch(rows: list[dict[str, np.ndarray]], instruction: str, device) -> dict:
    batch = {k: torch.as_tensor(np.stack([r[k] for r in rows]), device=device) for k in rows[0]}
    batch["task"] = [instruction] * len(rows)
    return batch


class _PairBuilder:
    def __init__(self, cfg: PairsConfig):
        self.cfg = cfg
        self.obs: list[dict[str, np.ndarray]] = []
        self.task: list[str] = []
        self.winner, self.loser, self.scores, self.margin = [], [], [], []
        self.considered = 0

    def add(
        self, obs: dict, instruction: str, chunks: np.ndarray, world: np.ndarray, action: np.ndarray
    ) -> int:
        """Score K candidates; keep the pair if its margin is large enough. Returns the winner index."""
        self.considered += 1
        scores = self.cfg.world_weight * world + self.cfg.action_weight * action
        w, l, margin = choose_pair(scores)
        if margin >= self.cfg.min_margin and w != l:
            self.obs.append(obs)
            self.task.append(instruction)
            self.winner.append(chunks[w])
            self.loser.append(chunks[l])
            self.scores.append(scores)
            self.margin.append(margin)
        return w

    def full(self) -> bool:
        return self.cfg.max_pairs is not None and len(self.winner) >= self.cfg.max_pairs

    def build(self, meta: dict) -> PreferencePairs:
        if not self.winner:
            raise ValueError(
                f"no pair passed min_margin={self.cfg.min_margin} among {self.considered} observations; "
                "lower --min-margin, raise --k or check the scorer"
            )
        return PreferencePairs(
            observations={k: np.stack([o[k] for o in self.obs]) for k in self.obs[0]},
            task=self.task,
            winner=np.stack(self.winner).astype(np.float32),
            loser=np.stack(self.loser).astype(np.float32),
            scores=np.stack(self.scores).astype(np.float32),
            margin=np.asarray(self.margin, np.float32),
            meta=meta | {"observations_considered": self.considered},
        )


def _judge(cfg: PairsConfig, instruction: str):
    """The pair builder's judge: `success`, a registered progress source, or the GRM-perceptual consensus."""
    from robo_reward.rewards.sources import make_source

    if cfg.scorer == "success":
        return SuccessJudge()
    checkpoints = {"grm": cfg.grm, "perceptual": cfg.perceptual}
    if cfg.scorer == "consensus":
        judges = [
            SourceJudge(make_source(n, cfg.k, instruction, checkpoints[n])) for n in ("grm", "perceptual")
        ]
        return ConsensusJudge(judges, cfg.consensus_margin)
    return SourceJudge(make_source(cfg.scorer, cfg.k, instruction, checkpoints.get(cfg.scorer)))


def _critic_judge(cfg: PairsConfig, policy):
    """scorer=critic: the RL fine-tune's critics over `policy` (checked to be the policy they steered)."""
    if cfg.scorer != "critic":
        return None
    from robo_reward.train.dpo.critic_judge import CriticJudge

    judge = CriticJudge.from_pretrained(cfg.critic, cfg.critic_statistic, device=policy.device)
    judge.check_policy(policy)
    return judge


def pairs_from_task(
    policy, task: str, cfg: PairsConfig, on_step: Callable[[], None] | None = None
) -> PreferencePairs:
    """Pairs from the policy's own rollouts in the sim (see the module docstring)."""
    from robo_reward.sim import make_env, task_spec

    pc = policy.config
    instruction = task_spec(task).instruction
    size = cfg.image_size or getattr(pc, "source_image_size", None) or pc.image_size
    n_exec = cfg.execute_steps or pc.n_action_steps
    env = make_env(task, image_size=size, max_steps=cfg.max_steps)
    critic = _critic_judge(cfg, policy)  # the critics value a candidate at its state: no world model
    # the world model renders only when the judge or the continuing policy looks at images
    world = (
        None
        if critic is not None
        else SimWorldModel(
            make_env(
                task,
                image_size=size,
                render=cfg.scorer in LOOKING_SCORERS or cfg.continue_steps > 0,
                max_steps=cfg.max_steps,
            )
        )
    )
    judge = None if critic is not None else _judge(cfg, instruction)
    generator = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    builder = _PairBuilder(cfg)
    branch_steps = driving_steps = 0
    try:
        for ep in range(cfg.episodes):
            obs, info = env.reset(seed=PAIRS_SEED_BASE + cfg.seed + ep)
            if world is not None:
                world.env.reset(seed=PAIRS_SEED_BASE + cfg.seed + ep)
            done, boundary, step = False, 0, 0
            while not done and not builder.full():
                row = _policy_obs(policy, obs)
                batch = _to_batch([row], instruction, policy.device)
                branch = boundary % cfg.branch_every == 0
                boundary += 1
                follow = 0
                if branch and critic is not None:
                    chunks, values = critic.candidates(batch, step, cfg.k, generator)
                    w = builder.add(row, instruction, chunks, values, action_rewards(chunks, None))
                    follow = w if cfg.follow == "winner" else int(rng.integers(cfg.k))
                elif branch:
                    state = env.unwrapped.get_sim_state()
                    chunks = sample_candidates(policy, batch, cfg.k, generator)[0]
                    cont_seed = int(rng.integers(2**31)) if cfg.continue_steps else 0
                    outcomes = [
                        continue_branch(world, policy, instruction, state, c[:n_exec], cfg.continue_steps,
                                        pc.n_action_steps, cont_seed)
                        for c in chunks
                    ]  # fmt: skip
                    branch_steps += sum(o.steps for o in outcomes)
                    w = builder.add(
                        row,
                        instruction,
                        chunks,
                        judge.gains(obs, info, outcomes),
                        action_rewards(chunks, None),
                    )
                    follow = w if cfg.follow == "winner" else int(rng.integers(cfg.k))
                else:
                    chunks = sample_candidates(policy, batch, 1, generator)[0]
                for a in chunks[follow][:n_exec]:
                    obs, _, terminated, truncated, info = env.step(a)
                    driving_steps += 1
                    step += 1
                    if terminated or truncated:
                        done = True
                        break
                if on_step is not None:
                    on_step()
    finally:
        env.close()
        if world is not None:
            world.env.close()
    meta = _meta(cfg, task=task, source="task", execute_steps=n_exec, world_reward=True)
    return builder.build(meta | {"branch_env_steps": branch_steps, "driving_env_steps": driving_steps})


def continue_branch(
    world: SimWorldModel, policy, instruction: str, state: np.ndarray, actions: np.ndarray, steps: int,
    n_action_steps: int, seed: int,
) -> Outcome:  # fmt: skip
    """Execute a candidate's `actions` from `state`, then let the policy act `steps` more steps.

    The continuation's sampling noise comes from `seed`, the same for every candidate of one state, so
    the branches differ by the candidate chunk, not by the luck of what follows it.
    """
    out = world.rollout(state, actions)
    if steps <= 0 or out.terminated or out.steps < len(actions):
        return out
    generator = torch.Generator().manual_seed(seed)
    obs, info, done, taken = out.obs, out.info, False, 0
    terminated = False
    while taken < steps and not done:
        batch = _to_batch([_policy_obs(policy, obs)], instruction, policy.device)
        chunk = sample_candidates(policy, batch, 1, generator)[0, 0]
        for a in chunk[: min(n_action_steps, steps - taken)]:
            obs, _, terminated, truncated, info = world.env.step(np.asarray(a, dtype=np.float32))
            taken += 1
            if terminated or truncated:
                done = True
                break
    return Outcome(obs, info, out.steps + taken, bool(terminated))


def demo_chunk(ep: Episode, t: int, horizon: int) -> np.ndarray:
    """a_t..a_{t+H−1}, repeating the last action past the end (as BC trains)."""
    idx = np.minimum(np.arange(t, t + horizon), len(ep) - 1)
    return ep.action[idx]


def pairs_from_data(
    policy, episodes: list[Episode], cfg: PairsConfig, on_step: Callable[[], None] | None = None
) -> PreferencePairs:
    """Pairs at demonstration frames (see the module docstring)."""
    if cfg.scorer == "critic" and cfg.world_weight > 0:
        raise ValueError("the critic judge scores the policy's own rollouts: use --task, not --data")
    pc = policy.config
    n_exec = cfg.execute_steps or pc.n_action_steps
    generator = torch.Generator().manual_seed(cfg.seed)
    builder = _PairBuilder(cfg)
    with_world = 0
    for ep in episodes:
        frames = list(range(0, len(ep) - 1, cfg.every))
        rows = [_policy_obs(policy, ep.frame(t)) for t in frames]
        if not rows:
            continue
        chunks = sample_candidates(policy, _to_batch(rows, ep.task, policy.device), cfg.k, generator)
        world_fn = _episode_world(ep, cfg)
        for j, t in enumerate(frames):
            world = world_fn(t, chunks[j][:, :n_exec]) if world_fn else np.zeros(cfg.k)
            with_world += world_fn is not None
            builder.add(
                rows[j],
                ep.task,
                chunks[j],
                world,
                action_rewards(chunks[j], demo_chunk(ep, t, pc.chunk_size)),
            )
            if builder.full():
                break
        if on_step is not None:
            on_step()
        if builder.full():
            break
    return builder.build(
        _meta(
            cfg,
            source="data",
            execute_steps=n_exec,
            world_reward=with_world > 0,
            frames_with_world=with_world,
        )
    )


def _episode_world(ep: Episode, cfg: PairsConfig):
    """World-model scoring for a demo that carries its sim states, else None."""
    if "sim_state" not in ep.extras or not ep.task_name or cfg.world_weight == 0:
        return None
    from robo_reward.sim import make_env

    world = SimWorldModel(make_env(ep.task_name, image_size=ep.views[next(iter(ep.views))].shape[1],
                                   render=cfg.scorer in LOOKING_SCORERS))  # fmt: skip
    world.env.reset(seed=0)
    judge = _judge(cfg, ep.task)

    def score(t: int, chunks: np.ndarray) -> np.ndarray:
        outcomes = [world.rollout(ep.extras["sim_state"][t], c) for c in chunks]
        info = {"progress": float(ep.progress[t]) if ep.progress is not None else 0.0}
        return judge.gains(ep.frame(t), info, outcomes)

    return score


def _meta(cfg: PairsConfig, **extra) -> dict:
    import dataclasses

    return {"pairs_config": dataclasses.asdict(cfg), **extra}


def load_demo_episodes(dirs: list[Path]) -> list[Episode]:
    from robo_reward.train.bc.trainer import load_training_episodes

    return [e for e in load_training_episodes(dirs) if e.outcome == "success"]
