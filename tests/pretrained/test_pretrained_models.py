"""The pretrained encoders as config options of the flow policy and the GRM: what they load, what their
checkpoints hold, and that configs saved before these options existed still load unchanged."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from robo_reward.models.flow_policy import FlowPolicy, FlowPolicyConfig, make_config
from robo_reward.models.grm import GRM, GRMConfig, build_grm, get_config
from robo_reward.models.pretrained import LITE_MEAN, LITE_STD, PretrainedFeatures, converted_weights
from robo_reward.models.text import InstructionEncoder, SentenceInstructionEncoder

LITE0 = {
    "backbone": "tf_efficientnet_lite0",
    "backbone_weights": "efficientnet_lite0",
    "image_mean": LITE_MEAN,
    "image_std": LITE_STD,
}


def _batch(cfg, B: int = 2, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    batch = {
        f"observation.images.{v}": rng.integers(0, 256, (B, 40, 40, 3), dtype=np.uint8) for v in cfg.views
    }
    batch["observation.state"] = rng.standard_normal((B, cfg.state_dim)).astype(np.float32)
    batch["task"] = ["open the drawer", "put the red cube on the green pad"][:B]
    return batch


def test_policy_minilm_text_saves_only_its_projection(tmp_path):
    torch.manual_seed(0)
    policy = FlowPolicy(make_config("flow-tiny", text_encoder="minilm")).eval()
    assert isinstance(policy.text, SentenceInstructionEncoder)
    text_keys = sorted(k for k in policy.state_dict() if k.startswith("text."))
    assert text_keys == ["text.norm.bias", "text.norm.weight", "text.proj.bias", "text.proj.weight"]
    assert policy.text.proj.in_features == 384
    tokens = policy.text(["open the drawer", "open the drawer", "reach the yellow ball"])
    assert torch.equal(tokens[0], tokens[1]) and not torch.allclose(tokens[0], tokens[2])
    assert copy.deepcopy(policy).text.sentences is policy.text.sentences  # an EMA copy shares MiniLM
    batch, noise = _batch(policy.config), torch.randn(2, policy.config.chunk_size, policy.config.action_dim)
    before = policy.sample(batch, noise=noise, num_steps=2)
    policy.save_pretrained(tmp_path / "p")
    assert sum(v.numel() for v in load_file(str(tmp_path / "p" / "model.safetensors")).values()) < 2_000_000
    torch.testing.assert_close(
        FlowPolicy.from_pretrained(tmp_path / "p").sample(batch, noise=noise, num_steps=2), before
    )


def test_policy_pretrained_backbone_loads_once_and_travels_in_the_checkpoint(
    pretrained_weights, tmp_path, monkeypatch
):
    torch.manual_seed(0)
    policy = FlowPolicy(make_config("flow-tiny", backbone_stage=3, freeze_backbone=True, **LITE0)).eval()
    stored = load_file(str(converted_weights("efficientnet_lite0")))
    own = policy.views.backbone.state_dict()
    assert all(torch.equal(own[k], stored[k]) for k in own)
    assert policy.preprocessing()["steps"][1]["mean"] == list(LITE_MEAN)
    batch, noise = _batch(policy.config), torch.randn(2, policy.config.chunk_size, policy.config.action_dim)
    before = policy.sample(batch, noise=noise, num_steps=2)
    policy.save_pretrained(tmp_path / "p")
    monkeypatch.setenv("ROBO_REWARD_PRETRAINED", str(tmp_path / "nothing-converted-here"))
    loaded = FlowPolicy.from_pretrained(tmp_path / "p")
    assert loaded.config.backbone_weights is None and loaded.config.image_mean == LITE_MEAN
    torch.testing.assert_close(loaded.sample(batch, noise=noise, num_steps=2), before)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"backbone": "resnet10t"}, "are for 'tf_efficientnet_lite0', not 'resnet10t'"),
        ({"image_mean": (0.485, 0.456, 0.406), "image_std": (0.229, 0.224, 0.225)}, "expect image_mean"),
        ({"backbone_weights": "efficientnet_lite9"}, "neither a file nor one of"),
    ],
)
def test_a_pretrained_backbone_with_the_wrong_config_fails_clearly(pretrained_weights, overrides, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        FlowPolicy(make_config("flow-tiny", **{**LITE0, **overrides}))
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        build_grm(get_config("grm-tiny", **{**LITE0, **overrides}))


def test_grm_pretrained_features_are_the_extractors_maps_pooled(pretrained_weights, tmp_path):
    torch.manual_seed(0)
    cfg = get_config("grm-tiny", feature_stages=(2, 3), text_encoder="minilm", **LITE0)
    model = build_grm(cfg).eval()
    S = cfg.image_size
    frames = np.random.default_rng(1).integers(0, 256, (4, S, S, 3), dtype=np.uint8)  # no resize needed
    # the eager encoder: the frozen inference graph folds BatchNorm (equal to ~1e-4, tests/grm)
    feats = model.encode_frames({v: frames for v in cfg.views}, graph=False)  # (T, V, F)
    maps = PretrainedFeatures(stages=(2, 3), image_size=S)(frames)
    expected = torch.cat([F.adaptive_avg_pool2d(m, cfg.feature_grid).flatten(1) for m in maps], dim=1)
    torch.testing.assert_close(feats[:, 0], expected, atol=1e-5, rtol=1e-5)
    assert isinstance(model.text, SentenceInstructionEncoder)
    hop = model(feats[:, 0], feats[:, 0], feats, feats, ["open the drawer"] * 4)
    model.save_pretrained(tmp_path / "g")
    loaded = GRM.from_pretrained(tmp_path / "g")
    assert loaded.config.backbone_weights is None and loaded.config.text_encoder == "minilm"
    torch.testing.assert_close(loaded(feats[:, 0], feats[:, 0], feats, feats, ["open the drawer"] * 4), hop)


def test_configs_saved_before_the_options_existed_still_load():
    old_policy = {
        k: v
        for k, v in make_config("flow-small").to_dict().items()
        if k not in ("backbone_weights", "text_encoder")
    }
    cfg = FlowPolicyConfig.from_dict(old_policy)
    assert cfg.text_encoder == "hashed" and cfg.backbone_weights is None
    assert isinstance(FlowPolicy(dataclasses.replace(cfg, preset="x")).text, InstructionEncoder)
    old_grm = {k: v for k, v in get_config("grm-small").to_dict().items() if k != "text_encoder"}
    assert GRMConfig.from_dict(old_grm).text_encoder == "hashed"
    with pytest.raises(ValueError, match="text_encoder must be"):
        make_config("flow-tiny", text_encoder="bert")
    with pytest.raises(ValueError, match="text_encoder must be"):
        get_config("grm-tiny", text_encoder="bert")
