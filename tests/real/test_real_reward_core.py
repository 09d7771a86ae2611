import numpy as np
import pytest

from robo_reward.real.inputs import BadInput
from robo_reward.real.reward_core import DebugTruth, RewardCore, batch_of_one
from robo_reward.rewards.shaping import ShapingConfig
from robo_reward.rewards.sources import make_source


def _oracle_core(shaping: ShapingConfig) -> RewardCore:
    return RewardCore(make_source("oracle", 1, ""), shaping, requires=("progress",))


def test_oracle_pbrs_sequence():
    truth = DebugTruth()
    core = _oracle_core(ShapingConfig(gamma=0.9, success_source="progress"))
    truth.feed(progress=0.1)
    first = core.update({}, truth.info)
    assert (first.progress, first.reward, first.success) == (0.1, 0.0, False)  # no transition yet
    truth.feed(progress=0.5)
    s = core.update({}, truth.info)
    assert s.reward == pytest.approx(0.9 * 0.5 - 0.1) and not s.success
    truth.feed(progress=0.97)  # ≥ 1 − δ: success bonus, and Φ(terminal) := 0
    s = core.update({}, truth.info)
    assert s.success and s.reward == pytest.approx(1.0 + 0.0 - 0.5)
    assert core.update({}, truth.info).reward == 0.0  # the episode is over until reset
    core.reset()
    truth.feed(progress=0.0)
    assert core.update({}, truth.info).reward == 0.0 and core.steps == 0


def test_env_success_flag_and_missing_progress():
    truth = DebugTruth()
    core = _oracle_core(ShapingConfig(gamma=1.0, success_source="env"))
    assert truth.info == {}
    assert core.update({}, truth.info).progress == 0.0  # nothing fed yet: the episode starts at 0
    assert core.update({}, truth.info) is None  # and waits for the sim's progress
    truth.feed(progress=0.6, success=True)
    s = core.update({}, truth.info, env_success=truth.success)
    assert s.success and s.reward == pytest.approx(1.0 - 0.0)


def test_grm_source_matches_the_online_fusion_and_hand_shaping(tmp_path):
    """The node's grm source is the registry's, with one slot: its progress equals OnlineProgress
    driven directly on the same frames and goal, its reward γ·Φ' − Φ."""
    pytest.importorskip("timm")
    import torch

    from robo_reward.models.grm.configuration_grm import get_config
    from robo_reward.models.grm.inference import OnlineProgress
    from robo_reward.models.grm.modeling_grm import GRM, build_grm

    torch.manual_seed(0)
    build_grm(get_config("grm-tiny")).save_pretrained(tmp_path / "grm")
    model = GRM.from_pretrained(tmp_path / "grm")
    views = model.config.views
    rng = np.random.default_rng(0)
    frames = [
        {f"observation.images.{v}": rng.integers(0, 255, (48, 48, 3), dtype=np.uint8) for v in views}
        | {"observation.state": np.zeros(3, np.float32), "task": "stack the cubes", "timestamp": 0.1 * i}
        for i in range(4)
    ]
    goal = {v: rng.integers(0, 255, (48, 48, 3), dtype=np.uint8) for v in views}
    source = make_source("grm", 1, "stack the cubes", str(tmp_path / "grm"), goals=[goal])
    core = RewardCore(source, ShapingConfig(gamma=0.9, success_source="progress"))
    steps = [core.update(f) for f in frames]

    online = OnlineProgress(model, 1, "stack the cubes")
    online.reset(batch_of_one(frames[0]), goals=[goal])
    expected = [0.0] + [float(online.step(batch_of_one(f))[0]) for f in frames[1:]]
    assert [s.progress for s in steps] == pytest.approx(np.clip(expected, 0, 1).tolist(), abs=1e-6)
    assert steps[0].reward == 0.0
    for prev, s in zip(steps, steps[1:], strict=False):
        assert not s.success and s.reward == pytest.approx(0.9 * s.progress - prev.progress, abs=1e-6)


def test_perceptual_source_with_a_checkpoint_scores_each_frame(tmp_path):
    """`source: perceptual` works too: each step's progress is the perceptual reward of that frame."""
    from robo_reward.data.episode import Episode
    from robo_reward.models.encoders import build_encoder
    from robo_reward.models.perceptual.configuration_perceptual import PerceptualConfig
    from robo_reward.models.perceptual.modeling_perceptual import PerceptualReward

    rng = np.random.default_rng(0)
    views = ("front", "side", "wrist")
    demos = [
        Episode(
            views={v: rng.integers(0, 255, (10, 32, 32, 3), dtype=np.uint8) for v in views},
            state=np.zeros((10, 1), np.float32),
            action=np.zeros((10, 7), np.float32),
            task="stack the cubes",
        )
        for _ in range(2)
    ]
    cfg = PerceptualConfig(encoder="tcn-tiny", num_steps=2, top_m=8)
    PerceptualReward.fit(demos, cfg, encoder=build_encoder("tcn-tiny").eval()).save_pretrained(
        tmp_path / "perc"
    )
    core = RewardCore(make_source("perceptual", 1, "stack the cubes", str(tmp_path / "perc")))
    frames = [{f"observation.images.{v}": demos[0].views[v][t] for v in views} for t in (0, 9)]
    steps = [core.update(f) for f in frames]
    # the offline path: the same two frames read as one episode
    pair = Episode(
        views={v: demos[0].views[v][[0, 9]] for v in views},
        state=np.zeros((2, 1), np.float32),
        action=np.zeros((2, 7), np.float32),
        task="stack the cubes",
    )
    expected = PerceptualReward.from_pretrained(tmp_path / "perc")(pair)
    assert [s.progress for s in steps] == pytest.approx(np.clip(expected, 0, 1).tolist(), abs=1e-5)
    assert steps[0].progress != pytest.approx(steps[1].progress)  # two frames, two scores
    assert steps[1].reward == pytest.approx(0.99 * steps[1].progress - steps[0].progress, abs=1e-6)


def test_non_finite_progress_is_refused_and_the_episode_carries_on():
    truth = DebugTruth()
    core = _oracle_core(ShapingConfig(gamma=1.0, success_source="progress"))
    truth.feed(progress=0.2)
    core.update({}, truth.info)
    with pytest.raises(BadInput, match="not finite"):
        truth.feed(progress=float("nan"))
    assert truth.progress == 0.2

    class Broken:
        num_envs = 1

        def reset(self, mask, obs, info):
            return np.zeros(1)

        def update(self, mask, obs, info):
            return np.full(1, np.inf)

    broken = RewardCore(Broken())
    broken.update({})
    with pytest.raises(BadInput) as e:
        broken.update({})
    assert e.value.kind == "non_finite_progress" and broken.phi == 0.0 and broken.steps == 0


def test_a_source_with_several_slots_is_refused():
    with pytest.raises(ValueError, match="num_envs=1"):
        RewardCore(make_source("sparse", 2, ""))
