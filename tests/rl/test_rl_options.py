"""RL configs: nested round trip through JSON, one-line errors for bad options, the registry's checks,
the bound on a reward's return and the over-estimation warning that reads it."""

import numpy as np
import pytest

from robo_reward.train.rl.algorithm import Algorithm, register
from robo_reward.train.rl.configuration_rl import RLConfig, RolloutConfig, ShapingOptions
from robo_reward.train.rl.flow_ppo import FlowPPO, FlowPPOConfig
from robo_reward.train.rl.steered_sac import NoiseSACConfig, ResidualSACConfig
from robo_reward.train.rl.trainer import value_warning


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


def _pbrs_return(phi, success_at_end, gamma):
    """The discounted PBRS return of one episode, summed step by step (Φ(terminal) := 0 on success)."""
    from robo_reward.rewards.shaping import pbrs_reward

    total = 0.0
    for t in range(len(phi) - 1):
        last = t == len(phi) - 2
        r = pbrs_reward(phi[t], phi[t + 1], float(last and success_at_end), last and success_at_end, gamma)
        total += gamma**t * float(r)
    return total


def test_return_range_holds_for_pbrs_and_sparse_and_is_absent_for_naive():
    rng = np.random.default_rng(0)
    gamma = 0.985
    returns = [
        _pbrs_return(np.r_[rng.uniform(0, 1, 30), rng.uniform(0, 1)], success, gamma)
        for success in (True, False)
        for _ in range(300)
    ]
    extremes = [_pbrs_return(np.r_[0.0, 1.0], True, gamma), _pbrs_return(np.r_[1.0, 0.0], False, gamma)]
    assert RLConfig(reward="oracle").return_range == (-1.0, 1.0)
    assert min(returns + extremes) >= -1.0 and max(returns + extremes) <= 1.0
    assert extremes == [1.0, -1.0]  # both ends are reached: the range is tight
    assert RLConfig(reward="oracle", shaping=ShapingOptions(scale=2.0)).return_range == (-2.0, 2.0)
    assert RLConfig(reward="sparse").return_range == (0.0, 1.0)
    assert RLConfig(reward="naive").return_range is None  # Φ paid every step grows with the horizon


def test_value_warning_names_the_value_the_range_and_the_fixes():
    # the runaway seen on open_drawer: the critics' value climbed to 3.9 under a shaped return ≤ 1
    message = value_warning(3.9, (-1.0, 1.0))
    assert "3.9," in message and "[-1, 1]" in message and "--utd" in message and "--lr-critic" in message
    assert value_warning(1.2, (-1.0, 1.0)) is None  # within the slack: the critics' noise, not a runaway
    assert value_warning(1.3, (-1.0, 1.0)) is not None
    assert value_warning(-1e5, (-1.0, 1.0)) is not None  # the residual actor's runaway temperature
    assert value_warning(-0.2, (0.0, 1.0)) is None and value_warning(-0.3, (0.0, 1.0)) is not None
    assert value_warning(50.0, None) is None  # no range to compare with


def test_training_warns_once_when_the_critics_value_leaves_the_range(monkeypatch, capsys, tmp_path):
    import torch

    from robo_reward.models.flow_policy import FlowPolicy, make_config
    from robo_reward.sim import STATE_NAMES
    from robo_reward.train.rl.configuration_rl import LogConfig
    from robo_reward.train.rl.steered_sac import NoiseSAC
    from robo_reward.train.rl.trainer import train

    torch.manual_seed(0)
    FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES))).save_pretrained(tmp_path / "init")
    real_update = NoiseSAC.update
    monkeypatch.setattr(NoiseSAC, "update", lambda self: real_update(self) | {"charts/q_start": 9.0})
    algo = NoiseSACConfig(hidden=32, batch_size=16, warmstart_episodes=1, warmstart_updates=2, utd=1)
    cfg = RLConfig(task="reach", init=str(tmp_path / "init"), reward="sparse", rollouts=3, algo=algo,
                   rollout=RolloutConfig(num_envs=2, max_steps=8, image_size=32), log=LogConfig(checkpoint_every=3))  # fmt: skip
    train(cfg, tmp_path / "run", show_progress=False)
    err = capsys.readouterr().err
    assert err.count("over-estimate") == 1 and "at 9," in err and "[0, 1]" in err
