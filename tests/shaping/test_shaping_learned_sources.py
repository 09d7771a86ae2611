"""Learned progress sources from the one registry, behind the reward wrapper and the DPO judge: a tiny
random GRM and a tiny perceptual reward on the sim."""

import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from robo_reward.models.grm.configuration_grm import get_config
from robo_reward.models.grm.inference import OnlineProgress
from robo_reward.models.grm.modeling_grm import build_grm
from robo_reward.rewards.shaping import ShapingConfig
from robo_reward.rewards.sources import SOURCES, GRMProgress, PerceptualProgress, make_source
from robo_reward.rewards.wrappers import ProgressRewardWrapper
from robo_reward.sim import make_env, task_spec
from robo_reward.train.dpo.world_model import SimWorldModel, SourceJudge

TASK = "reach"


@pytest.fixture(scope="module")
def tiny_grm(tmp_path_factory):
    torch.manual_seed(0)
    grm = build_grm(get_config("grm-tiny"))
    rng = np.random.default_rng(0)
    goal = rng.integers(0, 255, (grm.config.num_views, 32, 32, 3), dtype=np.uint8)
    grm.references[task_spec(TASK).instruction] = goal
    path = tmp_path_factory.mktemp("grm") / "tiny"
    grm.save_pretrained(path)
    return path


def make_vec(n=2):
    return SyncVectorEnv(
        [lambda: make_env(TASK, image_size=32, max_steps=10)] * n, autoreset_mode=AutoresetMode.DISABLED
    )


def branch_outcomes(seed: int, chunk_seed: int, horizon: int, k: int = 3):
    """The start observation of a `TASK` episode and the outcomes of k random chunks run from its state."""
    driver, world = make_env(TASK, image_size=32), SimWorldModel(make_env(TASK, image_size=32))
    obs, info = driver.reset(seed=seed)
    world.env.reset(seed=seed)
    state = driver.unwrapped.get_sim_state()
    chunks = np.random.default_rng(chunk_seed).uniform(-1, 1, (k, horizon, 7)).astype(np.float32)
    return obs, info, [world.rollout(state, c) for c in chunks]


def test_grm_shaped_wrapper_batches_and_resets(tiny_grm):
    source = make_source("grm", 2, task_spec(TASK).instruction, str(tiny_grm))
    assert isinstance(source, GRMProgress)
    env = ProgressRewardWrapper(make_vec(), source, ShapingConfig(gamma=0.9), potential_every=2)
    env.reset(seed=0)
    rewards, potentials = [], []
    for _ in range(4):
        _, r, term, trunc, info = env.step(np.zeros((2, 7), np.float32))
        rewards.append(r)
        potentials.append(info["potential"])
    rewards, potentials = np.array(rewards), np.array(potentials)
    assert np.isfinite(rewards).all() and np.isfinite(potentials).all()
    np.testing.assert_array_equal(potentials[0], 0.0)  # held from reset until the first due step
    np.testing.assert_allclose(rewards[0], (0.9 - 1) * 0.0)
    assert env.timings["reward"] > 0 and env.timings["sim"] > 0
    env.reset(options={"reset_mask": np.array([True, False])})  # a partial reset re-anchors env 0 only
    assert env.potential[0] == 0.0 and env.potential[1] == potentials[-1][1]


def test_grm_judge_scores_k_outcomes(tiny_grm):
    from robo_reward.models.grm.modeling_grm import GRM

    grm = GRM.from_pretrained(tiny_grm)
    obs, info, outcomes = branch_outcomes(seed=1, chunk_seed=0, horizon=4)
    gains = SourceJudge(GRMProgress(3, task_spec(TASK).instruction, model=grm)).gains(obs, info, outcomes)
    assert gains.shape == (3,) and np.isfinite(gains).all()
    # the judge equals the online API used directly: reset at the start frame, one step to each outcome
    online = OnlineProgress(grm, 3, task_spec(TASK).instruction)
    keys = [k for k in obs if k.startswith("observation.images.")]
    online.reset({k: np.stack([obs[k]] * 3) for k in keys})
    np.testing.assert_allclose(gains, online.step({k: np.stack([o.obs[k] for o in outcomes]) for k in keys}))


@pytest.fixture(scope="module")
def tiny_perceptual(tmp_path_factory):
    """A perceptual reward fitted on two random-image demos with a random-weight tcn-tiny encoder."""
    from robo_reward.data.episode import Episode
    from robo_reward.models.encoders import build_encoder
    from robo_reward.models.perceptual.configuration_perceptual import PerceptualConfig
    from robo_reward.models.perceptual.modeling_perceptual import PerceptualReward

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    T = 12
    demos = [
        Episode(
            views={
                v: rng.integers(0, 255, (T, 32, 32, 3), dtype=np.uint8) for v in ("front", "side", "wrist")
            },
            state=np.zeros((T, 1), np.float32),
            action=np.zeros((T, 7), np.float32),
            task=task_spec(TASK).instruction,
        )
        for _ in range(2)
    ]
    cfg = PerceptualConfig(encoder="tcn-tiny", num_steps=2, top_m=8)
    path = tmp_path_factory.mktemp("perc") / "perc"
    PerceptualReward.fit(demos, cfg, encoder=build_encoder("tcn-tiny").eval()).save_pretrained(path)
    return path


def test_perceptual_shaped_wrapper(tiny_perceptual):
    source = make_source("perceptual", 2, task_spec(TASK).instruction, str(tiny_perceptual))
    assert isinstance(source, PerceptualProgress)
    env = ProgressRewardWrapper(make_vec(), source, ShapingConfig(kind="potential"))
    obs, _ = env.reset(seed=0)
    assert ((env.potential >= 0) & (env.potential <= 1)).all()
    _, r, *_ = env.step(np.zeros((2, 7), np.float32))
    np.testing.assert_allclose(r, env.potential)  # Φ as the reward (naive baseline)
    assert env.timings["reward"] > 0


def test_perceptual_judge_scores_k_outcomes(tiny_perceptual):
    """Each outcome's gain is its frame's perceptual progress minus the start frame's, as the reward
    scores the same frames read as one episode (the offline path: episode features → progress)."""
    from robo_reward.data.episode import Episode
    from robo_reward.models.perceptual.modeling_perceptual import PerceptualReward
    from robo_reward.train.dpo.configuration_dpo import PairsConfig
    from robo_reward.train.dpo.pairs import _judge

    instruction = task_spec(TASK).instruction
    judge = _judge(PairsConfig(scorer="perceptual", perceptual=str(tiny_perceptual), k=3), instruction)
    assert isinstance(judge, SourceJudge) and isinstance(judge.source, PerceptualProgress)
    obs, info, outcomes = branch_outcomes(seed=1, chunk_seed=0, horizon=6)
    gains = judge.gains(obs, info, outcomes)
    key = "observation.images."
    frames = [obs] + [o.obs for o in outcomes]
    as_episode = Episode(
        views={v: np.stack([f[key + v] for f in frames]) for v in ("front", "side", "wrist")},
        state=np.zeros((4, 1), np.float32),
        action=np.zeros((4, 7), np.float32),
        task=instruction,
    )
    progress = PerceptualReward.from_pretrained(tiny_perceptual)(as_episode)
    np.testing.assert_allclose(gains, progress[1:] - progress[0], atol=1e-5)
    assert np.abs(gains).max() > 0  # the outcomes differ, and so do their scores


def test_consensus_judge_from_the_config(tiny_grm, tiny_perceptual):
    from robo_reward.train.dpo.configuration_dpo import PairsConfig
    from robo_reward.train.dpo.pairs import _judge
    from robo_reward.train.dpo.world_model import ConsensusJudge, consensus

    cfg = PairsConfig(scorer="consensus", grm=str(tiny_grm), perceptual=str(tiny_perceptual), k=3)
    judge = _judge(cfg, task_spec(TASK).instruction)
    assert isinstance(judge, ConsensusJudge) and judge.margin == 0.05
    assert [type(j.source) for j in judge.judges] == [GRMProgress, PerceptualProgress]
    obs, info, outcomes = branch_outcomes(seed=2, chunk_seed=1, horizon=6)
    gains = judge.gains(obs, info, outcomes)
    np.testing.assert_allclose(gains, consensus(judge.last, 0.05))
    np.testing.assert_allclose(judge.last[1], judge.judges[1].gains(obs, info, outcomes))


def test_judge_agreement_scores_the_perceptual_reward_and_the_consensus(tiny_grm, tiny_perceptual):
    from robo_reward.models.flow_policy import FlowPolicy, make_config
    from robo_reward.models.grm.modeling_grm import GRM
    from robo_reward.models.perceptual.modeling_perceptual import PerceptualReward
    from robo_reward.sim import STATE_NAMES
    from robo_reward.train.dpo.judges import judge_agreement

    torch.manual_seed(0)
    policy = FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES)))
    perceptual = PerceptualReward.from_pretrained(tiny_perceptual)
    alone = judge_agreement(policy, TASK, None, k=3, execute_steps=4, episodes=1, image_size=32,
                            perceptual=perceptual)  # fmt: skip
    assert set(alone) == {"perceptual", "oracle", "constant (chance)"}
    assert alone["oracle"]["pairs"] > 0 and 0.0 <= alone["perceptual"]["pair_accuracy"] <= 1.0
    both = judge_agreement(policy, TASK, GRM.from_pretrained(tiny_grm), k=3, execute_steps=4, episodes=1,
                           image_size=32, perceptual=perceptual, consensus_margin=0.02)  # fmt: skip
    assert {"grm", "perceptual", "consensus"} <= set(both)
    # at consensus margin 0.02 a state passes only where each judge's own gap is ≥ 0.02
    assert both["consensus"]["kept@0.02"] <= min(both["grm"]["kept@0.02"], both["perceptual"]["kept@0.02"])


def test_every_registered_source_builds_and_stays_in_range(tiny_grm, tiny_perceptual):
    """The registry walk: each source resets and updates two slots with finite Φ in [0, 1]."""
    checkpoints = {"grm": str(tiny_grm), "perceptual": str(tiny_perceptual)}
    env = make_vec()
    obs, info = env.reset(seed=3)
    assert set(SOURCES) >= {"sparse", "oracle", "grm", "perceptual"}
    for name in SOURCES:
        source = make_source(name, 2, task_spec(TASK).instruction, checkpoints.get(name))
        mask = np.ones(2, bool)
        for phi in (
            source.reset(mask, obs, info),
            source.update(mask, *env.step(np.zeros((2, 7), np.float32))[::4]),
        ):
            assert phi.shape == (2,) and np.isfinite(phi).all() and ((phi >= 0) & (phi <= 1)).all(), name
    with pytest.raises(ValueError, match="unknown progress source"):
        make_source("dense", 2, "x")
    with pytest.raises(ValueError, match="needs a checkpoint"):
        make_source("grm", 2, "x")


def test_grm_eval_chunk_ranking_rows(tiny_grm, tmp_path):
    """The table's row is the GRM's agreement at the pair builder's margin; ties are what is neither
    right nor wrong (a random policy rarely moves reach's progress, so only the plumbing is checked)."""
    import math

    from robo_reward.models.flow_policy import FlowPolicy, make_config
    from robo_reward.models.grm.modeling_grm import GRM
    from robo_reward.sim import STATE_NAMES
    from robo_reward.train.dpo.judges import chunk_ranking

    torch.manual_seed(0)
    policy = FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES))).save_pretrained(tmp_path / "p")
    r = chunk_ranking(GRM.from_pretrained(tiny_grm), policy, ("reach",), episodes=1, seed=0)
    row, grm = r["rows"]["reach"], r["agreement"]["reach"]["grm"]
    for key in ("pair_accuracy", "kept@0.02", "right@0.02", "wrong@0.02", "pairs"):
        assert row[key] == grm[key] or (math.isnan(row[key]) and math.isnan(grm[key])), key
    ties = 1.0 - grm["right@0.02"] - grm["wrong@0.02"]
    assert row["oracle_ties@0.02"] == pytest.approx(ties, nan_ok=True)
    assert 0.0 <= row["kept@0.02"] <= 1.0
