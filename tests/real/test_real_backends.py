"""The policy node's local backend loads any policy folder, an RL fine-tune (SteeredPolicy) included."""

import numpy as np
import torch

from robo_reward.models.flow_policy.steering import SteeredPolicy
from robo_reward.real.backends import make_backend
from robo_reward.sim import STATE_NAMES


def test_flow_backend_runs_a_steered_policy_folder(steered_policy_folder):
    policy, folder = steered_policy_folder
    cfg = policy.config
    backend = make_backend(
        "flow", checkpoint=str(folder), action_dim=cfg.action_dim, state_dim=len(STATE_NAMES), views=cfg.views
    )
    assert isinstance(backend.policy, SteeredPolicy)
    assert backend.chunk_size == cfg.chunk_size
    rng = np.random.default_rng(0)
    obs = {f"observation.images.{v}": rng.integers(0, 256, (48, 48, 3), dtype=np.uint8) for v in cfg.views}
    obs |= {"observation.state": rng.standard_normal(len(STATE_NAMES)).astype(np.float32), "task": "reach"}
    chunk = backend.infer(obs)
    batch = {k: [v] if k == "task" else v[None] for k, v in obs.items()}
    # the saved policy's own chunk: the actor's deterministic noise denoised by the frozen base
    expected = policy.sample(batch)[0].numpy()
    assert chunk.shape == (cfg.chunk_size, cfg.action_dim)
    np.testing.assert_allclose(chunk, expected, atol=1e-5)
    # the base policy alone (its own N(0, I) noise) acts differently: the actor's weights were used
    base = policy.base.sample(batch, generator=torch.Generator().manual_seed(0))[0].numpy()
    assert np.abs(base - chunk).max() > 1e-3
    backend.close()
