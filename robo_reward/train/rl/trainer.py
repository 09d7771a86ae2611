"""Flow-noise PPO of a BC flow policy in the sim: collect chunk transitions, GAE, clipped updates.

The loop reads top to bottom (cleanrl style): build envs + reward wrapper → for each update: collect
`chunks_per_update` transitions per env → GAE per env → PPO epochs over minibatches → log, checkpoint.
`algorithm="awr"` swaps the update for advantage-weighted flow matching from a replay buffer (awr.py);
`algorithm="group"` swaps the collection too: rounds of same-state episode groups (group.py).
Run folder: rl_config.json, metrics.jsonl (one line per update), episodes.jsonl (one line per
training episode), checkpoint/ (policy/ + rl_heads/ + optimizer + trainer_state.json; `--resume`
continues from it), summary.json.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robo_reward.rewards.shaping import ShapingConfig
from robo_reward.rewards.wrappers import ProgressRewardWrapper, load_progress_source, reward_timings
from robo_reward.train.rl.actor_critic import FlowActorCritic
from robo_reward.train.rl.awr import ReplayBuffer, awr_update, awr_weights
from robo_reward.train.rl.configuration_rl import RLConfig
from robo_reward.train.rl.demo_term import BCRegularizer, with_demo_term
from robo_reward.train.rl.group import GroupCollector, episode_transitions, group_update
from robo_reward.train.rl.ppo import gae, normalize_advantages, ppo_clip_loss, value_loss
from robo_reward.train.rl.rollout import ChunkCollector, EpisodeRecord, Transition
from robo_reward.train.rl.run_summary import reward_stats, summarize_run
from robo_reward.utils.checkpoint import write_checkpoint
from robo_reward.utils.io import read_json, write_json
from robo_reward.utils.logging import MetricsLogger, progress_bar

# Env seeds far from 0..N, the seeds demos are collected with: a BC policy replays its demos' initial
# states far better than new ones, which would flatter the first training episodes.
TRAIN_SEED_BASE = 50_000
EVAL_SEED_BASE = 10_000


def make_vector_env(task: str, num_envs: int, image_size: int, max_steps: int | None = None):
    """Sync vector env (2 cores: no benefit from subprocesses) that the learner resets itself."""
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode

    from robo_reward.sim import make_env

    factory = partial(make_env, task, image_size=image_size, max_steps=max_steps)
    return gym.vector.SyncVectorEnv([factory] * num_envs, autoreset_mode=AutoresetMode.DISABLED)


def make_reward_env(envs, cfg: RLConfig, instruction: str, potential_every: int) -> ProgressRewardWrapper:
    kind = cfg.progress_source
    if kind is None:
        return ProgressRewardWrapper(envs, None)
    checkpoint = {"grm": cfg.grm, "perceptual": cfg.perceptual}.get(kind)
    source = load_progress_source(kind, envs.num_envs, instruction, checkpoint)
    shaping = ShapingConfig(
        kind=cfg.shaping_kind, gamma=cfg.gamma, success_source=cfg.success_source, scale=cfg.shaping_scale
    )
    return ProgressRewardWrapper(envs, source, shaping, potential_every=potential_every)


def compute_advantages(
    sequences: list[list[Transition]], lam: float
) -> tuple[list[Transition], np.ndarray, np.ndarray]:
    """GAE per env over its own sequence; returns the flattened transitions, advantages, returns."""
    flat, advs, rets = [], [], []
    for seq in sequences:
        if not seq:
            continue

        def col(name, seq=seq):
            return np.array([getattr(t, name) for t in seq], dtype=np.float64)

        adv, ret = gae(
            col("reward"),
            col("value"),
            col("next_value"),
            col("discount"),
            col("terminated"),
            col("episode_end"),
            lam,
        )
        flat += seq
        advs.append(adv)
        rets.append(ret)
    return flat, np.concatenate(advs), np.concatenate(rets)


def awr_loss(actor, features: torch.Tensor, chains: torch.Tensor, adv: torch.Tensor, cfg: RLConfig):
    """Advantage-weighted flow matching of the sampled chunks (chain ends x_K, real units)."""
    chunks = actor.policy.unnormalize_action(chains[:, -1])
    fm = actor.policy.flow_matching_loss({}, chunks, features=features.detach())
    return (awr_weights(adv, cfg.awr_beta, cfg.awr_max_weight) * fm).mean()


def select_terms(elements: torch.Tensor, actor: FlowActorCritic, n_exec: int | None) -> torch.Tensor:
    """(B, K·H·A) likelihood terms → those of the first `n_exec` chunk steps (all when None)."""
    if n_exec is None:
        return elements
    B = elements.shape[0]
    return elements.view(B, actor.num_steps, actor.horizon, actor.action_dim)[:, :, :n_exec].flatten(1)


def ppo_update(
    actor, optimizer, transitions, adv, ret, cfg: RLConfig, actor_on: bool, bc=None, n_exec: int | None = None
) -> dict[str, float]:
    """PPO epochs over minibatches of chunk transitions. Every loss term is spelled out here.

    `n_exec`: with ratio_positions="executed", the chunk steps whose likelihood terms enter the ratio.
    """
    device = actor.policy.device
    features = torch.stack([t.features for t in transitions]).to(device)
    chains = torch.stack([t.chain for t in transitions]).to(device)
    element = cfg.ratio_level == "element"
    keep = n_exec if cfg.ratio_positions == "executed" else None
    # (n, D): one ratio per likelihood term, the chunk's advantage broadcast over them; or (n,)
    logp_old = select_terms(torch.stack([t.logp_elements for t in transitions]).to(device), actor, keep)
    if not element:
        logp_old = logp_old.sum(1)
    values_old = torch.tensor([t.value for t in transitions], device=device, dtype=torch.float32)
    adv_t = torch.as_tensor(adv, device=device, dtype=torch.float32)
    ret_t = torch.as_tensor(ret, device=device, dtype=torch.float32)
    n = len(transitions)
    mb = min(cfg.minibatch_size, n)
    stats: dict[str, list[float]] = {}
    stop = False
    for _epoch in range(cfg.update_epochs):
        for idx in torch.randperm(n).split(mb):
            if actor.train_trunk:
                obs = {k: _cat([transitions[i].obs[k] for i in idx]) for k in transitions[0].obs}
                f = actor.encode(obs, grad=True)
            else:
                f = features[idx]
            out = actor.evaluate(f, chains[idx])
            a = normalize_advantages(adv_t[idx]) if cfg.normalize_advantages else adv_t[idx]
            logp_new = select_terms(out["logp_elements"], actor, keep)
            logp_new = logp_new if element else logp_new.sum(1)
            pg_loss, pg_stats = ppo_clip_loss(logp_new, logp_old[idx], a[:, None] if element else a, cfg.clip)
            v_loss = value_loss(out["value"], ret_t[idx], values_old[idx], cfg.value_clip)
            entropy = out["entropy"].mean()
            loss = cfg.value_coef * v_loss
            if actor_on:
                loss = loss + pg_loss - cfg.entropy_coef * entropy
                if cfg.awr_weight > 0:
                    awr = awr_loss(actor, f, chains[idx], adv_t[idx], cfg)
                    loss = loss + cfg.awr_weight * awr
                    stats.setdefault("losses/awr", []).append(awr.item())
                loss = with_demo_term(loss, bc, cfg.bc_weight, stats)
            optimizer.zero_grad()
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(
                [p for g in optimizer.param_groups for p in g["params"]], cfg.max_grad_norm
            )
            optimizer.step()
            for k, v in (
                ("losses/policy", pg_loss.item()),
                ("losses/value", v_loss.item()),
                ("losses/entropy", entropy.item()),
                ("charts/grad_norm", float(grad_norm)),
                *((f"charts/{k}", v) for k, v in pg_stats.items()),
            ):
                stats.setdefault(k, []).append(v)
            if actor_on and cfg.target_kl is not None and pg_stats["approx_kl"] > 1.5 * cfg.target_kl:
                stop = True
                break
        if stop:
            break
    out = {k: float(np.mean(v)) for k, v in stats.items()}
    out["charts/kl_early_stop"] = float(stop)
    out["charts/minibatch_steps"] = float(len(stats.get("losses/value", [])))
    var = float(np.var(ret))
    out["charts/explained_variance"] = (
        float(1 - np.var(ret - values_old.cpu().numpy()) / var) if var > 0 else 0.0
    )
    return out


def _cat(parts):
    if isinstance(parts[0], list):
        return [x for p in parts for x in p]
    return torch.cat(parts)


def build_optimizer(actor: FlowActorCritic, cfg: RLConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(
        [
            {"params": actor.actor_parameters(), "lr": cfg.lr_actor},
            {"params": list(actor.noise.parameters()), "lr": cfg.lr_noise},
            {"params": list(actor.value.parameters()), "lr": cfg.lr_critic},
        ]
    )


def save_checkpoint(
    out: Path, actor: FlowActorCritic, optimizer, state: dict[str, Any], buffer: ReplayBuffer | None = None
) -> Path:
    """Everything resumable in `out/checkpoint` (with the AWR replay buffer), swapped in whole."""
    from robo_reward.train.bc.state import save_optimizer

    def write(tmp: Path) -> None:
        actor.save(
            tmp, extras={"rl": {"task": state["task"], "reward": state["reward"], "update": state["update"]}}
        )
        save_optimizer(optimizer, tmp / "optimizer.safetensors")
        write_json(tmp / "trainer_state.json", state)
        if buffer is not None:
            buffer.save(tmp)

    return write_checkpoint(out / "checkpoint", write)


def train(cfg: RLConfig, out: str | Path, resume: bool = False, show_progress: bool | None = None) -> dict:
    """Run flow-noise PPO (or AWR, `cfg.algorithm`); returns (and writes) the run summary."""
    from robo_reward.models.flow_policy import FlowPolicy
    from robo_reward.sim import task_spec
    from robo_reward.train.bc.state import load_optimizer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint"
    state: dict[str, Any] = {
        "task": cfg.task,
        "reward": cfg.reward,
        "update": 0,
        "episodes": 0,
        "env_steps": 0,
    }
    state |= {"timings": {"sim": 0.0, "reward": 0.0, "policy": 0.0, "update": 0.0}, "wall": 0.0}
    if resume and ckpt.exists():
        rollouts = cfg.rollouts  # a resumed run may be given a larger episode budget
        cfg = RLConfig.from_dict(read_json(out / "rl_config.json") | {"rollouts": rollouts})
        state = read_json(ckpt / "trainer_state.json")
        policy = FlowPolicy.from_pretrained(ckpt / "policy", device=cfg.device)
    else:
        if resume:
            raise FileNotFoundError(f"--resume: {ckpt} does not exist")
        for stale in ("metrics.jsonl", "episodes.jsonl"):
            (out / stale).unlink(missing_ok=True)
        policy = FlowPolicy.from_pretrained(cfg.init, device=cfg.device)
    write_json(out / "rl_config.json", cfg.to_dict())
    torch.manual_seed(cfg.seed + state["update"])
    pc = policy.config
    actor = FlowActorCritic(
        policy, cfg.num_denoise_steps, cfg.noise_mode, cfg.noise_std_init, cfg.noise_std_min,
        cfg.noise_std_max, cfg.train_trunk, cfg.init_noise_scale,
    ).to(cfg.device)  # fmt: skip
    optimizer = build_optimizer(actor, cfg)
    if resume and ckpt.exists():
        actor.load_heads(ckpt)
        load_optimizer(optimizer, ckpt / "optimizer.safetensors")
    policy.eval()  # BatchNorm statistics stay those of BC; gradients still flow
    uses_buffer = cfg.algorithm == "awr" or (cfg.algorithm == "group" and cfg.group_update == "imitate")
    buffer = ReplayBuffer(cfg.awr_buffer) if uses_buffer else None
    if buffer is not None and resume and ckpt.exists():
        buffer.load(ckpt)
    update_gen = torch.Generator().manual_seed(cfg.seed * 7919 + state["update"])

    spec = task_spec(cfg.task)
    n_exec = cfg.n_action_steps or pc.n_action_steps
    image_size = cfg.image_size or getattr(pc, "source_image_size", None) or pc.image_size
    envs = make_vector_env(cfg.task, cfg.num_envs, image_size, cfg.max_steps)
    envs = make_reward_env(envs, cfg, spec.instruction, potential_every=n_exec)
    collector_seed = TRAIN_SEED_BASE + cfg.seed * 100_003 + 7919 * state["update"]
    if cfg.algorithm == "group":
        collector = GroupCollector(
            envs, actor, [spec.instruction] * cfg.num_envs, cfg.gamma, n_exec,
            cfg.group_size or cfg.num_envs, seed=collector_seed, noisy=cfg.group_update == "ppo",
        )  # fmt: skip
    else:
        collector = ChunkCollector(
            envs, actor, [spec.instruction] * cfg.num_envs, cfg.gamma, n_exec, seed=collector_seed,
            keep_obs=cfg.train_trunk,
        )  # fmt: skip
    collector.episodes_done = state["episodes"]
    bc = None
    if cfg.bc_data and cfg.bc_weight:
        bc = BCRegularizer(policy, cfg.bc_data, cfg.bc_batch_size, cfg.seed, cfg.bc_max_episodes,
                           frozen_trunk=not cfg.train_trunk)  # fmt: skip

    episodes_log = (out / "episodes.jsonl").open("a")
    recent = [json.loads(line)["success"] for line in (out / "episodes.jsonl").read_text().splitlines()][
        -cfg.success_window :
    ]

    def on_episode(rec: EpisodeRecord) -> bool:
        episodes_log.write(json.dumps({**asdict(rec), "env_steps": steps0 + collector.env_steps}) + "\n")
        episodes_log.flush()
        recent.append(rec.success)
        del recent[: -cfg.success_window]
        bar.update(task_id, completed=min(rec.index, cfg.rollouts), info=f"success {np.mean(recent):.2f}")
        return rec.index >= cfg.rollouts

    t_start = time.perf_counter()
    wall0, steps0 = state["wall"], state["env_steps"]
    base_timings, update_time = dict(state["timings"]), 0.0
    with (
        MetricsLogger(out) as metrics,
        progress_bar(None if show_progress is None else not show_progress) as bar,
    ):
        task_id = bar.add_task(
            f"rl {cfg.task} [{cfg.reward}]", total=cfg.rollouts, completed=state["episodes"], info=""
        )
        group_imitate = cfg.algorithm == "group" and cfg.group_update == "imitate"
        while collector.episodes_done < cfg.rollouts:
            if cfg.algorithm == "group":
                episodes = collector.collect(on_episode)
                transitions, adv, ret = episode_transitions(episodes, collector.groups())
            else:
                sequences = collector.collect(cfg.chunks_per_update, on_episode)
                transitions, adv, ret = compute_advantages(sequences, cfg.gae_lambda)
            t0 = time.perf_counter()
            actor_on = state["update"] >= cfg.critic_warmup_updates
            if group_imitate:
                stats = group_update(
                    actor, optimizer, buffer, episodes, collector.groups(), cfg, bc, update_gen
                )
            elif not transitions:
                stats = {}
            elif buffer is not None:
                stats = awr_update(actor, optimizer, buffer, transitions, ret, cfg, actor_on, bc, update_gen)
            else:
                stats = ppo_update(actor, optimizer, transitions, adv, ret, cfg, actor_on, bc, n_exec)
            update_time += time.perf_counter() - t0
            state["update"] += 1
            state["episodes"] = collector.episodes_done
            state["env_steps"] = steps0 + collector.env_steps
            state["wall"] = wall0 + time.perf_counter() - t_start
            now = reward_timings(envs) | {"policy": collector.policy_time, "update": update_time}
            state["timings"] = {k: base_timings[k] + now[k] for k in base_timings}
            metrics.log(
                state["update"],
                **stats,
                **{f"time/{k}": v for k, v in state["timings"].items()},
                **{"charts/episodes": state["episodes"], "charts/env_steps": state["env_steps"]},
                **{"charts/success_rate": float(np.mean(recent)) if recent else 0.0},
                **{"charts/noise_std": actor.mean_std(), "charts/transitions": len(transitions)},
                **reward_stats(transitions),
            )
            if state["update"] % cfg.checkpoint_every == 0 or collector.episodes_done >= cfg.rollouts:
                save_checkpoint(out, actor, optimizer, state, buffer)
    episodes_log.close()
    envs.close()
    summary = summarize_run(out, cfg, state)
    if cfg.eval_episodes > 0:
        from robo_reward.models.flow_policy import evaluate

        ev = evaluate(
            policy,
            cfg.task,
            episodes=cfg.eval_episodes,
            num_envs=cfg.num_envs,
            seed=EVAL_SEED_BASE + cfg.seed,
            n_action_steps=n_exec,
            num_steps=actor.num_steps,
            image_size=image_size,
            max_steps=cfg.max_steps,
        )
        summary["eval"] = {k: v for k, v in ev.items() if k != "per_episode"}
    write_json(out / "summary.json", summary)
    return summary
