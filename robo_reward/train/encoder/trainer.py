"""Multi-view time-contrastive training (Sermanet et al. 2017, "Time-Contrastive Networks").

A batch holds E episodes × K moments. For each moment the anchor is one camera's frame and the
positive is the *same moment* seen by another camera; the negatives are the other K − 1 moments of
the same episode (seen by the positive's camera). Two losses:
- `infonce`: cross-entropy over the K × K similarity matrix of each episode, both directions
  (the multi-pair form of TCN's n-pairs loss);
- `triplet`: mean hinge max(0, ‖a − p‖² − ‖a − n‖² + margin) over every negative.
Moments are drawn one per equal-width time bin, so negatives are never near-duplicates of the anchor.

Run layout under `out/`: `run.json` (run id, options hash), `metrics.jsonl` and `checkpoint/`, one
verified unit rewritten every `checkpoint_every` steps and at the end: config.json + model.safetensors +
preprocessing.json + train_state.json, the AdamW moments, the random generators and `manifest.json`.
`--resume` verifies it against the run's options and cuts `metrics.jsonl` back to it, and continues
exactly as the uninterrupted run would have (on a CPU).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from robo_reward.data.episode import Episode
from robo_reward.models.encoders.configuration_encoders import EncoderConfig
from robo_reward.models.encoders.modeling_encoders import ImageEncoder, resize
from robo_reward.utils.errors import ResumeError
from robo_reward.utils.killpoints import kill_point
from robo_reward.utils.logging import MetricsLogger, progress_bar
from robo_reward.utils.run_folder import TrainingRun
from robo_reward.utils.training_state import load_optimizer, load_rng_state, save_optimizer, save_rng_state

CHECKPOINT_DIR = "checkpoint"
OPTIMIZER_NAME = "optimizer.safetensors"
# config fields a resumed run may change: they do not alter what it computed up to its checkpoint
RESUMABLE_FIELDS = ("steps", "checkpoint_every", "log_every")


# ---- maths ------------------------------------------------------------------------------------
def tcn_loss(
    anchors: torch.Tensor,
    positives: torch.Tensor,
    loss: str = "infonce",
    temperature: float = 0.1,
    margin: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """anchors, positives: unit vectors (E, K, D); row k of both is the same moment of episode e.

    Returns (loss, retrieval accuracy): accuracy = fraction of anchors whose nearest positive among
    their episode's K moments is their own moment.
    """
    E, K, _ = anchors.shape
    sim = anchors @ positives.transpose(1, 2)  # (E, K, K) cosine similarities
    target = torch.arange(K, device=anchors.device).expand(E, K)
    if loss == "infonce":
        logits = sim / temperature
        value = 0.5 * (
            F.cross_entropy(logits.reshape(E * K, K), target.reshape(-1))
            + F.cross_entropy(logits.transpose(1, 2).reshape(E * K, K), target.reshape(-1))
        )
    elif loss == "triplet":
        d = 2.0 - 2.0 * sim  # squared distances of unit vectors
        d_pos = d.diagonal(dim1=1, dim2=2).unsqueeze(-1)  # (E, K, 1)
        off = ~torch.eye(K, dtype=torch.bool, device=anchors.device)
        value = F.relu(d_pos - d + margin)[:, off].mean()
    else:
        raise ValueError(f"unknown TCN loss {loss!r}")
    accuracy = (sim.argmax(dim=-1) == target).float().mean()
    return value, accuracy


def stratified_times(length: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """k frame indices, one drawn uniformly from each of k equal-width bins of [0, length)."""
    if length < k:
        raise ValueError(f"an episode of {length} frames cannot give {k} distinct moments")
    edges = np.linspace(0, length, k + 1)
    lo, hi = np.ceil(edges[:-1]).astype(int), np.ceil(edges[1:]).astype(int)
    return lo + (rng.random(k) * (hi - lo)).astype(int)


def augment(x: torch.Tensor, generator: torch.Generator, max_shift: float = 0.04) -> torch.Tensor:
    """Float images in [0, 1] (N, 3, S, S): random translation (± max_shift of the side) and
    brightness/contrast jitter, independently per image — views differ in exactly these ways."""
    N = len(x)
    shift = (torch.rand(N, 2, generator=generator) * 2 - 1) * (2 * max_shift)
    theta = torch.zeros(N, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    contrast = 0.8 + 0.4 * torch.rand(N, 1, 1, 1, generator=generator).to(x)
    brightness = 0.2 * torch.rand(N, 1, 1, 1, generator=generator).to(x) - 0.1
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * contrast + mean + brightness).clamp(0.0, 1.0)


# ---- data -------------------------------------------------------------------------------------
def prepare_frames(
    episodes: Sequence[Episode], views: Sequence[str] | None, image_size: int
) -> tuple[list[torch.Tensor], list[str]]:
    """Resize every frame once: per episode a uint8 tensor (V, T, 3, S, S), and the view names."""
    if not episodes:
        raise ValueError("TCN training needs at least one episode")
    views = list(views or episodes[0].view_names)
    if len(views) < 2:
        raise ValueError(f"multi-view TCN needs ≥ 2 views, got {views}")
    out = []
    for i, ep in enumerate(episodes):
        missing = set(views) - set(ep.views)
        if missing:
            raise ValueError(f"episode {i} lacks views {sorted(missing)}")
        per_view = []
        for v in views:
            x = torch.from_numpy(ep.views[v]).permute(0, 3, 1, 2).float()
            per_view.append(resize(x, image_size).round().clamp(0, 255).to(torch.uint8))
        out.append(torch.stack(per_view))
    return out, views


def sample_batch(
    frames: Sequence[torch.Tensor], episodes: int, times: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(anchors, positives) uint8 (E, K, 3, S, S): the same K moments from two different views."""
    usable = [i for i, f in enumerate(frames) if f.shape[1] >= times]
    if not usable:
        raise ValueError(f"no episode has ≥ {times} frames")
    anchors, positives = [], []
    for e in rng.choice(usable, size=episodes, replace=len(usable) < episodes):
        f = frames[e]
        t = torch.from_numpy(stratified_times(f.shape[1], times, rng))
        va, vb = rng.choice(f.shape[0], size=2, replace=False)
        anchors.append(f[va, t])
        positives.append(f[vb, t])
    return torch.stack(anchors), torch.stack(positives)


# ---- the loop ---------------------------------------------------------------------------------
def train_tcn(
    episodes: Sequence[Episode],
    config: EncoderConfig,
    out: str | Path,
    views: Sequence[str] | None = None,
    steps: int | None = None,
    resume: bool = False,
    device: str = "cpu",
    overwrite: bool = False,
) -> ImageEncoder:
    """Train an encoder as a multi-view TCN on `episodes`; the result is saved in `out/checkpoint`.

    A new run needs an empty `out` (or `overwrite`); `resume` continues the run in `out` from its
    verified checkpoint, with the same config (but `steps`, `checkpoint_every`, `log_every`) and data."""
    out = Path(out)
    total = steps if steps is not None else config.steps
    frames, views = prepare_frames(episodes, views, config.image_size)
    hashed = {k: v for k, v in dataclasses.asdict(config).items() if k not in RESUMABLE_FIELDS}
    hashed |= {"views": views, "episodes": [len(frames), sum(f.shape[1] for f in frames)], "device": device}
    run = TrainingRun.open(out, "encoder", hashed, resume=resume, overwrite=overwrite)
    ckpt = out / CHECKPOINT_DIR
    manifest = run.load_checkpoint(ckpt) if resume else None
    run.cut_logs({"metrics.jsonl": "step"}, manifest)
    start = manifest.counters["step"] if manifest is not None else 0
    if start > total:
        raise ResumeError(
            f"--resume: the checkpoint is at step {start}, past --steps {total}: pass --steps ≥ {start}"
        )
    if manifest is not None:
        encoder = ImageEncoder.from_pretrained(manifest.folder, device=device)
        config = encoder.config
    else:
        torch.manual_seed(config.seed)
        encoder = ImageEncoder(config).to(device)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rng = np.random.default_rng([config.seed, start])
    gen = torch.Generator().manual_seed(config.seed * 100003 + start)
    if manifest is not None:
        load_optimizer(optimizer, manifest.folder / OPTIMIZER_NAME)
        load_rng_state(manifest.folder, {"batches": rng}, {"augment": gen})
    E, K = config.episodes_per_batch, config.times_per_episode
    encoder.train()

    def save(step: int) -> None:
        def write(tmp: Path) -> None:
            state = {"step": step, "views": views, "episodes": len(frames)}
            encoder.save_pretrained(tmp, extras={"train_state": state}, atomic=False)
            save_optimizer(optimizer, tmp / OPTIMIZER_NAME)
            save_rng_state(tmp, {"batches": rng}, {"augment": gen})

        run.save_checkpoint(ckpt, write, {"step": step})

    with MetricsLogger(out) as log, progress_bar() as bar:
        task = bar.add_task("tcn", total=total, completed=start, info="")
        for step in range(start + 1, total + 1):
            for group in optimizer.param_groups:  # cosine decay to 10 %
                group["lr"] = config.lr * (0.55 + 0.45 * math.cos(math.pi * step / max(total, 1)))
            a, p = sample_batch(frames, E, K, rng)
            images = torch.cat([a, p]).flatten(0, 1).to(device).float().div_(255.0)  # (2EK, 3, S, S)
            if config.augment:
                images = augment(images, gen)
            z = encoder(encoder.normalise(images)).view(2, E, K, -1)
            loss, acc = tcn_loss(z[0], z[1], config.loss, config.temperature, config.margin)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step % config.log_every == 0 or step == total:
                log.log(
                    step,
                    **{
                        "losses/tcn": loss.item(),
                        "charts/retrieval_acc": acc.item(),
                        "charts/lr": optimizer.param_groups[0]["lr"],
                    },
                )
                bar.update(task, info=f"loss {loss.item():.3f} acc {acc.item():.2f}")
            kill_point("step")
            if step % config.checkpoint_every == 0 and step != total:
                save(step)
            bar.update(task, completed=step)
    save(total)
    return encoder.eval()
