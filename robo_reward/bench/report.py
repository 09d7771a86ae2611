"""`robo-reward bench all`: the named recipes behind every published number, run into `docs/results.md`.

A section is a title and the recipes (`robo_reward.bench.recipes`) whose results it shows; each
recipe's table is printed under the exact command line that produced it. The measured results are kept
beside the report (`docs/results.json`, one entry per section with the time it was measured), so
`--only rl` re-measures one section and re-renders the others from what they last measured; `--recipe NAME`
re-measures single recipes and keeps the rest of their sections (each recipe dated). A failing
recipe is recorded as failed and the rest go on. Slow (hours on 2 CPU cores); never part of CI.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robo_reward.bench.recipes import get_recipe, run_with_needs
from robo_reward.utils.cli_helpers import console, markdown_table
from robo_reward.utils.io import atomic_path, write_json

REPORT = Path("docs/results.md")


@dataclass(frozen=True)
class Section:
    key: str  # what --only takes
    title: str
    recipes: tuple[str, ...]
    about: str = ""


SECTIONS: tuple[Section, ...] = (
    Section("sim", "Simulation throughput", ("bench-sim",)),
    Section("tasks", "Task suite", ("tasks",), "every task's experts, injected failures and progress"),
    Section(
        "grm",
        "GRM quality",
        (
            "grm-eval",
            "grm2-eval/grm-small-sim",
            "grm2-eval/grm-lite-sim",
            "grm2-eval-rl/lite96-a",
            "grm2-eval-rl/lite96-r2",
            "grm2-chunks-pp/lite96-a",
            "grm2-chunks-pp/lite96-r2",
            "grm3-eval/lite96-r3",
            "grm3-chunks-pp/lite96-r3",
            "grm3-eval-rl/grm-lite-sim",
            "grm3-eval-rl/lite96-r3",
            "grm-codec/grm-lite-sim",
        ),
        "`runs/grm2/lite96-a` is GRM v2 as first trained (demos, noisy experts, BC rollouts); `lite96-r2` "
        "adds the rollouts of the RL policies that lite96-a's reward trained (round 2); `lite96-r3` swaps "
        "those for the rollouts of the policies that lite96-r2's reward trained (round 3; `grm3-eval-rl`: "
        "held-out rollouts of those policies on new seeds). `auroc` scores an episode by its final Φ and "
        "`auroc_tail` by its mean Φ over the last third; tables without an `auroc_tail` column were measured "
        "when the last-third mean was the only score, so their `auroc` is that one.",
    ),
    Section("adapt", "One-shot adaptation", ("grm-adapt", "grm2-adapt")),
    Section("reward_speed", "Reward model speed", ("grm2-speed",)),
    Section("perceptual", "Perceptual reward", ("perceptual",)),
    Section(
        "policy",
        "Policies",
        ("policy-latency", "policy-success", "bc-eval/open_drawer5", "bc-eval/pick_place5"),
    ),
    Section(
        "rl",
        "RL from the weak BC starts",
        (
            "rl/open_drawer-grm",
            "rl/open_drawer-grm-r2",
            "rl/open_drawer-grm-r2-pe8",
            "rl/open_drawer-grm-r2-pe8-qmin",
            "rl/open_drawer-grm-r2-pe8-utd2",
            "rl/open_drawer-grm-r2-pe8-utd8",
            "rl/open_drawer-grm-r2-pe8-kl1",
            "rl/open_drawer-grm-r2-pe8-utd2-kl1",
            "rl/open_drawer-grm-r2-pe8-utd2-kl06",
            "rl/open_drawer-sparse-utd2-kl1",
            "rl/open_drawer-v2-n5",
            "rl/open_drawer-v2-lra1e-4",
            "rl/open_drawer-v2-g97",
            "rl/open_drawer-v2-ia01",
            "rl/open_drawer-v2-ws40",
            "rl/open_drawer-v2-lrc1e-4",
            "rl/open_drawer-v2-n5lra",
            "rl/open_drawer-v3-lrc3e-5",
            "rl/open_drawer-v3-sparse",
            "rl/open_drawer-grm-r3",
            "rl/open_drawer-time",
            "rl/open_drawer-grm-r2-pe8-utd2-b15",
            "rl/open_drawer-grm-r2-pe8-utd2-b075",
            "rl/open_drawer-grm-r2-pe8-utd2-avg",
            "rl-guided/open_drawer-grm-r2-pe8",
            "rl-guided/open_drawer-grm-r2-pe8-utd2",
            "rl/open_drawer-sparse",
            "rl/open_drawer-oracle",
            "bc-eval/pick_place15",
            "rl/pick_place15-grm",
            "rl/pick_place15-sparse",
            "rl/pick_place15-v2",
            "rl/pick_place15-residual",
            "bc-select/pick_place20",
            "bc-select/pick_place30",
            "bc-eval/pick_place20",
            "rl/pick_place20-r3",
            "rl/pick_place20-oracle",
            "rl/pick_place20-fbc-grm",
            "rl/pick_place20-fbc-sparse",
            "rl/pick_place20-fbc-restart-grm",
            "rl/pick_place20-fbc-restart-sparse",
        ),
        "open_drawer from `models/bc-open_drawer-5demo` (0.37); final success: greedy policy on 3 × 50 "
        "evaluation seeds (20000-20049, 21000-21049, 22000-22049) never used in training. `qmin`: the actor "
        "climbs the critics' minimum instead of their mean (`noise-sac --actor-q min`); `utd2`/`utd8`: 2 or 8 "
        "gradient updates per decision instead of 4 (`noise-sac --utd N`); `kl1` keeps the actor within 1 nat "
        "per dimension of the policy's own noise prior (`--regularizer prior --target-kl-per-dim 1`; `kl06`: "
        "0.6 nats), on top of 4 or (`utd2-kl*`) 2 updates per decision (`sparse-utd2-kl1`: sparse reward with "
        "those options; `v2-*`: levers on top of `utd2-kl1`, noise-sac's defaults until the critics' learning "
        "rate 1e-4 of `v2-lrc1e-4` joined them (chosen on seeds 30000-30049), with `--n-step 5`, "
        "`--lr-actor 1e-4`, `--gamma 0.97`, `--init-alpha 0.01`, `--warmstart-episodes 40`, "
        "`--lr-critic 1e-4`, or `n5lra`: `--n-step 5 --lr-actor 1e-4`); `v3-*`: on top of today's defaults "
        "(`v2-lrc1e-4`'s), the critics' learning rate 3e-5, and sparse reward; `grm-r3`: today's defaults "
        "shaped by GRM round 3 (`runs/grm2/lite96-r3`); on top of `utd2`: "
        "`b15`/`b075` bound the noise at 1.5/0.75 (`--bound B`), `avg` ships the actor averaged over ~1,000 "
        "updates (`--actor-average 0.001`; its seeds train bit for bit as `utd2`'s seeds 0-2, so the two "
        "compare the shipped actor alone). `rl-guided/*`: the same runs' policies acting value-guided (`rl eval "
        "--candidates 16 --guide min`: each decision the best of the actor's mode and 15 of its samples by the "
        "critics' minimum; 16 and the minimum chosen on seeds 30000-30049), beside each run's greedy success. "
        "pick_place's 5-demo start never grasps (0/50); its start is `models/bc-pick_place-15demo` (15 demos with recoveries, 0.17 on the same "
        "150 seeds); `residual`: `residual-sac`, a bounded residual on its executed actions instead of its noise; "
        "`pick_place20-r3` starts from `models/bc-pick_place-20demo`, BC on 20 demos of the same recipe, chosen "
        "before any RL as the fewest demos (20 or 30) whose success on seeds 30000-30049 lies in [0.3, 0.5]. "
        "`grm` is shaped by GRM v2 as first trained (`runs/grm2/lite96-a`), `grm-r2` by its round 2 "
        "(`runs/grm2/lite96-r2` = `models/grm-lite-sim`), retrained on the rollouts of the `grm` runs' policies; "
        "`pe8` holds its Φ over 8 env steps (`--potential-every 8`, chosen on seeds 30000-30049), where its "
        "potential differences carry twice the signal-to-noise of 2-step ones (`grm2-eval-rl/lite96-r2`). "
        "`fbc*`: reward-filtered BC (`rl filtered-bc`), which fine-tunes the policy itself on the rollouts whose "
        "final Φ reaches the 10th percentile of Φ on its demos (sparse: the successes); `roundK`: the "
        "simulator's success on round K's training rollouts; `kept`: rollouts kept over the run; "
        "`kept_success`: the share of them that succeeded (simulator, for analysis only); `final_success`: "
        "the final policy on the 3 × 50 evaluation seeds.",
    ),
    Section(
        "dpo",
        "DPO judged by the shipped GRM",
        (
            "bc-eval/open_drawer5-150",
            "dpo-eval/open_drawer-s0",
            "dpo-eval/open_drawer-s1",
            "dpo-eval/open_drawer-s2",
        ),
        "One round of Diffusion-DPO with the winners' guard (λ = 5) from `models/bc-open_drawer-5demo`; each "
        "seed draws its own GRM-judged pairs (20 rollouts, 5 chunks per state, 8 steps executed from the "
        "cloned simulator state); success on 150 evaluation episodes (seeds 20000-20149).",
    ),
    Section(
        "dpo_keep",
        "DPO on the shipped GRM's confident pairs",
        (
            "dpo-keep-eval/open_drawer-s0",
            "dpo-keep-eval/open_drawer-s1",
            "dpo-keep-eval/open_drawer-s2",
        ),
        "The same one-round recipe from the same BC (its success on these seeds: the first DPO section), on "
        "pairs from 60 rollouts' states kept only where the GRM's best and worst chunks differ by ≥ 0.2 "
        "(`--keep-margin 0.2`, chosen on seeds 31000-31049; the choice and the levers tried are in the "
        "recipes' comment).",
    ),
    Section(
        "dpo_critic",
        "DPO judged by an RL run's critics",
        (
            "dpo-critic-eval/open_drawer-s0",
            "dpo-critic-eval/open_drawer-s1",
            "dpo-critic-eval/open_drawer-s2",
        ),
        "The same DPO recipe from the same BC (its success on these seeds: the previous section), with each "
        "seed's pairs judged by the critics of a GRM-shaped noise-sac run over that BC "
        "(`rl/open_drawer-v2-lra1e-4`, RL seed = DPO seed): 5 of the BC's own prior-noise samples per state, "
        "ranked by the critics' minimum value; nothing is executed to judge them.",
    ),
    Section(
        "quickstart",
        "Quickstart",
        ("quickstart",),
        "`robo-reward quickstart` with its defaults: the shipped 5-demo open_drawer BC fine-tuned for 100 "
        "episodes with the shipped GRM's shaped reward, then one GRM-judged DPO round from the BC; each policy "
        "on the same 50 evaluation episodes (seeds 50000-50049); seconds per stage on the machine that ran it.",
    ),
    Section(
        "vla",
        "The multi-task VLA",
        ("vla-eval/train", "vla-eval/held_out", "vla-latency", "vla-ft2-eval"),
        "`models/flow-vla-sim` (12,000 steps on 50 demos per task, 100 per grounding scene), and the same "
        "policy fine-tuned twice 3,000 steps (`vla-ft`, `vla-ft2`: `policy train --init`) on 100 more demos "
        "each of reach, push, drawer_store and the blue cube, every task's batch share alike (not shipped: "
        "its card says why).",
    ),
    Section("calibration", "Cameras and calibration", ("calibration",)),
    Section("ros", "ROS 2 latency", ("ros",)),
)


def section_names() -> list[str]:
    """The keys `--only` accepts."""
    return [s.key for s in SECTIONS]


def _plain(value: Any) -> Any:
    """A command's result as JSON (paths as strings, anything else unknown as its text)."""
    return json.loads(json.dumps(value, default=str))


def run_section(
    section: Section, runner: Callable[[str], Any] = run_with_needs, recipes: tuple[str, ...] | None = None
) -> dict:
    """Each recipe of the section (or those of `recipes`; after what it needs), timed and dated; a
    failure recorded, not raised."""
    results = {}
    for name in section.recipes if recipes is None else recipes:
        console.rule(f"[bold]{section.title}: {name}")
        t0 = time.perf_counter()
        try:
            entry = {"status": "ok", "result": _plain(runner(name))}
        except Exception as e:  # a report with one failed recipe beats no report
            entry = {
                "status": "failed",
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(),
            }
        results[name] = {
            **entry,
            "seconds": time.perf_counter() - t0,
            "measured": time.strftime("%Y-%m-%d %H:%M"),
        }
    return {"measured": time.strftime("%Y-%m-%d %H:%M"), "recipes": results}


def render(measured: dict) -> str:
    """The whole report from the measured sections (those never measured say so)."""
    lines = [
        "# Results",
        "",
        "Generated by `robo-reward bench all` (`--only KEY` re-measures one section; the others keep "
        "their last measurement, dated). Each table sits under the command that produced it; "
        "`robo-reward bench recipes` lists them all and `robo-reward bench run NAME` runs one (and what it needs).",
        "",
    ]
    for s in SECTIONS:
        lines += [f"## {s.title}", ""]
        if s.about:
            lines += [s.about, ""]
        entry = measured.get(s.key)
        if entry is None:
            lines += ["(not measured yet: `robo-reward bench all --only " + s.key + "`)", ""]
            continue
        lines += [f"Measured {entry['measured']}.", ""]
        for name in s.recipes:
            r = entry["recipes"].get(name)
            lines += [f"### {get_recipe(name).about}", "", "```", get_recipe(name).command_line(), "```", ""]
            if r is not None and r.get("measured", entry["measured"]) != entry["measured"]:
                lines += [f"Measured {r['measured']}.", ""]
            if r is None:
                lines += ["(not measured in this run)", ""]
            elif r["status"] != "ok":
                lines += [f"**failed**: {r['error']}", ""]
            else:
                lines += [render_result(r["result"]), ""]
    return "\n".join(lines)


def render_result(r: Any) -> str:
    """A command's result as markdown: its table rows (scalar columns), else its scalar fields."""
    if isinstance(r, list) and r and all(isinstance(row, dict) for row in r):
        r = {"rows": r}  # a command that returns its rows
    if not isinstance(r, dict):
        return f"`{r}`"
    if "table_markdown" in r:
        parts = [r["table_markdown"]]
        chunks = r.get("chunk_ranking", {}).get("rows")
        if chunks:
            ranking = markdown_table([{"task": task, **row} for task, row in chunks.items()])
            parts.append(f"Same-state chunk ranking against privileged progress:\n\n{ranking}")
        potential = {
            name: res["potential"]
            for name, res in r.get("results", {}).items()
            if isinstance(res, dict) and isinstance(res.get("potential"), dict)
        }
        if potential:
            rows = [{"source": name, **diag} for name, diag in potential.items()]
            parts.append(
                "The potential as shaping sees it (`diff_snr@k`: signal-to-noise of k-step differences against "
                "privileged progress; `bias_spread`: per-episode offset; `over_rate`: frames over-rated by > 0.2):"
                f"\n\n{markdown_table(rows)}"
            )
        return "\n\n".join(parts)
    for key in ("table", "tasks", "rows", "presets"):
        if isinstance(r.get(key), list) and r[key] and isinstance(r[key][0], dict):
            # scalar columns only: per-episode lists and nested dicts stay in the JSON
            rows = [{k: v for k, v in row.items() if not isinstance(v, list | dict)} for row in r[key]]
            stages = r.get("stages") or []  # a pipeline's seconds per stage, under its table
            return "\n\n".join([markdown_table(rows)] + ([markdown_table(stages)] if stages else []))
    flat = {k: v for k, v in r.items() if isinstance(v, int | float | str)}
    return markdown_table([flat]) if flat else "(see docs/results.json)"


def rerender(report: Path = REPORT) -> Path:
    """Write the report again from its stored measurements (after a change of how results render)."""
    report = Path(report)
    with atomic_path(report) as tmp:
        tmp.write_text(render(json.loads(report.with_suffix(".json").read_text())))
    return report


def run_all(
    report: Path = REPORT,
    only: list[str] | None = None,
    runner: Callable[[str], Any] = run_with_needs,
    recipes: list[str] | None = None,
) -> dict:
    """Measure every section (or those in `only`; or just the `recipes`, merged into their sections'
    stored results), merge into `<report>.json`, write `<report>`."""
    unknown = set(only or ()) - set(section_names())
    if unknown:
        raise ValueError(f"unknown bench sections {sorted(unknown)}; choose from {section_names()}")
    if only and recipes:
        raise ValueError("give --only SECTION or --recipe NAME, not both")
    published = {name for s in SECTIONS for name in s.recipes}
    if set(recipes or ()) - published:
        raise ValueError(
            f"recipes {sorted(set(recipes) - published)} publish nothing in the report; "
            "`robo-reward bench run NAME` runs any recipe"
        )
    report = Path(report)
    store = report.with_suffix(".json")
    report.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    for s in SECTIONS:
        subset = tuple(n for n in s.recipes if n in recipes) if recipes else None
        if (only and s.key not in only) or (recipes and not subset):
            continue
        done[s.key] = run_section(s, runner, subset)
        # after every section, so a long run that is stopped keeps what it measured; read again just
        # before writing, so another `bench all --only` running beside this one keeps its sections
        measured = json.loads(store.read_text()) if store.exists() else {}
        if subset and s.key in measured:  # single recipes: the section's other results stay
            old = measured[s.key]["recipes"]
            for r in old.values():
                r.setdefault("measured", measured[s.key]["measured"])
            done[s.key] = {**done[s.key], "recipes": {**old, **done[s.key]["recipes"]}}
        measured[s.key] = done[s.key]
        write_json(store, measured)
        rerender(report)
    console.print(f"report: {report}")
    return done
