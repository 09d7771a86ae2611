"""The step-aware general reward model (GRM): hops between states → progress → shaped rewards.

Public API: `GRM.from_pretrained(path)`, `build_grm(config)`, `get_config(preset)`,
`ProgressEstimator(model)(episode) -> (T,)` (a progress source) and `OnlineProgress` (vector envs).
Exports load on first use (see `robo_reward.utils.lazy`).
"""

from robo_reward.utils.lazy import lazy_exports

_CONFIG = "robo_reward.models.grm.configuration_grm"
_INFERENCE = "robo_reward.models.grm.inference"
_MODELING = "robo_reward.models.grm.modeling_grm"
__getattr__ = lazy_exports(
    __name__,
    {
        "PRESETS": _CONFIG,
        "GRMConfig": _CONFIG,
        "get_config": _CONFIG,
        "OnlineProgress": _INFERENCE,
        "ProgressEstimator": _INFERENCE,
        "GRM": _MODELING,
        "build_grm": _MODELING,
    },
)


__all__ = [
    "GRM",
    "PRESETS",
    "GRMConfig",
    "OnlineProgress",
    "ProgressEstimator",
    "build_grm",
    "get_config",
]
