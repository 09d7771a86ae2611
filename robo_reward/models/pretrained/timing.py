"""CPU timings of the pretrained encoders (`robo-reward pretrained time`): measurements, never tests."""

from __future__ import annotations

import time

import numpy as np
import torch

from robo_reward.models.pretrained.modeling_efficientnet_lite import PretrainedFeatures
from robo_reward.models.pretrained.modeling_minilm import load_sentence_encoder

# instructions of the sim suite's kind, all distinct, so every call runs the encoder
_INSTRUCTIONS = [
    "pick up the red cube and place it on the green target",
    "push the cube onto the target pad",
    "open the drawer",
    "put the cube into the drawer and close it",
    "stack the red cube on top of the blue cube",
    "move the gripper to the target",
]


def _best_ms(fn, repeats: int) -> tuple[float, float]:
    """(wall, CPU) milliseconds of the fastest of `repeats` calls after a warm-up. On a shared CPU other jobs
    only ever add wall time, so the minimum is the least disturbed reading (as `timeit` advises); the CPU
    time of this process (all its threads) hardly depends on them."""
    fn()  # warm-up: allocator, kernels
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return 1000.0 * min(wall), 1000.0 * min(cpu)


def time_image_features(
    sizes: tuple[int, ...],
    threads: tuple[int, ...],
    batches: tuple[int, ...],
    stages: tuple[int, ...],
    repeats: int,
) -> list[dict]:
    """Per-image milliseconds of `PretrainedFeatures` (96x128 uint8 frames in, resize included)."""
    rows, before = [], torch.get_num_threads()
    frames = np.random.default_rng(0).integers(0, 256, (max(batches), 96, 128, 3), dtype=np.uint8)
    try:
        for size in sizes:
            model = PretrainedFeatures(stages=stages, image_size=size)
            shapes = [tuple(m.shape[1:]) for m in model(frames[:1])]
            for n_threads in threads:
                torch.set_num_threads(n_threads)
                for batch in batches:
                    wall, cpu = _best_ms(lambda b=batch, m=model: m(frames[:b]), repeats)
                    rows.append(
                        {
                            "size": size,
                            "threads": n_threads,
                            "batch": batch,
                            "ms_per_image": wall / batch,
                            "cpu_ms_per_image": cpu / batch,
                            "maps": str(shapes),
                        }
                    )
    finally:
        torch.set_num_threads(before)
    return rows


def time_sentence_embeddings(threads: tuple[int, ...], repeats: int) -> list[dict]:
    """Milliseconds per instruction of MiniLM, one at a time and all six in one batch (cache bypassed)."""
    encoder, rows, before = load_sentence_encoder(), [], torch.get_num_threads()
    n = len(_INSTRUCTIONS)
    try:
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            one = _best_ms(lambda: [encoder.encode([t]) for t in _INSTRUCTIONS], repeats)
            batch = _best_ms(lambda: encoder.encode(_INSTRUCTIONS), repeats)
            rows.append(
                {
                    "threads": n_threads,
                    "one_at_a_time": one[0] / n,
                    "one_at_a_time_cpu": one[1] / n,
                    f"batch_of_{n}": batch[0] / n,
                    f"batch_of_{n}_cpu": batch[1] / n,
                }
            )
    finally:
        torch.set_num_threads(before)
    return rows
