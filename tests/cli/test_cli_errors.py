"""Common mistakes, across every group: one line on stderr (`robo-reward <group> <command>: error: ...`)
naming the problem, exit status 2, no traceback — unless `--debug` or ROBO_REWARD_DEBUG=1 asks for it."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import numpy as np
import pytest

from robo_reward.cli import main
from robo_reward.paths import shipped_models
from robo_reward.utils.errors import UserError

MISTAKES = [
    ("data info --dataset {tmp}/nope", "does not exist"),
    ("data check {tmp}/nope", "does not exist"),
    ("data show --dataset {tmp}", "not a LeRobotDataset"),
    ("data show --dataset {ds} --episode 9", "episode 9 out of range"),
    ("data export-bag --dataset {tmp}/nope --out {tmp}/bag", "does not exist"),
    ("grm train --data {tmp}/nope --out {tmp}/run", "--data {tmp}/nope does not exist"),
    ("grm train --data {ds} --out {tmp}/run --config grm-huge", "unknown GRM config 'grm-huge'"),
    ("grm train --data {ds} --out {tmp}/run --steps 0", "--steps must be a positive number, got 0"),
    ("grm train --data {ds} --out {tmp}/run --val-fraction 1.5", "--val-fraction must be in [0, 1)"),
    ("grm train --data {ds} --out {used}", "--out {used} is not empty: pass --resume"),
    ("grm train --data {ds} --out {tmp}/fresh --resume", "holds no run to resume"),
    ("grm eval --checkpoint {tmp}/nope --data {ds}", "--checkpoint {tmp}/nope does not exist"),
    ("grm eval --checkpoint {tmp} --data {ds}", "holds no model"),
    ("grm adapt --checkpoint {grm} --demo {tmp}/nope --out {tmp}/a", "--demo {tmp}/nope does not exist"),
    ("grm label {ds} --checkpoint {tmp}/nope", "--checkpoint {tmp}/nope does not exist"),
    ("encoder train --data {tmp}/nope --out {tmp}/e", "does not exist"),
    ("encoder train --data {ds} --out {tmp}/e --config tcn-huge", "unknown encoder config"),
    ("encoder train --data {ds} --out {used}", "is not empty"),
    ("policy train --data {tmp}/nope --out {tmp}/b", "does not exist"),
    ("policy train --data {ds} --out {tmp}/b --config flow-huge", "unknown policy preset 'flow-huge'"),
    ("policy train --data {ds} --out {tmp}/b --lr -1", "--lr must be a positive number"),
    ("policy train --data {ds} --out {tmp}/b --override width", "--override expects key=value"),
    ("policy train --data {ds} --out {tmp}/b --override widht=3", "widht not a field"),
    ("policy train --data {ds} --out {used} --resume --overwrite", "contradict"),
    ("policy train --data {ds} --out {tmp}/b --init {tmp}", "--init {tmp}: not a policy checkpoint"),
    ("policy train --data {ds} --out {tmp}/b --init {flow} --override width=3", "drop --override"),
    ("policy train --data {ds} --out {tmp}/b --colour-swap 2", "--colour-swap must be in [0, 1], got 2"),
    ("policy eval --checkpoint {tmp}/nope", "does not exist"),
    ("policy eval --checkpoint {flow} --task pick_plaec", "unknown task 'pick_plaec'"),
    ("policy eval --checkpoint {flow} --episodes 0", "--episodes must be a positive number"),
    ("policy serve --checkpoint {tmp}/nope", "does not exist"),
    ("sim collect --task pick_plaec --episodes 1 --out {tmp}/c", "unknown task 'pick_plaec'"),
    ("sim demo --task pick_plaec", "unknown task"),
    ("sim collect --episodes 0 --out {tmp}/c", "--episodes must be a positive number"),
    ("sim collect --failures 2 --out {tmp}/c", "--failures must be in [0, 1]"),
    ("sim collect --out {used}", "exists: pass --overwrite"),
    ("perceptual fit --demos {tmp}/nope --out {tmp}/p", "does not exist"),
    ("perceptual score --checkpoint {tmp}/nope --data {ds}", "does not exist"),
    ("rl train --task reach --init {tmp}/nope", "does not exist"),
    ("rl filtered-bc --init {tmp}/nope --data {ds} --out {tmp}/f", "--init {tmp}/nope does not exist"),
    ("rl filtered-bc --init {flow} --data {ds} --out {tmp}/f --eval-seeds 9", "1 ≤ --eval-seeds ≤ 5"),
    ("rl filtered-bc --init {flow} --data {ds} --out {tmp}/f --reward grm", "--reward grm needs --grm"),
    ("grm codec --checkpoint {grm} --episodes 0", "need --episodes ≥ 1"),
    ("dpo train --policy {tmp}/nope --task reach --out {tmp}/d", "does not exist"),
    ("calibrate intrinsics --images '{tmp}/none/*.png' --out {tmp}/i.json", "no images match"),
    ("bench all --only nope", "unknown bench sections"),
    ("quickstart --policy {tmp}/nope", "no policy at"),
]


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    from robo_reward.data.episode import Episode
    from robo_reward.data.lerobot_io import write_dataset

    tmp = tmp_path_factory.mktemp("mistakes")
    rng = np.random.default_rng(0)
    ep = Episode(
        views={"front": rng.integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)},
        state=np.zeros((4, 3), np.float32), action=np.zeros((4, 7), np.float32), task="t",
    )  # fmt: skip
    used = tmp / "used"
    used.mkdir()
    (used / "metrics.jsonl").write_text('{"step": 1}\n')
    return {
        "tmp": str(tmp), "ds": str(write_dataset([ep], tmp / "ds")), "used": str(used),
        "grm": str(shipped_models() / "grm-small-sim"), "flow": str(shipped_models() / "flow-small-sim"),
    }  # fmt: skip


@pytest.mark.parametrize(("command", "expected"), MISTAKES, ids=[m[0].split(" --")[0] for m in MISTAKES])
def test_a_mistake_is_one_line_and_exit_2(places, capsys, command, expected):
    argv = shlex.split(command.format(**places))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert exit_info.value.code == 2, err
    assert len(lines) == 1, err
    prefix = f"robo-reward {argv[0]}" + (f" {argv[1]}: error: " if argv[0] != "quickstart" else ": error: ")
    assert lines[0].startswith(prefix), lines[0]
    assert expected.format(**places) in lines[0]
    assert "Traceback" not in out + err


def test_debug_flag_and_variable_show_the_traceback(places, monkeypatch):
    argv = ["data", "info", "--dataset", places["tmp"] + "/nope"]
    with pytest.raises(UserError, match="does not exist"):
        main([*argv, "--debug"])
    monkeypatch.setenv("ROBO_REWARD_DEBUG", "1")
    with pytest.raises(UserError, match="does not exist"):
        main(argv)


def test_a_bug_keeps_its_traceback(monkeypatch):
    import robo_reward.commands.data as data_cli

    def info(dataset: str) -> None:
        raise RuntimeError("a bug, not a mistake")

    monkeypatch.setitem(data_cli.COMMANDS, "info", info)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["data", "info", "--dataset", "x"])


def test_the_installed_entry_point_answers_in_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    argv = ["grm", "train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "run")]
    done = subprocess.run(
        [sys.executable, "-m", "robo_reward.cli", *argv], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"robo-reward grm train: error: --data {tmp_path / 'nope'} does not exist: give a dataset folder "
        "(made by `robo-reward sim collect`)"
    ]
