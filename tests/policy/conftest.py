from __future__ import annotations

import numpy as np
import pytest

from robo_reward.models.flow_policy import FlowPolicy, make_config


def _make_batch(cfg, B: int = 2, size: int = 48, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    batch = {
        f"observation.images.{v}": rng.integers(0, 256, (B, size, size, 3), dtype=np.uint8) for v in cfg.views
    }
    batch["observation.state"] = rng.standard_normal((B, cfg.state_dim)).astype(np.float32)
    batch["task"] = ["pick up the red cube and place it on the pad"] * B
    return batch


@pytest.fixture
def tiny_policy() -> FlowPolicy:
    import torch

    torch.manual_seed(0)
    return FlowPolicy(make_config("flow-tiny")).eval()


@pytest.fixture
def make_batch():
    """`make_batch(cfg, B=2, size=48, seed=0)` → an observation batch in the contract (numpy)."""
    return _make_batch
