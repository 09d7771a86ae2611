"""Runs trainer CLI commands in forked children, some of them SIGKILLed at named kill points.

`python kill_matrix.py PLAN.json RESULTS.json` imports the CLI and the trainers once, then, for each
entry of the plan (`{"name", "argv", "kill", "log"}`, `kill` a `ROBO_REWARD_KILL_AT` value or null),
forks a child that runs `robo_reward.cli.main(argv)` with its output in `log`, and records the
child's exit status (-9: killed). An entry may first damage a file (`"flip": PATH`, one byte) or copy a
folder (`"copy": [SRC, DST]`). Forking a warm process keeps each run to its training time, and the
datasets are decoded once (children get a copy), so the whole matrix fits in CI.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path


def run_in_child(argv: list[str], kill: str | None, log: Path) -> int:
    from robo_reward.cli import main
    from robo_reward.utils.killpoints import KILL_ENV

    pid = os.fork()
    if pid == 0:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.environ.pop(KILL_ENV, None)
        if kill:
            os.environ[KILL_ENV] = kill
        code = 0
        try:
            main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def prepare(entry: dict) -> None:
    """Copy first, then damage (the copy)."""
    if "copy" in entry:
        src, dst = map(Path, entry["copy"])
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
    if "flip" in entry:
        path = Path(entry["flip"])
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))


def main(plan_path: str, results_path: str) -> None:
    import torch

    import robo_reward.cli
    import robo_reward.data.lerobot_io as lerobot_io
    import robo_reward.train.bc.trainer
    import robo_reward.train.encoder.trainer
    import robo_reward.train.grm.trainer  # noqa: F401
    from robo_reward.data.local_dataset import _local_classes

    _local_classes()  # lerobot itself, loaded once
    torch.set_num_threads(1)
    original = lerobot_io.load_episodes
    load_all = functools.cache(
        lambda root, views, with_images: original(root, views=views, with_images=with_images)
    )

    def load_once(root, episodes=None, views=None, with_images=True):
        eps = load_all(str(root), None if views is None else tuple(views), with_images)
        return list(eps) if episodes is None else [eps[i] for i in episodes]

    plan = json.loads(Path(plan_path).read_text())
    for root in plan["datasets"]:
        load_all(str(root), None, True)
    # the trainers import it at call time; what a child does to its copy never reaches the parent's
    lerobot_io.load_episodes = load_once
    results = []
    for entry in plan["runs"]:
        prepare(entry)
        t0 = time.perf_counter()
        log = Path(entry["log"])
        code = run_in_child(entry["argv"], entry.get("kill"), log)
        results.append({"name": entry["name"], "code": code, "seconds": time.perf_counter() - t0})
    Path(results_path).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
