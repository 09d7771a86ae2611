"""`robo-reward rl {train, compare, eval, export}`: online RL of a BC flow policy in the sim.

The algorithm is a subcommand after the run's options, with its own options:
    robo-reward rl train --task open_drawer --init models/bc-open_drawer-5demo --reward grm \
        --grm models/grm-lite-sim --potential-every 8 noise-sac --utd 4
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from pathlib import Path
from typing import Annotated, Literal, Union

import tyro

from robo_reward.train.rl.algorithm import algorithms
from robo_reward.train.rl.configuration_rl import RLConfig, default_algorithm_config
from robo_reward.utils.cli_helpers import console, emit_json, print_table, set_threads
from robo_reward.utils.errors import UserError


def _cli_config() -> type:
    """RLConfig whose `algo` field is the union of every registered algorithm's config (subcommands)."""
    default = default_algorithm_config()
    choices = tuple(
        Annotated[
            a.config_class,
            tyro.conf.subcommand(name, default=a.config_class(), prefix_name=False),
            tyro.conf.OmitArgPrefixes,
        ]  # fmt: skip
        for name, a in algorithms().items()
    )
    return dataclasses.make_dataclass(
        "RLConfig",
        [("algo", Union[choices], field(default_factory=lambda: default))],  # noqa: UP007 - built at run time
        bases=(RLConfig,),
    )


CLIConfig = _cli_config()


def _plain(cfg: RLConfig) -> RLConfig:
    return RLConfig.from_dict(cfg.to_dict())


def _preflight(cfg: RLConfig, out: Path | None, resume: bool, overwrite: bool) -> None:
    """The cheap checks, before any model or simulator loads."""
    from robo_reward.utils.preflight import check_out_folder, require_checkpoint

    require_checkpoint(cfg.init, "--init")
    for flag, path in (("--grm", cfg.grm), ("--perceptual", cfg.perceptual)):
        if path and cfg.reward in ("grm", "perceptual", "naive"):
            require_checkpoint(path, flag)
    if out is not None:
        check_out_folder(out, resume=resume, overwrite=overwrite)


def train(
    cfg: Annotated[CLIConfig, tyro.conf.OmitArgPrefixes],
    out: Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    json: Path | None = None,
    threads: int | None = 1,  # torch threads; more oversubscribe a busy 2-core CPU
) -> dict:
    """Fine-tune `--init` (a BC checkpoint) with `--reward` for `--rollouts` episodes.

    Algorithms (the subcommand; default noise-sac): noise-sac (SAC in the frozen policy's initial-noise
    space), residual-sac (SAC of a bounded residual on its chunk), flow-ppo (on-policy flow-noise PPO of
    the action expert). The run folder (default runs/rl/<task>-<reward>-<algorithm>-s<seed>) holds
    metrics.jsonl, episodes.jsonl, checkpoint/, policy/ (what `robo-reward policy eval` reads),
    success_vs_rollouts.png and summary.json.
    """
    from robo_reward.paths import runs_dir
    from robo_reward.train.rl.trainer import train as run

    cfg = _plain(cfg)
    out = out or runs_dir() / "rl" / f"{cfg.task}-{cfg.reward}-{cfg.algorithm}-s{cfg.seed}"
    _preflight(cfg, out, resume=resume, overwrite=overwrite)
    set_threads(threads)
    summary = run(cfg, out, resume=resume, overwrite=overwrite)
    console.print(f"run folder {out}")
    row = {k: summary[k] for k in ("episodes", "env_steps", "final_success", "wall_s")}
    if "eval" in summary:
        row |= {"eval_success": summary["eval"]["success_rate"], "eval_episodes": summary["eval"]["episodes"]}
    print_table(f"rl {cfg.task} [{cfg.reward}, {cfg.algorithm}]", [row])
    emit_json(json, summary)
    return summary


def compare(
    cfg: Annotated[CLIConfig, tyro.conf.OmitArgPrefixes],
    rewards: str = "sparse,naive,grm,perceptual,oracle",
    seeds: int = 3,
    out: Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    json: Path | None = None,
    threads: int | None = 1,
) -> dict:
    """Train from the same init with each reward (comma list) × seeds; plot success vs rollouts and
    tabulate final success (held-out evaluation), rollouts to 80 % of final success and the
    sim/reward/policy/update time. `--resume` continues unfinished runs in `--out` and reuses finished
    ones (each checked against its options), so runs made one by one (`rl train --out OUT/<reward>/seed<i>
    --seed <i>`) join one table."""
    from robo_reward.paths import runs_dir
    from robo_reward.train.rl.compare import compare as run

    cfg = _plain(cfg)
    names = [r.strip() for r in rewards.split(",") if r.strip()]
    out = out or runs_dir() / "rl" / f"compare-{cfg.task}-{cfg.algorithm}"
    if resume and overwrite:
        raise UserError("--resume and --overwrite contradict each other: pass one of them")
    _preflight(cfg, None if resume else out, resume=False, overwrite=overwrite)  # each run checks its own
    set_threads(threads)
    result = run(cfg, names, seeds, out, overwrite=overwrite, resume=resume)
    print_table(f"rl compare {cfg.task} ({seeds} seeds, {cfg.rollouts} rollouts)", result["table"])
    console.print(f"plot {result['plot']}")
    emit_json(json, result)
    return result


def _run_folders(paths: tuple[Path, ...]) -> list[Path]:
    """Run folders (with rl_config.json) among `paths`, or under them (`rl compare`'s --out)."""
    runs: list[Path] = []
    for p in paths:
        found = (
            [p] if (p / "rl_config.json").exists() else sorted(c.parent for c in p.glob("**/rl_config.json"))
        )
        if not found:
            raise UserError(
                f"{p} holds no RL run (no rl_config.json in it or below): pass `rl train`'s --out"
            )
        runs += found
    return runs


def eval(
    runs: tuple[Path, ...],
    candidates: int = 16,
    guide: Literal["min", "mean"] = "min",
    episodes: int = 50,
    eval_seeds: int = 3,
    json: Path | None = None,
    threads: int | None = 1,
) -> dict:
    """Evaluate finished off-policy RL runs again on the trainer's held-out evaluation seeds, acting
    value-guided: each decision takes the best of the actor's mode and `--candidates` − 1 samples of the
    actor by the run's critics (their `--guide` min or mean over the ensemble); `--candidates 1` is the
    actor's mode, as the trainer evaluates. `--runs` takes run folders or folders of them (`rl compare`'s
    --out). Runs whose policy/ lacks the critics are re-exported from their last checkpoint first; each
    run's result is kept in it (eval-k<K>-<guide>-<S>x<N>.json) and reused."""
    from robo_reward.train.rl.reevaluate import reevaluate, summarize
    from robo_reward.utils.logging import progress_bar

    if candidates < 1 or episodes < 1 or not 1 <= eval_seeds <= 5:
        raise UserError("need --candidates ≥ 1, --episodes ≥ 1 and 1 ≤ --eval-seeds ≤ 5")
    folders = _run_folders(runs)
    set_threads(threads)
    results = []
    with progress_bar() as bar:
        job = bar.add_task(f"rl eval (k={candidates}, {guide})", total=len(folders), info="")
        for run in folders:
            bar.update(job, info=str(run))
            results.append(reevaluate(run, candidates, guide, episodes, eval_seeds))
            bar.advance(job)
    out = summarize(results)
    title = f"rl eval: {candidates} candidates by the critics' {guide}, {eval_seeds} × {episodes} episodes"
    print_table(title, out["table"])
    emit_json(json, out)
    return out


def export(run: Path) -> Path:
    """Export `run/policy` again from the run's last verified checkpoint: the steered policy with its
    critics as value guide (for runs trained before the critics shipped, or killed before the export)."""
    from robo_reward.train.rl.reevaluate import export_from_checkpoint

    if not (run / "rl_config.json").exists():
        raise UserError(f"{run} is not an RL run folder (no rl_config.json): pass `rl train`'s --out")
    folder = export_from_checkpoint(run)
    console.print(f"policy {folder}")
    return folder


def filtered_bc(
    init: Path,
    data: list[Path],
    out: Path,
    task: str = "pick_place",
    reward: Literal["grm", "oracle", "sparse"] = "grm",
    grm: Path | None = None,
    max_demos: int | None = None,
    rounds: int = 5,
    episodes_per_round: int = 60,
    keep_quantile: float = 0.1,
    steps_per_round: int = 500,
    restart: bool = False,
    score_frames: Literal["raw", "stored"] = "raw",
    batch_size: int = 64,
    lr: float = 2e-4,
    seeds: int = 3,
    first_seed: int = 0,
    eval_episodes: int = 50,
    eval_seeds: int = 3,
    resume: bool = False,
    overwrite: bool = False,
    json: Path | None = None,
    threads: int | None = 1,
) -> dict:
    """Improve a BC policy on its own rollouts that a reward judges done: each of `--rounds` rolls it out
    `--episodes-per-round` times, keeps the episodes whose final Φ (GRM, or the oracle's privileged
    progress) reaches the `--keep-quantile` quantile of Φ on the demos (`sparse`: the successes), and
    fine-tunes it `--steps-per-round` BC steps on the demos plus every kept episode (`--restart`: fine-tunes
    the starting policy on them each round, not the previous round's; `--score-frames stored` scores the
    rollouts as their dataset stores them, the frames the demos that set τ have). Each of `--seeds`
    training seeds (from `--first-seed`) runs in OUT/seed<i> and its final policy is evaluated on
    `--eval-seeds` × `--eval-episodes` held-out episodes (seeds 20000, 21000, ...; eval.json). Each run
    writes rounds.jsonl
    (+ .png, TensorBoard) and each round's rollouts and scores. `--resume` reuses finished seeds and
    continues the others."""
    from robo_reward.train.rl.filtered_bc import FilteredBCConfig, run_seeds
    from robo_reward.train.rl.run_summary import EVAL_SEED_SETS
    from robo_reward.utils.preflight import require_checkpoint, require_datasets

    require_checkpoint(init, "--init")
    require_datasets(data)
    if grm is not None:
        require_checkpoint(grm, "--grm")
    if resume and overwrite:
        raise UserError("--resume and --overwrite contradict each other: pass one of them")
    if not 1 <= eval_seeds <= len(EVAL_SEED_SETS) or eval_episodes < 1 or seeds < 1 or first_seed < 0:
        n = len(EVAL_SEED_SETS)
        raise UserError(f"need --seeds ≥ 1, --first-seed ≥ 0, 1 ≤ --eval-seeds ≤ {n} and --eval-episodes ≥ 1")
    cfg = FilteredBCConfig(
        out=out, init=init, data=list(data), max_demos=max_demos, task=task, reward=reward, grm=grm,
        rounds=rounds, episodes_per_round=episodes_per_round, keep_quantile=keep_quantile,
        steps_per_round=steps_per_round, restart=restart, score_frames=score_frames, batch_size=batch_size,
        lr=lr, threads=threads, resume=resume, overwrite=overwrite,
    )  # fmt: skip
    set_threads(threads)
    result = run_seeds(
        cfg, seeds, eval_episodes, eval_seeds, first_seed=first_seed, on_round=lambda r: console.print(
            f"round {r['round']}: {r['rollouts']} rollouts, success {r['success']:.2f}, kept {r['kept']} "
            f"({r['kept_success']:.2f} of them successes), τ {r['threshold']:.3f}"
        ),
    )  # fmt: skip
    print_table(f"filtered-bc {task} ({reward} reward, {seeds} seeds)", result["table"])
    emit_json(json, result)
    return result


COMMANDS = {"train": train, "compare": compare, "eval": eval, "export": export, "filtered-bc": filtered_bc}
