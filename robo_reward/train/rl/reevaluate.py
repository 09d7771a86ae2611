"""Evaluate finished RL runs again — e.g. acting value-guided — on the held-out evaluation seeds.

A run's `policy/` is what its trainer exported after the last episode; runs trained before the critics
shipped with the actor have no `guide/` there, so `export_from_checkpoint` rebuilds the learner from the
run's verified last checkpoint (written after the last episode, the state the export came from) and
exports it again. Each run's result is kept in its folder (`eval-<tag>.json`, tagged by the options that
decide it, with the digest of the actor it measured), so a long re-evaluation continues where it stopped
and a run trained further is measured again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from robo_reward.models.flow_policy.steering import GUIDE_DIR, is_steered
from robo_reward.train.rl.configuration_rl import RLConfig
from robo_reward.utils.io import read_json, write_json


def run_config(run: Path) -> RLConfig:
    if not (run / "rl_config.json").exists():
        raise FileNotFoundError(f"{run} is not an RL run folder (no rl_config.json): pass `rl train`'s --out")
    return RLConfig.from_dict(read_json(run / "rl_config.json"))


def export_from_checkpoint(run: Path) -> Path:
    """Export `run/policy` again from the run's last verified checkpoint (with the critics as its guide)."""
    from robo_reward.models.flow_policy import FlowPolicy
    from robo_reward.train.rl.run_summary import rollout_shape
    from robo_reward.train.rl.trainer import export_policy, make_learner
    from robo_reward.utils.checkpoint import verify_checkpoint
    from robo_reward.utils.run_folder import RUN_FILE

    cfg = run_config(run)
    started = read_json(run / RUN_FILE)  # the checkpoint must be this run's own, under its options
    manifest = verify_checkpoint(
        run / "checkpoint", run_id=started["run_id"], config_hash=started["config_hash"]
    )
    policy = FlowPolicy.from_pretrained(cfg.init, device=cfg.device)
    algo = make_learner(cfg, policy, rollout_shape(cfg, policy.config)[0])
    algo.load(manifest.folder)
    return export_policy(algo, cfg, run)


def actor_digest(folder: Path) -> str:
    """SHA-256 (16 hex digits) of a steered policy's actor weights: what a kept result was measured on."""
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()[:16]


def reevaluate(
    run: Path, candidates: int = 1, guide: str = "min", episodes: int = 50, eval_seeds: int = 3
) -> dict:
    """`run`'s policy on `eval_seeds` × `episodes` held-out episodes, value-guided when `candidates` > 1."""
    from robo_reward.train.rl.run_summary import evaluate_policy

    cfg = run_config(run)
    folder = run / "policy"
    if not is_steered(folder):
        raise ValueError(f"{folder} is not a steered policy (an off-policy RL fine-tune): nothing to guide")
    if candidates > 1 and not (folder / GUIDE_DIR).exists():
        export_from_checkpoint(run)
    actor = actor_digest(folder)
    cached = run / f"eval-k{candidates}-{guide}-{eval_seeds}x{episodes}.json"
    kept = read_json(cached) if cached.exists() else {}
    if kept.get("actor") == actor:  # not a result of an older policy
        return kept
    cfg.log.eval_episodes, cfg.log.eval_seeds = episodes, eval_seeds
    result = {"run": str(run), "seed": cfg.seed, "candidates": candidates, "guide": guide, "actor": actor}
    result["eval"] = evaluate_policy(folder, cfg, candidates=candidates, guide=guide)
    write_json(cached, result)
    return result


def summarize(results: list[dict]) -> dict:
    """Per run and over runs: the success acting as asked beside the run's own (greedy) evaluation, when
    that covered the same episodes."""
    table = []
    for r in results:
        summary = Path(r["run"]) / "summary.json"
        own = read_json(summary).get("eval", {}) if summary.exists() else {}
        same = own.get("episodes") == r["eval"]["episodes"]
        table.append({"run": r["run"], "seed": r["seed"], "success": r["eval"]["success_rate"],
                      "ci95": "[{:.2f}, {:.2f}]".format(*r["eval"]["success_ci95"]),
                      "greedy_success": own["success_rate"] if same else None})  # fmt: skip
    rates = np.array([row["success"] for row in table])
    greedy = [row["greedy_success"] for row in table]
    out = {"runs": results, "success_mean": float(rates.mean()), "success_std": float(rates.std())}
    mean = {"run": "mean ± std over runs", "seed": None, "success": out["success_mean"],
            "ci95": f"± {out['success_std']:.3f}", "greedy_success": None}  # fmt: skip
    if all(g is not None for g in greedy):
        out |= {"greedy_mean": float(np.mean(greedy)), "greedy_std": float(np.std(greedy))}
        mean["greedy_success"] = f"{out['greedy_mean']:.3f} ± {out['greedy_std']:.3f}"
    return {"table": [*table, mean], **out}
