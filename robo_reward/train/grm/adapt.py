"""One-shot adaptation: fine-tune a GRM from ONE demonstration of a new task in bounded time.

Only the small top of the model trains (`trainable`), on hop queries from the demo mixed half and
half with replayed queries from the old training data, so the new task is learnt without the old
ones being forgotten. The encoder is untouched (its cached features stay valid), and the demo's
last frame becomes the stored goal reference of the new task. A wall-clock budget bounds the run.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from robo_reward.data.episode import Episode
from robo_reward.models.grm.features import FeatureCache
from robo_reward.train.grm.batches import TrainData, cached_features, hop_loss, live_features, make_batch
from robo_reward.utils.logging import progress_bar

TRAINABLE = {
    "head": ("head.",),
    "top": ("head.", "text.", "trunk.layers.{last}.", "cls"),
    "trunk": ("head.", "text.", "trunk.", "cls", "role_embed", "view_embed"),
}


def select_trainable(model, trainable: str) -> list[torch.nn.Parameter]:
    """Freeze everything except the parameter groups named by `trainable` (see TRAINABLE)."""
    if trainable not in TRAINABLE:
        raise ValueError(f"trainable must be one of {sorted(TRAINABLE)}, got {trainable!r}")
    prefixes = tuple(p.format(last=model.config.depth - 1) for p in TRAINABLE[trainable])
    params = []
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(prefixes))
        if p.requires_grad:
            params.append(p)
    return params


def adapt(
    model,
    demo: Episode,
    replay: list[Episode],
    steps: int = 600,
    max_seconds: float = 100.0,
    lr: float = 1e-3,
    batch_size: int = 128,
    trainable: str = "trunk",
    replay_fraction: float = 0.5,
    cache: FeatureCache | None = None,
    seed: int = 0,
    min_steps: int = 20,
) -> dict:
    """Fine-tune `model` in place from `demo`; returns timing and loss statistics.

    Stops after `steps` or once `max_seconds` (preparation included) have passed, but never before
    `min_steps`: on a slow or busy machine the preparation alone may spend the budget."""
    t0 = time.time()
    config = model.config
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    if demo.outcome != "success":
        raise ValueError(f"the demonstration must be successful, got a {demo.outcome} episode")
    new = TrainData.build([demo], config.frames_per_segment, None, config.label_source, config.label_stride)
    model.references.update(new.references(config.views))
    old = (
        TrainData.build(replay, config.frames_per_segment, None, config.label_source, config.label_stride)
        if replay
        else None
    )
    cache = cache if cache is not None else FeatureCache(model)

    def features(data: TrainData):
        return (
            cached_features(cache, data.episodes)
            if config.frozen_encoder
            else live_features(model, data.episodes)
        )

    new_features, new_sampler = features(new), new.sampler(config.zero_hop_fraction)
    if old is not None:
        old_features, old_sampler = features(old), old.sampler(config.zero_hop_fraction)
    prep_seconds = time.time() - t0
    params = select_trainable(model, trainable)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay)
    n_old = int(round(batch_size * replay_fraction)) if old is not None else 0
    model.train()
    losses, step = [], 0
    with progress_bar() as bar:
        job = bar.add_task("adapt", total=steps, info=f"budget {max_seconds:.0f} s")
        while step < steps and (step < min_steps or time.time() - t0 < max_seconds):
            frac = step / max(steps, 1)
            for g in optimizer.param_groups:
                g["lr"] = lr * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * frac)))
            loss, stats = hop_loss(
                model, make_batch(model, new, new_sampler, new_features, batch_size - n_old, rng, config)
            )
            if n_old:
                old_loss, _ = hop_loss(
                    model, make_batch(model, old, old_sampler, old_features, n_old, rng, config)
                )
                loss = ((batch_size - n_old) * loss + n_old * old_loss) / batch_size
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            losses.append(stats["loss"])
            step += 1
            info = f"loss {stats['loss']:.3f}, {time.time() - t0:.0f}/{max_seconds:.0f} s"
            bar.update(job, completed=step, info=info)
    model.eval()
    for p in model.parameters():  # restore the model's own trainability (a frozen encoder stays frozen)
        p.requires_grad_(True)
    if config.frozen_encoder:
        model.encoder.requires_grad_(False)
    return {
        "steps": step,
        "seconds": time.time() - t0,
        "prep_seconds": prep_seconds,
        "demo_frames": len(demo),
        "replay_episodes": len(old.episodes) if old is not None else 0,
        "trainable": trainable,
        "trainable_parameters": sum(p.numel() for p in params),
        "loss_first": float(np.mean(losses[:10])) if losses else float("nan"),
        "loss_last": float(np.mean(losses[-10:])) if losses else float("nan"),
    }
