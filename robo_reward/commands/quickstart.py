"""`robo-reward quickstart`: the whole mission end to end on a laptop CPU, composed from the CLI's own
commands (each stage is also reachable on its own; this module only composes them):

collect demos → evaluate the GRM (VOC, S/P/F, AUROC, EPIC) → adapt it one-shot to a held-out task →
BC from a few demos → fine-tune it with GRM-shaped RL and with DPO → `report.md` with tables and plots.
"""

from __future__ import annotations

import dataclasses
import json as jsonlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import tyro

from robo_reward.paths import runs_dir, shipped_models
from robo_reward.utils.cli_helpers import console, markdown_table
from robo_reward.utils.io import write_json

SEEN_TASKS = ("reach", "push", "pick_place", "stack", "open_drawer")
HELD_OUT_TASK = "drawer_store"


@dataclasses.dataclass
class Quickstart:
    """Options of `robo-reward quickstart` (defaults: about 7 minutes on a quiet 2-core CPU)."""

    out: Path | None = None
    """Run folder (default runs/quickstart-<time>)."""
    grm: Path = shipped_models() / "grm-lite-sim"
    """Reward model checkpoint (the shipped default): the reward of RL and the judge of DPO."""
    policy: Path | None = shipped_models() / "bc-open_drawer-5demo"
    """BC flow policy checkpoint to fine-tune: by default the shipped, deliberately weak BC policy from 5
    open_drawer demos, so that fine-tuning has room to show; `--policy None` trains one here from
    BC_DEMOS demos of RL_TASK (about 2 minutes)."""
    from_scratch: bool = False
    """Train the reward model here instead of using the shipped checkpoint."""
    rl_task: str = "open_drawer"
    """Task for the BC, RL and DPO stages."""
    bc_demos: int = 5
    """Demos the default BC policy learns from."""
    bc_steps: int = 600
    """BC optimisation steps of the default policy."""
    episodes_per_task: int = 3
    """Episodes collected per seen task (a third of them with an injected failure)."""
    held_out_episodes: int = 6
    """Episodes of the held-out task: the first is the one-shot demo, the rest evaluate it."""
    rl_rollouts: int = 100
    """RL budget in episodes (noise-space SAC over the frozen BC policy, GRM-shaped reward)."""
    eval_episodes: int = 50
    """Sim episodes per policy evaluation (before RL, after RL, after DPO)."""
    dpo_rounds: int = 1
    """DPO rounds (each: preference pairs from the current policy, then DPO)."""
    dpo_pair_episodes: int = 20
    """Rollouts per DPO round that provide the observations of the preference pairs."""
    adapt_seconds: float = 60.0
    """Wall-time bound of the one-shot adaptation."""
    image_size: int = 96
    seed: int = 0
    overwrite: bool = False
    """Replace an earlier quickstart's results in --out (a folder holding anything else is refused)."""


class _Stages:
    """Runs named stages in order with a progress display; records timing and results per stage."""

    def __init__(self, names: list[str]):
        from robo_reward.utils.logging import progress_bar

        self.bar = progress_bar()
        self.job = self.bar.add_task("quickstart", total=len(names), info="")
        self.times: dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], object]):
        self.bar.update(self.job, info=name)
        console.rule(f"[bold]{name}")
        t0 = time.perf_counter()
        result = fn()
        self.times[name] = time.perf_counter() - t0
        self.bar.advance(self.job)
        return result


def quickstart(cfg: Quickstart) -> dict:
    """Run the mission end to end and write `<out>/report.md`."""
    import torch

    from robo_reward.commands.sim import collect

    if cfg.policy is not None and not (cfg.policy / "config.json").exists():  # fail before any work
        raise FileNotFoundError(f"no policy at {cfg.policy}; pass --policy PATH or leave it out")
    if not cfg.from_scratch and not (cfg.grm / "config.json").exists():
        raise FileNotFoundError(f"no reward model at {cfg.grm}; pass --grm PATH or --from-scratch")
    torch.set_num_threads(1)  # two processes' worth of threads fight on a 2-core CPU
    out = cfg.out or runs_dir() / f"quickstart-{time.strftime('%Y%m%d-%H%M%S')}"
    _clear(out, cfg.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    names = ["collect demos", "reward model", "evaluate GRM", "one-shot adaptation", "policy"]
    names += ["RL with GRM-shaped reward", "DPO", "report"]
    st = _Stages(names)
    res: dict = {"config": {k: str(v) for k, v in dataclasses.asdict(cfg).items()}}
    seen, held = out / "data" / "seen", out / "data" / "held-out"
    # every collection here keeps each task's canonical instruction, as the report's numbers were measured
    with st.bar:
        st.run(
            "collect demos",
            lambda: (
                collect(
                    seen,
                    task=",".join(SEEN_TASKS),
                    episodes=cfg.episodes_per_task,
                    failures=1 / 3,
                    seed=cfg.seed + 10_000,
                    image_size=cfg.image_size,
                    wordings="canonical",
                    overwrite=True,
                ),
                collect(
                    held,
                    task=HELD_OUT_TASK,
                    episodes=cfg.held_out_episodes,
                    seed=cfg.seed + 20_000,
                    image_size=cfg.image_size,
                    wordings="canonical",
                    overwrite=True,
                ),
            ),
        )
        grm = st.run("reward model", lambda: _reward_model(cfg, out))
        res["grm_eval"] = st.run("evaluate GRM", lambda: _grm_eval(grm, seen, out))
        res["adapt"] = st.run("one-shot adaptation", lambda: _adapt(cfg, grm, held, seen, out))
        policy = st.run("policy", lambda: _policy(cfg, out))
        res["policy_source"] = _shown(cfg.policy) if cfg.policy else f"{cfg.bc_demos} demos, trained here"
        res["rl"] = st.run("RL with GRM-shaped reward", lambda: _rl(cfg, policy, grm, out))
        res["dpo"] = st.run("DPO", lambda: _dpo(cfg, policy, out))
        res["stage_seconds"] = st.times
        res["curves"] = _curves(cfg, out)
        st.run("report", lambda: _report(res, out))
    res["stage_seconds"] = st.times
    res["stages"] = _stages(st.times)
    write_json(out / "summary.json", res)
    console.print(f"[bold green]done[/] in {sum(st.times.values()) / 60:.1f} min → {out / 'report.md'}")
    return res


# what a quickstart writes into its folder: all that --overwrite may remove
_OWN = {"data", "grm", "grm_eval.json", "grm-adapted", "adapt.json", "bc", "rl", "dpo", "plots", "report.md",
        "report.json", "summary.json"}  # fmt: skip


def _clear(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty `out` before any work, or with `overwrite` empty an earlier quickstart's."""
    from robo_reward.utils.errors import UserError
    from robo_reward.utils.run_folder import discard_folder

    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if not entries:
        return
    if not overwrite:
        raise UserError(f"--out {out} is not empty: pass --overwrite to replace the quickstart there, or choose "
                        "another folder")  # fmt: skip
    foreign = [name for name in entries if name not in _OWN]
    if foreign:
        raise UserError(
            f"--out {out} holds {', '.join(foreign[:3])}, which no quickstart writes: choose another folder"
        )
    discard_folder(out)  # whole, so that a kill halfway leaves no half-deleted results
    out.mkdir()


def _stages(seconds: dict[str, float]) -> list[dict]:
    """Seconds per stage and in total, as table rows."""
    rows = [{"stage": k, "seconds": v} for k, v in seconds.items()]
    return rows + [{"stage": "total", "seconds": sum(seconds.values())}]


def _reward_model(cfg: Quickstart, out: Path) -> Path:
    if not cfg.from_scratch:  # checked before any work in `quickstart`
        return cfg.grm
    from robo_reward.commands.grm import train
    from robo_reward.commands.sim import collect

    data = collect(
        out / "data" / "grm-train",
        task=",".join(SEEN_TASKS),
        episodes=12,
        failures=0.3,
        seed=cfg.seed,
        image_size=cfg.image_size,
        wordings="canonical",
        overwrite=True,
    )
    return train([data], out / "grm", config="grm-small", seed=cfg.seed)


def _grm_eval(grm: Path, seen: Path, out: Path) -> dict:
    from robo_reward.commands.grm import eval as grm_eval

    r = grm_eval(grm, [seen], json=out / "grm_eval.json", plots=out / "plots", perspectives=False)
    return {"table_markdown": r["table_markdown"], "episodes": r["episodes"]}


def _adapt(cfg: Quickstart, grm: Path, held: Path, seen: Path, out: Path) -> dict:
    from robo_reward.commands.grm import adapt

    r = adapt(
        grm,
        held,
        out / "grm-adapted",
        episode=0,
        replay=[seen],
        eval_data=[held],
        old_eval_data=[seen],
        max_seconds=cfg.adapt_seconds,
        json=out / "adapt.json",
        seed=cfg.seed,
    )
    return {k: r[k] for k in ("task", "voc_before", "voc_after") if k in r} | {
        "seconds": r.get("adapt_seconds_including_data_loading")
    }


def _policy(cfg: Quickstart, out: Path) -> Path:
    if cfg.policy is not None:  # checked before any work in `quickstart`
        return cfg.policy
    from robo_reward.commands.policy import train
    from robo_reward.commands.sim import collect

    data = collect(
        out / "data" / "bc", task=cfg.rl_task, episodes=cfg.bc_demos, noise=0.05, seed=cfg.seed,
        image_size=64, wordings="canonical", overwrite=True,
    )  # fmt: skip
    return train([data], out / "bc", config="flow-small", steps=cfg.bc_steps, batch_size=32, seed=cfg.seed)


def _success(policy_dir: Path, cfg: Quickstart, sheet_dir: Path | None = None) -> dict:
    from robo_reward.models.flow_policy.steering import load_policy
    from robo_reward.sim.policy_evaluation import evaluate

    policy = load_policy(policy_dir)
    r = evaluate(
        policy,
        cfg.rl_task,
        episodes=cfg.eval_episodes,
        num_envs=2,
        seed=cfg.seed + 50_000,
        record=3 if sheet_dir else 0,
        sheet_dir=sheet_dir,
    )
    return {k: v for k, v in r.items() if isinstance(v, int | float | list | str)}


def _rl(cfg: Quickstart, policy: Path, grm: Path, out: Path) -> dict:
    from robo_reward.train.rl.configuration_rl import RLConfig, ShapingOptions
    from robo_reward.train.rl.trainer import train

    before = _success(policy, cfg, out / "plots" / "before")
    # Φ held over 8 env steps: chosen on evaluation seeds 30000-30049 (3 runs of 300 episodes: 0.82 mean
    # success against 0.73 with Φ every 2-step decision); the GRM's per-decision differences are mostly noise
    rl_cfg = RLConfig(task=cfg.rl_task, init=str(policy), reward="grm", grm=str(grm), rollouts=cfg.rl_rollouts,
                      seed=cfg.seed, shaping=ShapingOptions(potential_every=8))  # fmt: skip
    summary = train(rl_cfg, out / "rl")
    after = _success(out / "rl" / "policy", cfg, out / "plots" / "after-rl")
    return {"before": before, "after": after, "train": _scalars(summary)}


def _dpo(cfg: Quickstart, policy: Path, out: Path) -> dict:
    from robo_reward.train.dpo.configuration_dpo import DPOConfig, PairsConfig
    from robo_reward.train.dpo.trainer import train_dpo

    summary = train_dpo(
        policy,
        out / "dpo",
        # the winners' guard (λ = 5) keeps a noisy judge from buying its margin with less likely winners;
        # evaluated below, like BC and RL
        DPOConfig(rounds=cfg.dpo_rounds, eval_episodes=0, winner_guard=5.0),
        task=cfg.rl_task,
        # pairs of 5 chunks per observation, ranked by the reward model's progress gain of executing
        # 8 actions from the same simulator state
        pairs_cfg=PairsConfig(
            scorer="grm", grm=str(cfg.grm), k=5, execute_steps=8, episodes=cfg.dpo_pair_episodes
        ),
    )
    after = _success(out / "dpo" / "policy", cfg, out / "plots" / "after-dpo")
    return {"rounds": summary["rounds"], "after": after}


def _curves(cfg: Quickstart, out: Path) -> dict[str, str]:
    """The training curves each trainer drew (`metrics.png`), relative to `out`; BC and the reward model
    only when trained here."""
    runs = {
        "BC policy": "bc" if cfg.policy is None else None,
        "reward model": "grm" if cfg.from_scratch else None,
    }
    runs |= {"RL with GRM-shaped reward": "rl", "DPO": "dpo"}
    return {name: f"{d}/metrics.png" for name, d in runs.items() if d and (out / d / "metrics.png").exists()}


def _shown(path: Path) -> str:
    """A path as a reader would type it: relative to the working folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _scalars(d: dict) -> dict:
    return {k: v for k, v in d.items() if isinstance(v, int | float | str)}


def _report(res: dict, out: Path) -> Path:
    lines = ["# robo_reward quickstart", ""]
    lines += ["## Reward model on seen tasks", "", res["grm_eval"]["table_markdown"], ""]
    lines += ["![progress](plots/progress.png)", ""]
    a = res["adapt"]
    rows = [
        {
            "tasks": grp,
            "VOC before": _mean(a["voc_before"].get(grp)),
            "VOC after": _mean(a["voc_after"].get(grp)),
        }
        for grp in ("new", "old")
    ]
    lines += [f"## One-shot adaptation to `{a.get('task')}` ({a.get('seconds', 0):.0f} s)", ""]
    lines += [markdown_table(rows), ""]
    rl, dpo = res["rl"], res["dpo"]
    grm_name = Path(res["config"]["grm"]).name if res["config"]["from_scratch"] != "True" else "trained here"
    rows = [
        {"policy": f"BC ({res['policy_source']})", "success": rl["before"].get("success_rate")},
        {"policy": f"after RL, GRM-shaped reward ({grm_name})", "success": rl["after"].get("success_rate")},
    ]
    rows.append(
        {"policy": f"after DPO, {len(dpo['rounds'])} round(s), pairs judged by the GRM ({grm_name})",
         "success": dpo["after"].get("success_rate")}
    )  # fmt: skip
    for row, r in zip(rows, (rl["before"], rl["after"], dpo["after"]), strict=True):
        ci = r.get("success_ci95")
        row["95 % CI"] = f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else None
        row["mean final progress"] = r.get("mean_final_progress")
    from robo_reward.sim.policy_evaluation import gain_interval

    gains = [None]
    for r in (rl["after"], dpo["after"]):
        if not (rl["before"].get("episodes") and r.get("episodes")):
            gains.append(None)
            continue
        counts = [(round(x["success_rate"] * x["episodes"]), x["episodes"]) for x in (r, rl["before"])]
        gains.append(gain_interval(*counts))
    for row, g in zip(rows, gains, strict=True):
        row["gain over BC (95 % CI)"] = "{:+.2f} [{:+.2f}, {:+.2f}]".format(*g) if g else None
    gain = gains[1]
    res["table"] = rows  # the same rows in summary.json, where `bench` renders them (`bench run quickstart`)
    lines += ["## Policy fine-tuning", "", markdown_table(rows), ""]
    if gain is not None:
        lines += [f"**Gain of GRM-shaped RL: {gain[0]:+.2f}** (95 % CI [{gain[1]:+.2f}, {gain[2]:+.2f}], "
                  f"Newcombe), {res['config']['rl_rollouts']} training episodes.", ""]  # fmt: skip
    lines += [
        f"All three evaluated alike: {rl['before'].get('episodes')} episodes of `{res['config']['rl_task']}` "
        "on the same seeds. Rollouts: `plots/before/`, `plots/after-rl/`, `plots/after-dpo/`.",
        "",
    ]
    if res.get("curves"):
        lines += ["## Training curves", ""]
        for name, png in res["curves"].items():
            lines += [f"### {name}", "", f"![{name} training curves]({png})", ""]
        lines += ["The same scalars as TensorBoard events: `tensorboard --logdir` this folder.", ""]
    lines += ["## Time per stage", "", markdown_table(_stages(res["stage_seconds"])), ""]
    lines += ["Raw numbers: `summary.json`.", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    (out / "report.json").write_text(jsonlib.dumps(res, indent=2, default=str))
    return path


def _mean(d: dict | None) -> float | None:
    if not d:
        return None
    return sum(d.values()) / len(d)


def main(cfg: Annotated[Quickstart, tyro.conf.OmitArgPrefixes]) -> dict:
    """Run the whole mission end to end on a CPU (about 7 minutes on 2 quiet cores) and write a report:
    collect demos → evaluate the shipped GRM → one-shot adaptation to a held-out task → GRM-shaped RL
    and DPO of a flow policy cloned from 5 demos → runs/quickstart-<time>/report.md."""
    return quickstart(cfg)


COMMANDS = main
