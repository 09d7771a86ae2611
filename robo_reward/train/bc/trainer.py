"""Behaviour cloning of the flow policy: flow-matching loss on (observation, action chunk) samples.

    out/metrics.jsonl                    one line per `log_every` steps (loss, lr, grad norm, samples/s)
    out/checkpoints/step_XXXXXX/         policy folder + optimizer.safetensors(+.json) + trainer_state.json
                                         (+ ema/, the averaged policy, when ema_decay > 0)
    out/model/                           the final policy (config.json, model.safetensors, ...); the
                                         exponential moving average of the weights when ema_decay > 0

Runs as one process or under `torchrun --nproc-per-node N` (DDP: gloo on CPU, nccl on GPU); each rank
draws its own batch of `batch_size // N` samples.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from robo_reward.data.episode import ENV_STATE_KEY, IMAGE_KEY, Episode
from robo_reward.models.flow_policy import FlowPolicy, compute_normalization, make_config
from robo_reward.train.bc.data import ChunkDataset, random_shift
from robo_reward.train.bc.state import cleanup_distributed, init_distributed, load_optimizer, save_optimizer
from robo_reward.utils.io import read_json, write_json
from robo_reward.utils.logging import MetricsLogger, progress_bar


@dataclass
class BCConfig:
    out: Path
    data: list[Path] = field(default_factory=list)
    config: str = "flow-small"  # policy preset
    overrides: dict = field(default_factory=dict)  # FlowPolicyConfig fields to change
    steps: int = 3000
    batch_size: int = 64
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    grad_clip: float = 1.0
    # exponential moving average of the weights (0: off); the saved model is the average. The decay ramps
    # up as min(ema_decay, (1 + step) / (10 + step)) so early steps are not averaged with the init.
    ema_decay: float = 0.0
    shift_pad: int = 4  # random-shift augmentation, pixels at the policy's image size
    # weight of an auxiliary loss (0: off): a head predicts the privileged object state recorded by the
    # sim suite (`observation.environment_state`) from the image tokens; the policy never reads it
    aux_weight: float = 0.0
    # more datasets whose frames (any outcome) train only the auxiliary head, images → object state: more
    # object placements than the demos show, for the encoder; their actions are never used
    aux_data: list[Path] = field(default_factory=list)
    outcomes: tuple[str, ...] = ("success",)
    max_episodes: int | None = None  # per dataset folder
    log_every: int = 50
    ckpt_every: int = 1000
    keep_checkpoints: int = 2
    seed: int = 0
    threads: int | None = None
    resume: bool = False


def lr_at(step: int, cfg: BCConfig) -> float:
    """Linear warmup, then cosine decay to 10 % of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def load_training_episodes(dirs: Sequence[Path], max_episodes: int | None = None) -> list[Episode]:
    from robo_reward.data.lerobot_io import dataset_info, load_episodes

    episodes: list[Episode] = []
    for d in dirs:
        n = dataset_info(d)["episodes"]
        wanted = range(n if max_episodes is None else min(n, max_episodes))
        episodes += load_episodes(d, episodes=wanted)
    return episodes


def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema ← decay·ema + (1 − decay)·model for float parameters and buffers; other buffers copied."""
    with torch.no_grad():
        for e, m in zip(ema.state_dict().values(), model.state_dict().values(), strict=True):
            if e.dtype.is_floating_point:
                e.lerp_(m, 1.0 - decay)
            else:
                e.copy_(m)


def ema_decay_at(step: int, decay: float) -> float:
    """The decay used after optimizer step `step` (0-based): ramps from 0.1 toward `decay`."""
    return min(decay, (1 + step) / (10 + step))


def _latest_checkpoint(out: Path) -> Path | None:
    done = sorted(p for p in (out / "checkpoints").glob("step_*") if (p / "trainer_state.json").exists())
    return done[-1] if done else None


def _save_checkpoint(policy: FlowPolicy, opt, step: int, cfg: BCConfig, ema: FlowPolicy | None) -> Path:
    folder = cfg.out / "checkpoints" / f"step_{step:06d}"
    policy.save_pretrained(folder)
    if ema is not None:
        ema.save_pretrained(folder / "ema")
    save_optimizer(opt, folder / "optimizer.safetensors")
    write_json(folder / "trainer_state.json", {"step": step, "bc_config": dataclasses.asdict(cfg)})
    for old in sorted((cfg.out / "checkpoints").glob("step_*"))[: -cfg.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def build_policy(cfg: BCConfig, data: ChunkDataset, source_image_size: int) -> FlowPolicy:
    pcfg = make_config(
        cfg.config,
        **{
            "state_dim": data.state.shape[1],
            "action_dim": data.action.shape[1],
            "source_image_size": source_image_size,
            **cfg.overrides,
        },
    )
    es = data.environment_state
    if cfg.aux_weight > 0:
        pcfg.aux_dim = int(es.shape[1])
    policy = FlowPolicy(pcfg)
    policy.set_normalization(
        compute_normalization(data.state.numpy(), data.action.numpy(), es.numpy() if pcfg.aux_dim else None)
    )
    return policy


def _aux_frames_loss(
    policy: FlowPolicy, frames: ChunkDataset, idx: np.ndarray, shift_pad: int, gen
) -> torch.Tensor:
    """Mean auxiliary loss on `--aux-data` frames `idx`: images alone → object state (no actions)."""
    obs, _ = frames.batch(idx)
    target = obs.pop(ENV_STATE_KEY).to(policy.device)
    for key in [k for k in obs if k.startswith(IMAGE_KEY)]:
        obs[key] = random_shift(obs[key], shift_pad, gen)
    return policy.aux_loss(policy.image_tokens(obs), target).mean()


def train_bc(
    cfg: BCConfig, episodes: Sequence[Episode] | None = None, aux_episodes: Sequence[Episode] | None = None
) -> Path:
    """Train (or resume) a policy; returns the folder of the final model (`out/model`). `episodes` and
    `aux_episodes` replace loading `cfg.data` and `cfg.aux_data`."""
    rank, world, device = init_distributed()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    cfg.out = Path(cfg.out)
    try:
        return _train(cfg, episodes, aux_episodes, rank, world, device)
    finally:
        cleanup_distributed()


def _train(cfg: BCConfig, episodes, aux_episodes, rank: int, world: int, device: torch.device) -> Path:
    resume_from = _latest_checkpoint(cfg.out) if cfg.resume else None
    if episodes is None:
        if not cfg.data:
            raise ValueError("no training data: pass --data DIR [DIR ...]")
        episodes = load_training_episodes(cfg.data, cfg.max_episodes)
    source_size = int(next(iter(episodes[0].views.values())).shape[1])
    start = 0
    if resume_from is not None:
        policy = FlowPolicy.from_pretrained(resume_from)
        start = int(read_json(resume_from / "trainer_state.json")["step"])
        pcfg = policy.config
    else:
        pcfg = make_config(cfg.config, **cfg.overrides)
    if resume_from is not None and (policy.config.aux_dim > 0) != (cfg.aux_weight > 0):
        raise ValueError(
            f"--aux-weight {cfg.aux_weight} does not match the checkpoint (aux_dim {policy.config.aux_dim})"
        )
    data = ChunkDataset.from_episodes(
        episodes, pcfg.views, pcfg.image_size, pcfg.chunk_size, cfg.outcomes,
        environment_state=cfg.aux_weight > 0,
    )  # fmt: skip
    if resume_from is None:
        torch.manual_seed(cfg.seed)
        policy = build_policy(cfg, data, source_size)
    policy.to(device).train()
    if policy.config.freeze_backbone:  # the CPU path: the backbone runs once per frame, not per step
        t0 = time.perf_counter()
        data.cache_features(policy)
        if rank == 0:
            print(
                f"[bc] cached frozen-backbone features of {len(data)} frames in {time.perf_counter() - t0:.0f}s"
            )
    ema = None
    if cfg.ema_decay > 0:
        saved = resume_from / "ema" if resume_from is not None else None
        ema = (
            FlowPolicy.from_pretrained(saved)
            if saved is not None and saved.exists()
            else copy.deepcopy(policy)
        )
        ema.to(device).eval().requires_grad_(False)
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if resume_from is not None:
        load_optimizer(opt, resume_from / "optimizer.safetensors")
    model = policy
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(policy)

    rng = np.random.default_rng([cfg.seed, rank, start])
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + rank + start)
    weights = data.sampling_weights()
    local_batch = max(1, cfg.batch_size // world)
    logger = MetricsLogger(cfg.out) if rank == 0 else None
    aux_frames = None
    if cfg.aux_data and aux_episodes is None:
        aux_episodes = load_training_episodes(cfg.aux_data)
    if aux_episodes:
        if cfg.aux_weight <= 0 or world > 1:
            raise ValueError("--aux-data needs --aux-weight > 0 and a single process")
        aux_frames = ChunkDataset.from_episodes(
            aux_episodes, policy.config.views, policy.config.image_size, 1,
            outcomes=("success", "partial", "failure"), environment_state=True,
        )  # fmt: skip
    if rank == 0:
        write_json(cfg.out / "bc_config.json", dataclasses.asdict(cfg))
        print(
            f"[bc] {data.num_episodes} episodes, {len(data)} samples, {len(set(data.task_names))} tasks; "
            f"{cfg.config} on {device} × {world}; steps {start}→{cfg.steps}"
        )
    window: list[float] = []
    aux_window: list[float] = []
    extra_window: list[float] = []
    t_last, n_last = time.perf_counter(), 0
    with progress_bar(disable=None if rank == 0 else True) as bar:
        job = bar.add_task("bc", total=cfg.steps, completed=start, info="")
        for step in range(start, cfg.steps):
            for g in opt.param_groups:
                g["lr"] = lr_at(step, cfg)
            obs, chunk = data.batch(rng.choice(len(data), size=local_batch, p=weights))
            if data.features is None:
                for key in [k for k in obs if k.startswith(IMAGE_KEY)]:
                    obs[key] = random_shift(obs[key], cfg.shift_pad, gen)
            env_state = obs.pop(ENV_STATE_KEY, None)
            if env_state is None:
                loss = fm = model(obs, chunk.to(device)).mean()
            else:
                fm, aux = model(obs, chunk.to(device), environment_state=env_state.to(device)).mean(0)
                aux_window.append(aux.item())
                if aux_frames is not None:
                    idx = rng.integers(len(aux_frames), size=local_batch)
                    extra_aux = _aux_frames_loss(policy, aux_frames, idx, cfg.shift_pad, gen)
                    extra_window.append(extra_aux.item())
                    aux = (aux + extra_aux) / 2
                loss = fm + cfg.aux_weight * aux
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
            opt.step()
            if ema is not None:
                ema_update(ema, policy, ema_decay_at(step, cfg.ema_decay))
            window.append(fm.item())  # the flow-matching loss, comparable with or without aux
            n_last += local_batch * world
            done = step + 1
            if logger is not None and (done % cfg.log_every == 0 or done == cfg.steps):
                now = time.perf_counter()
                extra = {"aux_loss": float(np.mean(aux_window))} if aux_window else {}
                if extra_window:
                    extra["aux_extra_loss"] = float(np.mean(extra_window))
                logger.log(
                    done, loss=float(np.mean(window)), lr=opt.param_groups[0]["lr"],
                    grad_norm=float(grad_norm), samples_per_s=n_last / (now - t_last), **extra,
                )  # fmt: skip
                aux_info = f" aux {extra['aux_loss']:.3f}" if extra else ""
                bar.update(job, info=f"loss {np.mean(window):.4f}{aux_info}")
                window, aux_window, extra_window, t_last, n_last = [], [], [], now, 0
            bar.update(job, completed=done)
            if rank == 0 and (done % cfg.ckpt_every == 0 and done < cfg.steps):
                _save_checkpoint(policy, opt, done, cfg, ema)
    final = cfg.out / "model"
    if rank == 0:
        _save_checkpoint(policy, opt, cfg.steps, cfg, ema)
        training = {
            "steps": cfg.steps, "data": [str(d) for d in cfg.data], "episodes": data.num_episodes,
            "ema_decay": cfg.ema_decay, "aux_weight": cfg.aux_weight,
        }  # fmt: skip
        (ema if ema is not None else policy.eval()).save_pretrained(final, extras={"training": training})
        logger.close()
    return final
