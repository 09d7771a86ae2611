"""End to end on the real sim with a tiny random policy: every registered algorithm trains, checkpoints,
resumes exactly, exports a policy `policy eval` reads; the CLI's compare writes its table and plot."""

import json

import numpy as np
import pytest
import torch

from robo_reward.models.flow_policy import FlowPolicy, make_config
from robo_reward.models.flow_policy.steering import load_policy
from robo_reward.sim import STATE_NAMES
from robo_reward.train.rl.actor_critic import FlowActorCritic
from robo_reward.train.rl.algorithm import algorithms
from robo_reward.train.rl.configuration_rl import LogConfig, RLConfig, RolloutConfig
from robo_reward.train.rl.flow_ppo import FlowPPOConfig
from robo_reward.train.rl.steered_sac import NoiseSACConfig, ResidualSACConfig
from robo_reward.train.rl.trainer import train
from robo_reward.utils.errors import ResumeError
from robo_reward.utils.logging import read_metrics

SMALL_ALGOS = {
    "noise-sac": NoiseSACConfig(hidden=32, batch_size=16, warmstart_episodes=1, warmstart_updates=5, utd=1),
    "residual-sac": ResidualSACConfig(
        hidden=32, batch_size=16, warmstart_episodes=1, warmstart_updates=5, utd=1
    ),
    "flow-ppo": FlowPPOConfig(chunks_per_update=2, minibatch_size=4),
}


@pytest.fixture(scope="module")
def tiny_init(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("rl") / "init"
    FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES))).save_pretrained(path)
    return path


def small_cfg(init, algo="noise-sac", **kw):
    base = dict(task="reach", init=str(init), rollouts=3, rollout=RolloutConfig(num_envs=2, max_steps=8, image_size=32),
                log=LogConfig(checkpoint_every=1), algo=SMALL_ALGOS[algo])  # fmt: skip
    return RLConfig(**(base | kw))


def test_every_registered_algorithm_has_a_small_config():
    assert set(algorithms()) == set(SMALL_ALGOS)


def test_deterministic_chain_equals_policy_sample(tiny_init):
    policy = FlowPolicy.from_pretrained(tiny_init)
    actor = FlowActorCritic(policy)
    obs = {
        f"observation.images.{v}": torch.randint(0, 255, (2, 32, 32, 3), dtype=torch.uint8)
        for v in policy.config.views
    }
    obs |= {"observation.state": torch.randn(2, len(STATE_NAMES)), "task": ["reach the yellow ball"] * 2}
    out = actor.act(obs, deterministic=True, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(
        (2, policy.config.chunk_size, policy.config.action_dim), generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(out["action"], policy.sample(obs, noise=noise), rtol=1e-5, atol=1e-5)
    stochastic = actor.act(obs, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(stochastic["logp"]).all() and not torch.allclose(
        stochastic["action"], out["action"]
    )
    # the stored chain's log-prob recomputed by the update path equals the sampling-time one
    ev = actor.evaluate(stochastic["features"], stochastic["chain"])
    torch.testing.assert_close(ev["logp"], stochastic["logp"], rtol=1e-4, atol=1e-2)
    torch.testing.assert_close(ev["logp_elements"].sum(1), ev["logp"])


@pytest.mark.parametrize("algo", sorted(SMALL_ALGOS))
def test_train_writes_metrics_checkpoint_and_resumes(tiny_init, tmp_path, algo, check_curves):
    out = tmp_path / algo
    summary = train(small_cfg(tiny_init, algo, reward="oracle"), out, show_progress=False)
    assert summary["episodes"] == 3
    assert set(summary["timings"]) == {"sim", "reward", "policy", "update"}
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(np.isfinite(v) for r in rows for v in r.values())
    assert any(k.startswith("losses/") for r in rows for k in r)
    assert (out / "success_vs_rollouts.png").exists()
    check_curves(out)
    load_policy(out / "policy")  # what `policy eval` reads
    resumed = train(
        small_cfg(tiny_init, algo, reward="oracle", rollouts=5), out, resume=True, show_progress=False
    )
    assert resumed["episodes"] == 5
    lines = [json.loads(x) for x in (out / "episodes.jsonl").read_text().splitlines()]
    assert [r["index"] for r in lines] == [1, 2, 3, 4, 5]
    assert len({r["seed"] for r in lines}) == 5  # a resumed run never replays a training seed


def test_resume_refuses_other_settings(tiny_init, tmp_path):
    train(small_cfg(tiny_init, reward="sparse", rollouts=1), tmp_path / "r", show_progress=False)
    with pytest.raises(ResumeError, match="other options.*reward"):
        train(
            small_cfg(tiny_init, reward="oracle", rollouts=2),
            tmp_path / "r",
            resume=True,
            show_progress=False,
        )


def test_sac_state_round_trips_exactly(tiny_init, tmp_path):
    """Everything a resumed SAC run continues from: replay rows, networks, optimisers, α, RNG, counters."""
    from robo_reward.train.rl.rollout import Transition
    from robo_reward.train.rl.steered_sac import NoiseSAC

    def make():
        return NoiseSAC(FlowPolicy.from_pretrained(tiny_init), small_cfg(tiny_init), SMALL_ALGOS["noise-sac"], 2, 8,
                        torch.Generator().manual_seed(3))  # fmt: skip

    a = make()
    for i in range(40):
        obs = torch.randn(a.buffer.obs_dim)
        a.observe([Transition(obs, {"action": torch.rand(a.buffer.action_dim), "q": torch.tensor(0.0)}, env=i % 2,
                              reward=float(i), discount=0.97, terminated=i % 7 == 0, next_obs=obs + 1)])  # fmt: skip
    a.on_episode(5)
    a.update()
    a.save(tmp_path)
    b = make()
    b.load(tmp_path)
    for k in a.buffer.data:
        torch.testing.assert_close(a.buffer.data[k][: a.buffer.size], b.buffer.data[k][: b.buffer.size])
    assert (a.buffer.size, a.buffer.next_row, a.buffer.added) == (
        b.buffer.size,
        b.buffer.next_row,
        b.buffer.added,
    )
    assert (a.updates, a.episodes_done, a.warm_started) == (b.updates, b.episodes_done, b.warm_started)
    for name in ("actor", "critic", "critic_target"):
        for (k, x), (_, y) in zip(getattr(a, name).state_dict().items(), getattr(b, name).state_dict().items(),
                                  strict=True):  # fmt: skip
            torch.testing.assert_close(x, y, msg=f"{name}.{k}")
    # the next update draws the same minibatches and lands on the same weights
    a.owed_updates = b.owed_updates = 3
    a.update(), b.update()
    torch.testing.assert_close(a.log_alpha, b.log_alpha)
    for x, y in zip(a.critic.parameters(), b.critic.parameters(), strict=True):
        torch.testing.assert_close(x, y)


def test_cli_compare(tiny_init, tmp_path):
    from robo_reward.cli import main

    js = tmp_path / "cmp.json"
    main(["rl", "compare", "--task", "reach", "--init", str(tiny_init), "--rewards", "sparse,naive", "--seeds", "1",
          "--rollouts", "2", "--max-steps", "8", "--image-size", "32", "--out", str(tmp_path / "cmp"),
          "--json", str(js), "noise-sac", "--hidden", "32", "--batch-size", "8", "--warmstart-episodes", "1",
          "--warmstart-updates", "2"])  # fmt: skip
    result = json.loads(js.read_text())
    assert [r["reward"] for r in result["table"]] == ["sparse", "naive"]
    assert (tmp_path / "cmp" / "success_vs_rollouts.png").exists()


def test_cli_compare_resume_reuses_a_finished_run_and_trains_the_missing_ones(tiny_init, tmp_path):
    from robo_reward.cli import main

    common = [
        "--task",
        "reach",
        "--init",
        str(tiny_init),
        "--rollouts",
        "2",
        "--max-steps",
        "8",
        "--image-size",
        "32",
    ]
    algo = [
        "noise-sac",
        "--hidden",
        "32",
        "--batch-size",
        "8",
        "--warmstart-episodes",
        "1",
        "--warmstart-updates",
        "2",
    ]
    cmp = tmp_path / "cmp"
    main(["rl", "train", *common, "--reward", "sparse", "--out", str(cmp / "sparse" / "seed0"), *algo])
    before = (cmp / "sparse" / "seed0" / "episodes.jsonl").read_text()
    js = tmp_path / "cmp.json"
    main(["rl", "compare", *common, "--rewards", "sparse,naive", "--seeds", "1", "--out", str(cmp), "--resume",
          "--json", str(js), *algo])  # fmt: skip
    assert (cmp / "sparse" / "seed0" / "episodes.jsonl").read_text() == before  # reused, not trained again
    assert len((cmp / "naive" / "seed0" / "episodes.jsonl").read_text().splitlines()) == 2  # trained now
    assert [r["reward"] for r in json.loads(js.read_text())["table"]] == ["sparse", "naive"]
    with pytest.raises(SystemExit):  # another option than the finished run's: refused, not reused
        main(["rl", "compare", *common[:-4], "--max-steps", "9", "--image-size", "32", "--rewards", "sparse",
              "--seeds", "1", "--out", str(cmp), "--resume", *algo])  # fmt: skip


def test_a_checkpoint_the_reward_never_reads_does_not_change_what_resume_must_match(tiny_init):
    from robo_reward.train.rl.trainer import results_config

    for reward in ("sparse", "oracle"):
        assert results_config(small_cfg(tiny_init, reward=reward, grm="a")) == results_config(
            small_cfg(tiny_init, reward=reward, grm=None)
        )
    assert results_config(small_cfg(tiny_init, reward="grm", grm="a")) != results_config(
        small_cfg(tiny_init, reward="grm", grm="b")
    )
    assert results_config(small_cfg(tiny_init, reward="naive", perceptual="a")) != results_config(
        small_cfg(tiny_init, reward="naive", perceptual=None)
    )


def test_an_option_added_later_keeps_the_runs_made_before_it_resumable(tiny_init):
    """A run made before `critic_space` existed saved an algo config without it: at its default the option
    is left out of what `--resume` must match, and any other value is part of it."""
    import dataclasses

    from robo_reward.train.rl.trainer import results_config

    before = {
        k: v for k, v in small_cfg(tiny_init).to_dict().items() if k not in ("rollouts", "device", "log")
    }
    del before["algo"]["critic_space"]
    assert results_config(small_cfg(tiny_init)) == before
    action = dataclasses.replace(
        small_cfg(tiny_init), algo=dataclasses.replace(SMALL_ALGOS["noise-sac"], critic_space="action")
    )
    assert results_config(action)["algo"]["critic_space"] == "action"
