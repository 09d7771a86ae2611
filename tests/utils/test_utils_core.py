import math

import numpy as np
import pytest
import torch

from robo_reward.models.text import InstructionEncoder, tokenize
from robo_reward.utils.checkpoint import load_folder, save_folder
from robo_reward.utils.io import read_json, write_json
from robo_reward.utils.logging import MetricsLogger, read_metrics


def test_checkpoint_round_trip_and_replace(tmp_path):
    folder = tmp_path / "ckpt"
    w = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(4, dtype=torch.int64)}
    save_folder(folder, {"dim": 3}, w, extras={"stats": {"mean": [1.0]}})
    cfg, back = load_folder(folder)
    assert cfg == {"dim": 3}
    assert torch.equal(back["a"], w["a"]) and torch.equal(back["b"], w["b"])
    assert read_json(folder / "stats.json") == {"mean": [1.0]}
    save_folder(folder, {"dim": 4}, {"a": torch.zeros(1)})
    cfg, back = load_folder(folder)
    assert cfg == {"dim": 4} and set(back) == {"a"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temporary leftovers


def test_checkpoint_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_folder(tmp_path / "missing")
    (tmp_path / "half").mkdir()
    write_json(tmp_path / "half" / "config.json", {})
    with pytest.raises(FileNotFoundError, match="no model.safetensors"):
        load_folder(tmp_path / "half")


def test_metrics_logger_rejects_nan(tmp_path):
    with MetricsLogger(tmp_path) as log:
        log.log(1, loss=0.5)
        with pytest.raises(FloatingPointError, match="loss"):
            log.log(2, loss=math.nan)
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1] and rows[0]["loss"] == 0.5


def test_json_handles_numpy(tmp_path):
    write_json(tmp_path / "x.json", {"a": np.float32(1.5), "b": np.arange(3)})
    assert read_json(tmp_path / "x.json") == {"a": 1.5, "b": [0, 1, 2]}


def test_instruction_tokens_are_deterministic_and_shared_by_paraphrases():
    a = tokenize("Pick up the red cube", 4096)
    assert a == tokenize("pick up the RED cube!", 4096)
    b = set(tokenize("pick the red cube up", 4096))
    assert len(set(a) & b) >= 4  # words shared; bigrams differ
    enc = InstructionEncoder(dim=16, vocab_size=128)
    out = enc(["pick up the cube", "open the drawer please"])
    assert out.shape == (2, 16) and torch.isfinite(out).all()
