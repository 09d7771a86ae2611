"""Flow-matching VLA policy (pi0-style): `FlowPolicy` and its config presets.

from robo_reward.models.flow_policy import FlowPolicy, make_config

Exports load on first use (see `robo_reward.utils.lazy`). Closed-loop evaluation in the sim is
`robo_reward.sim.policy_evaluation`; the commands are `robo_reward.commands.policy`.
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
    },
)

__all__ = ["PRESETS", "FlowPolicy", "FlowPolicyConfig", "compute_normalization", "make_config"]
