"""pick_place from a start RL can steer: BC on more demos, still a weak start (success ≤ 0.5).

The 15-demo start (0.17) never closes on the cube in about half its episodes, and no learner or reward
moved it past 0.22 in 300 episodes: noise steering picks among the chunks the frozen policy decodes, and
a policy that rarely grasps decodes few good ones. BC on 20 and on 30 demos of the same recipe (the first
20, or all, of one 30-demo set collected with the 15-demo set's options) gives starts in between; the rule,
fixed before any RL: the fewest demos whose success on the selection seeds 30000-30049 lies in
[0.3, 0.5]. Its RL runs are round 3's learned reward and sparse reward with noise-sac's defaults, and
the privileged oracle's as the reference ceiling.
Registered by `robo_reward.bench.recipes` in its order."""

from __future__ import annotations

from collections.abc import Callable

DEMOS = (20, 30)
CHOSEN = 20  # the rule's pick: 20 demos 0.32, 30 demos 0.28 on the selection seeds (bc-select/*)
DATA = "data/rl/pick_place30-rd"


def register_pick_place_starts(
    recipe: Callable, dataset: Callable, collect_args: str, budget: str, grm: str
) -> None:
    """Register with `recipe` and `dataset` (the registry's); `collect_args`: the 15-demo set's options
    (without its task, episode count and wordings); `budget`: the RL options every RL row shares; `grm`: round 3's model."""
    # fmt: off
    dataset(DATA, f"--task pick_place --episodes 30 {collect_args} --wordings canonical",
            "30 pick_place demos with recoveries (BC on 20 and on 30 of them)")
    for n in DEMOS:
        out = f"runs/bc/pick_place{n}-kp"
        recipe(f"bc/pick_place{n}", f"policy train --config flow-small-kp --data {DATA} --max-episodes {n} --out {out} "
               "--steps 3000 --batch-size 64 --lr 5e-4 --shift-pad 1 --threads 1 --ckpt-every 1000 --seed 2 "
               "--override num_keypoints=64", f"BC on {n} pick_place demos with recoveries",
               output=f"{out}/model/config.json", needs=(DATA,))
        recipe(f"bc-select/pick_place{n}", f"policy eval --checkpoint {out}/model --task pick_place --episodes 50 "
               f"--seed 30000 --record 0 --json runs/bench/bc_pick_place{n}_select.json",
               f"BC on {n} pick_place demos on the selection seeds 30000-30049", needs=(f"bc/pick_place{n}",))
    model = f"models/bc-pick_place-{CHOSEN}demo"
    recipe(f"bc-eval/pick_place{CHOSEN}", f"policy eval --checkpoint {model} --task pick_place --episodes 50 "
           f"--seed 20000 --record 0 --json runs/bench/bc_pick_place{CHOSEN}.json",
           f"the shipped {CHOSEN}-demo pick_place BC policy (RL's evaluation seeds 20000-20049)")
    recipe(f"rl/pick_place{CHOSEN}-r3", f"rl compare --task pick_place --init {model} --grm {grm} {budget} "
           f"--potential-every 8 --rewards sparse,grm --seeds 3 --out runs/rl/cmp-pp{CHOSEN}-r3 "
           f"--json runs/bench/rl_pick_place{CHOSEN}-r3.json noise-sac",
           f"noise-sac (today's defaults), 300 episodes from the {CHOSEN}-demo pick_place BC: sparse and "
           "GRM-round-3-shaped reward, 3 seeds each", output=f"runs/bench/rl_pick_place{CHOSEN}-r3.json",
           needs=("grm3-train",))
    # the privileged simulator progress as the reward: the reference ceiling of this start and learner
    recipe(f"rl/pick_place{CHOSEN}-oracle", f"rl compare --task pick_place --init {model} {budget} "
           f"--potential-every 8 --rewards oracle --seeds 3 --out runs/rl/cmp-pp{CHOSEN}-r3 "
           f"--json runs/bench/rl_pick_place{CHOSEN}-oracle.json noise-sac",
           "reference: the same runs shaped by privileged simulator progress (oracle), 3 seeds",
           output=f"runs/bench/rl_pick_place{CHOSEN}-oracle.json")
    # reward-filtered BC from the same start: the policy itself fine-tuned on the rollouts a reward keeps.
    # `fbc`: 5 rounds of 60, each fine-tuning the previous round's policy 500 steps; `fbc-restart`: 3 rounds
    # of 100, each fine-tuning the start 1,500 steps at 3e-4 on everything kept so far. One seed each, two
    # for `fbc` with the GRM.
    fbc = f"rl filtered-bc --task pick_place --init {model} --data {DATA} --max-demos {CHOSEN} --grm models/grm-lite-sim"
    designs = (("fbc", "", "5 rounds of 60 rollouts"),
               ("fbc-restart", " --rounds 3 --episodes-per-round 100 --steps-per-round 1500 --lr 3e-4 --restart",
                "3 rounds of 100 rollouts, each round fine-tuning the start"))
    for tag, options, about in designs:
        for reward, kept in (("grm", "kept by GRM round 2 (`models/grm-lite-sim`)"),
                             ("sparse", "kept by sparse reward (the successes)")):
            out = f"runs/rl/{tag.replace('fbc', f'fbc-pp{CHOSEN}')}/{reward}"
            seeds = 2 if (tag, reward) == ("fbc", "grm") else 1
            recipe(f"rl/pick_place{CHOSEN}-{tag}-{reward}", f"{fbc} --reward {reward}{options} --seeds {seeds} --resume "
                   f"--out {out} --json runs/bench/{tag}_pp{CHOSEN}_{reward}.json",
                   f"reward-filtered BC from the {CHOSEN}-demo pick_place BC, {about}, the episodes {kept}, "
                   f"{'seeds 0-1' if seeds == 2 else 'seed 0'}",
                   output=f"runs/bench/{tag}_pp{CHOSEN}_{reward}.json", needs=(DATA,))
    # fmt: on
