"""Value-guided steering: the RL run's critics ship with its actor and pick among its samples."""

import json

import pytest
import torch
from torch import nn

from robo_reward.data.episode import EPISODE_STEP_KEY
from robo_reward.models.flow_policy import FlowPolicy, make_config
from robo_reward.models.flow_policy.steering import GUIDE_DIR, SteeredPolicy, SteeringConfig, load_policy
from robo_reward.models.flow_policy.value_guide import ValueGuide
from robo_reward.sim import STATE_NAMES


class StubCritic(nn.Module):
    """Two members with hand-made values of a 1-d action: Q_0 = 3a, Q_1 = −2(a − 0.4)²; records inputs."""

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the stub a device
        self.inputs = []

    def forward(self, obs_time, action):
        self.inputs.append(obs_time)
        a = action[:, 0]
        return torch.stack([3 * a, -2 * (a - 0.4) ** 2])


def _guide(horizon=10):
    guide = ValueGuide(obs_dim=2, action_dim=1, horizon=horizon, ensemble=2, hidden=4, depth=1)
    guide.critic = StubCritic()
    return guide


def test_choose_ranks_candidates_by_the_ensemble_statistic_and_sees_the_time_left():
    """Candidates 0, 0.4, 1: mean over the members −0.16, 0.6, 1.14 → 1; minimum −0.32, 0, −0.72 → 0.4."""
    guide = _guide()
    cands = torch.tensor([[[0.0], [0.4], [1.0]], [[1.0], [0.4], [0.0]]])
    obs = torch.zeros(2, 2)
    torch.testing.assert_close(guide.choose(obs, [3, 12], cands, "mean"), torch.tensor([[1.0], [1.0]]))
    torch.testing.assert_close(guide.choose(obs, [3, 12], cands, "min"), torch.tensor([[0.4], [0.4]]))
    time_col = guide.critic.inputs[-1][:, -1]  # episode steps 3 and 12 of 10: 0.7 and 0 of it left
    torch.testing.assert_close(time_col, torch.tensor([0.7] * 3 + [0.0] * 3))
    with pytest.raises(ValueError, match="guide statistic"):
        guide.choose(obs, [0, 0], cands, "max")


def test_choose_can_rank_candidates_by_what_they_decode_to():
    """Critics of another space (executed actions) score `critic_actions`; the candidate is returned.
    Scored 1, 0.4, 0 under the mean → the first candidate (value 1.14), whatever its own value."""
    guide = _guide()
    cands = torch.tensor([[[10.0], [20.0], [30.0]]])
    scored = torch.tensor([[[1.0], [0.4], [0.0]]])
    torch.testing.assert_close(
        guide.choose(torch.zeros(1, 2), [3], cands, "mean", scored), torch.tensor([[10.0]])
    )
    torch.testing.assert_close(
        guide.choose(torch.zeros(1, 2), [3], cands, "min", scored), torch.tensor([[20.0]])
    )


class NearestCritic(nn.Module):
    """Q = −‖a − target‖² (both members), a target per candidate row: the guide must pick the nearest."""

    def __init__(self, target):
        super().__init__()
        self.target = nn.Parameter(target, requires_grad=False)

    def forward(self, obs_time, action):
        q = -((action - self.target) ** 2).sum(-1)
        return torch.stack([q, q])


def test_guided_sample_decodes_the_candidate_the_critics_prefer(tiny_policy, policy_batch):
    steered = SteeredPolicy(tiny_policy, SteeringConfig(mode="noise", steer_steps=2, candidates=4))
    torch.nn.init.normal_(steered.actor.mean.weight, std=0.3)
    d = steered.steer_dim
    steered.guide = ValueGuide(steered.obs_dim, d, horizon=60, ensemble=2, hidden=8, depth=1)
    batch = policy_batch(tiny_policy, steps=0)
    features, obs, _ = steered.observe(batch)
    mode, _ = steered.actor(obs, deterministic=True)
    samples, _ = steered.actor(obs.repeat_interleave(3, 0), generator=torch.Generator().manual_seed(5))
    second = samples.view(3, 3, d)[:, 1]
    # critics that prefer each observation's second actor sample: it is decoded, not the mode
    steered.guide.critic = NearestCritic(second.repeat_interleave(4, 0))
    chunk = steered.sample(batch, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(chunk, steered.decode(features, second))
    assert not torch.allclose(chunk, steered.decode(features, mode))
    # critics that prefer the mode give the greedy policy's chunk
    steered.guide.critic = NearestCritic(mode.repeat_interleave(4, 0))
    greedy = SteeredPolicy(tiny_policy, SteeringConfig(mode="noise", steer_steps=2))
    greedy.actor.load_state_dict(steered.actor.state_dict())
    torch.testing.assert_close(
        steered.sample(batch, generator=torch.Generator().manual_seed(5)), greedy.sample(batch)
    )


def test_guided_acting_refuses_what_it_cannot_do(tiny_policy, tmp_path, policy_batch):
    steered = SteeredPolicy(tiny_policy, SteeringConfig(mode="noise", candidates=4))
    with pytest.raises(ValueError, match="no guide/"):
        steered.sample(policy_batch(tiny_policy, steps=0))
    steered.guide = ValueGuide(steered.obs_dim, steered.steer_dim, horizon=60, ensemble=2, hidden=8, depth=1)
    no_step = {k: v for k, v in policy_batch(tiny_policy, steps=0).items() if k != EPISODE_STEP_KEY}
    with pytest.raises(ValueError, match=EPISODE_STEP_KEY):
        steered.sample(no_step)
    with pytest.raises(ValueError, match="candidates ≥ 1"):
        SteeringConfig(candidates=0)
    bare = SteeredPolicy(tiny_policy, SteeringConfig(mode="noise")).save_pretrained(tmp_path / "bare")
    with pytest.raises(ValueError, match="no guide/"):
        load_policy(bare, candidates=4)
    with pytest.raises(ValueError, match="plain flow policy"):
        load_policy(tiny_policy.save_pretrained(tmp_path / "plain"), candidates=4)


def test_guide_round_trips_with_the_policy_and_loads_with_overrides(tiny_policy, tmp_path):
    steered = SteeredPolicy(tiny_policy, SteeringConfig(mode="noise", steer_steps=2))
    steered.guide = ValueGuide(steered.obs_dim, steered.steer_dim, horizon=60, ensemble=3, hidden=8, depth=2)
    folder = steered.save_pretrained(tmp_path / "p")
    assert (folder / GUIDE_DIR / "model.safetensors").exists()
    loaded = load_policy(folder, candidates=6, guide="mean")
    assert (loaded.steering.candidates, loaded.steering.guide, loaded.guide.horizon) == (6, "mean", 60)
    for k, v in steered.guide.state_dict().items():
        assert torch.equal(loaded.guide.state_dict()[k], v)
    assert load_policy(folder).steering.candidates == 1  # saved greedy: acts with the mode


def test_noise_sac_critics_are_the_guide_it_exports(tiny_policy, tmp_path):
    from robo_reward.train.rl.configuration_rl import RLConfig
    from robo_reward.train.rl.steered_sac import NoiseSAC, NoiseSACConfig

    algo = NoiseSAC(tiny_policy, RLConfig(init="x"), NoiseSACConfig(hidden=16, critics=2), 2, 10,
                    torch.Generator().manual_seed(0))  # fmt: skip
    assert algo.critic is algo.steered.guide.critic and algo.steered.guide.horizon == 10
    shipped = load_policy(algo.export(tmp_path / "policy"))
    for k, v in algo.critic.state_dict().items():
        assert torch.equal(shipped.guide.critic.state_dict()[k], v)


def test_rl_export_and_eval_reexport_a_run_without_critics_and_reuse_results(tmp_path):
    """A run whose policy/ lacks the critics (trained before they shipped) is exported again from its last
    checkpoint with the same actor; `rl eval` evaluates it guided and keeps the result for a rerun."""
    import shutil

    from robo_reward.cli import main
    from robo_reward.train.rl.configuration_rl import LogConfig, RLConfig, RolloutConfig
    from robo_reward.train.rl.steered_sac import NoiseSACConfig
    from robo_reward.train.rl.trainer import train

    torch.manual_seed(0)
    init = FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES))).save_pretrained(tmp_path / "init")
    algo = NoiseSACConfig(hidden=32, batch_size=8, warmstart_episodes=1, warmstart_updates=2, utd=1)
    cfg = RLConfig(task="reach", init=str(init), rollouts=2, reward="sparse", algo=algo,
                   rollout=RolloutConfig(num_envs=2, max_steps=8, image_size=32), log=LogConfig(eval_episodes=0))  # fmt: skip
    run = tmp_path / "cmp" / "sparse" / "seed0"
    train(cfg, run, show_progress=False)
    actor = (run / "policy" / "model.safetensors").read_bytes()
    shutil.rmtree(run / "policy" / GUIDE_DIR)
    main(["rl", "export", "--run", str(run)])
    assert (run / "policy" / GUIDE_DIR).exists()
    assert (run / "policy" / "model.safetensors").read_bytes() == actor  # the same actor, bit for bit
    shutil.rmtree(run / "policy" / GUIDE_DIR)
    js = tmp_path / "eval.json"
    args = ["rl", "eval", "--runs", str(tmp_path / "cmp"), "--candidates", "3", "--episodes", "2",
            "--eval-seeds", "1"]  # fmt: skip
    main(args + ["--json", str(js)])
    first = json.loads(js.read_text())
    assert first["runs"][0]["eval"]["episodes"] == 2 and 0.0 <= first["success_mean"] <= 1.0
    assert (run / "policy" / GUIDE_DIR).exists()  # re-exported on the way
    cached = run / "eval-k3-min-1x2.json"
    assert json.loads(cached.read_text()) == first["runs"][0]
    kept = {**first["runs"][0], "eval": {**first["runs"][0]["eval"], "success_rate": 0.5}}
    cached.write_text(json.dumps(kept))
    main(args + ["--json", str(js)])  # the kept result is reused, not recomputed
    assert json.loads(js.read_text())["success_mean"] == 0.5
    cached.write_text(json.dumps({**kept, "actor": "another actor"}))
    main(args + ["--json", str(js)])  # a result of another actor is not: measured again
    assert json.loads(js.read_text())["success_mean"] == first["success_mean"]
    with pytest.raises(SystemExit):
        main(["rl", "eval", "--runs", str(tmp_path / "init")])
