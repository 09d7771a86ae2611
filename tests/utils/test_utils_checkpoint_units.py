"""The resume machinery piece by piece: swap recovery, manifests, run folders, log cutting, RNG state."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from robo_reward.utils.checkpoint import (
    MANIFEST_NAME,
    readable_checkpoint,
    recover_interrupted_swap,
    verify_checkpoint,
    write_checkpoint,
    write_training_checkpoint,
)
from robo_reward.utils.errors import ResumeError, UserError
from robo_reward.utils.io import read_json
from robo_reward.utils.run_folder import TrainingRun, config_hash, cut_jsonl
from robo_reward.utils.training_state import load_rng_state, save_rng_state


def _folder(path, text: str):
    path.mkdir(parents=True)
    (path / "weights.txt").write_text(text)
    return path


@pytest.mark.parametrize(
    ("present", "action", "survivor"),
    [
        ({"ckpt": "old", ".ckpt.writing": "new"}, "cleaned", "old"),  # killed before the swap
        ({".ckpt.old": "old", ".ckpt.writing": "new"}, "completed", "new"),  # killed inside it
        ({"ckpt": "new", ".ckpt.old": "old"}, "cleaned", "new"),  # killed after it
        ({".ckpt.old": "old"}, "restored", "old"),
        ({".ckpt.writing": "half"}, "discarded", None),  # killed writing the first checkpoint
        ({"ckpt": "old"}, None, "old"),
    ],
)
def test_an_interrupted_swap_recovers_one_complete_checkpoint(tmp_path, present, action, survivor):
    for name, text in present.items():
        _folder(tmp_path / name, text)
    reader = readable_checkpoint(tmp_path / "ckpt")  # what a reader that must not repair would load
    seen_by_reader = None if reader is None else (reader / "weights.txt").read_text()
    assert recover_interrupted_swap(tmp_path / "ckpt") == action
    left = sorted(p.name for p in tmp_path.iterdir())
    if survivor is None:
        assert left == [] and seen_by_reader is None
    else:
        assert left == ["ckpt"] and (tmp_path / "ckpt" / "weights.txt").read_text() == survivor
        assert seen_by_reader == survivor


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path):
    write_checkpoint(tmp_path / "ckpt", lambda tmp: (tmp / "weights.txt").write_text("old"))

    def crash(tmp):
        (tmp / "weights.txt").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_checkpoint(tmp_path / "ckpt", crash)
    write_checkpoint(tmp_path / "ckpt", lambda tmp: (tmp / "other.txt").write_text("x"))  # recovers first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["other.txt"]


def _unit(tmp_path, run_id="run-a", digest="cfg-1", step=4):
    def write(tmp):
        (tmp / "model.bin").write_bytes(bytes(range(64)))
        (tmp / "sub").mkdir()
        (tmp / "sub" / "state.json").write_text(json.dumps({"step": step}))

    return write_training_checkpoint(
        tmp_path / "ckpt", write, run_id=run_id, config_hash=digest, counters={"step": step}
    )


def test_manifest_lists_every_file_and_verifies(tmp_path):
    folder = _unit(tmp_path)
    manifest = read_json(folder / MANIFEST_NAME)
    assert set(manifest["files"]) == {"model.bin", "sub/state.json"}
    assert manifest["files"]["model.bin"]["bytes"] == 64
    got = verify_checkpoint(folder, run_id="run-a", config_hash="cfg-1")
    assert got.counters == {"step": 4} and got.run_id == "run-a"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / MANIFEST_NAME).unlink(), "has no manifest.json"),
        (lambda f: (f / MANIFEST_NAME).write_text("{"), "manifest .* is damaged"),
        (lambda f: (f / "sub" / "state.json").unlink(), "missing sub/state.json"),
        (
            lambda f: (f / "model.bin").write_bytes(bytes(64)),
            "model.bin differs from its manifest",
        ),  # same size
        (lambda f: (f / "model.bin").write_bytes(bytes(65)), "model.bin differs from its manifest"),
    ],
)
def test_a_damaged_checkpoint_is_refused_naming_the_file(tmp_path, damage, message):
    folder = _unit(tmp_path)
    damage(folder)
    with pytest.raises(ResumeError, match=message):
        verify_checkpoint(folder)


def test_another_runs_or_configs_checkpoint_is_refused(tmp_path):
    folder = _unit(tmp_path)
    with pytest.raises(ResumeError, match="belongs to run run-a, not to this folder's run run-b"):
        verify_checkpoint(folder, run_id="run-b", config_hash="cfg-1")
    with pytest.raises(ResumeError, match="another configuration"):
        verify_checkpoint(folder, run_id="run-a", config_hash="cfg-2")


def test_config_hash_ignores_key_order_and_resolves_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from pathlib import Path

    a = config_hash({"lr": 0.1, "data": [Path("ds")], "tags": {"b", "a"}})
    b = config_hash({"tags": {"a", "b"}, "data": [tmp_path / "ds"], "lr": 0.1})
    assert a == b and len(a) == 16
    assert config_hash({"lr": 0.1, "data": [Path("ds")], "tags": {"a"}}) != a


def test_run_folder_guard(tmp_path):
    out = tmp_path / "run"
    run = TrainingRun.open(out, "bc", {"lr": 1}, resume=False)
    first_id = run.run_id
    assert read_json(out / "run.json")["config_hash"] == config_hash({"lr": 1})
    # a lone run.json (the run failed before its first step) is not in the way
    assert TrainingRun.open(out, "bc", {"lr": 1}, resume=False).run_id != first_id
    (out / "metrics.jsonl").write_text('{"step": 1}\n')
    with pytest.raises(UserError, match="is not empty: pass --resume .* --overwrite"):
        TrainingRun.open(out, "bc", {"lr": 1}, resume=False)
    with pytest.raises(ResumeError, match=r"started with other options \(changed: lr\)"):
        TrainingRun.open(out, "bc", {"lr": 2}, resume=True)
    with pytest.raises(ResumeError, match="is a bc run, not a grm run"):
        TrainingRun.open(out, "grm", {"lr": 1}, resume=True)
    with pytest.raises(UserError, match="contradict"):
        TrainingRun.open(out, "bc", {"lr": 1}, resume=True, overwrite=True)
    fresh = TrainingRun.open(out, "bc", {"lr": 2}, resume=False, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["run.json"] and fresh.run_id != first_id
    with pytest.raises(UserError, match="holds no run to resume"):
        TrainingRun.open(tmp_path / "nothing", "bc", {}, resume=True)


def test_overwrite_never_deletes_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="does not look like a run folder"):
        TrainingRun.open(tmp_path, "bc", {}, resume=False, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_cut_jsonl_by_counter_by_lines_and_torn_tail(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text(
        "".join(json.dumps({"step": s, "loss": s / 10}) + "\n" for s in (1, 2, 3, 4)) + '{"step": 5, "lo'
    )
    assert cut_jsonl(log, key="step", upto=2) == 3  # steps 3, 4 and the torn line
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [1, 2]
    assert cut_jsonl(log, max_lines=1) == 1 and log.read_text() == '{"step": 1, "loss": 0.1}\n'
    assert cut_jsonl(log, key="step", upto=9) == 0 and cut_jsonl(tmp_path / "absent.jsonl", upto=0) == 0
    log.write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(ResumeError, match="line 2 is not JSON"):
        cut_jsonl(log, key="step", upto=1)


def test_rng_state_round_trip_replays_the_same_draws(tmp_path):
    rng, gen = np.random.default_rng(3), torch.Generator().manual_seed(4)
    torch.manual_seed(5)
    rng.random(7), torch.rand(3, generator=gen), torch.rand(2)  # advance all three
    save_rng_state(tmp_path, {"batches": rng}, {"augment": gen})
    expected = rng.random(4), torch.rand(3, generator=gen), torch.rand(2)
    rng2, gen2 = np.random.default_rng(0), torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    load_rng_state(tmp_path, {"batches": rng2}, {"augment": gen2})
    got = rng2.random(4), torch.rand(3, generator=gen2), torch.rand(2)
    np.testing.assert_array_equal(got[0], expected[0])
    assert torch.equal(got[1], expected[1]) and torch.equal(got[2], expected[2])
