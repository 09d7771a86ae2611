"""GRM construction, save/load round trip, inference APIs (episode and online) agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robo_reward.data.episode import IMAGE_KEY
from robo_reward.models.grm import GRM, PRESETS, OnlineProgress, ProgressEstimator, build_grm, get_config


@pytest.fixture(scope="module")
def tiny(synthetic_episodes) -> GRM:
    torch.manual_seed(0)
    model = build_grm(get_config("grm-tiny")).eval()
    ep = synthetic_episodes[0]
    frame = np.stack([ep.views[v][-1] for v in model.config.views])
    model.references.update({ep.task_name: frame, ep.task: frame})
    return model


def test_presets_are_consistent():
    for name, cfg in PRESETS.items():
        assert cfg.preset == name and cfg.num_bins % 2 == 1
    assert get_config("small").preset == "grm-small"
    with pytest.raises(ValueError, match="unknown GRM config"):
        get_config("grm-huge")


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_builds_and_scores(preset, request):
    if PRESETS[preset].backbone_weights:
        request.getfixturevalue("pretrained_weights")
    model = build_grm(get_config(preset)).eval()
    V, S = model.config.num_views, model.config.image_size
    views = {v: np.zeros((2, S, S, 3), np.uint8) for v in model.config.views}
    with torch.no_grad():
        f = model.encode_frames(views)
        hop = model.expected_hop(model(f[:, 0], f[:, 0], f, f, ["open the drawer"] * 2))
    assert f.shape == (2, V, model.feature_dim) and torch.all(hop.abs() <= 1)
    assert any(p.requires_grad for p in model.encoder.parameters()) != model.config.frozen_encoder


def test_forward_shapes_and_frozen_encoder(tiny, synthetic_episodes):
    ep = synthetic_episodes[0]
    feats = tiny.encode_frames({v: ep.views[v] for v in tiny.config.views})
    assert feats.shape == (len(ep), 3, tiny.feature_dim) and not feats.requires_grad
    B = 5
    logits = tiny(feats[:B, 0], feats[-B:, 0], feats[:B], feats[-B:], [ep.task] * B)
    assert logits.shape == (B, tiny.config.num_bins)
    hop = tiny.expected_hop(logits)
    assert torch.all(hop.abs() <= 1)
    assert not any(p.requires_grad for p in tiny.encoder.parameters())
    tiny.train()
    assert not tiny.encoder.training  # frozen BatchNorm statistics
    tiny.eval()


def test_frozen_features_do_not_depend_on_the_module_mode(synthetic_episodes):
    # cached features are computed by a freshly built model and read back by a loaded one (eval mode)
    ep = synthetic_episodes[0]
    views = {v: ep.views[v][:6] for v in ("front", "side", "wrist")}
    torch.manual_seed(0)
    fresh = build_grm(get_config("grm-tiny"))
    a = fresh.encode_frames(views)
    torch.testing.assert_close(a, fresh.eval().encode_frames(views))
    torch.testing.assert_close(a, fresh.train().encode_frames(views))


def test_save_load_round_trip(tmp_path, tiny, synthetic_episodes):
    ep = synthetic_episodes[0]
    folder = tiny.save_pretrained(tmp_path / "grm")
    assert {"config.json", "model.safetensors", "preprocessing.json", "references.json"} <= {
        p.name for p in folder.iterdir()
    }
    loaded = GRM.from_pretrained(folder)
    assert loaded.config == tiny.config
    np.testing.assert_array_equal(loaded.references[ep.task_name], tiny.references[ep.task_name])
    np.testing.assert_allclose(ProgressEstimator(loaded)(ep), ProgressEstimator(tiny)(ep), atol=1e-6)


def test_estimator_perspectives_and_missing_goal(tiny, synthetic_episodes):
    ep = synthetic_episodes[0]
    per = ProgressEstimator(tiny).perspectives(ep)
    assert set(per) == {"incremental", "forward", "backward", "fused", "mean", "anchored", "consistency"}
    np.testing.assert_allclose(per["fused"], per[tiny.config.fusion])
    np.testing.assert_allclose(per["anchored"], (per["forward"] + per["backward"]) / 2)
    np.testing.assert_allclose(per["mean"], (per["incremental"] + per["forward"] + per["backward"]) / 3)
    mean_est = ProgressEstimator(tiny, fusion="mean")
    np.testing.assert_allclose(mean_est(ep), per["mean"], atol=1e-6)
    with pytest.raises(ValueError, match="fusion must be one of"):
        ProgressEstimator(tiny, fusion="median")
    for v in per.values():
        assert v.shape == (len(ep),) and np.all((v >= 0) & (v <= 1))
    assert per["incremental"][0] == 0.0
    unknown = next(e for e in synthetic_episodes if e.task_name != ep.task_name)
    with pytest.raises(KeyError, match="no goal reference"):
        ProgressEstimator(tiny)(unknown)
    assert len(ProgressEstimator(tiny, goal=ep)(unknown)) == len(unknown)  # a reference demo as goal


def test_online_progress_matches_episode_progress(tiny, synthetic_episodes):
    eps = [synthetic_episodes[0], synthetic_episodes[1]]
    T = min(len(e) for e in eps)
    online = OnlineProgress(tiny, num_envs=2, tasks=[e.task for e in eps])

    def obs(t):
        return {IMAGE_KEY + v: np.stack([e.views[v][t] for e in eps]) for v in tiny.config.views}

    online.reset(obs(0))
    fused = [np.zeros(2)]
    for t in range(1, T):
        online.step(obs(t))
        fused.append(online.last["fused"])
    fused = np.stack(fused)  # (T, 2); the first frame is not scored online
    for i, ep in enumerate(eps):
        per = ProgressEstimator(tiny).perspectives(ep)
        np.testing.assert_allclose(fused[1:, i], per["fused"][1:T], atol=1e-5)
    before = online.phi_incremental.copy()
    online.reset(obs(0), env_ids=[1])  # a single env restarts
    assert online.phi_incremental[1] == 0.0 and online.phi_incremental[0] == before[0]


def test_encoder_checkpoint_replaces_backbone(tmp_path, synthetic_episodes):
    from robo_reward.models.encoders import build_encoder

    encoder = build_encoder("tcn-tiny")
    encoder.save_pretrained(tmp_path / "tcn")
    model = build_grm(get_config("grm-tiny", encoder_checkpoint=str(tmp_path / "tcn")))
    assert model.config.encoder_config is not None
    for k, v in encoder.state_dict().items():
        torch.testing.assert_close(model.encoder.tcn.state_dict()[k], v)
    model.save_pretrained(tmp_path / "grm")
    loaded = GRM.from_pretrained(tmp_path / "grm")  # stands alone: no encoder path needed
    ep = synthetic_episodes[0]
    a = loaded.encode_frames({v: ep.views[v][:3] for v in loaded.config.views})
    b = model.eval().encode_frames({v: ep.views[v][:3] for v in model.config.views})
    torch.testing.assert_close(a, b)


def test_frozen_graph_matches_the_eager_encoder_and_follows_new_weights(synthetic_episodes):
    """The frozen inference graph (BatchNorm folded) gives the eager features at any batch size, and a
    weight load or a BatchNorm calibration replaces it instead of serving stale weights."""
    torch.manual_seed(0)
    model = build_grm(get_config("grm-tiny")).eval()
    ep = synthetic_episodes[0]
    views = {v: ep.views[v][:7] for v in model.config.views}
    x = torch.from_numpy(model.preprocessing.batch(views)).flatten(0, 1)
    with torch.no_grad():
        torch.testing.assert_close(
            model.encode_frames(views).flatten(0, 1), model.encoder(x), atol=1e-4, rtol=1e-4
        )
        torch.testing.assert_close(
            model.encoder.frozen_forward(x[:2]), model.encoder(x[:2]), atol=1e-4, rtol=1e-4
        )
        other = build_grm(get_config("grm-tiny"))
        for p in other.encoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
        model.load_state_dict(other.state_dict())
        torch.testing.assert_close(
            model.encode_frames(views).flatten(0, 1), model.encoder(x), atol=1e-4, rtol=1e-4
        )
        model.calibrate_batchnorm(views)
        torch.testing.assert_close(
            model.encode_frames(views).flatten(0, 1), model.encoder(x), atol=1e-4, rtol=1e-4
        )
