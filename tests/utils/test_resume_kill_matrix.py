"""Kill matrix: every trainer, SIGKILLed at every kill point, then `--resume`d — never silently wrong.

Each trainer CLI (`policy train`, `grm train`, `encoder train`, tiny presets, 6 steps, a checkpoint
every 2) runs once uninterrupted as the reference. Then, per kill point, a fresh run is killed there
(`ROBO_REWARD_KILL_AT`) and resumed with the same command plus `--resume`. An outcome is
- "exact": the resume exits 0 and its final weights and metrics.jsonl (timings aside) equal the
  reference's bit for bit — a single-process resume restores the random generators, so this is the
  bar, not a similarity;
- "refused": the resume exits 2 with a one-line error;
- "silent-wrong": the resume exits 0 with different weights or logs (must never happen);
- "crashed": any other exit (a traceback).
Refusals are then provoked on purpose: changed options, a damaged checkpoint file, another run's
checkpoint, a new run into a used folder, `--resume` of an empty folder — each must exit 2 in one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from robo_reward.utils.logging import read_metrics

STEPS = ["--steps", "6"]
TRAINERS = {
    "bc": (
        ["policy", "train", "--config", "flow-tiny", *STEPS, "--batch-size", "8", "--log-every", "1",
         "--ckpt-every", "2", "--threads", "1"],
        "model/model.safetensors",
        ["--lr", "0.001"],
    ),
    "grm": (
        ["grm", "train", "--config", "grm-tiny", *STEPS, "--batch-size", "8", "--checkpoint-every", "2",
         "--log-every", "1", "--val-fraction", "0.25", "--threads", "1"],
        "checkpoint/model.safetensors",
        ["--lr", "0.001"],
    ),
    "encoder": (
        ["encoder", "train", "--config", "tcn-tiny", *STEPS, "--checkpoint-every", "2", "--log-every", "1"],
        "checkpoint/model.safetensors",
        ["--seed", "5"],
    ),
}  # fmt: skip
CHECKPOINT_FILE = {"bc": "checkpoints/step_000006/model.safetensors"}
# n-th pass (`@n`): checkpoints are written at steps 2, 4 and 6; the first has no predecessor to swap
KILL_POINTS = {
    "bc": ["run.started", "step@1", "step@3", "checkpoint.files@2", "checkpoint.written@2",
           "checkpoint.swapped@2", "checkpoint.pruning"],
    "grm": ["run.started", "step@1", "step@3", "checkpoint.files@2", "checkpoint.written@2",
               "checkpoint.swap", "checkpoint.swapped@2"],
    "encoder": ["run.started", "step@1", "step@3", "checkpoint.files@2", "checkpoint.written@2",
                "checkpoint.swap", "checkpoint.swapped@2"],
}  # fmt: skip
TIMING_KEYS = {"time", "samples_per_s"}


def _plan(root: Path, data: Path) -> tuple[list[dict], list[tuple[str, str, str]]]:
    """The runs, in order, and the cases to judge: (trainer, label, out folder)."""
    runs, cases = [], []

    def add(name: str, argv: list[str], kill: str | None = None, **prepare) -> None:
        runs.append({"name": name, "argv": argv, "kill": kill, "log": str(root / f"{name}.log"), **prepare})

    for trainer, (argv, _, changed) in TRAINERS.items():
        base = [*argv, "--data", str(data)]
        ref = root / trainer / "ref"
        add(f"{trainer}-ref", [*base, "--out", str(ref)])
        for point in KILL_POINTS[trainer]:
            out = root / trainer / point.replace("@", "-")
            add(f"{trainer}-{point}-kill", [*base, "--out", str(out)], kill=point)
            add(f"{trainer}-{point}-resume", [*base, "--out", str(out), "--resume"])
            cases.append((trainer, point, str(out)))
        # refusals, on copies of the finished reference run
        bad = root / trainer / "bad"
        add(
            f"{trainer}-changed-options",
            [*base, *changed, "--out", str(bad), "--resume"],
            copy=[str(ref), str(bad)],
        )
        weights = CHECKPOINT_FILE.get(trainer, TRAINERS[trainer][1])
        longer = [a if a != "6" else "8" for a in base]
        add(f"{trainer}-damaged", [*longer, "--out", str(bad), "--resume"], copy=[str(ref), str(bad)],
            flip=str(bad / weights))  # fmt: skip
        other = root / trainer / "other"
        add(f"{trainer}-other-run-setup", [*base, "--out", str(other)])
        add(f"{trainer}-other-run", [*longer, "--out", str(other), "--resume"],
            copy=[str(ref / Path(weights).parent), str(other / Path(weights).parent)])  # fmt: skip
        add(f"{trainer}-used-out", [*base, "--out", str(ref)])
        add(f"{trainer}-empty-resume", [*base, "--out", str(root / trainer / "empty"), "--resume"])
    return runs, cases


def _final_state(out: Path, trainer: str) -> tuple[dict[str, torch.Tensor], list[dict]]:
    weights = load_file(str(out / TRAINERS[trainer][1]))
    metrics = [
        {k: v for k, v in m.items() if k not in TIMING_KEYS} for m in read_metrics(out / "metrics.jsonl")
    ]
    return weights, metrics


def _one_error_line(log: Path) -> bool:
    text = log.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and " error: " in lines[-1] and "Traceback" not in text


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).parents[1] / "grm"))
    from grm_synthetic import synthetic_episode

    from robo_reward.data.lerobot_io import write_dataset

    root = tmp_path_factory.mktemp("kill_matrix")
    episodes = [synthetic_episode(task, "success", seed=s) for task in ("slide", "lift") for s in range(3)]
    data = write_dataset(episodes, root / "data")
    runs, cases = _plan(root, data)
    plan = root / "plan.json"
    plan.write_text(json.dumps({"datasets": [str(data)], "runs": runs}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    runner = Path(__file__).with_name("kill_matrix.py")
    done = subprocess.run(
        [sys.executable, str(runner), str(plan), str(root / "results.json")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    codes = {r["name"]: r["code"] for r in json.loads((root / "results.json").read_text())}
    return root, codes, cases


def test_every_kill_point_resumes_exactly_or_refuses(matrix):
    root, codes, cases = matrix
    outcomes: dict[str, list[str]] = {"exact": [], "refused": [], "silent-wrong": [], "crashed": []}
    for trainer, point, out in cases:
        label = f"{trainer} {point}"
        assert codes[f"{trainer}-{point}-kill"] == -9, f"{label}: the kill point was never reached"
        code = codes[f"{trainer}-{point}-resume"]
        if code == 2 and _one_error_line(root / f"{trainer}-{point}-resume.log"):
            outcomes["refused"].append(label)
        elif code != 0:
            outcomes["crashed"].append(f"{label} (exit {code})")
        else:
            ref_w, ref_m = _final_state(root / trainer / "ref", trainer)
            w, m = _final_state(Path(out), trainer)
            same = w.keys() == ref_w.keys() and all(torch.equal(w[k], ref_w[k]) for k in w) and m == ref_m
            outcomes["exact" if same else "silent-wrong"].append(label)
    print("\nkill matrix:", {k: len(v) for k, v in outcomes.items()}, f"of {len(cases)} kill points")
    assert not outcomes["silent-wrong"] and not outcomes["crashed"], outcomes
    assert len(outcomes["exact"]) == len(cases), outcomes  # every kill point is recoverable here


@pytest.mark.parametrize("trainer", list(TRAINERS))
def test_what_cannot_be_resumed_is_refused_in_one_line(matrix, trainer):
    root, codes, _ = matrix
    assert codes[f"{trainer}-ref"] == 0 and codes[f"{trainer}-other-run-setup"] == 0
    for case in ("changed-options", "damaged", "other-run", "used-out", "empty-resume"):
        name = f"{trainer}-{case}"
        assert codes[name] == 2 and _one_error_line(root / f"{name}.log"), (
            name,
            (root / f"{name}.log").read_text()[-800:],
        )
    bc_kept = sorted(p.name for p in (root / "bc" / "ref" / "checkpoints").iterdir())
    assert bc_kept == ["step_000004", "step_000006"]  # keep 2: the newest two, by step
