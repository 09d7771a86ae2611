"""Preprocessing steps, the pipeline, and its JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robo_reward.cameras.preprocess import (
    FILENAME,
    CenterCrop,
    Crop,
    Normalize,
    Pipeline,
    Resize,
    ToFloat,
    ViewOrder,
)


def views(h=48, w=64, t=None, seed=0):
    rng = np.random.default_rng(seed)
    shape = (h, w, 3) if t is None else (t, h, w, 3)
    return {v: rng.integers(0, 256, shape, dtype=np.uint8) for v in ("wrist", "front", "side")}


def full_pipeline():
    return Pipeline(
        [
            ViewOrder(("front", "side", "wrist")),
            Crop(2, 4, 44, 56, views=("wrist",)),
            Resize(40, 40),
            CenterCrop(32, 32),
            ToFloat(),
            Normalize(),
        ]
    )


def test_single_and_batch_agree():
    p = full_pipeline()
    x = p(views())
    assert x.shape == (3, 3, 32, 32) and x.dtype == np.float32
    batch = views(t=4)
    xb = p.batch(batch)
    assert xb.shape == (4, 3, 3, 32, 32) and xb.dtype == np.float32
    for t in range(4):
        np.testing.assert_array_equal(xb[t], p({v: im[t] for v, im in batch.items()}))


def test_values_and_view_order():
    img = {"a": np.full((4, 4, 3), 255, np.uint8), "b": np.zeros((4, 4, 3), np.uint8)}
    x = Pipeline([ViewOrder(("b", "a")), ToFloat()])(img)
    assert x[0].max() == 0.0 and x[1].min() == 1.0
    y = Pipeline([ToFloat(), Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])(img)
    np.testing.assert_allclose(y[0], 1.0)
    np.testing.assert_allclose(y[1], -1.0)
    crop = Pipeline([Crop(1, 2, 2, 1)])({"a": np.arange(48, dtype=np.uint8).reshape(4, 4, 3)})
    np.testing.assert_allclose(crop[0, 0, :, 0] * 255, [18, 30], atol=1e-4)  # pixels (1,2), (2,2)
    assert crop.shape == (1, 3, 2, 1)


def test_round_trip_json(tmp_path):
    p = full_pipeline()
    path = p.save(tmp_path)
    assert path.name == FILENAME
    json.loads(path.read_text())  # plain JSON
    q = Pipeline.load(tmp_path)
    assert q == p and q.to_dict() == p.to_dict()
    np.testing.assert_array_equal(q(views()), p(views()))
    assert Pipeline.from_dict(json.loads(json.dumps(Pipeline.default((16, 16), ["front"]).to_dict())))(
        views()
    ).shape == (1, 3, 16, 16)


def test_clear_errors():
    mixed = {"a": np.zeros((10, 10, 3), np.uint8), "b": np.zeros((12, 10, 3), np.uint8)}
    with pytest.raises(ValueError, match="different sizes.*a 10x10, b 12x10.*Resize"):
        Pipeline([])(mixed)
    assert Pipeline([Resize(8, 8)])(mixed).shape == (2, 3, 8, 8)
    with pytest.raises(KeyError, match="missing"):
        Pipeline([ViewOrder(("a", "c"))])(mixed)
    with pytest.raises(ValueError, match="before ToFloat"):
        Pipeline([ToFloat(), Resize(8, 8)])
    with pytest.raises(ValueError, match="after ToFloat"):
        Pipeline([Normalize(), ToFloat()])
    with pytest.raises(ValueError, match="larger than"):
        Pipeline([CenterCrop(20, 20)])(mixed)
    with pytest.raises(ValueError, match="uint8"):
        Pipeline([])({"a": np.zeros((4, 4, 3), np.float32)})
    with pytest.raises(ValueError, match="unknown preprocessing step"):
        Pipeline.from_dict({"steps": [{"type": "blur"}]})
    with pytest.raises(ValueError, match="one T"):
        Pipeline([]).batch({"a": np.zeros((2, 4, 4, 3), np.uint8), "b": np.zeros((3, 4, 4, 3), np.uint8)})


def test_saved_beside_a_checkpoint(tmp_path):
    torch = pytest.importorskip("torch")
    from robo_reward.utils.checkpoint import load_extra, save_folder

    p = full_pipeline()
    folder = save_folder(
        tmp_path / "ckpt", {"d": 1}, {"w": torch.zeros(1)}, extras={"preprocessing": p.to_dict()}
    )
    assert (folder / FILENAME).exists() and Pipeline.load(folder) == p
    assert Pipeline.from_dict(load_extra(folder, "preprocessing")) == p
