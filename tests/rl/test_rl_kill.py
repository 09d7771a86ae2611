"""RL runs SIGKILLed at named kill points, then `--resume`d: never silently wrong.

The sim's physics state is not checkpointed (episodes in flight restart at fresh seeds), so an RL
resume cannot be bit-exact; "consistent" is the bar: the resume exits 0 with every training episode
logged exactly once (indices 1..N, one metrics line each) from the verified checkpoint's learner.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from robo_reward.models.flow_policy import FlowPolicy, make_config
from robo_reward.sim import STATE_NAMES

KILL_POINTS = ["run.started", "episode@3", "checkpoint.files@2", "checkpoint.swap", "checkpoint.swapped@2"]
ARGS = ["--task", "reach", "--reward", "oracle", "--rollouts", "6", "--num-envs", "1", "--max-steps", "6",
        "--image-size", "32", "--checkpoint-every", "2", "--threads", "1"]  # fmt: skip
ALGO = [
    "noise-sac",
    "--hidden",
    "16",
    "--batch-size",
    "8",
    "--warmstart-episodes",
    "1",
    "--warmstart-updates",
    "2",
]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    root = tmp_path_factory.mktemp("rl_kill")
    torch.manual_seed(0)
    init = FlowPolicy(make_config("flow-tiny", state_dim=len(STATE_NAMES))).save_pretrained(root / "init")
    base = ["rl", "train", *ARGS, "--init", str(init)]
    runs = []

    def add(name, out, extra=(), kill=None, algo=ALGO, **prepare):
        argv = [*base, *extra, "--out", str(root / out), *algo]
        runs.append({"name": name, "argv": argv, "kill": kill, "log": str(root / f"{name}.log"), **prepare})

    for point in KILL_POINTS:
        out = point.replace("@", "-")
        add(f"{point}-kill", out, kill=point)
        add(f"{point}-resume", out, ["--resume"])
    add("ref", "ref")
    add(
        "changed-options",
        "bad",
        ["--resume"],
        algo=[*ALGO, "--utd", "3"],  # not the default (2): a changed option
        copy=[str(root / "ref"), str(root / "bad")],
    )
    add("used-out", "ref")
    add("empty-resume", "empty", ["--resume"])
    plan = root / "plan.json"
    plan.write_text(json.dumps({"datasets": [], "runs": runs}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    runner = Path(__file__).parents[1] / "utils" / "kill_matrix.py"
    done = subprocess.run([sys.executable, str(runner), str(plan), str(root / "results.json")], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return root, {r["name"]: r["code"] for r in json.loads((root / "results.json").read_text())}


def _one_error_line(log: Path) -> bool:
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    return bool(lines) and " error: " in lines[-1] and "Traceback" not in log.read_text()


def test_every_rl_kill_point_resumes_consistently(matrix):
    root, codes = matrix
    outcomes: dict[str, list[str]] = {"consistent": [], "refused": [], "silent-wrong": [], "crashed": []}
    for point in KILL_POINTS:
        assert codes[f"{point}-kill"] == -9, f"{point}: the kill point was never reached"
        out, code = root / point.replace("@", "-"), codes[f"{point}-resume"]
        if code == 2 and _one_error_line(root / f"{point}-resume.log"):
            outcomes["refused"].append(point)
        elif code != 0:
            outcomes["crashed"].append(f"{point} (exit {code})")
        else:
            episodes = [json.loads(x)["index"] for x in (out / "episodes.jsonl").read_text().splitlines()]
            steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
            summary = json.loads((out / "summary.json").read_text())
            ok = episodes == steps == list(range(1, 7)) and summary["episodes"] == 6
            outcomes["consistent" if ok else "silent-wrong"].append(point)
    print("\nrl kill matrix:", {k: len(v) for k, v in outcomes.items()}, f"of {len(KILL_POINTS)} kill points")
    assert not outcomes["silent-wrong"] and not outcomes["crashed"], outcomes
    assert len(outcomes["consistent"]) == len(KILL_POINTS), outcomes


def test_what_an_rl_run_cannot_resume_is_refused_in_one_line(matrix):
    root, codes = matrix
    assert codes["ref"] == 0
    for case in ("changed-options", "used-out", "empty-resume"):
        assert codes[case] == 2 and _one_error_line(root / f"{case}.log"), (
            case,
            (root / f"{case}.log").read_text()[-800:],
        )
