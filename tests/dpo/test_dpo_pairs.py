"""Preference pairs: storage round trip, scoring rules, the sim world model, generation and DPO training."""

import numpy as np
import pytest
import torch

from robo_reward.data.episode import Episode
from robo_reward.data.preferences import PreferencePairs, load_pairs, save_pairs
from robo_reward.models.flow_policy import FlowPolicy, make_config
from robo_reward.sim import STATE_NAMES, make_env
from robo_reward.train.dpo.configuration_dpo import DPOConfig, PairsConfig
from robo_reward.train.dpo.pairs import demo_chunk, pairs_from_data, pairs_from_task
from robo_reward.train.dpo.trainer import train_dpo
from robo_reward.train.dpo.world_model import SimWorldModel, action_rewards, choose_pair


def make_pairs(n=3):
    rng = np.random.default_rng(0)
    return PreferencePairs(
        observations={
            "observation.images.front": rng.integers(0, 255, (n, 8, 8, 3), dtype=np.uint8),
            "observation.state": rng.normal(size=(n, 4)).astype(np.float32),
        },
        task=["a", "b", "c"][:n],
        winner=rng.normal(size=(n, 2, 3)).astype(np.float32),
        loser=rng.normal(size=(n, 2, 3)).astype(np.float32),
        scores=rng.normal(size=(n, 5)).astype(np.float32),
        margin=np.ones(n, np.float32),
        meta={"source": "test", "task": "reach"},
    )


def test_pairs_round_trip_and_batch(tmp_path):
    pairs = make_pairs()
    save_pairs(pairs, tmp_path / "p")
    back = load_pairs(tmp_path / "p")
    assert back.task == pairs.task and back.meta == pairs.meta and back.views == ["front"]
    for k in pairs.observations:
        np.testing.assert_array_equal(back.observations[k], pairs.observations[k])
    np.testing.assert_array_equal(back.winner, pairs.winner)
    obs, w, l = back.batch([2, 0])
    assert (
        obs["task"] == ["c", "a"]
        and w.shape == (2, 2, 3)
        and obs["observation.images.front"].dtype == torch.uint8
    )
    assert len(PreferencePairs.concat([pairs, back])) == 6
    with pytest.raises(ValueError):
        PreferencePairs(
            pairs.observations, pairs.task, pairs.winner, pairs.loser[:1], pairs.scores, pairs.margin
        )
    with pytest.raises(ValueError, match="not a preference-pair folder"):
        from robo_reward.utils.checkpoint import save_folder

        save_folder(tmp_path / "other", {"x": 1}, {"w": torch.zeros(1)}, weights_name="pairs.safetensors")
        load_pairs(tmp_path / "other")


def test_scoring_rules():
    chunks = np.array([[[0.0, 0.0]], [[1.0, 1.0]], [[0.5, -0.5]]])
    np.testing.assert_allclose(action_rewards(chunks, np.array([[0.0, 1.0]])), [-0.5, -0.5, -1.0])
    np.testing.assert_allclose(action_rewards(chunks, None), 0.0)
    assert choose_pair(np.array([0.1, 0.7, -0.2])) == (1, 2, pytest.approx(0.9))
    ep_actions = np.arange(6, dtype=np.float32).reshape(3, 2)
    ep = Episode({"front": np.zeros((3, 4, 4, 3), np.uint8)}, np.zeros((3, 1), np.float32), ep_actions, "t")
    np.testing.assert_array_equal(demo_chunk(ep, 1, 4), ep_actions[[1, 2, 2, 2]])


def test_sim_world_model_is_a_faithful_clone():
    driver, world = make_env("reach", image_size=32), SimWorldModel(make_env("reach", image_size=32))
    obs, info = driver.reset(seed=3)
    world.env.reset(seed=3)
    for _ in range(3):
        driver.step(np.full(7, 0.3, np.float32))
    state = driver.unwrapped.get_sim_state()
    chunk = np.tile(np.array([0.5, -0.2, 0.1, 0, 0, 0, -1], np.float32), (4, 1))
    a, b = world.rollout(state, chunk), world.rollout(state, chunk)
    assert a.steps == 4 and a.info["progress"] == b.info["progress"]
    for k in a.obs:
        np.testing.assert_array_equal(a.obs[k], b.obs[k])
    for action in chunk:  # the driver, stepped the same way, reaches the same place
        obs, _, _, _, info = driver.step(action)
    assert info["progress"] == pytest.approx(a.info["progress"])
    # close, not bit-exact: the clone agrees with itself exactly, with the original to ~1e-3 rad
    np.testing.assert_allclose(obs["observation.state"], a.obs["observation.state"], atol=5e-3)


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("dpo") / "init"
    FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES))).save_pretrained(path)
    return path


def test_pairs_from_task_oracle(tiny_policy):
    policy = FlowPolicy.from_pretrained(tiny_policy)
    cfg = PairsConfig(scorer="oracle", k=3, episodes=1, max_steps=12, image_size=32, min_margin=0.0)
    pairs = pairs_from_task(policy, "reach", cfg)
    assert 1 <= len(pairs) <= 3 and pairs.meta["world_reward"]
    assert pairs.scores.shape == (len(pairs), 3)
    np.testing.assert_allclose(pairs.margin, pairs.scores.max(1) - pairs.scores.min(1), rtol=1e-6)
    assert set(pairs.observations) == {f"observation.images.{v}" for v in policy.config.views} | {
        "observation.state"
    }


def test_pairs_from_data_rank_by_demo_distance(tiny_policy):
    policy = FlowPolicy.from_pretrained(tiny_policy)
    rng = np.random.default_rng(0)
    T = 6
    ep = Episode(
        views={v: rng.integers(0, 255, (T, 32, 32, 3), dtype=np.uint8) for v in policy.config.views},
        state=rng.normal(size=(T, len(STATE_NAMES))).astype(np.float32),
        action=rng.normal(size=(T, 7)).astype(np.float32),
        task="reach the yellow ball",
    )
    pairs = pairs_from_data(policy, [ep], PairsConfig(scorer="oracle", k=4, every=2, min_margin=0.0))
    assert len(pairs) == 3 and not pairs.meta["world_reward"]
    for i, t in enumerate([0, 2, 4]):
        demo = demo_chunk(ep, t, policy.config.chunk_size)
        assert np.abs(pairs.winner[i] - demo).mean() <= np.abs(pairs.loser[i] - demo).mean()


def test_train_dpo_rounds_and_resume(tiny_policy, tmp_path, check_curves):
    policy = FlowPolicy.from_pretrained(tiny_policy)
    pcfg = PairsConfig(scorer="oracle", k=3, episodes=1, max_steps=12, image_size=32, min_margin=0.0)
    save_pairs(pairs_from_task(policy, "reach", pcfg), tmp_path / "pairs")
    cfg = DPOConfig(steps=4, batch_size=2, log_every=1, checkpoint_every=2, rounds=2)
    out = tmp_path / "run"
    summary = train_dpo(
        tiny_policy, out, cfg, pairs=tmp_path / "pairs", task="reach", pairs_cfg=pcfg, show_progress=False
    )
    assert [r["round"] for r in summary["rounds"]] == [0, 1]
    check_curves(out)
    # round 1 regenerates pairs with the trained policy (or is skipped when none passes the margin)
    assert (out / "pairs_round1" / "pairs.safetensors").exists() or summary["rounds"][1]["pairs"] == 0
    trained = FlowPolicy.from_pretrained(out / "policy")
    same = [
        torch.equal(a, b)
        for a, b in zip(trained.expert.parameters(), policy.expert.parameters(), strict=True)
    ]
    assert not all(same)  # the expert moved
    for a, b in zip(trained.views.parameters(), policy.views.parameters(), strict=True):
        assert torch.equal(a, b)  # the frozen trunk did not
    cfg3 = DPOConfig(steps=4, batch_size=2, log_every=1, checkpoint_every=2, rounds=3)
    more = train_dpo(tiny_policy, out, cfg3, task="reach", pairs_cfg=pcfg, resume=True, show_progress=False)
    assert more["steps"] == summary["steps"]  # the saved config (2 rounds) wins on resume: nothing left


def test_max_epochs_caps_the_steps_of_a_round_with_few_pairs(tiny_policy, tmp_path):
    from robo_reward.train.dpo.trainer import round_steps

    # by hand: 27 pairs in batches of 32 → one batch holds them all, 10 epochs = 10 steps
    assert round_steps(DPOConfig(steps=200, batch_size=32, max_epochs=10), 27) == 10
    assert round_steps(DPOConfig(steps=200, batch_size=32, max_epochs=10), 320) == 100  # 10 × 320 / 32
    assert round_steps(DPOConfig(steps=200, batch_size=32, max_epochs=50), 320) == 200  # steps still cap
    assert round_steps(DPOConfig(steps=200, batch_size=32), 27) == 200  # default: no cap
    assert round_steps(DPOConfig(steps=200, batch_size=32, max_epochs=0.01), 27) == 1  # at least one
    with pytest.raises(ValueError, match="max_epochs"):
        DPOConfig(max_epochs=0)
    # in a run: the round's record and the step counter follow the cap
    policy = FlowPolicy.from_pretrained(tiny_policy)
    pcfg = PairsConfig(scorer="oracle", k=3, episodes=1, max_steps=12, image_size=32, min_margin=0.0)
    pairs = pairs_from_task(policy, "reach", pcfg)
    save_pairs(pairs, tmp_path / "pairs")
    from robo_reward.train.dpo.trainer import pair_features

    assert not pair_features(policy, pairs).requires_grad  # cached once per round, outside any graph
    cfg = DPOConfig(steps=50, batch_size=4, max_epochs=2, log_every=1, checkpoint_every=100)
    summary = train_dpo(tiny_policy, tmp_path / "run", cfg, pairs=tmp_path / "pairs", show_progress=False)
    expected = min(50, -(-2 * len(pairs) // min(4, len(pairs))))
    assert summary["rounds"][0]["steps"] == summary["steps"] == expected < 50


def test_keep_margin_trains_on_the_confident_pairs_only(tiny_policy, tmp_path):
    subset = make_pairs(3).subset(np.array([True, False, True]))
    assert subset.task == ["a", "c"] and len(subset.observations["observation.state"]) == 2
    with pytest.raises(ValueError, match="one flag per pair"):
        make_pairs(3).subset(np.array([True]))
    with pytest.raises(ValueError, match="keep_margin"):
        DPOConfig(keep_margin=-0.1)
    policy = FlowPolicy.from_pretrained(tiny_policy)
    pcfg = PairsConfig(scorer="oracle", k=3, episodes=1, max_steps=12, image_size=32, min_margin=0.0)
    pairs = pairs_from_task(policy, "reach", pcfg)
    n = len(pairs)
    pairs.margin = np.linspace(0.0, 0.5, n).astype(np.float32)  # margins set by hand
    save_pairs(pairs, tmp_path / "pairs")
    expected_kept = int((pairs.margin >= 0.25).sum())
    assert 0 < expected_kept < n
    cfg = DPOConfig(steps=3, batch_size=4, keep_margin=0.25, log_every=1, checkpoint_every=100)
    summary = train_dpo(tiny_policy, tmp_path / "run", cfg, pairs=tmp_path / "pairs", show_progress=False)
    record = summary["rounds"][0]
    assert record["pairs"] == expected_kept and record["pairs_below_keep_margin"] == n - expected_kept
    assert record["mean_pair_margin"] >= 0.25 and summary["steps"] == 3
    # nothing at or above the cut: the round is skipped, saying why, and nothing is trained
    cfg = DPOConfig(steps=3, batch_size=4, keep_margin=0.9)
    summary = train_dpo(tiny_policy, tmp_path / "none", cfg, pairs=tmp_path / "pairs", show_progress=False)
    assert summary["steps"] == 0 and "keep_margin 0.9" in summary["rounds"][0]["skipped"]


def test_branch_continuation_shares_its_noise_across_candidates(tiny_policy):
    from robo_reward.sim import task_spec
    from robo_reward.train.dpo.pairs import continue_branch

    policy = FlowPolicy.from_pretrained(tiny_policy)
    driver = make_env("reach", image_size=32, max_steps=40)
    world = SimWorldModel(make_env("reach", image_size=32, max_steps=40))
    driver.reset(seed=5)
    world.env.reset(seed=5)
    state = driver.unwrapped.get_sim_state()
    instruction = task_spec("reach").instruction
    a = np.tile(np.array([0.5, 0, 0, 0, 0, 0, -1], np.float32), (3, 1))
    b = np.tile(np.array([-0.5, 0, 0, 0, 0, 0, -1], np.float32), (3, 1))

    def run(chunk, steps, seed):
        return continue_branch(world, policy, instruction, state, chunk, steps, 2, seed)

    first, again = run(a, 5, seed=11), run(a, 5, seed=11)
    assert first.steps == 3 + 5 and not first.terminated
    for k in first.obs:  # same candidate, same continuation noise: the same branch
        np.testing.assert_array_equal(first.obs[k], again.obs[k])
    other = run(b, 5, seed=11)
    assert not np.allclose(other.obs["observation.state"], first.obs["observation.state"])
    plain = run(a, 0, seed=11)  # no continuation: exactly the world model's rollout of the chunk
    ref = world.rollout(state, a)
    assert plain.steps == 3
    np.testing.assert_array_equal(plain.obs["observation.state"], ref.obs["observation.state"])
    with pytest.raises(ValueError, match="continue_steps"):
        PairsConfig(scorer="oracle", continue_steps=-1)


def test_pairs_from_task_branch_every_and_step_counts(tiny_policy):
    policy = FlowPolicy.from_pretrained(tiny_policy)
    base = dict(
        scorer="oracle", k=3, episodes=1, max_steps=12, image_size=32, min_margin=0.0, execute_steps=2
    )
    every = pairs_from_task(policy, "reach", PairsConfig(**base))
    sparse = pairs_from_task(policy, "reach", PairsConfig(**base, branch_every=2, continue_steps=4))
    # 12 driving steps in chunks of 2 → 6 boundaries: all branch, or every second one (3)
    assert every.meta["observations_considered"] == 6 and sparse.meta["observations_considered"] == 3
    assert every.meta["driving_env_steps"] == sparse.meta["driving_env_steps"] == 12
    assert every.meta["branch_env_steps"] == 6 * 3 * 2
    # each branch: 2 executed + up to 4 continued steps, cut where the 12-step episode ends
    assert 3 * 3 * 2 < sparse.meta["branch_env_steps"] <= 3 * 3 * 6


def test_success_judge_is_the_sparse_signal():
    from robo_reward.train.dpo.world_model import Outcome, SuccessJudge

    outs = [
        Outcome({}, {"success": s, "progress": p}, 8, s) for s, p in [(True, 1.0), (False, 0.9), (False, 0.1)]
    ]
    np.testing.assert_array_equal(SuccessJudge().gains({}, {"progress": 0.5}, outs), [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="scorer"):
        PairsConfig(scorer="sparse")
    with pytest.raises(ValueError, match="perceptual-reward fit"):
        PairsConfig(scorer="perceptual")


def test_ranking_agreement_by_hand():
    from robo_reward.train.dpo.judges import ranking_agreement

    truth = [np.array([0.0, 0.1, 0.3]), np.array([0.0, 0.0, 0.01])]
    # state 1: pairs (0,1), (0,2), (1,2) all differ by ≥ 0.05; the judge orders (0,1) and (0,2) right
    # and (1,2) wrong. State 2: no pair differs enough to count.
    scores = [np.array([0.0, 0.5, 0.2]), np.array([0.3, 0.0, 0.0])]
    r = ranking_agreement(truth, scores, min_gap=0.05)
    assert r["pairs"] == 3 and r["pair_accuracy"] == pytest.approx(2 / 3)
    # winners: state 1 best = 1, worst = 0 → oracle 0.1 > 0.0 right; state 2 gap 0 < 0.05: not counted
    assert r["states"] == 1 and r["winner_accuracy"] == 1.0
    # margin 0.2: both states kept (gaps 0.5 and 0.3); state 1 right, state 2 an oracle tie
    assert r["kept@0.2"] == 1.0 and r["right@0.2"] == 0.5 and r["wrong@0.2"] == 0.0
    tie = ranking_agreement(truth[:1], [np.zeros(3)], min_gap=0.05)
    assert tie["pair_accuracy"] == 0.5 and tie["kept@0.02"] == 0.0


def test_judge_agreement_runs_on_the_sim(tiny_policy, tmp_path):
    from robo_reward.models.grm.configuration_grm import get_config
    from robo_reward.models.grm.modeling_grm import build_grm
    from robo_reward.sim import task_spec
    from robo_reward.train.dpo.judges import judge_agreement

    torch.manual_seed(0)
    grm = build_grm(get_config("grm-tiny"))
    grm.references[task_spec("reach").instruction] = np.zeros((grm.config.num_views, 32, 32, 3), np.uint8)
    policy = FlowPolicy.from_pretrained(tiny_policy)
    out = judge_agreement(policy, "reach", grm, k=3, execute_steps=4, episodes=1, image_size=32)
    assert set(out) == {
        "grm",
        "grm forward",
        "grm backward",
        "grm incremental",
        "oracle",
        "constant (chance)",
    }
    assert out["oracle"]["wrong@0.02"] in (0.0,) or np.isnan(out["oracle"]["wrong@0.02"])
    assert out["constant (chance)"]["kept@0.02"] == 0.0


def test_dpo_config_needs_something_to_learn():
    assert DPOConfig(beta=0.0, sft_weight=1.0).beta == 0.0
    with pytest.raises(ValueError, match="not both 0"):
        DPOConfig(beta=0.0, sft_weight=0.0)
    with pytest.raises(ValueError, match="beta ≥ 0"):
        DPOConfig(beta=-1.0)


def test_judges_table_row_is_compact_and_marks_missing_values():
    from robo_reward.commands.dpo import _judge_row
    from robo_reward.train.dpo.judges import ranking_agreement

    truth = [np.array([0.0, 0.1, 0.3]), np.array([0.0, 0.0, 0.01])]
    row = _judge_row(
        "j", ranking_agreement(truth, [np.array([0.0, 0.5, 0.2]), np.array([0.3, 0.0, 0.0])], 0.05)
    )
    # from test_ranking_agreement_by_hand: pair accuracy 2/3, winner 1; at m 0.2 both states kept, ½ right
    assert row == {
        "judge": "j",
        "pair acc": "0.67",
        "winner acc": "1.00",
        "m 0.02": "1.00 0.50/0.00",
        "m 0.05": "1.00 0.50/0.00",
        "m 0.1": "1.00 0.50/0.00",
        "m 0.2": "1.00 0.50/0.00",
    }
    chance = _judge_row("c", ranking_agreement(truth, [np.zeros(3)] * 2, 0.05))
    assert chance["winner acc"] == "–" and chance["m 0.02"] == "0.00 –/–"


def test_consensus_keeps_only_states_where_both_judges_name_the_best_clearly():
    from robo_reward.train.dpo.world_model import ConsensusJudge, Outcome, consensus

    a, b = np.array([0.0, 0.10, 0.02]), np.array([0.01, 0.07, 0.0])
    # both name candidate 1, gaps 0.10 and 0.07 ≥ 0.05: the mean of the two
    np.testing.assert_allclose(consensus([a, b], 0.05), [0.005, 0.085, 0.01])
    # the same judges at margin 0.08: the second's gap (0.07) is too small → all ties, no pair
    np.testing.assert_array_equal(consensus([a, b], 0.08), np.zeros(3))
    # different best candidates → no pair, however large the gaps
    np.testing.assert_array_equal(consensus([a, np.array([0.5, 0.0, 0.0])], 0.05), np.zeros(3))

    class Fixed:
        def __init__(self, g):
            self.g = g

        def gains(self, before_obs, before_info, outcomes):
            return self.g

    judge = ConsensusJudge([Fixed(a), Fixed(b)], 0.05)
    outs = [Outcome({}, {}, 8, False)] * 3
    np.testing.assert_allclose(judge.gains({}, {}, outs), [0.005, 0.085, 0.01])
    assert [list(x) for x in judge.last] == [list(a), list(b)]
    w, l, margin = choose_pair(judge.gains({}, {}, outs))
    assert (w, l) == (1, 0) and margin == pytest.approx(0.08)
    with pytest.raises(ValueError, match="≥ 2 judges"):
        ConsensusJudge([Fixed(a)], 0.05)
    with pytest.raises(ValueError, match="GRM checkpoint"):
        PairsConfig(scorer="consensus", perceptual="p")
    with pytest.raises(ValueError, match="perceptual-reward fit"):
        PairsConfig(scorer="consensus", grm="g")
