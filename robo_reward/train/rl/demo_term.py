"""The demonstration term of RL: flow matching on demo chunks, added to the actor loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


class BCRegularizer:
    """Flow-matching loss on demonstration chunks, added to the actor loss (keeps RL near the demos).

    `frozen_trunk`: the trunk is not trained, so its features of every demo frame are computed once.
    """

    def __init__(
        self, policy, data_dir: str, batch_size: int, seed: int, max_episodes: int | None = None,
        frozen_trunk: bool = False,
    ):  # fmt: skip
        from robo_reward.train.bc.data import ChunkDataset
        from robo_reward.train.bc.trainer import load_training_episodes

        c = policy.config
        episodes = [
            e for e in load_training_episodes([Path(data_dir)], max_episodes) if e.outcome == "success"
        ]
        if not episodes:
            raise ValueError(f"bc_data {data_dir} holds no success episodes")
        self.data = ChunkDataset.from_episodes(episodes, c.views, c.image_size, c.chunk_size)
        self.policy, self.batch_size = policy, batch_size
        self.rng = np.random.default_rng(seed)
        self.features = None
        if frozen_trunk:
            with torch.no_grad():
                parts = np.array_split(np.arange(len(self.data)), max(1, len(self.data) // 128))
                self.features = torch.cat([policy.encode(self.data.batch(p)[0]) for p in parts])

    def loss(self) -> torch.Tensor:
        idx = self.rng.integers(0, len(self.data), self.batch_size)
        batch, chunk = self.data.batch(idx)
        if self.features is not None:
            features = self.features[torch.as_tensor(idx)]
        else:
            with torch.no_grad():
                features = self.policy.encode(batch)
        return self.policy.flow_matching_loss(batch, chunk, features=features).mean()


def with_demo_term(loss: torch.Tensor, bc: BCRegularizer | None, weight: float, stats: dict) -> torch.Tensor:
    """`loss` + weight · the demo flow-matching loss (logged as losses/bc); `loss` itself without demos."""
    if bc is None or weight <= 0:
        return loss
    bc_loss = bc.loss()
    stats.setdefault("losses/bc", []).append(bc_loss.item())
    return loss + weight * bc_loss
