"""A tiny random encoder for the perceptual tests (their episodes: the `stepped` fixture of tests/conftest.py)."""

import pytest


@pytest.fixture(scope="module")
def tiny_encoder():
    import torch

    from robo_reward.models.encoders import build_encoder

    torch.manual_seed(0)
    return build_encoder("tcn-tiny").eval()
