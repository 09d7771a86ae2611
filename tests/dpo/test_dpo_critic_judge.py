"""The RL run's critics as a DPO judge: they rank the policy's own prior-noise samples by value."""

import numpy as np
import pytest
import torch
from torch import nn

from robo_reward.data.episode import EPISODE_STEP_KEY
from robo_reward.models.flow_policy import FlowPolicy, make_config
from robo_reward.models.flow_policy.steering import SteeredPolicy, SteeringConfig
from robo_reward.models.flow_policy.value_guide import ValueGuide
from robo_reward.sim import STATE_NAMES
from robo_reward.train.dpo.configuration_dpo import DPOConfig, PairsConfig
from robo_reward.train.dpo.critic_judge import CriticJudge
from robo_reward.train.dpo.pairs import _policy_obs, _to_batch, pairs_from_data, pairs_from_task


class RecordingCritic(nn.Module):
    """Member 0: Q = Σ noise; member 1: Q = Σ noise − 3·noise₀² + time left. Records every call."""

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))
        self.calls = []

    def forward(self, obs_time, action):
        self.calls.append((obs_time.clone(), action.clone()))
        total = action.sum(-1)
        return torch.stack([total, total - 3 * action[:, 0] ** 2 + obs_time[:, -1]])


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    return FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES))).eval()


def _fine_tune(policy, horizon=40):
    steered = SteeredPolicy(policy, SteeringConfig(mode="noise", steer_steps=2))
    steered.guide = ValueGuide(
        steered.obs_dim, steered.steer_dim, horizon=horizon, ensemble=2, hidden=8, depth=1
    )
    steered.guide.critic = RecordingCritic()
    return steered


def _batch(policy, steps=0):
    g = torch.Generator().manual_seed(1)
    batch = {f"observation.images.{v}": torch.randint(0, 255, (1, 32, 32, 3), generator=g, dtype=torch.uint8)
             for v in policy.config.views}  # fmt: skip
    return batch | {"observation.state": torch.randn(1, len(STATE_NAMES), generator=g), "task": ["reach"],
                    EPISODE_STEP_KEY: torch.full((1,), steps)}  # fmt: skip


@pytest.mark.parametrize("statistic", ["min", "mean"])
def test_candidates_are_prior_noise_decoded_and_valued_by_the_critics(policy, statistic):
    steered = _fine_tune(policy, horizon=40)
    judge = CriticJudge(steered, statistic)
    chunks, values = judge.candidates(
        _batch(policy), steps=10, k=6, generator=torch.Generator().manual_seed(3)
    )
    # the same draw by hand: N(0, s²) noise of the 2 steered steps, the rest zero
    noise = steered.prior_noise(6, torch.Generator().manual_seed(3))[:, : steered.steer_dim].double()
    time_left = 1 - 10 / 40
    q0 = noise.sum(1)
    q1 = q0 - 3 * noise[:, 0] ** 2 + time_left
    expected = torch.minimum(q0, q1) if statistic == "min" else (q0 + q1) / 2
    np.testing.assert_allclose(values, expected.numpy(), rtol=1e-5, atol=1e-6)
    features, _, _ = steered.observe(_batch(policy))
    np.testing.assert_allclose(
        chunks, steered.decode(features.expand(6, -1), noise.float()).numpy(), atol=1e-6
    )
    assert chunks.shape == (6, policy.config.chunk_size, policy.config.action_dim)
    assert len(set(np.round(values, 6))) == 6  # six different candidates, six different values


def test_the_judge_refuses_any_policy_but_the_one_its_critics_steered(policy, tmp_path):
    judge = CriticJudge(_fine_tune(policy))
    judge.check_policy(FlowPolicy.from_pretrained(policy.save_pretrained(tmp_path / "same")))
    other = FlowPolicy.from_pretrained(tmp_path / "same")
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)
    with pytest.raises(ValueError, match="steered a different policy"):
        judge.check_policy(other)
    residual = SteeredPolicy(policy, SteeringConfig(mode="residual", bound=0.3))
    with pytest.raises(ValueError, match="noise-sac"):
        CriticJudge(residual)
    with pytest.raises(ValueError, match="no critics"):
        CriticJudge(SteeredPolicy(policy, SteeringConfig(mode="noise")))
    with pytest.raises(ValueError, match="not an RL fine-tune"):
        CriticJudge.from_pretrained(tmp_path / "same")
    with pytest.raises(ValueError, match="statistic"):
        CriticJudge(_fine_tune(policy), "max")


def test_pairs_from_task_keep_the_critics_best_and_worst_candidate(policy, monkeypatch):
    steered = _fine_tune(policy, horizon=12)
    judge = CriticJudge(steered)
    monkeypatch.setattr(CriticJudge, "from_pretrained", classmethod(lambda cls, *a, **kw: judge))
    cfg = PairsConfig(scorer="critic", critic="rl/policy", k=4, episodes=1, max_steps=12, image_size=32,
                      min_margin=0.0, execute_steps=4)  # fmt: skip
    pairs = pairs_from_task(policy, "reach", cfg)
    calls = steered.guide.critic.calls
    assert len(pairs) == len(calls) == 3  # 12 steps, 4 executed per boundary, one critic call each
    for i, (obs_time, noise) in enumerate(calls):
        # by hand from the noise the critics saw: the pessimistic value, its best and worst candidate
        torch.testing.assert_close(obs_time[:, -1], torch.full((4,), 1 - 4 * i / 12))
        q0 = noise.sum(1)
        q = torch.minimum(q0, q0 - 3 * noise[:, 0] ** 2 + obs_time[:, -1])
        np.testing.assert_allclose(pairs.scores[i], q.numpy(), rtol=1e-5, atol=1e-6)
        row = {k: v[i] for k, v in pairs.observations.items()}
        features, _, _ = steered.observe(_to_batch([_policy_obs(policy, row)], pairs.task[i], policy.device))
        for stored, j in ((pairs.winner, q.argmax()), (pairs.loser, q.argmin())):
            np.testing.assert_allclose(
                stored[i], steered.decode(features, noise[j : j + 1])[0].numpy(), atol=1e-5
            )
    assert pairs.meta["pairs_config"]["scorer"] == "critic"


def test_critic_judge_loads_a_shipped_fine_tune_and_checks_its_base(policy, tmp_path):
    steered = SteeredPolicy(policy, SteeringConfig(mode="noise", steer_steps=2))
    steered.guide = ValueGuide(steered.obs_dim, steered.steer_dim, horizon=12, ensemble=2, hidden=8, depth=1)
    folder = steered.save_pretrained(tmp_path / "rl" / "policy")
    base = FlowPolicy.from_pretrained(folder / "base")
    cfg = PairsConfig(scorer="critic", critic=str(folder), k=3, episodes=1, max_steps=8, image_size=32,
                      min_margin=0.0, execute_steps=4)  # fmt: skip
    assert len(pairs_from_task(base, "reach", cfg)) == 2
    other = FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES)))
    with pytest.raises(ValueError, match="steered a different policy"):
        pairs_from_task(other, "reach", cfg)


def test_critic_scorer_options_fail_early_with_the_fix(policy, tmp_path):
    with pytest.raises(ValueError, match="--critic"):
        PairsConfig(scorer="critic")
    with pytest.raises(ValueError, match="continue_steps"):
        PairsConfig(scorer="critic", critic="x", continue_steps=8)
    with pytest.raises(ValueError, match="critic_statistic"):
        PairsConfig(scorer="oracle", critic_statistic="max")
    with pytest.raises(ValueError, match="--task"):
        pairs_from_data(policy, [], PairsConfig(scorer="critic", critic="x"))
    from robo_reward.train.dpo.trainer import train_dpo

    with pytest.raises(ValueError, match="--rounds 1"):
        train_dpo(tmp_path / "p", tmp_path / "out", DPOConfig(rounds=2), task="reach",
                  pairs_cfg=PairsConfig(scorer="critic", critic="x"))  # fmt: skip
