"""Online RL of a BC flow policy in the sim, for any registered algorithm (cleanrl-style loop).

    build envs + reward wrapper + algorithm → until the episode budget is spent:
        collect finished decisions → algorithm.observe → (algorithm.ready) algorithm.update
        → one metrics line per finished episode → checkpoint every `log.checkpoint_every` episodes
    → export the acting policy → evaluate it on seeds never used in training → summary.

Run folder: rl_config.json, metrics.jsonl (one line per training episode: the episode and the mean
update statistics since the previous line), checkpoint/ (the learner's state and trainer_state.json;
`--resume` continues from it), policy/ (the acting policy, `policy eval` reads it), summary.json,
success_vs_rollouts.png. Env seeds: TRAIN_SEED_BASE + 100003·seed + ..., far from the demos' seeds
(0..N, which a BC policy replays better than new ones) and from the evaluation seeds.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robo_reward.rewards.shaping import ShapingConfig
from robo_reward.rewards.sources import make_source
from robo_reward.rewards.wrappers import ProgressRewardWrapper, reward_timings
from robo_reward.train.rl.algorithm import get_algorithm
from robo_reward.train.rl.configuration_rl import RLConfig
from robo_reward.train.rl.rollout import DecisionCollector, EpisodeRecord
from robo_reward.train.rl.run_summary import evaluate_policy, rollout_shape, summarize_run
from robo_reward.utils.io import read_json, write_json
from robo_reward.utils.killpoints import kill_point
from robo_reward.utils.logging import MetricsLogger, progress_bar
from robo_reward.utils.run_folder import TrainingRun

TRAIN_SEED_BASE = 50_000


def make_vector_env(task: str, num_envs: int, image_size: int, max_steps: int | None = None):
    """Sync vector env (2 cores: no benefit from subprocesses) that the learner resets itself."""
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode

    from robo_reward.sim import make_env

    factory = partial(make_env, task, image_size=image_size, max_steps=max_steps)
    return gym.vector.SyncVectorEnv([factory] * num_envs, autoreset_mode=AutoresetMode.DISABLED)


def make_reward_env(envs, cfg: RLConfig, instruction: str, n_action_steps: int) -> ProgressRewardWrapper:
    """The vector env with `cfg.reward`: the registered progress source it reads, shaped (PBRS, or Φ
    itself for the naive baseline); `sparse` reads no progress and pays the success alone."""
    kind = cfg.progress_source or "sparse"
    checkpoint = {"grm": cfg.grm, "perceptual": cfg.perceptual}.get(kind)
    source = make_source(kind, envs.num_envs, instruction, checkpoint, device=cfg.device)
    shaping = ShapingConfig(
        kind=cfg.shaping_kind, gamma=cfg.gamma, success_source=cfg.shaping.success_source,
        scale=cfg.shaping.scale, time_limit=cfg.time_limit,
    )  # fmt: skip
    every = cfg.shaping.potential_every or n_action_steps
    return ProgressRewardWrapper(envs, source, shaping, potential_every=every)


# learner options added after runs were made with their default's behaviour: left out of the results config
# at that default, so those runs still resume and join `rl compare --resume` (their hash is unchanged)
ADDED_AT_DEFAULT = {"critic_space": "noise"}


def results_config(cfg: RLConfig) -> dict[str, Any]:
    """The options that decide a run's results: what `--resume` must match (the episode budget may
    grow; the device, logging and evaluation do not change what is learnt)."""
    config = {k: v for k, v in cfg.to_dict().items() if k not in ("rollouts", "device", "log")}
    config["algo"] = {k: v for k, v in config["algo"].items() if ADDED_AT_DEFAULT.get(k, object()) != v}
    for key, readers in (("grm", ("grm", "naive")), ("perceptual", ("perceptual", "naive"))):
        if cfg.reward not in readers:  # a checkpoint the reward never reads cannot change the run
            config[key] = None
    return config


def make_learner(cfg: RLConfig, policy, n_exec: int):
    """`cfg.algo`'s learner over `policy`, seeded by `cfg.seed` (fresh: `load` a checkpoint into it)."""
    from robo_reward.sim import task_spec

    horizon = cfg.rollout.max_steps or task_spec(cfg.task).max_steps
    generator = torch.Generator(device=cfg.device).manual_seed(cfg.seed)
    return get_algorithm(cfg.algorithm)(policy, cfg, cfg.algo, n_exec, horizon, generator)


def export_policy(algo, cfg: RLConfig, out: Path) -> Path:
    """The acting policy into `out/policy`, with the run's task, reward and algorithm beside it."""
    return algo.export(
        out / "policy", extras={"rl": {"task": cfg.task, "reward": cfg.reward, "algorithm": cfg.algorithm}}
    )


def _finished(out: Path, cfg: RLConfig) -> dict:
    """A resumed run that had already finished (its options verified): its summary, evaluated again
    only when the evaluation asked for now differs from the one it holds."""
    summary = read_json(out / "summary.json")
    wanted = cfg.log.eval_episodes * cfg.log.eval_seeds
    if wanted and summary.get("eval", {}).get("episodes") != wanted:
        summary["eval"] = evaluate_policy(out / "policy", cfg)
        write_json(out / "summary.json", summary)
    return summary


def value_warning(q_start: float, bounds: tuple[float, float] | None, slack: float = 0.25) -> str | None:
    """One line when the critics value the episodes' first decision outside what the reward can return
    (by more than `slack` of its largest magnitude): their error, not the task, is what the actor climbs."""
    if bounds is None:
        return None
    lo, hi = bounds
    margin = slack * max(abs(lo), abs(hi))
    if lo - margin <= q_start <= hi + margin:
        return None
    return (
        f"warning: the critics value the episodes' first decision at {q_start:.3g}, outside what this reward can "
        f"return [{lo:g}, {hi:g}]: they over-estimate or diverge; try fewer updates per decision (--utd) or a lower "
        "--lr-critic"
    )


def train(
    cfg: RLConfig,
    out: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    show_progress: bool | None = None,
) -> dict:
    """Run `cfg.algo` from `cfg.init` on `cfg.reward` for `cfg.rollouts` episodes; returns the summary.

    A new run refuses a non-empty `out` unless `overwrite`; `resume` continues from the newest verified
    checkpoint (same results config) with the logs cut back to it. Episodes in flight when the
    checkpoint was written are not resumed: the envs restart at fresh seeds."""
    from robo_reward.models.flow_policy import FlowPolicy
    from robo_reward.sim import task_spec

    out = Path(out)
    ckpt = out / "checkpoint"
    run = TrainingRun.open(out, "rl", results_config(cfg), resume=resume, overwrite=overwrite)
    manifest = run.load_checkpoint(ckpt) if run.resumed else None
    run.cut_logs({"metrics.jsonl": "step", "episodes.jsonl": None}, manifest)
    state: dict[str, Any] = {"episodes": 0, "env_steps": 0, "wall": 0.0, "next_seed": None}
    state["timings"] = {"sim": 0.0, "reward": 0.0, "policy": 0.0, "update": 0.0}
    if manifest is not None:
        state = read_json(manifest.folder / "trainer_state.json")
    write_json(out / "rl_config.json", cfg.to_dict())
    torch.manual_seed(cfg.seed)
    policy = FlowPolicy.from_pretrained(cfg.init, device=cfg.device)
    n_exec, image_size = rollout_shape(cfg, policy.config)
    if manifest is not None and state["episodes"] >= cfg.rollouts and (out / "summary.json").exists():
        return _finished(out, cfg)  # before the learner and its replay are loaded
    spec = task_spec(cfg.task)
    algo = make_learner(cfg, policy, n_exec)
    if manifest is not None:
        algo.load(manifest.folder)

    envs = make_vector_env(cfg.task, cfg.rollout.num_envs, image_size, cfg.rollout.max_steps)
    envs = make_reward_env(envs, cfg, spec.instruction, n_exec)
    seed0 = state["next_seed"] or TRAIN_SEED_BASE + 100_003 * cfg.seed
    collector = DecisionCollector(
        envs, [spec.instruction] * cfg.rollout.num_envs, cfg.gamma, n_exec, seed=seed0, device=cfg.device
    )
    collector.episodes_done = state["episodes"]

    episodes_log = (out / "episodes.jsonl").open("a")
    recent = [json.loads(line)["success"] for line in (out / "episodes.jsonl").read_text().splitlines()]
    recent = recent[-cfg.log.success_window :]
    pending_stats: dict[str, list[float]] = {}
    t_start, wall0, steps0 = time.perf_counter(), state["wall"], state["env_steps"]
    base_timings, update_time = dict(state["timings"]), 0.0

    def timings() -> dict[str, float]:
        now = reward_timings(envs) | {"policy": collector.policy_time, "update": update_time}
        return {k: base_timings[k] + now[k] for k in base_timings}

    def checkpoint() -> None:
        state.update(
            episodes=min(collector.episodes_done, cfg.rollouts), env_steps=steps0 + collector.env_steps, timings=timings(),
            wall=wall0 + time.perf_counter() - t_start, next_seed=collector.state()["next_seed"],
        )  # fmt: skip

        def write(tmp: Path) -> None:
            algo.save(tmp)
            write_json(tmp / "trainer_state.json", state)

        counters = {"episodes": state["episodes"], "step": state["episodes"], "env_steps": state["env_steps"]}
        run.save_checkpoint(ckpt, write, counters)

    with (
        MetricsLogger(out) as metrics,
        progress_bar(None if show_progress is None else not show_progress) as bar,
    ):
        task_id = bar.add_task(f"rl {cfg.task} [{cfg.reward}, {cfg.algorithm}]", total=cfg.rollouts,
                               completed=state["episodes"], info="")  # fmt: skip

        def on_episode(rec: EpisodeRecord) -> bool:
            if rec.index > cfg.rollouts:  # envs that finished on the same step as the last one counted
                return True
            episodes_log.write(json.dumps({**asdict(rec), "env_steps": steps0 + collector.env_steps}) + "\n")
            episodes_log.flush()
            recent.append(rec.success)
            del recent[: -cfg.log.success_window]
            algo.on_episode(rec.index)
            stats = {k: float(np.mean(v)) for k, v in pending_stats.items()}
            pending_stats.clear()
            metrics.log(
                rec.index,
                **stats,
                **{"charts/success": float(rec.success), "charts/final_progress": rec.final_progress},
                **{"charts/success_rate": float(np.mean(recent)), "charts/episode_reward": rec.reward_sum},
                **{f"time/{k}": v for k, v in timings().items()},
            )
            bar.update(task_id, completed=min(rec.index, cfg.rollouts), info=f"success {np.mean(recent):.2f}")
            kill_point("episode")  # logs ahead of the last checkpoint: a resume must cut them back
            if rec.index % cfg.log.checkpoint_every == 0:
                checkpoint_due.append(rec.index)
            return rec.index >= cfg.rollouts

        checkpoint_due: list[int] = []
        warned = False
        while collector.episodes_done < cfg.rollouts:
            transitions = collector.collect(1, algo.act, algo.embed, on_episode)
            algo.observe(transitions)
            if algo.ready():
                t0 = time.perf_counter()
                stats = algo.update()
                for k, v in stats.items():
                    pending_stats.setdefault(k, []).append(v)
                warning = value_warning(stats.get("charts/q_start", 0.0), cfg.return_range)
                if warning and not warned:
                    warned = True
                    print(warning, file=sys.stderr, flush=True)
                update_time += time.perf_counter() - t0
            if checkpoint_due:
                checkpoint_due.clear()
                checkpoint()
        checkpoint()
    episodes_log.close()
    envs.close()
    export_policy(algo, cfg, out)
    summary = summarize_run(out, cfg, state)
    if cfg.log.eval_episodes > 0:
        summary["eval"] = evaluate_policy(out / "policy", cfg)
    write_json(out / "summary.json", summary)
    return summary
