"""`robo-reward bench all`: every measurement the README quotes, in one run, into one report.

Each section calls the same function its own command does, and the markdown it writes
(`<out>/report.md`) is what the README's results section is pasted from, with the command printed
under each table. Slow (tens of minutes on 2 CPU cores); never part of CI.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from pathlib import Path

from robo_reward.paths import shipped_models
from robo_reward.utils.cli_helpers import console, markdown_table
from robo_reward.utils.io import atomic_path, write_json

SEEN = "reach,push,pick_place,stack,open_drawer"
# the datasets the README's reward and perceptual numbers are measured on (model cards: same commands),
# collected unless already there; each with its tasks' canonical instructions, as they were measured
_DATASETS: dict[str, dict] = {
    "data/grm/train": dict(task=SEEN, episodes=24, failures=0.3, seed=0, image_size=64),
    "data/grm/train_fail": dict(task=SEEN, episodes=16, failures=0.7, seed=20_000, image_size=64),
    "data/grm/train_more": dict(task=SEEN, episodes=24, failures=0.3, seed=40_000, image_size=64),
    "data/grm/train_more2": dict(task=SEEN, episodes=24, failures=0.3, seed=60_000, image_size=64),
    "data/grm/eval": dict(task=SEEN, episodes=12, failures=0.4, seed=5_000, image_size=64),
    "data/grm/eval2": dict(task=SEEN, episodes=24, failures=0.4, seed=7_000, image_size=64),
    "data/grm/drawer_demo": dict(task="drawer_store", episodes=3, seed=0, image_size=64),
    "data/grm/drawer_eval": dict(task="drawer_store", episodes=14, failures=0.4, seed=5_000, image_size=64),
    "data/grm/drawer_eval2": dict(task="drawer_store", episodes=24, failures=0.4, seed=7_000, image_size=64),
    **{
        f"data/perc/eval/{t}": dict(task=t, episodes=40, failures=0.35, seed=0)
        for t in ("push", "pick_place", "stack", "open_drawer", "drawer_store", "reach")
    },
    "data/perc/eval-fail/reach": dict(task="reach", episodes=40, failures=1.0, seed=2_000),
    "data/rl/open_drawer10": dict(task="open_drawer", episodes=10, noise=0.05, seed=0, image_size=64),
}
DATASETS = {path: {**kwargs, "wordings": "canonical"} for path, kwargs in _DATASETS.items()}


def _sections(out: Path) -> list[tuple[str, str, Callable[[], dict]]]:
    grm_checkpoint = shipped_models() / "grm-small-sim"
    policy = shipped_models() / "flow-small-sim"

    def sim() -> dict:
        from robo_reward.bench.sim import run

        return run(json=out / "sim.json")

    def tasks() -> dict:
        from robo_reward.commands.sim import validate

        return {"tasks": validate(seeds=20, json=out / "tasks.json")}

    def datasets() -> dict:
        from robo_reward.commands.sim import collect

        made = []
        for path, kwargs in DATASETS.items():
            if not (Path(path) / "meta" / "info.json").exists():
                collect(Path(path), **kwargs)
                made.append(path)
        return {"rows": [{"dataset": p, "collected now": p in made} for p in DATASETS]}

    def grm() -> dict:
        from robo_reward.commands.grm import eval as grm_eval

        return grm_eval(
            grm_checkpoint,
            [Path("data/grm/eval"), Path("data/grm/eval2")],
            json=out / "grm_seen.json",
            plots=out / "grm_plots",
        )

    def adapt() -> dict:
        from robo_reward.commands.grm import adapt as grm_adapt

        r = grm_adapt(
            grm_checkpoint,
            Path("data/grm/drawer_demo"),
            out / "grm-adapted",
            episode=0,
            replay=[Path(f"data/grm/{d}") for d in ("train", "train_fail", "train_more", "train_more2")],
            eval_data=[Path("data/grm/drawer_eval"), Path("data/grm/drawer_eval2")],
            old_eval_data=[Path("data/grm/eval")],
            json=out / "adapt.json",
        )
        rows = [
            {
                "task": t,
                "set": group,
                "VOC before": r["voc_before"][group][t],
                "VOC after": r["voc_after"][group][t],
            }
            for group in ("new", "old")
            for t in r["voc_after"][group]
        ]
        seconds = f"{r['seconds']:.0f} s ({r['adapt_seconds_including_data_loading']:.0f} s with loading)"
        return {**r, "table_markdown": f"adaptation {seconds}\n\n" + markdown_table(rows)}

    def perceptual() -> dict:
        from robo_reward.bench.perceptual import run

        negatives = {"reach": Path("data/perc/eval-fail/reach")}
        return run(
            Path("data/perc/eval"), out / "perceptual", negatives=negatives, json=out / "perceptual.json"
        )

    def policy_latency() -> dict:
        from robo_reward.bench.policy import run

        return run(json=out / "policy_latency.json")

    def policy_success() -> dict:
        from robo_reward.commands.policy import eval as policy_eval

        return policy_eval(policy, task="pick_place", episodes=50, json=out / "policy_success.json")

    def weak_bc() -> Path:
        """The RL and DPO starting point: BC on 5 open_drawer demos (success ≈ 0.37)."""
        from robo_reward.commands.policy import train

        if (out / "bc_od5" / "model" / "config.json").exists():
            return out / "bc_od5" / "model"
        return train(  # a run left half-done by an interrupted bench is started again
            [Path("data/rl/open_drawer10")],
            out / "bc_od5",
            steps=600,
            batch_size=32,
            max_episodes=5,
            overwrite=True,
        )

    def rl() -> dict:
        from robo_reward.train.rl.compare import compare
        from robo_reward.train.rl.configuration_rl import LogConfig, RLConfig

        cfg = RLConfig(
            task="open_drawer", init=str(weak_bc()), grm=str(grm_checkpoint), rollouts=300,
            log=LogConfig(eval_episodes=50, eval_seeds=3),
        )  # fmt: skip
        return compare(cfg, ["sparse", "naive", "grm", "oracle"], 3, out / "rl")

    def dpo() -> dict:
        from robo_reward.commands.policy import eval as policy_eval
        from robo_reward.train.dpo.configuration_dpo import DPOConfig, PairsConfig
        from robo_reward.train.dpo.trainer import train_dpo

        bc = weak_bc()
        train_dpo(
            bc,
            out / "dpo",
            DPOConfig(rounds=2, steps=200, beta=100.0, lr=1e-5, eval_episodes=30),
            task="open_drawer",
            pairs_cfg=PairsConfig(k=5, scorer="oracle", execute_steps=8, episodes=20),
        )
        rows = []
        for name, ckpt in (("BC, 5 demos", bc), ("DPO, 2 rounds of oracle pairs", out / "dpo" / "policy")):
            rates = [
                policy_eval(ckpt, task="open_drawer", episodes=50, seed=seed, record=0)["tasks"][0][
                    "success_rate"
                ]
                for seed in (1000, 2000, 3000)
            ]
            rows.append(
                {"policy": name, **{f"seed {s}": r for s, r in zip((1000, 2000, 3000), rates, strict=True)}}
            )
            rows[-1]["mean"] = sum(rates) / 3
        return {"rows": rows}

    def calibration() -> dict:
        from robo_reward.bench.calibration import run

        return run(json=out / "calibration.json")

    def ros() -> dict:
        from robo_reward.bench.ros import run

        return run(json=out / "ros.json", seconds=10, rate=30.0)

    return [
        ("sim throughput", "robo-reward bench sim", sim),
        ("task suite", "robo-reward sim validate --seeds 20", tasks),
        ("datasets", "robo-reward sim collect ... (the commands on the model cards)", datasets),
        (
            "GRM quality, seen tasks",
            "robo-reward grm eval --checkpoint models/grm-small-sim --data data/grm/eval data/grm/eval2",
            grm,
        ),
        (
            "one-shot adaptation",
            "robo-reward grm adapt --checkpoint models/grm-small-sim --demo data/grm/drawer_demo --episode 0 "
            "--replay data/grm/train{,_fail,_more,_more2} --eval-data data/grm/drawer_eval data/grm/drawer_eval2 "
            "--old-eval-data data/grm/eval",
            adapt,
        ),
        (
            "perceptual reward",
            "robo-reward bench perceptual --data data/perc/eval --reach-negatives data/perc/eval-fail/reach",
            perceptual,
        ),
        ("policy latency", "robo-reward bench policy", policy_latency),
        (
            "policy success",
            "robo-reward policy eval --checkpoint models/flow-small-sim --episodes 50",
            policy_success,
        ),
        (
            "RL comparison",
            "robo-reward rl compare --task open_drawer --init BC_5_DEMOS --rewards sparse,naive,grm,oracle "
            "--rollouts 150 --seeds 3 --lr-actor 1e-4 --init-noise-scale 0 --noise-std-init 0.1 --chunks-per-update 48 "
            "--ratio-positions executed --target-kl None",
            rl,
        ),
        (
            "DPO",
            "robo-reward dpo train --policy BC_5_DEMOS --task open_drawer --rounds 2 --steps 200 --beta 100 "
            "--lr 1e-5 --pairs-config.k 5 --pairs-config.scorer oracle --pairs-config.execute-steps 8 "
            "--pairs-config.episodes 20; robo-reward policy eval --task open_drawer --episodes 50 --seed {1000,2000,3000}",
            dpo,
        ),
        ("cameras and calibration", "robo-reward bench calibration", calibration),
        ("ROS latency", "robo-reward bench ros --seconds 10", ros),
    ]


def section_names(out: Path = Path("runs/bench")) -> list[str]:
    """The keys `--only` accepts: each section's function name."""
    return [fn.__name__ for _, _, fn in _sections(Path(out))]


def run_all(out: Path, only: list[str] | None = None) -> dict:
    """Run every section, or those named in `only` (a failing one is recorded and the rest go on);
    write report.md + JSON."""
    out = Path(out)
    sections = _sections(out)
    if only:
        unknown = set(only) - set(section_names(out))
        if unknown:
            raise ValueError(f"unknown bench sections {sorted(unknown)}; choose from {section_names(out)}")
        sections = [s for s in sections if s[2].__name__ in only]
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    lines = ["# robo_reward benchmark report", "", f"Generated {time.strftime('%Y-%m-%d %H:%M')}.", ""]
    for title, command, fn in sections:
        console.rule(f"[bold]{title}")
        t0 = time.perf_counter()
        try:
            r = fn() or {}
            status = "ok"
        except Exception as e:  # a report with one failed section beats no report
            r, status = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}, "failed"
        results[title] = {"status": status, "seconds": time.perf_counter() - t0, "result": r}
        lines += [f"## {title}", "", f"`{command}`", ""]
        lines += [_render(r), ""]
        # after every section, so a long run that is stopped keeps what it measured
        with atomic_path(out / "report.md") as tmp:
            tmp.write_text("\n".join(lines))
        write_json(out / "report.json", results)
    console.print(f"report: {out / 'report.md'}")
    return results


def _render(r: dict) -> str:
    if "error" in r:
        return f"**failed**: {r['error']}"
    if "table_markdown" in r:
        return r["table_markdown"]
    for key in ("table", "tasks", "rows", "presets"):
        if isinstance(r.get(key), list) and r[key] and isinstance(r[key][0], dict):
            # scalar columns only: per-episode lists and nested dicts stay in the JSON
            rows = [{k: v for k, v in row.items() if not isinstance(v, list | dict)} for row in r[key]]
            return markdown_table(rows)
    flat = {k: v for k, v in r.items() if isinstance(v, int | float | str)}
    return markdown_table([flat]) if flat else "(see JSON)"
