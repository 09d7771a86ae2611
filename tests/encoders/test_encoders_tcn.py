"""Image encoder: save/load round trip, local backbone weights, TCN loss maths, a tiny learning run."""

import numpy as np
import pytest
import timm
import torch
from safetensors.torch import save_file

from robo_reward.data.episode import Episode
from robo_reward.models.encoders import ImageEncoder, build_encoder, get_config
from robo_reward.train.encoder.trainer import stratified_times, tcn_loss, train_tcn
from robo_reward.utils.logging import read_metrics


def two_view_episode(seed: int, T: int = 24, size: int = 32) -> Episode:
    """A square moving across two differently coloured cameras; its position encodes time."""
    rng = np.random.default_rng(seed)
    views = {}
    for v, name in enumerate(("front", "side")):
        frames = np.full((T, size, size, 3), 50 + 60 * v, np.uint8)
        for t in range(T):
            x, y = int(1 + (size - 9) * t / (T - 1)), 3 + 12 * v + int(rng.integers(0, 3))
            frames[t, y : y + 8, x : x + 8] = (220, 60 + 100 * v, 40)
        views[name] = frames
    zeros = np.zeros((T, 2), np.float32)
    return Episode(views=views, state=zeros, action=zeros, task="move")


def test_presets_and_config_validation():
    assert get_config("small") == get_config("tcn-small")
    assert get_config("tcn-tiny", embed_dim=8).embed_dim == 8
    with pytest.raises(ValueError, match="unknown encoder config"):
        get_config("nope")
    with pytest.raises(ValueError):
        get_config("tcn-tiny", loss="mse")


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    enc = build_encoder("tcn-tiny", pool_grid=2)
    images = np.random.default_rng(0).integers(0, 255, size=(5, 40, 48, 3), dtype=np.uint8)
    emb, feats = enc.embed(images), enc.layer_features(images)
    assert emb.shape == (5, enc.embed_dim) and feats.shape == (5, enc.feature_dim)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    enc.save_pretrained(tmp_path / "enc")
    assert (tmp_path / "enc" / "preprocessing.json").exists()
    loaded = ImageEncoder.from_pretrained(tmp_path / "enc")
    assert loaded.config == enc.config
    np.testing.assert_allclose(loaded.embed(images), emb, atol=1e-6)
    np.testing.assert_allclose(loaded.layer_features(images), feats, atol=1e-6)
    assert enc.embed(images[:0]).shape == (0, enc.embed_dim)


def test_random_weights_follow_the_seed():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    a, b, c = build_encoder("tcn-tiny"), build_encoder("tcn-tiny"), build_encoder("tcn-tiny", seed=1)
    assert torch.equal(torch.rand(1), expected)  # the caller's RNG stream is left alone
    w = "head.0.weight"
    assert torch.equal(a.state_dict()[w], b.state_dict()[w])
    assert not torch.equal(a.state_dict()[w], c.state_dict()[w])


def test_local_backbone_weights(tmp_path):
    torch.manual_seed(1)
    donor = timm.create_model("test_resnet", pretrained=False, num_classes=10)
    save_file(donor.state_dict(), str(tmp_path / "w.safetensors"))
    enc = build_encoder("tcn-tiny", weights_path=str(tmp_path / "w.safetensors"))
    assert torch.equal(enc.backbone.state_dict()["conv1.0.weight"], donor.state_dict()["conv1.0.weight"])
    save_file({"unrelated": torch.zeros(3)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ValueError, match="matches only"):
        build_encoder("tcn-tiny", weights_path=str(tmp_path / "bad.safetensors"))


def test_tcn_loss_hand_values():
    z = torch.nn.functional.normalize(torch.eye(3).unsqueeze(0), dim=-1)  # (1, 3, 3) orthonormal moments
    loss, acc = tcn_loss(z, z, "infonce", temperature=1.0)
    expected = -np.log(np.e / (np.e + 2))  # logits 1 on the diagonal, 0 elsewhere
    assert loss.item() == pytest.approx(expected, rel=1e-6) and acc.item() == 1.0
    # triplet: d(a, p) = 0, d(a, n) = 2 → hinge max(0, 0 − 2 + 0.5) = 0; swapped positives → 2 + 0.5
    assert tcn_loss(z, z, "triplet", margin=0.5)[0].item() == 0.0
    swapped = z[:, [1, 0, 2]]
    loss, acc = tcn_loss(z, swapped, "triplet", margin=0.5)
    assert acc.item() == pytest.approx(1 / 3)
    assert loss.item() == pytest.approx((2.5 * 2 + 0.5 * 2 + 0 * 2) / 6)  # per anchor, both negatives


def test_stratified_times_one_per_bin():
    rng = np.random.default_rng(0)
    for _ in range(20):
        t = stratified_times(50, 8, rng)
        assert len(set(t)) == 8 and t.min() >= 0 and t.max() < 50
        np.testing.assert_array_equal(np.floor(t / (50 / 8)).astype(int), np.arange(8))


def test_tiny_tcn_learns_and_resumes(tmp_path, check_curves):
    torch.manual_seed(0)
    episodes = [two_view_episode(s) for s in range(6)]
    # no augmentation: 60 steps of a 0.4 M-parameter net learn the clean task reliably
    config = get_config("tcn-tiny", steps=60, log_every=5, checkpoint_every=20, augment=False)
    train_tcn(episodes, config, tmp_path / "run")
    losses = [m["losses/tcn"] for m in read_metrics(tmp_path / "run" / "metrics.jsonl")]
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])
    enc = train_tcn(episodes, config, tmp_path / "run", steps=70, resume=True)
    steps = [m["step"] for m in read_metrics(tmp_path / "run" / "metrics.jsonl")]
    assert steps[-1] == 70 and steps.count(65) == 1  # continued from 60, not restarted
    check_curves(tmp_path / "run")
    assert ImageEncoder.from_pretrained(tmp_path / "run").config == enc.config


def test_shipped_encoder_loads_by_name():
    from robo_reward.models.encoders.modeling_encoders import encoder_from_spec

    enc = encoder_from_spec("tcn-small-sim")  # models/tcn-small-sim, found by name
    frames = np.zeros((2, 96, 96, 3), np.uint8)
    assert enc.embed(frames).shape == (2, 32) and enc.layer_features(frames).shape == (2, 480)
