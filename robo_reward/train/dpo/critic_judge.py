"""The RL run's critics as a DPO judge: candidates ranked by their long-run value, no world model needed.

A noise-sac fine-tune ships its critics (`guide/`): Q(s, time left, z), the discounted shaped return of
starting the frozen policy's denoising from the noise z of its steered steps. Those critics therefore
judge the frozen policy's own samples: draw K noises from the policy's prior N(0, s²) (the unsteered
chunk steps keep zero noise, as the fine-tune decodes them), decode each into a chunk, and score each by
the critics' statistic over the ensemble. The score is a value — progress to come, not progress made by
one chunk — and needs neither a cloned simulator state nor a rendered outcome.

The critics read the frozen policy's trunk features and decode through its flow head, so the judge
only applies to that very policy: the one the fine-tune steered, before DPO changes its head (one DPO
round). `CriticJudge.check_policy` refuses any other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from robo_reward.models.flow_policy.steering import SteeredPolicy, is_steered
from robo_reward.models.flow_policy.value_guide import GUIDE_STATISTICS


class CriticJudge:
    """K prior-noise candidates at one observation, scored by a noise-sac fine-tune's critics."""

    def __init__(self, steered: SteeredPolicy, statistic: str = "min"):
        if steered.steering.mode != "noise":
            raise ValueError(
                f"a critic judge needs a noise-sac fine-tune (its critics value the initial noise), this "
                f"one steers by a {steered.steering.mode!r}"
            )
        if steered.guide is None:
            raise ValueError(
                "this fine-tune ships no critics (guide/): re-export it with `robo-reward rl export`"
            )
        if statistic not in GUIDE_STATISTICS:
            raise ValueError(f"critic statistic must be one of {GUIDE_STATISTICS}, got {statistic!r}")
        self.steered, self.statistic = steered.eval(), statistic

    @classmethod
    def from_pretrained(cls, folder: str | Path, statistic: str = "min", device="cpu") -> CriticJudge:
        if not is_steered(folder):
            raise ValueError(
                f"{folder} is not an RL fine-tune's policy folder (no base/): pass <rl run>/policy"
            )
        return cls(SteeredPolicy.from_pretrained(folder, device=device), statistic)

    def check_policy(self, policy) -> None:
        """Refuse a policy other than the one the critics were trained over (same weights, same noise)."""
        mine, theirs = self.steered.base.state_dict(), policy.state_dict()
        same = mine.keys() == theirs.keys() and all(
            mine[k].shape == theirs[k].shape and torch.equal(mine[k].cpu(), theirs[k].cpu()) for k in mine
        )
        if not same or policy.config.noise_scale != self.steered.base.config.noise_scale:
            raise ValueError(
                "the critic judge's fine-tune steered a different policy (its base/ weights differ from the "
                "policy the pairs are drawn from): pass the RL run made from this policy, and one DPO round"
            )

    @torch.no_grad()
    def candidates(
        self, batch: dict, steps: int, k: int, generator: torch.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One observation (`batch` of one, `steps` env steps into its episode) → (K, H, A) chunks in
        real units and their (K,) values."""
        features, obs, _ = self.steered.observe(batch, generator)
        if len(obs) != 1:
            raise ValueError(f"a critic judge scores one observation at a time, got {len(obs)}")
        noise = self.steered.prior_noise(k, generator)[:, : self.steered.steer_dim]
        features = features.expand(k, -1)
        q = self.steered.guide(obs.expand(k, -1), [steps] * k, self.steered.critic_action(features, noise))
        score = q.mean(0) if self.statistic == "mean" else q.min(0).values
        chunks = self.steered.decode(features, noise)
        return chunks.cpu().numpy(), score.cpu().numpy().astype(np.float64)
