"""The RL recipes that the round-2 GRM's reward drives: the learner's levers on open_drawer (each a
`rl compare` row), the same runs re-evaluated value-guided, sparse reward with the best learner options,
levers on top of today's defaults, one run timed with the CPU to itself, and pick_place from its 15-demo start
(first and today's defaults, and a bounded residual).
Registered by `robo_reward.bench.recipes` in its order."""

from __future__ import annotations

from collections.abc import Callable

# The options every recipe here (and the earlier RL rows) was measured with: noise-sac's defaults until
# the 1-nat, 2-update options replaced them. Written out, so that each command keeps reproducing its row.
FIRST_LEARNER = {
    "--utd": "4",
    "--regularizer": "entropy",
    "--target-kl-per-dim": "0.25",
    "--lr-critic": "3e-4",
}
# noise-sac's defaults from the 1-nat, 2-update options until the critics' learning rate 1e-4 joined them:
# what the `v2-*` levers and pick_place's v2 runs were measured on
V2_LEARNER = {"--lr-critic": "3e-4"}


def noise_sac(opts: str = "", base: dict[str, str] = FIRST_LEARNER) -> str:
    """` noise-sac` with `base`'s options; `opts` ("--key value" pairs) take precedence."""
    given = opts.split()
    if len(given) % 2:
        raise ValueError(f"noise-sac options must be '--key value' pairs, got {opts!r}")
    merged = base | dict(zip(given[::2], given[1::2], strict=True))
    return " noise-sac " + " ".join(f"{k} {v}" for k, v in merged.items())


def register_rl_round2(recipe: Callable, budget: str) -> None:
    """Register the recipes with `recipe` (the registry's); `budget`: the RL options every row shares."""
    # fmt: off
    # the round-2 GRM's reward on open_drawer: Φ every decision, held over 8 env steps, and with a pessimistic actor
    compare_od = f"rl compare --task open_drawer --init runs/bc/open_drawer5/model --grm runs/grm2/lite96-r2 {budget} "
    od = "noise-space SAC on the 5-demo open_drawer BC, 300 episodes: the round-2 GRM's"
    on_utd2 = "as rl/open_drawer-grm-r2-pe8-utd2"
    rows = [("", "", 3, noise_sac(), f"{od} shaped reward, 3 seeds"),
             ("-pe8", "--potential-every 8 ", 5, noise_sac(), f"{od} Φ held over 8-step windows, 5 seeds"),
             ("-pe8-qmin", "--potential-every 8 ", 5, noise_sac("--actor-q min"),
              "as rl/open_drawer-grm-r2-pe8, with a pessimistic actor: it climbs the critics' minimum, not their mean")]
    rows += [(f"-pe8-utd{n}", "--potential-every 8 ", seeds, noise_sac(f"--utd {n}"),
               f"as rl/open_drawer-grm-r2-pe8, with {n} updates per decision instead of 4") for n, seeds in ((2, 5), (8, 3))]
    # levers on top of utd2
    kl = "α weighing the KL to the policy's own noise prior ({} per dimension), not the entropy"
    rows += [(f"-pe8-utd2-{tag}", "--potential-every 8 ", seeds, noise_sac(f"--utd 2 {opts}"), f"{on_utd2}, {about}")
              for tag, seeds, opts, about in (
        ("kl1", 5, "--regularizer prior --target-kl-per-dim 1.0", kl.format("1 nat")),
        ("kl06", 3, "--regularizer prior --target-kl-per-dim 0.6", kl.format("0.6 nats")),
        ("b15", 3, "--bound 1.5", "with the noise bounded at 1.5 instead of 1"),
        ("b075", 3, "--bound 0.75", "with the noise bounded at 0.75 instead of 1"),
        ("avg", 3, "--actor-average 0.001", "shipping the actor averaged over ~1,000 updates"))]
    rows += [("-pe8-kl1", "--potential-every 8 ", 3, noise_sac("--regularizer prior --target-kl-per-dim 1.0"),
               "as rl/open_drawer-grm-r2-pe8 (4 updates per decision), with " + kl.format("1 nat"))]
    for name, window, seeds, algo, about in rows:
        recipe(f"rl/open_drawer-grm-r2{name}", f"{compare_od}{window}--rewards grm --seeds {seeds} --out runs/rl/cmp-od-r2{name} "
               f"--json runs/bench/rl_open_drawer-grm-r2{name}.json{algo}", about,
               output=f"runs/bench/rl_open_drawer-grm-r2{name}.json", needs=("bc/open_drawer5", "grm2-train-r2"))

    recipe("rl/open_drawer-sparse-utd2-kl1", f"{compare_od}--rewards sparse --seeds 3 --out runs/rl/cmp-od-kl1 "
           "--json runs/bench/rl_open_drawer-sparse-utd2-kl1.json" + noise_sac("--utd 2 --regularizer prior --target-kl-per-dim 1.0"),
           "sparse reward with rl/open_drawer-grm-r2-pe8-utd2-kl1's learner options, 3 seeds",
           output="runs/bench/rl_open_drawer-sparse-utd2-kl1.json", needs=("bc/open_drawer5",))

    # the same runs acting value-guided: the best of the actor's mode and 15 samples by the critics' minimum
    # (16 and the minimum chosen on seeds 30000-30049 over both rows' 10 runs, against the mean and greedy)
    for name in ("-pe8", "-pe8-utd2"):
        recipe(f"rl-guided/open_drawer-grm-r2{name}", f"rl eval --runs runs/rl/cmp-od-r2{name}/grm --candidates 16 "
               f"--guide min --json runs/bench/rl-guided_open_drawer-grm-r2{name}.json",
               f"rl/open_drawer-grm-r2{name}'s runs acting value-guided (16 candidates, the critics' minimum)",
               output=f"runs/bench/rl-guided_open_drawer-grm-r2{name}.json", needs=(f"rl/open_drawer-grm-r2{name}",))

    # levers on top of the 1-nat, 2-update defaults, from the shipped checkpoints (same bytes as above)
    compare_v2 = (f"rl compare --task open_drawer --init models/bc-open_drawer-5demo --grm models/grm-lite-sim {budget} "
                  "--potential-every 8 --rewards grm")
    for tag, seeds, rollout, opts, about in (
            ("n5", 5, "", "--n-step 5", "5-decision targets instead of 3"),
            ("lra1e-4", 5, "", "--lr-actor 1e-4", "the actor's learning rate 1e-4 instead of 3e-4"),
            ("g97", 5, " --gamma 0.97", "", "γ = 0.97 per env step instead of 0.985 (a 33-step horizon, not 67)"),
            ("ia01", 5, "", "--init-alpha 0.01",
             "the temperature starting at 0.01, near where it settles (0.014-0.017), instead of 1e-4"),
            ("ws40", 5, "", "--warmstart-episodes 40",
             "40 episodes of the unsteered policy before learning instead of 20 (of the same 300)"),
            ("lrc1e-4", 5, "", "--lr-critic 1e-4", "the critics' learning rate 1e-4 instead of 3e-4"),
            ("n5lra", 5, "", "--n-step 5 --lr-actor 1e-4",
             "the two levers best on seeds 30000-30049 together: 5-decision targets and the actor's learning rate 1e-4")):
        recipe(f"rl/open_drawer-v2-{tag}", f"{compare_v2}{rollout} --seeds {seeds} --out runs/rl/cmp-od-v2-{tag} "
               f"--json runs/bench/rl_open_drawer-v2-{tag}.json{noise_sac(opts, V2_LEARNER)}",
               f"as rl/open_drawer-grm-r2-pe8-utd2-kl1 (noise-sac's defaults before the critics' learning rate 1e-4), with {about}",
               output=f"runs/bench/rl_open_drawer-v2-{tag}.json")

    # on top of today's defaults (the critics' learning rate 1e-4, written out): a slower critic still, and
    # sparse reward beside the GRM's with the same learner (the rollouts-to-80 % comparison, in one table)
    compare_v3 = (f"rl compare --task open_drawer --init models/bc-open_drawer-5demo --grm models/grm-lite-sim {budget} "
                  "--potential-every 8")
    for tag, rewards, seeds, opts, about in (
            ("lrc3e-5", "grm", 5, "--lr-critic 3e-5", "GRM-shaped, the critics' learning rate 3e-5 instead of 1e-4"),
            ("sparse", "sparse,grm", 3, "--lr-critic 1e-4",
             "sparse and GRM-shaped reward with the same learner, 3 seeds each (GRM: v2-lrc1e-4's seeds 0-2, same options)")):
        recipe(f"rl/open_drawer-v3-{tag}", f"{compare_v3} --rewards {rewards} --seeds {seeds} --out runs/rl/cmp-od-v3-{tag} "
               f"--json runs/bench/rl_open_drawer-v3-{tag}.json noise-sac {opts}",
               f"noise-sac's defaults (the critics' learning rate 1e-4), 300 episodes on open_drawer: {about}",
               output=f"runs/bench/rl_open_drawer-v3-{tag}.json")

    recipe("rl/pick_place15-v2", "rl compare --task pick_place --init models/bc-pick_place-15demo --grm models/grm-lite-sim "
           f"{budget} --potential-every 8 --rewards sparse,grm --seeds 3 --out runs/rl/cmp-pp15-v2 "
           "--json runs/bench/rl_pick_place15-v2.json" + noise_sac(base=V2_LEARNER),
           "noise-space SAC with noise-sac's defaults (1 nat, 2 updates) on the 15-demo pick_place BC, 300 episodes: "
           "sparse and GRM-shaped reward, 3 seeds each", output="runs/bench/rl_pick_place15-v2.json")
    # noise steering only picks among the chunks the frozen policy can decode, and pick_place's start never
    # closes on the cube in about half its episodes: a residual on the executed actions moves the gripper itself
    recipe("rl/pick_place15-residual", "rl compare --task pick_place --init models/bc-pick_place-15demo "
           f"--grm models/grm-lite-sim {budget} --potential-every 8 --rewards grm --seeds 3 --out runs/rl/cmp-pp15-res "
           "--json runs/bench/rl_pick_place15-residual.json residual-sac --bound 0.3 --utd 4 --lr-critic 3e-4 "
           "--target-entropy-per-dim -1.2",
           "a bounded residual (|Δa| < 0.3 demo std) on the 15-demo pick_place BC's executed actions, 300 episodes: "
           "GRM-shaped, 3 seeds", output="runs/bench/rl_pick_place15-residual.json")

    # the README's run alone on the CPU, both cores to it: how long one run takes (the issue's ≤ 20 min)
    recipe("rl/open_drawer-time", "rl compare --task open_drawer --init models/bc-open_drawer-5demo "
           f"--grm models/grm-lite-sim {budget} --potential-every 8 --rewards grm --seeds 1 --threads 2 "
           "--out runs/rl/cmp-od-time --json runs/bench/rl_open_drawer-time.json noise-sac",
           "one GRM-shaped noise-sac run on open_drawer (today's defaults) with the CPU to itself, 2 threads: "
           "its wall time and where it went", output="runs/bench/rl_open_drawer-time.json")

    compare_pp = f"rl compare --task pick_place --init runs/bc/pick_place15-kp/model {budget} --out runs/rl/cmp-pp15 "
    for name, opts in (
        ("grm", "--grm runs/grm2/lite96-r2 --potential-every 8 --rewards grm"),
        ("sparse", "--rewards sparse"),
    ):
        recipe(f"rl/pick_place15-{name}", f"{compare_pp}{opts} --seeds 3 --json runs/bench/rl_pick_place15-{name}.json"
               + noise_sac(),
               f"noise-space SAC on the 15-demo pick_place BC, 300 episodes: {name} reward, 3 seeds",
               output=f"runs/bench/rl_pick_place15-{name}.json", needs=("bc/pick_place15", "grm2-train-r2"))
    # fmt: on
