"""How well a judge ranks the candidate chunks of one state: agreement with privileged sim progress.

DPO learns only from the order a judge puts on K chunks sampled at the same state, so that order is
what to measure. From the policy's own rollouts (the states DPO pairs come from), each chunk boundary
branches K candidates (executed `execute_steps`, then `continue_steps` more of the policy with shared
noise, as in `pairs_from_task`); the oracle's progress gains are the truth. Reported per judge:
- `pair_accuracy`: over candidate pairs whose oracle gains differ by ≥ `min_gap`, the fraction the judge
  orders the same way (a tie counts one half);
- `winner_accuracy`: over states where the judge's best and worst candidates differ in oracle gain by
  ≥ `min_gap`, the fraction where its best is the oracle's better one (the DPO pair it would make);
- for each judge margin m (the pair builder's `min_margin`), `kept@m` (the fraction of states whose
  best–worst judge gap is ≥ m), `right@m` / `wrong@m` (of those kept pairs, the fraction the oracle
  orders the same way / the other way by ≥ `min_gap`; the rest are ties to the oracle, i.e. noise).
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import torch

from robo_reward.rewards.sources import GRMProgress, OracleProgress, PerceptualProgress
from robo_reward.train.dpo.world_model import SimWorldModel, SourceJudge, consensus

MARGINS = (0.02, 0.05, 0.1, 0.2)


def ranking_agreement(truth: list[np.ndarray], scores: list[np.ndarray], min_gap: float) -> dict[str, float]:
    """Pair and winner accuracy of `scores` against `truth` (one (K,) array of each per state)."""
    agree, pairs, wins, states = 0.0, 0, 0, 0
    for t, s in zip(truth, scores, strict=True):
        for i, j in combinations(range(len(t)), 2):
            if abs(t[i] - t[j]) >= min_gap:
                pairs += 1
                agree += 0.5 if s[i] == s[j] else float((s[i] > s[j]) == (t[i] > t[j]))
        w, lo = int(np.argmax(s)), int(np.argmin(s))
        if w != lo and abs(t[w] - t[lo]) >= min_gap:
            states += 1
            wins += int(t[w] > t[lo])
    out = {
        "pair_accuracy": agree / pairs if pairs else float("nan"),
        "pairs": pairs,
        "winner_accuracy": wins / states if states else float("nan"),
        "states": states,
    }
    for m in MARGINS:
        gaps = [(t[int(np.argmax(s))] - t[int(np.argmin(s))]) for t, s in zip(truth, scores, strict=True)
                if np.max(s) - np.min(s) >= m]  # fmt: skip
        kept = len(gaps)
        out[f"kept@{m}"] = kept / len(truth) if truth else float("nan")
        out[f"right@{m}"] = sum(g >= min_gap for g in gaps) / kept if kept else float("nan")
        out[f"wrong@{m}"] = sum(g <= -min_gap for g in gaps) / kept if kept else float("nan")
    return out


def judge_agreement(
    policy, task: str, grm=None, k: int = 5, execute_steps: int = 8, continue_steps: int = 0,
    episodes: int = 5, seed: int = 0, min_gap: float = 0.02, image_size: int | None = None,
    perceptual=None, consensus_margin: float = 0.05, critic=None,
) -> dict[str, dict[str, float]]:  # fmt: skip
    """Agreement with the oracle of the GRM's fused progress and each of its perspectives, of the
    perceptual reward (`perceptual`: a fitted `PerceptualReward`), of their consensus (with both; see
    `ConsensusJudge`), of an RL fine-tune's critics (`critic`: a `CriticJudge` over `policy`; the
    candidates are then its prior-noise samples, which every judge ranks), of the oracle itself (a
    check: 1.0, never wrong) and of a constant score (chance), on the same branches of `episodes`
    policy rollouts of `task`."""
    from robo_reward.sim import make_env, task_spec
    from robo_reward.train.dpo.pairs import (
        PAIRS_SEED_BASE,
        _policy_obs,
        _to_batch,
        continue_branch,
        sample_candidates,
    )

    pc = policy.config
    instruction = task_spec(task).instruction
    size = image_size or getattr(pc, "source_image_size", None) or pc.image_size
    env = make_env(task, image_size=size)
    world = SimWorldModel(make_env(task, image_size=size))
    oracle = SourceJudge(OracleProgress(k))
    judge = SourceJudge(GRMProgress(k, instruction, model=grm)) if grm is not None else None
    perceptual_judge = (
        SourceJudge(PerceptualProgress(k, model=perceptual)) if perceptual is not None else None
    )
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    truth: list[np.ndarray] = []
    scores: dict[str, list[np.ndarray]] = {}
    try:
        for ep in range(episodes):
            obs, info = env.reset(seed=PAIRS_SEED_BASE + 500 + seed + ep)
            world.env.reset(seed=PAIRS_SEED_BASE + 500 + seed + ep)
            done, step = False, 0
            while not done:
                state = env.unwrapped.get_sim_state()
                batch = _to_batch([_policy_obs(policy, obs)], instruction, policy.device)
                if critic is not None:
                    chunks, values = critic.candidates(batch, step, k, generator)
                    scores.setdefault("critic", []).append(values)
                else:
                    chunks = sample_candidates(policy, batch, k, generator)[0]
                cont = int(rng.integers(2**31))
                outcomes = [
                    continue_branch(world, policy, instruction, state, c[:execute_steps], continue_steps,
                                    pc.n_action_steps, cont)
                    for c in chunks
                ]  # fmt: skip
                truth.append(oracle.gains(obs, info, outcomes))
                if judge is not None:
                    scores.setdefault("grm", []).append(judge.gains(obs, info, outcomes))
                    for name in ("forward", "backward", "incremental"):
                        scores.setdefault(f"grm {name}", []).append(
                            np.asarray(judge.source.online.last[name])
                        )
                if perceptual_judge is not None:
                    scores.setdefault("perceptual", []).append(perceptual_judge.gains(obs, info, outcomes))
                if judge is not None and perceptual_judge is not None:
                    both = [scores["grm"][-1], scores["perceptual"][-1]]
                    scores.setdefault("consensus", []).append(consensus(both, consensus_margin))
                follow = int(rng.integers(k))
                for a in chunks[follow][:execute_steps]:
                    obs, _, terminated, truncated, info = env.step(a)
                    step += 1
                    if terminated or truncated:
                        done = True
                        break
    finally:
        env.close()
        world.env.close()
    out = {name: ranking_agreement(truth, s, min_gap) for name, s in scores.items()}
    out["oracle"] = ranking_agreement(truth, truth, min_gap)
    out["constant (chance)"] = ranking_agreement(truth, [np.zeros(k)] * len(truth), min_gap)
    return out


def chunk_ranking(
    model, policy_path: Path, tasks: tuple[str, ...], episodes: int, seed: int, min_gap: float = 0.02
) -> dict:
    """The GRM as a judge of same-state chunks (`judge_agreement`), per task: pair accuracy (over pairs
    whose oracle gains differ by ≥ `min_gap`), and at the pair builder's margin (0.02) the kept states
    and the kept pairs' right / wrong / oracle ties."""
    from robo_reward.models.flow_policy.steering import load_policy

    policy = load_policy(policy_path)
    full, rows = {}, {}
    for task in tasks:
        r = judge_agreement(
            policy, task, model, k=5, execute_steps=8, episodes=episodes, seed=seed, min_gap=min_gap
        )
        full[task] = r
        g = r["grm"]
        rows[task] = {
            "pair_accuracy": g["pair_accuracy"],
            "kept@0.02": g["kept@0.02"],
            "right@0.02": g["right@0.02"],
            "wrong@0.02": g["wrong@0.02"],
            "oracle_ties@0.02": 1.0 - g["right@0.02"] - g["wrong@0.02"],
            "pairs": g["pairs"],
        }
    return {"policy": str(policy_path), "episodes": episodes, "rows": rows, "agreement": full}
