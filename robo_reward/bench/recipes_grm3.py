"""GRM round 3: the states the policies that round 2's reward trained reach, labelled by the simulator.

Round 2 (`models/grm-lite-sim`) learnt from the rollouts of RL policies that round 1's reward trained; its
own reward now trains policies that reach other states (open_drawer at 0.84, pick_place stuck at 0.22 with
drops and missed grasps). Round 3 keeps round 1's data and pick_place's BC rollouts and swaps round 2's RL
rollouts for those of today's runs, then is compared with round 2 on the same held-out sets and as the
reward of the same RL run. Registered by `robo_reward.bench.recipes` in its order."""

from __future__ import annotations

from collections.abc import Callable

# name: (task, RL run, its recipe); rollouts at seed 5600 train, at seed 9600 test
RL_POLICIES = {
    "od-grm-s0": ("open_drawer", "runs/rl/cmp-od-v2-lrc1e-4/grm/seed0", "rl/open_drawer-v2-lrc1e-4"),
    "od-grm-s1": ("open_drawer", "runs/rl/cmp-od-v2-lrc1e-4/grm/seed1", "rl/open_drawer-v2-lrc1e-4"),
    "od-sparse-s0": ("open_drawer", "runs/rl/cmp-od-v3-sparse/sparse/seed0", "rl/open_drawer-v3-sparse"),
    "pp-grm-s0": ("pick_place", "runs/rl/cmp-pp15-v2/grm/seed0", "rl/pick_place15-v2"),
}
BASE_DATA = ("data/grm2/demos", "data/grm2/noisy", "data/grm2/bc-runs_bc_open_drawer5_model",
             "data/grm2/bc-runs_bc_pick_place5_model")  # fmt: skip
BASE_NEEDS = ("data/grm2/demos", "data/grm2/noisy", "data/grm2/bc-open_drawer", "data/grm2/bc-pick_place")
MODEL = "runs/grm2/lite96-r3"


def register_grm_round3(
    recipe: Callable, grm_train: Callable[[tuple[str, ...], str], str], budget: str
) -> None:
    """Register with `recipe` (the registry's); `grm_train(data, out)`: every round's training command;
    `budget`: the RL options every RL row shares."""
    # fmt: off
    for name, (task, run, need) in RL_POLICIES.items():
        for split, episodes, seed in (("rl", 15, 5600), ("test-rl", 10, 9600)):
            out = f"data/grm3/{split}-{name}"
            recipe(out, f"policy rollouts --checkpoint {run}/policy --task {task} --episodes {episodes} "
                   f"--seed {seed} --image-size 128 --out {out}", f"{task} rollouts of the RL policy {run}",
                   output=f"{out}/meta/info.json", needs=(need,))
    train = tuple(f"data/grm3/rl-{name}" for name in RL_POLICIES)
    recipe("grm3-train", grm_train(BASE_DATA + train, MODEL),
           "GRM round 3: round 1's data, pick_place BC rollouts and the rollouts of policies round 2's reward trained",
           output=f"{MODEL}/checkpoint/model.safetensors", needs=BASE_NEEDS + train)

    test = tuple(f"data/grm3/test-rl-{name}" for name in RL_POLICIES)
    for model in ("models/grm-lite-sim", MODEL):
        tag = model.split("/")[-1]
        needs = test + (() if model.startswith("models/") else ("grm3-train",))
        recipe(f"grm3-eval-rl/{tag}", f"grm eval --checkpoint {model} --data {' '.join(test)} --no-perspectives "
               f"--threads 1 --json runs/bench/grm3_rl_{tag}.json",
               f"{model} on held-out rollouts (new seeds) of the policies round 2's reward trained", needs=needs)
    recipe("grm3-eval/lite96-r3", f"grm eval --checkpoint {MODEL} --data data/grm2/test-noisy05 data/grm2/test-noisy10 "
           "data/grm2/test-bc-runs_bc_open_drawer5_model --no-perspectives --chunk-policy runs/bc/open_drawer5/model "
           "--chunk-tasks open_drawer --chunk-episodes 5 --chunk-seed 777 --threads 1 --json runs/bench/grm3_lite96-r3.json",
           f"{MODEL} on held-out behaviour (noisy experts, BC rollouts; new seeds) and same-state chunk ranking",
           needs=("grm3-train", "data/grm2/test-noisy05", "data/grm2/test-noisy10", "data/grm2/test-bc-open_drawer",
                  "bc/open_drawer5"))
    recipe("grm3-chunks-pp/lite96-r3", f"grm eval --checkpoint {MODEL} --data data/grm2/test-bc-runs_bc_pick_place5_model"
           " --no-perspectives --chunk-policy runs/bc/pick_place5/model --chunk-tasks pick_place --chunk-episodes 5 "
           "--chunk-seed 777 --threads 1 --json runs/bench/grm3_chunks_pp_lite96-r3.json",
           f"{MODEL}: same-state chunk ranking on pick_place BC rollouts",
           needs=("grm3-train", "data/grm2/test-bc-pick_place"))
    recipe("grm-codec/grm-lite-sim", "grm codec --checkpoint models/grm-lite-sim --task pick_place,open_drawer "
           "--episodes 10 --json runs/bench/grm_codec_grm-lite-sim.json",
           "models/grm-lite-sim on raw frames (as RL and the ROS reward node feed it) against the same frames "
           "after the datasets' h264 round trip (what it was trained on); 10 scripted episodes per task, half "
           "with an injected failure")

    # the run where round 2's reward gave 0.884 ± 0.035 (rl/open_drawer-v3-sparse's GRM row), round 3 shaping it
    recipe("rl/open_drawer-grm-r3", f"rl compare --task open_drawer --init models/bc-open_drawer-5demo --grm {MODEL} "
           f"{budget} --potential-every 8 --rewards grm --seeds 3 --out runs/rl/cmp-od-r3 "
           "--json runs/bench/rl_open_drawer-grm-r3.json noise-sac",
           "noise-sac (today's defaults), 300 episodes on open_drawer, shaped by GRM round 3, 3 seeds",
           output="runs/bench/rl_open_drawer-grm-r3.json", needs=("grm3-train",))
    # fmt: on
