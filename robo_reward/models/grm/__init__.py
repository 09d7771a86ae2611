"""The step-aware general reward model (GRM): hops between states → progress → shaped rewards.

Public API: `GRM.from_pretrained(path)`, `build_grm(config)`, `get_config(preset)`,
`ProgressEstimator(model)(episode) -> (T,)` (a progress source) and `OnlineProgress` (vector envs).
"""

from robo_reward.models.grm.configuration_grm import PRESETS, GRMConfig, get_config
from robo_reward.models.grm.inference import OnlineProgress, ProgressEstimator
from robo_reward.models.grm.modeling_grm import GRM, build_grm


def load_grm(path, device: str = "cpu") -> GRM:
    """A saved GRM (checkpoint folder, or a training run folder holding `checkpoint/`), in eval mode."""
    return GRM.from_pretrained(path, device=device)


__all__ = [
    "GRM",
    "PRESETS",
    "GRMConfig",
    "OnlineProgress",
    "ProgressEstimator",
    "build_grm",
    "get_config",
    "load_grm",
]
