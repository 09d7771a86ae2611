"""Reward-filtered BC: the keep rule against hand values, and a two-round run on the sim that trains on
the demos plus exactly the rollouts it kept, resumes an unfinished round, and refuses changed options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robo_reward.train.rl.filtered_bc import (
    SEED_BASE,
    FilteredBCConfig,
    check_config,
    episode_scorer,
    keep_threshold,
    round_seed,
)
from robo_reward.train.rl.run_summary import EVAL_SEED_SETS
from robo_reward.utils.errors import ResumeError, UserError


def test_threshold_is_the_demos_quantile_and_sparse_keeps_successes():
    demo = np.array([0.5, 0.9, 0.95, 1.0])
    # quantile 0.25 of 4 values, linear: position 0.75 between 0.5 and 0.9 → 0.8
    assert keep_threshold("grm", demo, 0.25) == pytest.approx(0.8)
    assert keep_threshold("oracle", demo, 0.0) == pytest.approx(0.5)
    assert keep_threshold("sparse", demo, 0.25) == 1.0


def test_scores_read_the_last_frame(stepped):
    ep = stepped(seed=0, outcome="success")
    ep.progress[:] = np.linspace(0.0, 0.7, len(ep))
    assert episode_scorer("oracle")(ep) == pytest.approx(0.7)
    assert episode_scorer("sparse")(ep) == 1.0
    ep.success[-2:] = [True, False]  # done earlier than the end (the object dropped after): not a success
    assert episode_scorer("sparse")(ep) == 0.0


def test_options_are_checked_and_training_seeds_miss_the_evaluation_seeds(tmp_path):
    base = dict(out=tmp_path, init=tmp_path, data=[tmp_path])
    for bad, msg in (
        (dict(reward="naive"), "--reward"),
        (dict(reward="grm"), "--grm"),
        (dict(reward="sparse", data=[]), "--data"),
        (dict(reward="sparse", keep_quantile=1.0), "--keep-quantile"),
        (dict(reward="sparse", rounds=0), "--rounds"),
    ):
        with pytest.raises(UserError, match=msg):
            check_config(FilteredBCConfig(**(base | bad)))
    # seed s's rounds of 500 rollouts × 20 take seeds [100000 + 10000 s, 100000 + 10000 (s + 1))
    cfg = FilteredBCConfig(**base, episodes_per_round=500, rounds=20, seed=1)
    assert round_seed(cfg, 0) == SEED_BASE + 10_000 and round_seed(cfg, 19) + 500 == SEED_BASE + 20_000
    assert max(EVAL_SEED_SETS) + 1000 < SEED_BASE


def _start(tmp_path):
    """Two scripted reach demos at 32² and a flow-tiny policy cloned from them for 2 steps."""
    from robo_reward.data.lerobot_io import write_dataset
    from robo_reward.sim import STATE_NAMES
    from robo_reward.sim.collect import collect_episodes
    from robo_reward.train.bc import BCConfig, train_bc

    demos = write_dataset(collect_episodes("reach", 2, seed=0, image_size=32), tmp_path / "demos",
                          state_names=list(STATE_NAMES))  # fmt: skip
    init = train_bc(BCConfig(out=tmp_path / "bc", data=[demos], config="flow-tiny", steps=2, batch_size=8,
                             warmup_steps=1, log_every=1, shift_pad=0))  # fmt: skip
    return demos, init


def test_rounds_train_on_the_demos_and_the_kept_rollouts_and_resume(tmp_path):
    import shutil

    from robo_reward.data.lerobot_io import load_episodes
    from robo_reward.train.rl.filtered_bc import run_seeds
    from robo_reward.utils.io import read_json
    from robo_reward.utils.logging import read_metrics

    demos, init = _start(tmp_path)
    score = lambda ep: float(ep.state[0, 0] + ep.state[0, 1])  # noqa: E731 - varies with the start, by seed
    cfg = dict(out=tmp_path / "fbc", init=init, data=[demos], task="reach", reward="oracle", rounds=2,
               episodes_per_round=4, keep_quantile=0.5, steps_per_round=2, batch_size=8)  # fmt: skip
    first = run_seeds(FilteredBCConfig(**cfg), seeds=1, eval_episodes=2, eval_sets=1, score=score)
    run = tmp_path / "fbc/seed0"
    assert (run / "model/model.safetensors").exists()
    evaluation = read_json(run / "eval.json")
    assert [e["seed"] for e in evaluation["eval"]] == [20_000]
    assert (
        first["table"][0]["final_success"] == evaluation["final_success"] == evaluation["eval"][0]["success"]
    )
    demo_eps = load_episodes(demos)
    tau = float(np.quantile([score(e) for e in demo_eps], 0.5))
    kept_total, lines = 0, read_metrics(run / "rounds.jsonl")
    assert [line["round"] for line in lines] == [0, 1]
    for r in range(2):
        folder = run / f"round_{r:02d}"
        verdicts = read_json(folder / "scores.json")["rollouts"]
        rollouts = load_episodes(folder / "rollouts")
        assert [v["seed"] for v in verdicts] == [SEED_BASE + 4 * r + i for i in range(4)]
        assert [v["kept"] for v in verdicts] == [score(e) >= tau for e in rollouts]
        kept_total += sum(v["kept"] for v in verdicts)
        # the round's BC run trained on the demos plus every rollout kept so far (earlier rounds' too)
        trained = read_json(folder / "train/run.json")["config"]
        assert trained["episodes"][0] == len(demo_eps) + kept_total
        # each round fine-tunes the policy the round before it trained (round 0: the start)
        assert Path(trained["init"]) == (Path(init) if r == 0 else run / "round_00/train/model").resolve()
        assert lines[r]["kept"] == sum(v["kept"] for v in verdicts) and lines[r]["kept_total"] == kept_total
        assert lines[r]["threshold"] == pytest.approx(tau)
    assert kept_total > 0 and first["table"][0]["kept"] == kept_total
    # a finished seed is reused as it is; an unfinished last round is redone from its seeds
    (run / "eval.json").write_text(
        (run / "eval.json").read_text().replace('"final_success"', '"final_success_"')
    )
    with pytest.raises(KeyError):  # reused: it reads the (edited) file instead of evaluating again
        run_seeds(FilteredBCConfig(**cfg, resume=True), seeds=1, eval_episodes=2, eval_sets=1, score=score)
    before = read_json(run / "round_01/scores.json")
    shutil.rmtree(run / "round_01/train/model")
    again = run_seeds(
        FilteredBCConfig(**cfg, resume=True), seeds=1, eval_episodes=2, eval_sets=1, score=score
    )
    assert read_json(run / "round_01/scores.json") == before and again["table"][0]["kept"] == kept_total
    assert [line["round"] for line in read_metrics(run / "rounds.jsonl")] == [0, 1]
    with pytest.raises(ResumeError, match="lr"):
        run_seeds(FilteredBCConfig(**(cfg | dict(lr=1e-3)), resume=True), 1, 2, 1, score=score)
    # --restart: every round fine-tunes the start, on everything kept so far; --score-frames stored scores
    # the rollouts as their dataset holds them (a pixel-reading score tells the two apart)
    pixels = lambda ep: float(np.mean(ep.views["front"][-1]))  # noqa: E731
    restart = cfg | dict(out=tmp_path / "restart", episodes_per_round=2, restart=True, score_frames="stored")
    run_seeds(FilteredBCConfig(**restart), seeds=1, eval_episodes=1, eval_sets=1, score=pixels)
    for r in range(2):
        folder = tmp_path / f"restart/seed0/round_{r:02d}"
        trained = read_json(folder / "train/run.json")["config"]
        assert Path(trained["init"]) == Path(init).resolve()
        scored = [v["score"] for v in read_json(folder / "scores.json")["rollouts"]]
        assert scored == [pixels(e) for e in load_episodes(folder / "rollouts")]
