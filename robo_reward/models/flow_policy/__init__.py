"""Flow-matching VLA policy (pi0-style): `FlowPolicy`, its config presets, and sim evaluation.

from robo_reward.models.flow_policy import FlowPolicy, make_config, evaluate

Exports load on first use (see `robo_reward.utils.lazy`): `evaluate` imports the simulator.
"""

from robo_reward.utils.lazy import lazy_exports

_CONFIG = "robo_reward.models.flow_policy.configuration_flow_policy"
_MODELING = "robo_reward.models.flow_policy.modeling_flow_policy"
__getattr__ = lazy_exports(
    __name__,
    {
        "PRESETS": _CONFIG,
        "FlowPolicyConfig": _CONFIG,
        "make_config": _CONFIG,
        "FlowPolicy": _MODELING,
        "compute_normalization": _MODELING,
        "evaluate": "robo_reward.models.flow_policy.evaluation",
    },
)

__all__ = ["PRESETS", "FlowPolicy", "FlowPolicyConfig", "compute_normalization", "evaluate", "make_config"]
