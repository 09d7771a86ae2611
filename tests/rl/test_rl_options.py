"""RL configs: nested round trip through JSON, one-line errors for bad options, the registry's checks."""

import pytest

from robo_reward.train.rl.algorithm import Algorithm, register
from robo_reward.train.rl.configuration_rl import RLConfig, RolloutConfig, ShapingOptions
from robo_reward.train.rl.flow_ppo import FlowPPO, FlowPPOConfig
from robo_reward.train.rl.steered_sac import NoiseSACConfig, ResidualSACConfig


@pytest.mark.parametrize(
    "algo", [NoiseSACConfig(utd=2), ResidualSACConfig(bound=0.2), FlowPPOConfig(clip=0.1)]
)
def test_config_round_trips_through_a_dict(algo):
    cfg = RLConfig(task="push", reward="oracle", rollout=RolloutConfig(num_envs=3), algo=algo)
    again = RLConfig.from_dict(cfg.to_dict())
    assert again == cfg and type(again.algo) is type(algo) and again.algorithm == algo.name


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: FlowPPOConfig(ratio_level="joint"), "ratio_level"),
        (lambda: FlowPPOConfig(ratio_positions="some"), "ratio_positions"),
        (lambda: FlowPPOConfig(init_noise_scale=1.5), "init_noise_scale"),
        (lambda: FlowPPOConfig(bc_weight=0.5), "bc-data"),
        (lambda: NoiseSACConfig(bound=0.0), "bound"),
        (lambda: RLConfig(reward="grm"), "--grm PATH"),
        (lambda: RLConfig(reward="dense"), "reward must be one of"),
        (lambda: ShapingOptions(potential_every=0), "potential_every"),
        (lambda: RolloutConfig(num_envs=0), "num_envs"),
    ],
)
def test_config_rejects_bad_options(make, needle):
    with pytest.raises(ValueError, match=needle):
        make()


def test_registry_rejects_a_second_algorithm_of_the_same_name():
    class Impostor(FlowPPO):
        pass

    with pytest.raises(ValueError, match="registered twice"):
        register(Impostor)
    assert issubclass(FlowPPO, Algorithm)
