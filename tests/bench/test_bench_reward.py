"""`bench reward` runs the GRM as the RL wrapper does (one env, every control step) and as a labeller."""

import numpy as np
import pytest

from robo_reward.bench import reward as bench_reward
from robo_reward.models.grm import build_grm, get_config


@pytest.fixture
def tiny_grm(tmp_path):
    model = build_grm(get_config("grm-tiny")).eval()
    size = model.config.image_size
    rng = np.random.default_rng(0)
    model.references["open the drawer"] = rng.integers(
        0, 256, (model.config.num_views, size, size, 3), dtype=np.uint8
    )
    model.save_pretrained(tmp_path / "grm")
    return tmp_path / "grm"


def test_online_reward_is_timed_beside_the_env_step(tiny_grm, monkeypatch):
    calls = []
    real = bench_reward._batched
    monkeypatch.setattr(bench_reward, "_batched", lambda obs: calls.append(1) or real(obs))
    r = bench_reward.run(tiny_grm, task="open_drawer", steps=12, image_size=32, threads=1)
    assert len(calls) == 1 + 12  # the reset, then every step's observation (60-step episodes: no reset)
    assert 0 < r["reward_ms_p50"] <= r["reward_ms_p95"] and r["env_step_ms_p50"] > 0
    assert r["reward_over_env_step"] == pytest.approx(r["reward_ms_p50"] / r["env_step_ms_p50"])
    assert "label_fps_cold" not in r  # no --data: online only
    assert r["encode_speedup_graph"] == pytest.approx(r["encode_ms_p50_eager"] / r["encode_ms_p50_graph"])
