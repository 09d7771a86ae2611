"""Flow-policy inference speed on this machine: chunk latency, trunk vs expert split, batched throughput.

One chunk = trunk once (3 views → features) + the action expert `num_inference_steps` (10) times.
Latency is measured at batch 1 with images already at the policy's image size (camera-side resize
excluded); throughput batches B observations, as a vector env does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from robo_reward.models.flow_policy import FlowPolicy, make_config
from robo_reward.utils.cli_helpers import emit_json, print_table

TARGET_SMALL_P50_MS = 15.0


def _batch(cfg, B: int, rng: np.random.Generator) -> dict:
    S = cfg.image_size
    batch = {f"observation.images.{v}": rng.integers(0, 256, (B, S, S, 3), dtype=np.uint8) for v in cfg.views}
    batch["observation.state"] = rng.standard_normal((B, cfg.state_dim)).astype(np.float32)
    batch["task"] = ["put the red cube on the green pad"] * B
    return batch


def _times_ms(fn: Callable[[], object], iters: int, warmup: int = 3) -> np.ndarray:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return np.asarray(out)


def bench_preset(
    preset: str, iters: int = 50, batch_sizes: Sequence[int] = (1, 4, 16), seed: int = 0
) -> dict:
    torch.manual_seed(seed)
    return bench_policy(FlowPolicy(make_config(preset, state_dim=11)), preset, iters, batch_sizes, seed)


def bench_policy(
    policy: FlowPolicy, label: str, iters: int = 50, batch_sizes: Sequence[int] = (1, 4, 16), seed: int = 0
) -> dict:
    """Latency and throughput of one policy. Every call gives the same instruction, so a MiniLM text
    encoder embeds it once, in the warm-up, and reads its cache after (as when acting on one task)."""
    policy = policy.eval()
    rng = np.random.default_rng(seed)
    cfg = policy.config
    one = _batch(cfg, 1, rng)
    with torch.inference_mode():
        chunk = _times_ms(lambda: policy.sample(one), iters)
        trunk = _times_ms(lambda: policy.encode(one), iters)
        features = policy.encode(one)
        expert = _times_ms(lambda: policy.sample_normalized(features), iters)
        throughput = {}
        for B in batch_sizes:
            batch = _batch(cfg, B, rng)
            t = _times_ms(lambda b=batch: policy.sample(b), max(5, iters // max(1, B // 2)), warmup=2)
            throughput[str(B)] = {
                "chunk_ms_p50": float(np.median(t)),
                "chunks_per_s": float(B * 1e3 / np.median(t)),
            }
    return {
        "preset": label,
        "params_m": sum(p.numel() for p in policy.parameters()) / 1e6,
        "image_size": cfg.image_size,
        "views": len(cfg.views),
        "chunk_size": cfg.chunk_size,
        "euler_steps": cfg.num_inference_steps,
        "chunk_ms_p50": float(np.percentile(chunk, 50)),
        "chunk_ms_p95": float(np.percentile(chunk, 95)),
        "trunk_ms_p50": float(np.percentile(trunk, 50)),
        "expert_ms_p50": float(np.percentile(expert, 50)),
        "expert_share": float(np.median(expert) / (np.median(trunk) + np.median(expert))),
        "throughput": throughput,
    }


def run(
    json: Path | None = None,
    presets: Sequence[str] = ("flow-tiny", "flow-small", "flow-small-kp"),
    iters: int = 50,
    batch_sizes: Sequence[int] = (1, 4, 16),
    threads: int | None = None,
    checkpoints: Sequence[Path] = (),
) -> dict:
    """Latency p50/p95 per preset at batch 1 with its views, trunk/expert split, throughput at each B;
    then the same for each saved policy in `checkpoints` (its row named by its folder)."""
    if threads:
        torch.set_num_threads(threads)
    rows = [bench_preset(p, iters=iters, batch_sizes=batch_sizes) for p in presets]
    rows += [
        bench_policy(FlowPolicy.from_pretrained(c), str(c), iters=iters, batch_sizes=batch_sizes)
        for c in checkpoints
    ]
    result: dict = {"torch_threads": torch.get_num_threads(), "presets": rows}
    small = next((r for r in rows if r["preset"] == "flow-small"), None)
    if small is not None:
        result["target_small_p50_ms"] = TARGET_SMALL_P50_MS
        result["small_meets_target"] = small["chunk_ms_p50"] <= TARGET_SMALL_P50_MS
    table = [
        {
            "preset": r["preset"], "params (M)": r["params_m"], "chunk p50 ms": r["chunk_ms_p50"],
            "chunk p95 ms": r["chunk_ms_p95"], "trunk ms": r["trunk_ms_p50"], "expert ms": r["expert_ms_p50"],
            **{f"chunks/s B={b}": r["throughput"][str(b)]["chunks_per_s"] for b in batch_sizes},
        }
        for r in rows
    ]  # fmt: skip
    print_table(f"flow policy inference ({result['torch_threads']} threads)", table)
    emit_json(json, result)
    return result
