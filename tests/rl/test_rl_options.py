"""RL options against hand-computed values: likelihood-term selection, AWR weights, reward stats, config."""

import math

import numpy as np
import pytest
import torch

from robo_reward.train.rl.awr import awr_weights
from robo_reward.train.rl.configuration_rl import RLConfig
from robo_reward.train.rl.rollout import Transition
from robo_reward.train.rl.run_summary import reward_stats
from robo_reward.train.rl.trainer import select_terms


class _Shape:  # the attributes of FlowActorCritic that select_terms reads
    num_steps, horizon, action_dim = 2, 3, 2


def test_select_terms_keeps_the_executed_chunk_steps():
    # term (k, h, a) of a (K=2, H=3, A=2) chain is labelled 100k + 10h + a
    labels = torch.tensor([[100 * k + 10 * h + a for k in range(2) for h in range(3) for a in range(2)]])
    kept = select_terms(labels.float(), _Shape, n_exec=2)
    assert kept.tolist() == [[0, 1, 10, 11, 100, 101, 110, 111]]
    assert select_terms(labels.float(), _Shape, None).shape == (1, 12)


def test_awr_weights_hand_computed():
    adv = torch.tensor([1.0, 2.0, 3.0])  # normalised: −1, 0, 1 (std 1 with Bessel's correction)
    w = awr_weights(adv, beta=0.5, max_weight=5.0)
    torch.testing.assert_close(w, torch.tensor([math.exp(-2.0), 1.0, 5.0]))  # e² = 7.39 capped at 5


def test_reward_stats_hand_computed():
    t1 = Transition(torch.zeros(1), torch.zeros(1), 0.0, 0.0, rewards=[0.5, -0.5], reward=0.25)
    t2 = Transition(torch.zeros(1), torch.zeros(1), 0.0, 0.0, rewards=[1.0], reward=1.0)
    s = reward_stats([t1, t2])
    assert s["charts/mean_step_reward"] == pytest.approx(1.0 / 3.0)
    assert s["charts/min_step_reward"] == -0.5 and s["charts/max_step_reward"] == 1.0
    assert s["charts/mean_chunk_reward"] == pytest.approx(0.625)
    assert s["charts/std_chunk_reward"] == pytest.approx(np.std([0.25, 1.0]))
    assert reward_stats([]) == {}


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"ratio_level": "joint"}, "ratio_level"),
        ({"ratio_positions": "some"}, "ratio_positions"),
        ({"init_noise_scale": 1.5}, "init_noise_scale"),
        ({"awr_beta": 0.0}, "awr"),
        ({"bc_weight": 0.5}, "bc-data"),
    ],
)
def test_config_rejects_bad_options(kw, needle):
    with pytest.raises(ValueError, match=needle):
        RLConfig(**kw)
