"""Flow-matching VLA policy (pi0-style): `FlowPolicy`, its config presets, and sim evaluation.

from robo_reward.models.flow_policy import FlowPolicy, make_config, evaluate
"""

from __future__ import annotations

from typing import Any

from robo_reward.models.flow_policy.configuration_flow_policy import PRESETS, FlowPolicyConfig, make_config
from robo_reward.models.flow_policy.modeling_flow_policy import FlowPolicy, compute_normalization

__all__ = ["PRESETS", "FlowPolicy", "FlowPolicyConfig", "compute_normalization", "evaluate", "make_config"]


def __getattr__(name: str) -> Any:
    # evaluation imports the simulator; keep `import robo_reward.models.flow_policy` light without it
    if name == "evaluate":
        from robo_reward.models.flow_policy.evaluation import evaluate

        return evaluate
    raise AttributeError(name)
