"""Reward-filtered behaviour cloning: a BC policy improves on its own rollouts that a reward judges done.

Each round rolls the current policy out on training seeds, scores every episode by the reward's potential
at its last frame, Φ(s_T) (with Φ(s_0) = 0 and γ = 1, the episode's shaped return), keeps those at or
above a threshold τ, and fine-tunes the policy by behaviour cloning on its demos plus every episode kept
so far. This is reward-weighted regression with 0/1 weights (Peters & Schaal 2007) over whole episodes:
it reads the reward where a learned one is most precise (which episodes end done), not in its 2-step
differences, and it changes the policy itself, so it can learn what the BC policy rarely decodes (a
grasp), which noise steering cannot. Rollouts are scored on their raw frames, as online rewards are.

The rewards (`robo_reward.rewards.sources` names): `grm` (a GRM's fused progress), `oracle` (the
simulator's privileged progress: a reference, never a headline), `sparse` (the simulator's success
signal, the reward sparse RL gets). For `grm` and `oracle`, τ is the `keep_quantile` quantile of the
same score over the demos, which are successes the learner is given, so no simulator truth enters the
choice; `sparse` keeps the successes.

    out/run.json                 the run's id and the hash of the options that decide its results
    out/rounds.jsonl (+ .png)    one line per round: rollouts so far, their success (simulator), kept,
                                 the kept share that succeeded (simulator, for analysis only), τ
    out/round_XX/rollouts/       the round's rollouts as a dataset, with the simulator's labels
    out/round_XX/scores.json     per rollout: env seed, score, kept, the simulator's success; τ
    out/round_XX/train/          the round's BC fine-tune (`robo_reward.train.bc.trainer`); model/ is
                                 the policy the next round rolls out, and marks the round finished
    out/model/                   the last round's policy
    out/eval.json                the final policy on held-out episodes (`evaluate_run`)
`--resume` verifies the options and redoes an unfinished round from its seeds.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robo_reward.data.episode import Episode
from robo_reward.utils.errors import UserError
from robo_reward.utils.run_folder import config_hash

REWARDS = ("grm", "oracle", "sparse")
SEED_BASE = 100_000  # training rollouts use env seeds 100000 + 10000·seed + ...: never evaluation seeds


@dataclass
class FilteredBCConfig:
    out: Path
    init: Path  # the BC policy to improve
    data: list[Path] = field(default_factory=list)  # its demos, kept in every round's training set
    max_demos: int | None = None  # per demo folder (the BC's --max-episodes)
    task: str = "pick_place"
    reward: str = "grm"
    grm: Path | None = None
    rounds: int = 5
    episodes_per_round: int = 60
    keep_quantile: float = 0.1
    steps_per_round: int = 500
    # each round fine-tunes the starting policy (`init`) on everything kept so far, instead of the previous
    # round's policy on it: no drift compounds over rounds, and every round trains as long on more data
    restart: bool = False
    # which frames a rollout is scored on: "raw" (as rendered, as online rewards see them) or "stored" (as
    # its dataset holds them after the h264 round trip, like the demos that set τ and the data a GRM trains on)
    score_frames: str = "raw"
    batch_size: int = 64
    lr: float = 2e-4
    shift_pad: int = 1
    seed: int = 0
    threads: int | None = 1
    resume: bool = False
    overwrite: bool = False


RESUMABLE = ("out", "rounds", "threads", "resume", "overwrite")
LATER_FIELDS = {
    "restart": False,
    "score_frames": "raw",
}  # options added after runs were made, with the value those runs had


def check_config(cfg: FilteredBCConfig) -> None:
    if cfg.reward not in REWARDS:
        raise UserError(f"--reward must be one of {', '.join(REWARDS)}, got {cfg.reward!r}")
    if cfg.reward == "grm" and cfg.grm is None:
        raise UserError("--reward grm needs --grm CHECKPOINT (e.g. models/grm-lite-sim)")
    if not cfg.data:
        raise UserError("no demos: pass --data DIR [DIR ...], the BC policy's own demos")
    if cfg.score_frames not in ("raw", "stored"):
        raise UserError(f"--score-frames must be raw or stored, got {cfg.score_frames!r}")
    if not 0.0 <= cfg.keep_quantile < 1.0:
        raise UserError(f"--keep-quantile must be in [0, 1), got {cfg.keep_quantile}")
    for name in ("rounds", "episodes_per_round", "steps_per_round"):
        if getattr(cfg, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be ≥ 1, got {getattr(cfg, name)}")


def episode_scorer(reward: str, grm: Path | None = None, demos: Sequence[Episode] = ()) -> Callable:
    """`score(episode) -> float`: the reward's potential at the episode's last frame. A GRM without a
    stored goal for the demos' task takes the first demo's last frame as its goal."""
    if reward == "sparse":
        return lambda ep: float(np.asarray(ep.success)[-1])
    if reward == "oracle":
        return lambda ep: float(np.asarray(ep.progress)[-1])
    from robo_reward.models.grm.inference import ProgressEstimator, store_reference
    from robo_reward.models.grm.modeling_grm import GRM

    model = GRM.from_pretrained(grm)
    for ep in demos[:1]:
        store_reference(model.references, ep, model.config.views, replace=False)
    estimator = ProgressEstimator(model)
    return lambda ep: float(estimator(ep)[-1])


def keep_threshold(reward: str, demo_scores: np.ndarray, quantile: float) -> float:
    """τ: `sparse` keeps the successes (score 1); a progress reward keeps the rollouts that score at least
    the `quantile` quantile of its scores on the demos."""
    if reward == "sparse":
        return 1.0
    return float(np.quantile(np.asarray(demo_scores, np.float64), quantile))


def hashed(cfg: FilteredBCConfig) -> dict:
    d = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in RESUMABLE}
    d = {k: v for k, v in d.items() if k not in LATER_FIELDS or v != LATER_FIELDS[k]}
    return {k: str(v) if isinstance(v, Path) else v for k, v in d.items()} | {
        "data": [str(p) for p in cfg.data]
    }


def round_seed(cfg: FilteredBCConfig, r: int) -> int:
    """The env seed of round `r`'s first rollout (its episodes take the next ones)."""
    return SEED_BASE + 10_000 * cfg.seed + r * cfg.episodes_per_round


def round_folder(cfg: FilteredBCConfig, r: int) -> Path:
    return Path(cfg.out) / f"round_{r:02d}"


def finished_rounds(cfg: FilteredBCConfig) -> int:
    """Rounds whose scores and trained policy are both on disk (the first unfinished one is redone)."""
    r = 0
    while (round_folder(cfg, r) / "scores.json").exists() and (round_folder(cfg, r) / "train/model").exists():
        r += 1
    return r


def run_filtered_bc(
    cfg: FilteredBCConfig,
    on_round: Callable[[dict], None] | None = None,
    score: Callable[[Episode], float] | None = None,
) -> Path:
    """Run (or resume) every round; returns the final policy's folder (`out/model`). `score` replaces the
    reward's episode score (`episode_scorer`), e.g. for a reward model of your own; τ still comes from
    the demos' scores (`keep_threshold`)."""
    from robo_reward.data.lerobot_io import load_episodes, write_dataset
    from robo_reward.models.flow_policy import FlowPolicy
    from robo_reward.sim import STATE_NAMES
    from robo_reward.sim.policy_rollouts import collect_policy_episodes
    from robo_reward.train.bc.trainer import BCConfig, load_training_episodes, train_bc
    from robo_reward.utils.io import write_json
    from robo_reward.utils.logging import MetricsLogger, progress_bar
    from robo_reward.utils.run_folder import TrainingRun, cut_jsonl

    check_config(cfg)
    cfg.out = Path(cfg.out)
    TrainingRun.open(cfg.out, "filtered-bc", hashed(cfg), resume=cfg.resume, overwrite=cfg.overwrite)
    demos = [e for e in load_training_episodes(cfg.data, cfg.max_demos) if e.outcome == "success"]
    if not demos:
        raise UserError(f"no successful demos in {', '.join(map(str, cfg.data))}")
    score = score or episode_scorer(cfg.reward, cfg.grm, demos)
    tau = keep_threshold(cfg.reward, np.array([score(e) for e in demos]), cfg.keep_quantile)
    image_size = int(next(iter(demos[0].views.values())).shape[1])
    start = finished_rounds(cfg)
    cut_jsonl(cfg.out / "rounds.jsonl", key="round", upto=start - 1)
    kept: list[Episode] = []
    for r in range(start):  # the episodes earlier rounds kept, from their datasets
        verdicts = _read_scores(round_folder(cfg, r))
        rollouts = load_episodes(round_folder(cfg, r) / "rollouts")
        kept += [e for e, v in zip(rollouts, verdicts, strict=True) if v["kept"]]
    policy_folder = cfg.init if start == 0 else round_folder(cfg, start - 1) / "train/model"  # rolls out
    with MetricsLogger(cfg.out, filename="rounds.jsonl") as log, progress_bar() as bar:
        job = bar.add_task("filtered-bc", total=cfg.rounds * cfg.episodes_per_round, info=str(cfg.out))
        bar.advance(job, min(start, cfg.rounds) * cfg.episodes_per_round)
        for r in range(start, cfg.rounds):
            folder = round_folder(cfg, r)
            if folder.exists():
                shutil.rmtree(folder)  # an unfinished round: redone from its seeds
            policy = FlowPolicy.from_pretrained(policy_folder).eval()
            rollouts = collect_policy_episodes(
                policy, cfg.task, cfg.episodes_per_round, seed=round_seed(cfg, r), image_size=image_size,
                on_episode=lambda _: bar.advance(job),
            )  # fmt: skip
            for e in rollouts:  # object-state widths differ between tasks; no learned model reads them
                e.extras.clear()
            write_dataset(rollouts, folder / "rollouts", state_names=list(STATE_NAMES))
            # BC trains on the rollouts as stored (the frames its demos have), so a resumed run, which reads
            # earlier rounds back, trains on what an uninterrupted one does
            stored = load_episodes(folder / "rollouts")
            scores = [score(e) for e in (stored if cfg.score_frames == "stored" else rollouts)]
            verdicts = [
                {"seed": round_seed(cfg, r) + i, "score": s, "kept": bool(s >= tau), "success": _success(e)}
                for i, (e, s) in enumerate(zip(rollouts, scores, strict=True))
            ]
            write_json(folder / "scores.json", {"threshold": tau, "reward": cfg.reward, "rollouts": verdicts})
            kept += [e for e, v in zip(stored, verdicts, strict=True) if v["kept"]]
            bc = BCConfig(
                out=folder / "train", init=cfg.init if cfg.restart else policy_folder, lr=cfg.lr,
                steps=cfg.steps_per_round, batch_size=cfg.batch_size,
                warmup_steps=min(100, cfg.steps_per_round // 5), shift_pad=cfg.shift_pad,
                seed=cfg.seed * 1000 + r, threads=cfg.threads, ckpt_every=cfg.steps_per_round,
                log_every=max(1, cfg.steps_per_round // 10), keep_checkpoints=1,
            )  # fmt: skip
            # the kept rollouts train as successes: the reward's verdict, whatever the simulator says
            train_set = demos + [dataclasses.replace(e, outcome="success") for e in kept]
            policy_folder = train_bc(bc, episodes=train_set)
            record = round_record(r, cfg, verdicts, len(kept), tau)
            log.log(record["rollouts"], **{k: v for k, v in record.items() if k != "rollouts"})
            if on_round is not None:
                on_round(record)
    final = cfg.out / "model"
    if final.exists():
        shutil.rmtree(final)
    shutil.copytree(policy_folder, final)
    return final


def _success(ep: Episode) -> bool:
    return bool(ep.success is not None and np.asarray(ep.success)[-1])


def _read_scores(folder: Path) -> list[dict]:
    from robo_reward.utils.io import read_json

    return read_json(folder / "scores.json")["rollouts"]


def round_record(r: int, cfg: FilteredBCConfig, verdicts: list[dict], kept_total: int, tau: float) -> dict:
    """The round's line of `rounds.jsonl`: what the learner saw (kept, τ) and, from the simulator, for
    analysis only, how its rollouts did and how many of the kept ones succeeded."""
    kept = [v for v in verdicts if v["kept"]]
    return {
        "rollouts": (r + 1) * cfg.episodes_per_round,
        "round": r,
        "success": float(np.mean([v["success"] for v in verdicts])),
        "kept": len(kept),
        "kept_total": kept_total,
        "kept_success": float(np.mean([v["success"] for v in kept])) if kept else 0.0,
        "threshold": tau,
        "mean_score": float(np.mean([v["score"] for v in verdicts])),
    }


def evaluate_run(cfg: FilteredBCConfig, model: Path, episodes: int, sets: int) -> dict:
    """The final policy on `sets` × `episodes` held-out episodes (RL's evaluation seeds), kept in the run
    as eval.json."""
    from robo_reward.models.flow_policy import FlowPolicy
    from robo_reward.sim.policy_evaluation import evaluate
    from robo_reward.train.rl.run_summary import EVAL_SEED_SETS
    from robo_reward.utils.io import write_json

    policy = FlowPolicy.from_pretrained(model).eval()
    result = {"model": str(model), "reward": cfg.reward, "task": cfg.task, "seed": cfg.seed, "eval": []}
    for s in EVAL_SEED_SETS[:sets]:
        r = evaluate(policy, cfg.task, episodes=episodes, num_envs=2, seed=s)
        result["eval"].append({"seed": s, "success": r["success_rate"], "ci95": r["success_ci95"]})
    result["final_success"] = float(np.mean([e["success"] for e in result["eval"]]))
    write_json(Path(cfg.out) / "eval.json", result)
    return result


def finished(run: FilteredBCConfig, eval_sets: int) -> dict | None:
    """The evaluation of a finished run of exactly these options (every round done), else None."""
    from robo_reward.utils.io import read_json

    done, ident = run.out / "eval.json", run.out / "run.json"
    if not (done.exists() and ident.exists()) or finished_rounds(run) < run.rounds:
        return None
    if read_json(ident).get("config_hash") != config_hash(hashed(run)):
        return None
    result = read_json(done)
    return result if len(result.get("eval", [])) == eval_sets else None


def run_seeds(
    cfg: FilteredBCConfig,
    seeds: int,
    eval_episodes: int,
    eval_sets: int,
    on_round: Callable | None = None,
    score: Callable[[Episode], float] | None = None,
    first_seed: int = 0,
) -> dict:
    """Seeds `first_seed`.. of `cfg` (`seeds` of them), each in `cfg.out`/seed<i>, then evaluated. With
    `cfg.resume`, finished seeds (evaluated, made with these options) are reused and the others resumed
    or started."""
    from robo_reward.utils.logging import read_metrics

    rows = []
    for s in range(first_seed, first_seed + seeds):
        run = dataclasses.replace(cfg, out=Path(cfg.out) / f"seed{s}", seed=s)
        result = finished(run, eval_sets) if cfg.resume else None
        if result is None:
            run.resume = cfg.resume and (run.out / "run.json").exists()
            model = run_filtered_bc(run, on_round=on_round, score=score)
            result = evaluate_run(run, model, eval_episodes, eval_sets)
        lines = read_metrics(run.out / "rounds.jsonl")
        kept = sum(x["kept"] for x in lines)
        rows.append(
            {
                "seed": s,
                **{f"round{int(x['round'])}": round(x["success"], 3) for x in lines},
                "kept": int(kept),
                "kept_success": round(sum(x["kept"] * x["kept_success"] for x in lines) / max(1, kept), 3),
                "final_success": result["final_success"],
            }
        )
    finals = np.array([r["final_success"] for r in rows])
    table = rows + [{"seed": "mean", "final_success": float(finals.mean())}]
    return {
        "table": table,
        "final_success_mean": float(finals.mean()),
        "final_success_std": float(finals.std()),
    }
