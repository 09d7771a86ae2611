"""`robo-reward dpo {pairs, train, judges}`: preference pairs from a policy, Diffusion-DPO fine-tuning,
and how well a judge ranks the candidate chunks of a state."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import tyro

from robo_reward.train.dpo.configuration_dpo import DPOConfig, PairsConfig
from robo_reward.utils.cli_helpers import console, emit_json, print_table, set_threads


def pairs(
    policy: Path,
    out: Path,
    cfg: Annotated[PairsConfig, tyro.conf.OmitArgPrefixes],
    task: str | None = None,
    data: list[Path] | None = None,
    json: Path | None = None,
    threads: int | None = 1,  # torch threads; more oversubscribe a busy 2-core CPU (10× slower seen)
) -> dict:
    """Sample K chunks per observation, score them, keep (best, worst) pairs with a large enough gap.

    --task T: observations from the policy's own sim rollouts, scored by executing each chunk from the
    cloned sim state (world model) and judging the progress gain (--scorer
    grm|perceptual|consensus|oracle) or the success of the branch (--scorer success, with the
    look-ahead of --continue-steps); --scorer critic --critic RUN/policy ranks the policy's own samples
    by the critics of a noise-sac run over it instead, executing nothing.
    --data DIR: demo frames; the action reward (−L1 to the demo chunk) ranks them, plus the world
    model where the demos carry sim states.
    """
    from robo_reward.data.preferences import save_pairs
    from robo_reward.models.flow_policy import FlowPolicy
    from robo_reward.train.dpo.pairs import load_demo_episodes, pairs_from_data
    from robo_reward.train.dpo.trainer import generate_pairs

    if (task is None) == (not data):
        raise SystemExit("give exactly one of --task T or --data DIR [DIR ...]")
    set_threads(threads)
    model = FlowPolicy.from_pretrained(policy)
    if task is not None:
        result = generate_pairs(model, task, cfg)
    else:
        result = pairs_from_data(model, load_demo_episodes(list(data)), cfg)
    save_pairs(result, out)
    info = {
        "out": str(out),
        "pairs": len(result),
        "observations": result.meta["observations_considered"],
        "mean_margin": float(result.margin.mean()),
        "world_reward": bool(result.meta.get("world_reward")),
    }
    print_table("preference pairs", [info])
    emit_json(json, info)
    return info


def train(
    policy: Path,
    out: Path,
    cfg: Annotated[DPOConfig, tyro.conf.OmitArgPrefixes],
    pairs: Path | None = None,
    task: str | None = None,
    pairs_config: Annotated[PairsConfig, tyro.conf.arg(prefix_name=True)] = PairsConfig(scorer="oracle"),
    resume: bool = False,
    json: Path | None = None,
    threads: int | None = 1,  # torch threads; more oversubscribe a busy 2-core CPU (10× slower seen)
) -> dict:
    """Diffusion-DPO of `--policy` on `--pairs` against a frozen copy of itself.

    `--rounds R` regenerates pairs with the improved policy on `--task` before each later round
    (options of that generation: --pairs-config.*); `--eval-episodes N` measures sim success before
    and after each round. The final policy is `<out>/policy`.
    """
    from robo_reward.train.dpo.trainer import train_dpo

    set_threads(threads)
    summary = train_dpo(policy, out, cfg, pairs=pairs, task=task, pairs_cfg=pairs_config, resume=resume)
    rows = [
        {"round": r["round"], "pairs": r["pairs"], "steps": r.get("steps"), **_success(r.get("after"))}
        for r in summary["rounds"]
    ]
    if summary.get("before"):
        rows.insert(0, {"round": "before", "pairs": None, **_success(summary["before"])})
    print_table("dpo", rows)
    console.print(f"policy saved to {summary['policy']}")
    emit_json(json, summary)
    return summary


def _success(ev: dict | None) -> dict:
    return {
        "success": ev["success_rate"] if ev else None,
        "final_progress": ev["mean_final_progress"] if ev else None,
    }


def judges(
    policy: Path,
    task: str,
    grm: Path | None = None,
    perceptual: Path | None = None,
    consensus_margin: float = 0.05,  # with both judges: the gap each must reach for the consensus
    critic: Path | None = None,  # `<rl run>/policy` of a noise-sac fine-tune of --policy: its critics
    critic_statistic: str = "min",  # the critics' "min" (pessimistic) or "mean"
    k: int = 5,
    execute_steps: int = 8,
    continue_steps: int = 0,
    episodes: int = 5,
    seed: int = 0,
    min_gap: float = 0.02,
    json: Path | None = None,
    threads: int | None = 1,
) -> dict:
    """Agreement of the learned judges (the GRM `--grm`, fused and per perspective; the perceptual reward
    `--perceptual`, a `perceptual fit` output; with both, their consensus; the critics of an RL
    fine-tune of the policy, `--critic`) with privileged sim progress when ranking K chunks sampled at
    the same state, on the same branches of `episodes` rollouts of the policy (train/dpo/judges.py)."""
    from robo_reward.models.flow_policy import FlowPolicy
    from robo_reward.models.grm.modeling_grm import GRM
    from robo_reward.models.perceptual.modeling_perceptual import PerceptualReward
    from robo_reward.train.dpo.critic_judge import CriticJudge
    from robo_reward.train.dpo.judges import judge_agreement

    if grm is None and perceptual is None and critic is None:
        raise SystemExit(
            "dpo judges: give a learned judge to measure: --grm PATH, --perceptual PATH or --critic PATH"
        )
    set_threads(threads)
    model = FlowPolicy.from_pretrained(policy)
    critic_judge = None
    if critic is not None:
        critic_judge = CriticJudge.from_pretrained(critic, critic_statistic)
        critic_judge.check_policy(model)
    result = judge_agreement(
        model, task, GRM.from_pretrained(grm) if grm else None, k, execute_steps, continue_steps, episodes,
        seed, min_gap, perceptual=PerceptualReward.from_pretrained(perceptual) if perceptual else None,
        consensus_margin=consensus_margin, critic=critic_judge,
    )  # fmt: skip
    print_table(
        f"judges on {task}: k {k}, {execute_steps} + {continue_steps} steps; at judge margin m: states "
        "kept, of those right/wrong to the oracle",
        [_judge_row(name, r) for name, r in result.items()],
    )
    emit_json(json, result)
    return result


def _judge_row(name: str, r: dict) -> dict:
    """One judge's agreement in a few columns (the JSON keeps every number)."""
    from robo_reward.train.dpo.judges import MARGINS

    def f(v: float) -> str:
        return "–" if v != v else f"{v:.2f}"

    row = {"judge": name, "pair acc": f(r["pair_accuracy"]), "winner acc": f(r["winner_accuracy"])}
    for m in MARGINS:
        row[f"m {m}"] = f"{f(r[f'kept@{m}'])} {f(r[f'right@{m}'])}/{f(r[f'wrong@{m}'])}"
    return row


COMMANDS = {"pairs": pairs, "train": train, "judges": judges}
