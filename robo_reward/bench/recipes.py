"""Named recipes: every experiment the README, the model cards and `docs/results.md` quote, as data.

A recipe is one command line of the CLI (`argv` after `robo-reward`). `command_line()` prints it and
`run()` executes exactly that argv through the CLI's own parser (`robo_reward.cli.run_command`), so the
command a document shows and the one that produced its number cannot drift apart. A recipe's `needs`
names the recipes whose outputs (datasets, checkpoints) it reads; `run_with_needs` runs those first
unless their `output` already exists.

    robo-reward bench recipes            # every recipe and its command line
    robo-reward bench run NAME           # one recipe (and what it needs)
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Recipe:
    name: str
    argv: tuple[str, ...]
    about: str
    output: str | None = None  # the file or folder the recipe makes (skipped when present, for `needs`)
    needs: tuple[str, ...] = ()

    def command_line(self) -> str:
        return "robo-reward " + " ".join(shlex.quote(a) for a in self.argv)

    def run(self) -> Any:
        from robo_reward.cli import run_command

        return run_command(list(self.argv))

    def done(self) -> bool:
        return self.output is not None and Path(self.output).exists()


RECIPES: dict[str, Recipe] = {}


def recipe(
    name: str, command: str, about: str, output: str | None = None, needs: tuple[str, ...] = ()
) -> Recipe:
    """Register a recipe from its command line (as a user would type it after `robo-reward`)."""
    if name in RECIPES:
        raise ValueError(f"recipe {name!r} is defined twice")
    RECIPES[name] = Recipe(name, tuple(shlex.split(command)), about, output, needs)
    return RECIPES[name]


def get_recipe(name: str) -> Recipe:
    from robo_reward.utils.errors import UnknownNameError

    if name not in RECIPES:
        raise UnknownNameError(f"unknown recipe {name!r}: see `robo-reward bench recipes`")
    return RECIPES[name]


def run_with_needs(name: str, seen: set[str] | None = None) -> Any:
    """Run what `name` needs (depth first, each once, skipping outputs already on disk), then `name`."""
    seen = set() if seen is None else seen
    r = get_recipe(name)
    for dep in r.needs:
        if dep not in seen and not get_recipe(dep).done():
            run_with_needs(dep, seen)
        seen.add(dep)
    return r.run()


SEEN = "reach,push,pick_place,stack,open_drawer"

# ---- datasets (canonical instructions: the numbers were measured on them) --------------------------
for _name, _args in {
    "grm/train": f"--task {SEEN} --episodes 24 --failures 0.3 --seed 0 --image-size 64",
    "grm/train_fail": f"--task {SEEN} --episodes 16 --failures 0.7 --seed 20000 --image-size 64",
    "grm/train_more": f"--task {SEEN} --episodes 24 --failures 0.3 --seed 40000 --image-size 64",
    "grm/train_more2": f"--task {SEEN} --episodes 24 --failures 0.3 --seed 60000 --image-size 64",
    "grm/eval": f"--task {SEEN} --episodes 12 --failures 0.4 --seed 5000 --image-size 64",
    "grm/eval2": f"--task {SEEN} --episodes 24 --failures 0.4 --seed 7000 --image-size 64",
    "grm/drawer_demo": "--task drawer_store --episodes 3 --seed 0 --image-size 64",
    "grm/drawer_eval": "--task drawer_store --episodes 14 --failures 0.4 --seed 5000 --image-size 64",
    "grm/drawer_eval2": "--task drawer_store --episodes 24 --failures 0.4 --seed 7000 --image-size 64",
    **{
        f"perc/eval/{_t}": f"--task {_t} --episodes 40 --failures 0.35 --seed 0"
        for _t in ("push", "pick_place", "stack", "open_drawer", "drawer_store", "reach")
    },
    "perc/eval-fail/reach": "--task reach --episodes 40 --failures 1.0 --seed 2000",
    "rl/open_drawer10": "--task open_drawer --episodes 10 --noise 0.05 --seed 0 --image-size 64",
    "rl/pick_place10": "--task pick_place --episodes 10 --noise 0.05 --seed 0 --image-size 64",
}.items():
    recipe(f"data/{_name}", f"sim collect --out data/{_name} {_args} --wordings canonical",
           f"dataset data/{_name}", output=f"data/{_name}/meta/info.json")  # fmt: skip

# ---- suite, speed, shipped models ------------------------------------------------------------------
recipe("bench-sim", "bench sim --json runs/bench/sim.json", "env steps/s with 3 views vs raw MuJoCo")
recipe(
    "tasks", "sim validate --seeds 20 --json runs/bench/tasks.json", "every task: experts, failures, progress"
)
recipe("policy-latency", "bench policy --json runs/bench/policy_latency.json", "flow-policy chunk latency")
recipe("policy-success", "policy eval --checkpoint models/flow-small-sim --task pick_place --episodes 50 "
       "--json runs/bench/policy_success.json", "the shipped pick_place BC policy")  # fmt: skip
recipe("calibration", "bench calibration --json runs/bench/calibration.json", "sync and ChArUco calibration")
recipe("ros", "bench ros --seconds 10 --json runs/bench/ros.json", "ROS 2 stamp → command latency")
recipe(
    "grm-eval",
    "grm eval --checkpoint models/grm-small-sim --data data/grm/eval data/grm/eval2 "
    "--json runs/bench/grm_seen.json --plots runs/bench/grm_plots",
    "the shipped GRM on held-out expert episodes of the seen tasks",
    needs=("data/grm/eval", "data/grm/eval2"),
)
recipe(
    "grm-adapt",
    "grm adapt --checkpoint models/grm-small-sim --demo data/grm/drawer_demo --episode 0 --out runs/bench/grm-adapted "
    "--eval-data data/grm/drawer_eval data/grm/drawer_eval2 --old-eval-data data/grm/eval "
    "--json runs/bench/adapt.json",
    "one-shot adaptation of the shipped GRM to drawer_store from one demo",
    needs=("data/grm/drawer_demo", "data/grm/drawer_eval", "data/grm/drawer_eval2", "data/grm/eval"),
)
recipe(
    "perceptual",
    "bench perceptual --data data/perc/eval --reach-negatives data/perc/eval-fail/reach "
    "--json runs/bench/perceptual.json",
    "perceptual reward from 5 demos per task: TCN vs random weights",
    needs=tuple(
        f"data/perc/eval/{t}" for t in ("push", "pick_place", "stack", "open_drawer", "drawer_store", "reach")
    )
    + ("data/perc/eval-fail/reach",),
)
