"""Fixtures of the GRM tests: synthetic episodes from `grm_synthetic`."""

from __future__ import annotations

import pytest
from grm_synthetic import TASKS, synthetic_episode

from robo_reward.data.episode import Episode


@pytest.fixture(scope="session")
def synthetic_episodes() -> list[Episode]:
    eps = []
    for task in TASKS:
        for i in range(6):
            eps.append(synthetic_episode(task, "success", seed=100 * len(eps) + i))
        eps.append(synthetic_episode(task, "partial", seed=7 + len(eps)))
        eps.append(synthetic_episode(task, "failure", seed=9 + len(eps)))
    return eps
