import numpy as np
import pytest

from robo_reward.real.inputs import BadInput
from robo_reward.real.reward_core import GRMProgress, PrivilegedProgress, RewardCore
from robo_reward.rewards.shaping import ShapingConfig


def test_privileged_pbrs_sequence():
    src = PrivilegedProgress()
    core = RewardCore(src, ShapingConfig(gamma=0.9, success_source="progress"))
    src.feed(progress=0.1)
    first = core.update({})
    assert (first.progress, first.reward, first.success) == (0.1, 0.0, False)  # no transition yet
    src.feed(progress=0.5)
    s = core.update({})
    assert s.reward == pytest.approx(0.9 * 0.5 - 0.1) and not s.success
    src.feed(progress=0.97)  # ≥ 1 − δ: success bonus, and Φ(terminal) := 0
    s = core.update({})
    assert s.success and s.reward == pytest.approx(1.0 + 0.0 - 0.5)
    assert core.update({}).reward == 0.0  # the episode is over until reset
    core.reset()
    src.feed(progress=0.0)
    assert core.update({}).reward == 0.0 and core.steps == 0


def test_env_success_flag_and_missing_progress():
    src = PrivilegedProgress()
    core = RewardCore(src, ShapingConfig(gamma=1.0, success_source="env"))
    assert core.update({}).progress == 0.0  # nothing fed yet: the episode starts at 0
    src.progress = None
    assert core.update({}) is None
    src.feed(progress=0.6, success=True)
    s = core.update({}, env_success=src.success)
    assert s.success and s.reward == pytest.approx(1.0 - 0.0)


def test_grm_source_online(tmp_path):
    pytest.importorskip("timm")
    from robo_reward.models.grm.configuration_grm import get_config
    from robo_reward.models.grm.modeling_grm import build_grm

    model = build_grm(get_config("grm-tiny"))
    model.save_pretrained(tmp_path / "grm")
    views = model.config.views
    rng = np.random.default_rng(0)
    frame = {f"observation.images.{v}": rng.integers(0, 255, (48, 48, 3), dtype=np.uint8) for v in views}
    goal = {v: rng.integers(0, 255, (48, 48, 3), dtype=np.uint8) for v in views}
    core = RewardCore(GRMProgress(str(tmp_path / "grm"), "stack the cubes", goal=goal))
    assert core.update(frame).progress == 0.0
    s = core.update(frame)
    assert 0.0 <= s.progress <= 1.0 and np.isfinite(s.reward)


def test_non_finite_progress_is_refused_and_the_episode_carries_on():
    src = PrivilegedProgress()
    core = RewardCore(src, ShapingConfig(gamma=1.0, success_source="progress"))
    src.feed(progress=0.2)
    core.update({})
    with pytest.raises(BadInput, match="not finite"):
        src.feed(progress=float("nan"))
    assert src.progress == 0.2

    class Broken:
        def start(self, obs):
            return 0.0

        def step(self, obs):
            return float("inf")

    broken = RewardCore(Broken())
    broken.update({})
    with pytest.raises(BadInput) as e:
        broken.update({})
    assert e.value.kind == "non_finite_progress" and broken.phi == 0.0 and broken.steps == 0
