"""FlowPolicy: every preset builds and runs; API shapes; determinism; save/load; input errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from robo_reward.models.flow_policy import (
    PRESETS,
    FlowPolicy,
    FlowPolicyConfig,
    compute_normalization,
    make_config,
)
from robo_reward.models.flow_policy.encoders import spatial_softmax
from robo_reward.models.flow_policy.modeling_flow_policy import IMAGE_FEATURES_KEY


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_builds_and_runs(preset, make_batch, request):
    torch.manual_seed(0)
    cfg = make_config(preset)
    if cfg.backbone_weights:
        request.getfixturevalue("pretrained_weights")
    policy = FlowPolicy(cfg).eval()
    batch = make_batch(cfg, B=2, size=40)
    features = policy.encode(batch)
    assert features.shape == (2, cfg.feature_dim)
    H, A = cfg.chunk_size, cfg.action_dim
    x_t = torch.randn(2, H, A)
    assert policy.velocity(features, x_t, torch.rand(2)).shape == (2, H, A)
    chunk = policy.sample(batch, num_steps=2)
    assert chunk.shape == (2, H, A) and torch.isfinite(chunk).all()
    loss = policy.flow_matching_loss(batch, chunk)
    assert loss.shape == (2,) and torch.isfinite(loss).all()


def test_loss_is_deterministic_given_noise_and_time(tiny_policy, make_batch):
    cfg = tiny_policy.config
    batch = make_batch(cfg)
    chunk = torch.randn(2, cfg.chunk_size, cfg.action_dim)
    noise, t = torch.randn_like(chunk), torch.tensor([0.3, 0.8])
    l1 = tiny_policy.flow_matching_loss(batch, chunk, noise=noise, t=t)
    l2 = tiny_policy.flow_matching_loss(batch, chunk, noise=noise, t=t)
    assert torch.equal(l1, l2)
    l3 = tiny_policy.flow_matching_loss(batch, chunk, noise=noise, t=torch.tensor([0.31, 0.8]))
    assert l3[0] != l1[0] and l3[1] == l1[1]  # per-sample: changing one sample's t leaves the other alone


def test_loss_matches_manual_flow_matching(tiny_policy, make_batch):
    cfg = tiny_policy.config
    batch = make_batch(cfg)
    chunk = torch.randn(2, cfg.chunk_size, cfg.action_dim)
    noise, t = torch.randn_like(chunk), torch.tensor([0.2, 0.6])
    a = tiny_policy.normalize_action(chunk)
    x_t = t[:, None, None] * noise + (1 - t[:, None, None]) * a
    v = tiny_policy.velocity(tiny_policy.encode(batch), x_t, t)
    manual = ((v - (noise - a)) ** 2).mean(dim=(1, 2))
    assert torch.allclose(tiny_policy.flow_matching_loss(batch, chunk, noise=noise, t=t), manual, atol=1e-6)


@pytest.mark.parametrize("mode", ["mean_std", "min_max"])
def test_normalization_round_trip(mode):
    cfg = make_config("flow-tiny", normalization=mode)
    policy = FlowPolicy(cfg)
    rng = np.random.default_rng(0)
    states = rng.normal(3.0, 2.0, (500, cfg.state_dim))
    actions = rng.uniform(-0.5, 2.0, (500, cfg.action_dim))
    policy.set_normalization(compute_normalization(states, actions))
    a = torch.as_tensor(actions[:8], dtype=torch.float32)
    n = policy.normalize_action(a)
    assert torch.allclose(policy.unnormalize_action(n), a, atol=1e-5)
    if mode == "min_max":
        assert n.min() >= -1.0 - 1e-5 and n.max() <= 1.0 + 1e-5
    with pytest.raises(ValueError, match="shape"):
        policy.set_normalization({"action_mean": np.zeros(3)})


def test_save_load_round_trip_gives_identical_actions(tmp_path, tiny_policy, make_batch):
    cfg = tiny_policy.config
    rng = np.random.default_rng(1)
    tiny_policy.set_normalization(
        compute_normalization(rng.normal(size=(50, cfg.state_dim)), rng.normal(size=(50, cfg.action_dim)))
    )
    batch = make_batch(cfg, B=3)
    noise = torch.randn(3, cfg.chunk_size, cfg.action_dim, generator=torch.Generator().manual_seed(0))
    before = tiny_policy.sample(batch, noise=noise)
    folder = tiny_policy.save_pretrained(tmp_path / "ckpt")
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors", "preprocessing.json"}
    loaded = FlowPolicy.from_pretrained(folder)
    assert loaded.config == cfg
    assert torch.equal(loaded.sample(batch, noise=noise), before)
    assert torch.equal(loaded.action_std, tiny_policy.action_std)


def test_resize_is_part_of_the_model(tiny_policy, make_batch):
    """Images of any size are resized by the saved preprocessing; float [0,1] equals uint8/255."""
    cfg = tiny_policy.config
    batch = make_batch(cfg, B=1, size=cfg.image_size)
    as_float = dict(batch)
    for v in cfg.views:
        as_float[f"observation.images.{v}"] = batch[f"observation.images.{v}"].astype(np.float32) / 255.0
    assert torch.allclose(tiny_policy.encode(batch), tiny_policy.encode(as_float), atol=1e-5)
    assert tiny_policy.encode(make_batch(cfg, B=1, size=96)).shape == (1, cfg.feature_dim)


def test_clear_errors_on_bad_observations(tiny_policy, make_batch):
    cfg = tiny_policy.config
    batch = make_batch(cfg)
    missing = {k: v for k, v in batch.items() if k != "observation.images.wrist"}
    with pytest.raises(KeyError, match="wrist"):
        tiny_policy.encode(missing)
    with pytest.raises(ValueError, match=r"observation.state"):
        tiny_policy.encode({**batch, "observation.state": np.zeros((2, cfg.state_dim + 1), np.float32)})
    with pytest.raises(ValueError, match="instructions"):
        tiny_policy.encode({**batch, "task": ["a", "b", "c"]})
    with pytest.raises(KeyError, match="unknown"):
        make_config("flow-huge")


def test_fits_a_bimodal_2d_action_distribution(make_batch):
    """A tiny policy learns a known 2-D distribution: loss falls, sample moments match the data."""
    torch.manual_seed(0)
    cfg = make_config(
        "flow-tiny", views=("front",), state_dim=2, action_dim=2, chunk_size=1, n_action_steps=1
    )
    policy = FlowPolicy(cfg)
    obs = make_batch(cfg, B=2, size=cfg.image_size)  # ≥ 2 images: the backbone has BatchNorm
    gen = torch.Generator().manual_seed(0)

    def data(n):  # modes at (1, 1) and (-1, -1), std 0.1, equal weight
        sign = torch.randint(0, 2, (n, 1, 1), generator=gen).float() * 2 - 1
        return sign * torch.ones(n, 1, 2) + 0.1 * torch.randn(n, 1, 2, generator=gen)

    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    losses = []
    B = 256
    for _ in range(400):
        features = policy.encode(obs)[:1].expand(B, -1)
        loss = policy.flow_matching_loss(None, data(B), features=features).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-50:]) < 0.6 * np.mean(losses[:20])
    policy.eval()
    features = policy.encode(obs)[:1].expand(2000, -1)
    samples = policy.unnormalize_action(policy.sample_normalized(features, generator=gen))[:, 0]
    assert samples.mean(0).abs().max() < 0.15  # symmetric modes
    assert (samples[:, 0] * samples[:, 1] > 0).float().mean() > 0.95  # both coordinates share a sign
    near_mode = ((samples.abs() - 1).abs() < 0.35).all(dim=1).float().mean()
    assert near_mode > 0.85
    assert samples.abs().mean(0).sub(1.0).abs().max() < 0.15  # E|a_i| ≈ 1


def test_cached_backbone_features_give_the_same_encoding(make_batch):
    torch.manual_seed(0)
    cfg = make_config("flow-tiny", freeze_backbone=True)
    policy = FlowPolicy(cfg).train()
    assert not any(p.requires_grad for p in policy.views.backbone.parameters())
    assert not policy.views.backbone.training  # BatchNorm statistics stay fixed
    batch = make_batch(cfg, B=3)
    cached = {**batch, IMAGE_FEATURES_KEY: policy.image_features(batch).half()}
    policy.eval()
    assert torch.allclose(policy.encode(batch), policy.encode(cached), atol=2e-2)
    policy.train()
    loss = policy.flow_matching_loss(cached, torch.randn(3, cfg.chunk_size, cfg.action_dim)).mean()
    loss.backward()
    assert policy.views.proj.weight.grad is not None


def test_spatial_softmax_by_hand():
    """A peaked map gives its cell's coordinates on the [−1, 1] grid; a flat map gives the centre."""
    maps = torch.zeros(1, 3, 4, 5)
    maps[0, 0, 1, 3] = 100.0  # row 1 of 4 → y = −1/3; column 3 of 5 → x = 0.5
    maps[0, 2, :, 0] = 100.0  # column 0, all rows equally → x = −1, y = 0
    kp = spatial_softmax(maps, torch.tensor(1.0))
    assert kp.shape == (1, 3, 2)
    assert torch.allclose(kp[0, 0], torch.tensor([0.5, -1 / 3]), atol=1e-5)
    assert torch.allclose(kp[0, 1], torch.zeros(2), atol=1e-6)
    assert torch.allclose(kp[0, 2], torch.tensor([-1.0, 0.0]), atol=1e-5)
    # two equal peaks at temperature 1: the mean of their positions
    two = torch.zeros(1, 1, 3, 3)
    two[0, 0, 0, 0] = two[0, 0, 2, 2] = 50.0
    assert torch.allclose(spatial_softmax(two, torch.tensor(1.0))[0, 0], torch.zeros(2), atol=1e-5)


def test_keypoint_encoder_trains_end_to_end_and_round_trips(tmp_path, make_batch):
    torch.manual_seed(0)
    cfg = make_config(
        "flow-tiny", encoder="keypoints", conv_channels=(4, 8), num_keypoints=6, keypoint_tokens=3
    )
    policy = FlowPolicy(cfg).train()
    batch = make_batch(cfg, B=2, size=cfg.image_size)
    kp = policy.image_features(batch)
    assert kp.shape == (2, len(cfg.views), 6, 2) and kp.abs().max() <= 1.0
    assert policy.encode(batch).shape == (2, cfg.feature_dim)
    policy.flow_matching_loss(batch, torch.randn(2, cfg.chunk_size, cfg.action_dim)).mean().backward()
    assert policy.views.backbone[0].weight.grad.abs().sum() > 0  # gradients reach the first conv
    policy.eval()
    noise = torch.randn(2, cfg.chunk_size, cfg.action_dim)
    loaded = FlowPolicy.from_pretrained(policy.save_pretrained(tmp_path / "kp"))
    assert loaded.config == cfg and loaded.config.conv_channels == (4, 8)
    assert torch.equal(loaded.sample(batch, noise=noise), policy.sample(batch, noise=noise))


def test_config_defaults_keep_old_checkpoints_and_check_the_encoder():
    old = make_config("flow-small").to_dict()
    for key in ("encoder", "conv_channels", "num_keypoints", "keypoint_tokens"):
        old.pop(key)
    assert FlowPolicyConfig.from_dict(old).encoder == "cells"  # a config.json from before the option
    with pytest.raises(ValueError, match="encoder"):
        make_config("flow-tiny", encoder="vit")
    with pytest.raises(ValueError, match="keypoint_tokens"):
        make_config("flow-tiny", encoder="keypoints", num_keypoints=10, keypoint_tokens=4)
    with pytest.raises(ValueError, match="freeze_backbone"):
        make_config("flow-tiny", encoder="keypoints", freeze_backbone=True)


def test_noise_scale_scales_only_the_drawn_starting_noise(tiny_policy, make_batch):
    cfg = tiny_policy.config
    batch = make_batch(cfg)
    zeros = torch.zeros(2, cfg.chunk_size, cfg.action_dim)
    assert torch.equal(tiny_policy.sample(batch, noise_scale=0.0), tiny_policy.sample(batch, noise=zeros))
    # scale 1 (the default) draws exactly what `sample_normalized` would: old checkpoints act as before
    a = tiny_policy.sample(batch, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():  # as in `sample` (the transformer's inference path)
        features = tiny_policy.encode(batch)
    b = tiny_policy.sample_normalized(features, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, tiny_policy.unnormalize_action(b))
    half = torch.randn(2, cfg.chunk_size, cfg.action_dim, generator=torch.Generator().manual_seed(4))
    scaled = FlowPolicy(dataclasses.replace(cfg, noise_scale=0.5))
    scaled.load_state_dict(tiny_policy.state_dict())
    scaled.eval()
    got = scaled.sample(batch, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(got, tiny_policy.sample(batch, noise=0.5 * half), atol=1e-6)
    with pytest.raises(ValueError, match="noise_scale"):
        make_config("flow-tiny", noise_scale=1.5)
