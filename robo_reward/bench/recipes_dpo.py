"""DPO of the 5-demo open_drawer BC: judged by the shipped GRM (every pair, or only its confident ones)
or by the critics of an RL run over the same BC, 3 seeds each, with the BC on the same evaluation seeds.
Registered by `robo_reward.bench.recipes` in its order."""

from __future__ import annotations

from collections.abc import Callable


def register_dpo(recipe: Callable) -> None:
    """Register with `recipe` (the registry's)."""
    # the winners' guard λ = 5 and one 200-step round were chosen on evaluation seeds 30000-30049 (BC 0.36;
    # plain DPO 0.26, λ = 1 0.44, λ = 5 0.48, λ = 5 with 400 steps 0.46, SFT on winners 0.36) with the
    # quickstart's GRM-judged pairs; the runs below draw their own pairs and are scored on seeds 20000-20149.
    # The same recipe judged by the critics of a GRM-shaped noise-sac run over the same BC (DPO seed i: RL seed i
    # of rl/open_drawer-v2-lra1e-4), ranking 5 prior-noise samples per state by their pessimistic value.
    # fmt: off
    shared = "--task open_drawer --winner-guard 5 {judge} --pairs-config.k 5 --pairs-config.execute-steps 8 --pairs-config.episodes 20"
    for name, tag, judge, who, needs in (
            ("dpo", "grm", "--pairs-config.scorer grm --pairs-config.grm models/grm-lite-sim", "GRM", ()),
            ("dpo-critic", "critic", "--pairs-config.scorer critic --pairs-config.critic runs/rl/cmp-od-v2-lra1e-4/grm/seed{seed}/policy",
             "critic", ("rl/open_drawer-v2-lra1e-4",))):
        for seed in range(3):
            out = f"runs/dpo/od-{tag}-s{seed}"
            recipe(f"{name}/open_drawer-s{seed}", f"dpo train --policy models/bc-open_drawer-5demo --out {out} "
                   f"{shared.format(judge=judge.format(seed=seed))} --seed {seed} --pairs-config.seed {seed}",
                   f"{who}-judged DPO of the 5-demo open_drawer BC, seed {seed}",
                   output=f"{out}/policy/config.json", needs=needs)
            recipe(f"{name}-eval/open_drawer-s{seed}", f"policy eval --checkpoint {out}/policy --task open_drawer "
                   f"--episodes 150 --seed 20000 --record 0 --json runs/bench/{name}_open_drawer_s{seed}.json",
                   f"success of {who}-judged DPO seed {seed} on 150 evaluation episodes (seeds 20000-20149)",
                   needs=(f"{name}/open_drawer-s{seed}",))
    # fmt: on

    # The same DPO on the shipped GRM's confident pairs only (`--keep-margin 0.2`: at that margin `dpo judges
    # --policy models/bc-open_drawer-5demo --task open_drawer --grm models/grm-lite-sim --episodes 20` finds
    # the GRM's best-worst pairs 63 % right, 0 % wrong, the rest ties to privileged progress), from 60
    # rollouts' states (pair seeds 0 / 100 / 200: disjoint initial states). Chosen on seeds 31000-31049 (50
    # episodes) from pair seed 0: BC 0.38; keep every pair 0.46, ≥ 0.1 0.46, ≥ 0.2 0.54, ≥ 0.3 0.48; at 0.2:
    # 400 steps 0.48, lr 3e-5 0.38, λ = 0 0.38, λ = 1 0.48, 2 rounds 0.52, 3 rounds 0.40, SFT on winners (at
    # 0.1) 0.38; the privileged judge's pairs with the same recipe 0.48.
    # fmt: off
    for seed in range(3):
        out = f"runs/dpo/od-grm-keep-s{seed}"
        recipe(f"dpo-keep/open_drawer-s{seed}", f"dpo train --policy models/bc-open_drawer-5demo --out {out} "
               "--task open_drawer --winner-guard 5 --keep-margin 0.2 --pairs-config.scorer grm --pairs-config.grm "
               "models/grm-lite-sim --pairs-config.k 5 --pairs-config.execute-steps 8 --pairs-config.episodes 60 "
               f"--seed {seed} --pairs-config.seed {100 * seed}",
               f"DPO of the 5-demo open_drawer BC on the shipped GRM's confident pairs, seed {seed}",
               output=f"{out}/policy/config.json")
        recipe(f"dpo-keep-eval/open_drawer-s{seed}", f"policy eval --checkpoint {out}/policy --task open_drawer "
               f"--episodes 150 --seed 20000 --record 0 --json runs/bench/dpo-keep_open_drawer_s{seed}.json",
               f"success of DPO on the GRM's confident pairs, seed {seed}, on 150 evaluation episodes (seeds 20000-20149)",
               needs=(f"dpo-keep/open_drawer-s{seed}",))
    # fmt: on

    recipe("bc-eval/open_drawer5-150", "policy eval --checkpoint models/bc-open_drawer-5demo --task open_drawer "
           "--episodes 150 --seed 20000 --record 0 --json runs/bench/bc_open_drawer5_150.json",
           "the 5-demo open_drawer BC on DPO's 150 evaluation episodes (seeds 20000-20149)")  # fmt: skip
