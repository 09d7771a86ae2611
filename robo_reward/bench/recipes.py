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

from robo_reward.bench.recipes_dpo import register_dpo
from robo_reward.bench.recipes_grm3 import MODEL as GRM_R3
from robo_reward.bench.recipes_grm3 import register_grm_round3
from robo_reward.bench.recipes_pp import register_pick_place_starts
from robo_reward.bench.recipes_rl import noise_sac, register_rl_round2
from robo_reward.bench.recipes_vla import register_vla_finetune


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


def dataset(path: str, args: str, about: str = "") -> Recipe:
    """A `sim collect --out PATH ARGS` recipe whose output is the dataset's info file."""
    return recipe(
        path, f"sim collect --out {path} {args}", about or f"dataset {path}", output=f"{path}/meta/info.json"
    )


# ---- datasets (canonical instructions: the numbers were measured on them) --------------------------
_RECOVERIES = " --regrasp 0.3 --drop 0.3 --align"  # the staged misses and slips of the pick_place recipe
_PP_COLLECT = "--noise 0.05 --seed 0 --image-size 64" + _RECOVERIES  # pick_place's weak starts' demos
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
    "rl/pick_place15-rd": f"--task pick_place --episodes 15 {_PP_COLLECT}",
}.items():
    dataset(f"data/{_name}", f"{_args} --wordings canonical")

# GRM v2: 128² demos with injected failures, noisy experts, policy rollouts; held-out sets on new seeds
for _name, _args in {
    "demos": f"--task {SEEN} --episodes 30 --failures 0.35 --noise 0.05 --seed 0",
    "noisy": f"--task {SEEN} --episodes 20 --failures 0.2 --noise 0.1 --seed 3000",
    "test-noisy05": f"--task {SEEN} --episodes 10 --failures 0.35 --noise 0.05 --seed 9000",
    "test-noisy10": f"--task {SEEN} --episodes 10 --failures 0.35 --noise 0.1 --seed 9100",
    "drawer_demo": "--task drawer_store --episodes 3 --seed 0",
    "drawer_eval": "--task drawer_store --episodes 14 --failures 0.4 --seed 5000",
    "drawer_eval2": "--task drawer_store --episodes 24 --failures 0.4 --seed 7000",
}.items():
    dataset(f"data/grm2/{_name}", f"{_args} --image-size 128 --wordings canonical")
for _task, _policy, _needs in (
    ("open_drawer", "runs/bc/open_drawer5/model", ("bc/open_drawer5",)),
    ("pick_place", "runs/bc/pick_place5/model", ("bc/pick_place5",)),
):
    _tag = _policy.replace("/", "_")
    for _split, _episodes, _seed in (("bc", 30, 5000), ("test-bc", 10, 9500)):
        recipe(f"data/grm2/{_split}-{_task}", f"policy rollouts --checkpoint {_policy} --task {_task} "
               f"--episodes {_episodes} --seed {_seed} --image-size 128 --out data/grm2/{_split}-{_tag}",
               f"{_task} rollouts of the 5-demo BC policy", output=f"data/grm2/{_split}-{_tag}/meta/info.json",
               needs=_needs)  # fmt: skip
# the multi-task VLA: training wordings; cube tasks with the staged recoveries of the pick_place recipe
_VLA_DEMOS = {  # task: (episodes, extra options), in the order the training command lists them
    "reach": (50, ""), "push": (50, ""), "pick_place": (50, _RECOVERIES), "stack": (50, _RECOVERIES),
    "open_drawer": (50, ""), "drawer_store": (50, _RECOVERIES), "drawer_or_cube": (100, ""),
    "pick_place_color": (100, _RECOVERIES),
}  # fmt: skip
for _task, (_episodes, _extra) in _VLA_DEMOS.items():
    dataset(f"data/vla/{_task}", f"--task {_task} --episodes {_episodes} --image-size 64 --noise 0.05 "
            f"--wordings train{_extra}", f"VLA demos of {_task}")  # fmt: skip
VLA_TASKS = tuple(_VLA_DEMOS)

# ---- the weak BC starts of RL and DPO (shipped as models/bc-<task>-5demo) ---------------------------
for _task in ("open_drawer", "pick_place"):
    recipe(f"bc/{_task}5", f"policy train --data data/rl/{_task}10 --out runs/bc/{_task}5 --steps 600 "
           "--batch-size 32 --max-episodes 5 --threads 1", f"BC on 5 {_task} demos",
           output=f"runs/bc/{_task}5/model/config.json", needs=(f"data/rl/{_task}10",))  # fmt: skip
    recipe(f"bc-eval/{_task}5", f"policy eval --checkpoint models/bc-{_task}-5demo --task {_task} --episodes 50 "
           f"--seed 20000 --record 0 --json runs/bench/bc_{_task}5.json",
           f"the shipped 5-demo {_task} BC policy (RL's evaluation seeds 20000-20049)")  # fmt: skip

# pick_place's 5-demo BC never grasps (0/50): its weak start is 15 demos with recoveries, in the shipped
# pick_place policy's recipe (models/flow-small-sim: keypoint encoder), trained 3,000 steps
recipe("bc/pick_place15", "policy train --config flow-small-kp --data data/rl/pick_place15-rd "
       "--out runs/bc/pick_place15-kp --steps 3000 --batch-size 64 --lr 5e-4 --shift-pad 1 --threads 1 "
       "--ckpt-every 1000 --seed 2 --override num_keypoints=64", "BC on 15 pick_place demos with recoveries",
       output="runs/bc/pick_place15-kp/model/config.json", needs=("data/rl/pick_place15-rd",))  # fmt: skip
recipe("bc-eval/pick_place15", "policy eval --checkpoint models/bc-pick_place-15demo --task pick_place "
       "--episodes 50 --seed 20000 --record 0 --json runs/bench/bc_pick_place15.json",
       "the shipped 15-demo pick_place BC policy (RL's evaluation seeds 20000-20049)")  # fmt: skip

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
    "--replay data/grm/train data/grm/train_fail data/grm/train_more data/grm/train_more2 "
    "--eval-data data/grm/drawer_eval data/grm/drawer_eval2 --old-eval-data data/grm/eval "
    "--json runs/bench/adapt.json",
    "one-shot adaptation of the first GRM to drawer_store from one demo (replaying its training data)",
    needs=("data/grm/drawer_demo", "data/grm/drawer_eval", "data/grm/drawer_eval2", "data/grm/eval")
    + tuple(f"data/grm/{d}" for d in ("train", "train_fail", "train_more", "train_more2")),
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

# ---- GRM v2: pretrained eyes, the states policies visit --------------------------------------------
_GRM2_DATA = ("data/grm2/demos", "data/grm2/noisy", "data/grm2/bc-open_drawer", "data/grm2/bc-pick_place")
_GRM2_TEST = ("data/grm2/test-noisy05", "data/grm2/test-noisy10", "data/grm2/test-bc-open_drawer")


def _out(name: str) -> str:
    return RECIPES[name].output or ""


def _grm2_train(data: tuple[str, ...], out: str) -> str:
    """GRM v2's training command (every round): frozen Lite0 at 96², progress labels, shared feature cache."""
    return (
        f"grm train --config grm-small-pretrained --data {' '.join(data)} --out {out} --steps 3000 "
        "--cache-dir runs/grm2/cache-lite96 --threads 1 "
        "--override image_size=96 'label_source=\"progress\"' anchor_fraction=0.5"
    )


recipe(
    "grm2-train",
    _grm2_train(
        ("data/grm2/demos", "data/grm2/noisy", "data/grm2/bc-runs_bc_open_drawer5_model"),
        "runs/grm2/lite96-a",
    ),
    "GRM v2 (models/grm-lite-sim): frozen EfficientNet-Lite0 at 96², progress labels, demos + noisy "
    "experts + open_drawer BC rollouts",
    output="runs/grm2/lite96-a/checkpoint/model.safetensors",
    needs=_GRM2_DATA[:3],
)
for _model in ("models/grm-small-sim", "models/grm-lite-sim"):
    recipe(
        f"grm2-eval/{Path(_model).name}",
        f"grm eval --checkpoint {_model} --data "
        + " ".join(str(Path(_out(d)).parent.parent) for d in _GRM2_TEST)
        + " --no-perspectives --chunk-policy runs/bc/open_drawer5/model --chunk-tasks open_drawer "
        f"--chunk-episodes 5 --chunk-seed 777 --threads 1 --json runs/bench/grm2_{Path(_model).name}.json",
        f"{_model} on held-out behaviour (noisy experts, BC rollouts; new seeds) and same-state chunk ranking",
        needs=(*_GRM2_TEST, "bc/open_drawer5"),
    )

recipe(
    "grm2-adapt",
    "grm adapt --checkpoint models/grm-lite-sim --demo data/grm2/drawer_demo --episode 0 --out runs/bench/grm2-adapted "
    "--eval-data data/grm2/drawer_eval data/grm2/drawer_eval2 --old-eval-data data/grm2/test-noisy05 "
    "--threads 1 --json runs/bench/grm2_adapt.json",
    "one-shot adaptation of the shipped GRM to drawer_store from one demo (its shipped replay episodes)",
    needs=(
        "data/grm2/drawer_demo",
        "data/grm2/drawer_eval",
        "data/grm2/drawer_eval2",
        "data/grm2/test-noisy05",
    ),
)
recipe(
    "grm2-speed",
    "bench reward --checkpoint models/grm-lite-sim --data data/grm2/test-noisy05 --episodes 20 --threads 2 "
    "--json runs/bench/grm2_speed.json",
    "the shipped GRM's speed: online reward per control step (1 env, 3 views, 2 threads), offline labelling",
    needs=("data/grm2/test-noisy05",),
)

# ---- RL from the weak BC starts --------------------------------------------------------------------
_RL = "--rollouts 300 --eval-episodes 50 --eval-seeds 3 --resume"
# the trained checkpoints, byte-identical to models/bc-open_drawer-5demo and models/grm-lite-sim (their
# cards), so that runs made one by one join the table (`--resume` checks each run's options); pick_place's
# 5-demo start never grasps, so its RL starts from 15 demos (below)
_OD5 = f"rl compare --task open_drawer --init runs/bc/open_drawer5/model --grm runs/grm2/lite96-a {_RL} "
for _name, _rewards, _seeds in (("", "sparse,grm,oracle", 3), ("-grm", "grm", 3), ("-sparse", "sparse", 5),
                                ("-oracle", "oracle", 3)):  # fmt: skip
    recipe(
        f"rl/open_drawer{_name}",
        _OD5
        + f"--rewards {_rewards} --seeds {_seeds} --out runs/rl/cmp-od --json runs/bench/rl_open_drawer{_name}.json"
        + noise_sac(),
        f"noise-space SAC on the 5-demo open_drawer BC, 300 episodes: {_rewards} reward, {_seeds} seed(s)",
        output=f"runs/bench/rl_open_drawer{_name}.json",
        needs=("bc/open_drawer5", "grm2-train"),
    )

# ---- GRM round 2: the states an optimising policy reaches ---------------------------------------------
# rollouts of the RL policies that GRM v2's reward trained (and of one sparse-reward run stopped at 200
# episodes, for its failures), labelled by the simulator; held-out sets on new seeds
recipe("rl/open_drawer-sparse200", "rl train --task open_drawer --init runs/bc/open_drawer5/model --reward sparse "
       "--rollouts 200 --seed 1 --out runs/rl/od-sparse200/seed1 --resume" + noise_sac(),
       "a sparse-reward run stopped at 200 episodes (0.57 success): RL states with failures",
       output="runs/rl/od-sparse200/seed1/policy/config.json", needs=("bc/open_drawer5",))  # fmt: skip
_RL_POLICIES = {"grm-s0": ("runs/rl/cmp-od/grm/seed0", "rl/open_drawer-grm"),
                "grm-s1": ("runs/rl/cmp-od/grm/seed1", "rl/open_drawer-grm"),
                "sparse-s1": ("runs/rl/od-sparse200/seed1", "rl/open_drawer-sparse200")}  # fmt: skip
for _name, (_run, _need) in _RL_POLICIES.items():
    for _split, _episodes, _seed in (("rl", 15, 5600), ("test-rl", 10, 9600)):
        if _split == "test-rl" and _name == "grm-s0":
            continue  # its rollouts all succeed: nothing a held-out set learns from
        recipe(f"data/grm2/{_split}-od-{_name}", f"policy rollouts --checkpoint {_run}/policy --task open_drawer "
               f"--episodes {_episodes} --seed {_seed} --image-size 128 --out data/grm2/{_split}-od-{_name}",
               f"open_drawer rollouts of the RL policy {_run}", output=f"data/grm2/{_split}-od-{_name}/meta/info.json",
               needs=(_need,))  # fmt: skip
_GRM_R2_DATA = ("data/grm2/demos", "data/grm2/noisy", "data/grm2/bc-runs_bc_open_drawer5_model",
                "data/grm2/bc-runs_bc_pick_place5_model", "data/grm2/rl-od-grm-s0", "data/grm2/rl-od-grm-s1",
                "data/grm2/rl-od-sparse-s1")  # fmt: skip
recipe(
    "grm2-train-r2",
    _grm2_train(_GRM_R2_DATA, "runs/grm2/lite96-r2"),
    "GRM round 2: grm2-train's recipe plus pick_place BC rollouts and the RL policies' rollouts",
    output="runs/grm2/lite96-r2/checkpoint/model.safetensors",
    needs=("data/grm2/demos", "data/grm2/noisy", "data/grm2/bc-open_drawer", "data/grm2/bc-pick_place",
           "data/grm2/rl-od-grm-s0", "data/grm2/rl-od-grm-s1", "data/grm2/rl-od-sparse-s1"),
)  # fmt: skip
_RL_TEST = ("data/grm2/test-rl-od-grm-s1", "data/grm2/test-rl-od-sparse-s1")
for _model in ("runs/grm2/lite96-a", "runs/grm2/lite96-r2"):
    _tag = Path(_model).name
    recipe(f"grm2-eval-rl/{_tag}", f"grm eval --checkpoint {_model} --data " + " ".join(_RL_TEST)
           + f" --no-perspectives --threads 1 --json runs/bench/grm2_rl_{_tag}.json",
           f"{_model} on held-out rollouts of RL policies (new seeds)", needs=_RL_TEST)  # fmt: skip
    recipe(f"grm2-chunks-pp/{_tag}", f"grm eval --checkpoint {_model} --data data/grm2/test-bc-runs_bc_pick_place5_model"
           " --no-perspectives --chunk-policy runs/bc/pick_place5/model --chunk-tasks pick_place --chunk-episodes 5 "
           f"--chunk-seed 777 --threads 1 --json runs/bench/grm2_chunks_pp_{_tag}.json",
           f"{_model}: same-state chunk ranking on pick_place BC rollouts", needs=("data/grm2/test-bc-pick_place",))  # fmt: skip

# the round-2 GRM's reward in RL: the learner's levers on open_drawer, pick_place from 15 demos
register_rl_round2(recipe, _RL)
register_grm_round3(recipe, _grm2_train, _RL)
register_pick_place_starts(recipe, dataset, _PP_COLLECT, _RL, GRM_R3)

# ---- DPO from the 5-demo open_drawer BC: judged by the shipped GRM, on its confident pairs, by critics ---
register_dpo(recipe)

recipe("quickstart", "quickstart --out runs/quickstart-bench --overwrite",
       "the quickstart end to end with its defaults (the README's first command, without the install)")  # fmt: skip

# ---- the multi-task VLA ------------------------------------------------------------------------------
_VLA_TRAIN = (
    "policy train --config flow-vla --data "
    + " ".join(f"data/vla/{t}" for t in VLA_TASKS)
    + " --out runs/vla/multi --steps {steps} --batch-size 64 --lr 5e-4 --threads 1 --ckpt-every 1000 "
    "--ema-decay 0.999 --log-every 100 --shift-pad 1 --balance sqrt_frames"
)
recipe(
    "vla-train",
    _VLA_TRAIN.format(steps=6000),
    "one flow-matching VLA (keypoints + MiniLM) on every task's demos",
    output="runs/vla/multi/model/config.json",
    needs=tuple(f"data/vla/{t}" for t in VLA_TASKS),
)
recipe(
    "vla-train-12k",
    _VLA_TRAIN.format(steps=12000) + " --resume",
    "vla-train resumed to 12,000 steps (its cosine schedule restarts from step 6,000's point of the longer "
    "one): models/flow-vla-sim",
    output="runs/vla/multi/checkpoints/step_012000/model.safetensors",
    needs=("vla-train",),
)
for _wordings, _episodes in (("train", 50), ("held_out", 20)):
    recipe(
        f"vla-eval/{_wordings}",
        f"policy eval --checkpoint models/flow-vla-sim --task all --episodes {_episodes} --num-envs 4 --seed 20000 "
        f"--wordings {_wordings} --record 0 --json runs/bench/vla_{_wordings}.json",
        f"the shipped VLA on every task and grounding scene, {_wordings} instructions",
    )
recipe("vla-latency", "bench policy --checkpoint models/flow-vla-sim --threads 2 --json runs/bench/vla_latency.json",
       "the VLA's chunk latency at batch 1 (instruction embedding cached)")  # fmt: skip
register_vla_finetune(recipe, dataset, [f"data/vla/{t}" for t in VLA_TASKS], _RECOVERIES)
