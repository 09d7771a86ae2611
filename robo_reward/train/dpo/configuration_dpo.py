"""Configurations of preference-pair generation and DPO training (saved beside their outputs)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

SCORERS = ("grm", "perceptual", "consensus", "oracle", "success", "critic")


@dataclass
class PairsConfig:
    k: int = 5  # chunks sampled per observation
    # judge of the world-model reward: grm | perceptual (the learned rewards' progress gain) | consensus
    # (both must name the same best chunk) | oracle (privileged sim progress gain) | success (the sparse
    # signal: 1 where the branch ends in the env's success, else 0; meaningful with continue_steps) |
    # critic (the value by the critics of a noise-sac fine-tune of this very policy: `critic`)
    scorer: str = "grm"
    grm: str | None = None  # GRM checkpoint for scorer=grm|consensus
    # perceptual-reward fit (`perceptual fit --out`) for scorer=perceptual|consensus
    perceptual: str | None = None
    consensus_margin: float = 0.05  # scorer=consensus: the best–worst gap each judge must reach
    critic: str | None = None  # scorer=critic: `<rl run>/policy` of a noise-sac run over this policy
    critic_statistic: str = "min"  # scorer=critic: the critics' "min" (pessimistic) or "mean"
    world_weight: float = 1.0  # weight of the world-model reward (progress gain of the executed chunk)
    action_weight: float = 1.0  # weight of the action reward (−L1 to the demo chunk, where one exists)
    min_margin: float = 0.02  # pairs whose weighted-score gap is smaller are dropped
    execute_steps: int | None = None  # actions of a chunk executed by the world model (None: n_action_steps)
    # --task mode: after a candidate's executed actions the policy acts on for this many more steps
    # (the same sampling noise for every candidate) before the judge scores where the branch ended:
    # a longer look-ahead turns small, noisy 8-step progress gains into larger ones
    continue_steps: int = 0
    branch_every: int = 1  # --task mode: branch at every n-th chunk boundary of the driving rollout
    follow: str = "sample"  # chunk the driving rollout executes: a policy sample, or the "winner"
    episodes: int = 4  # --task mode: rollouts of the policy that provide observations
    max_steps: int | None = None  # --task mode: episode cap (None: the task's default)
    image_size: int | None = None  # rendered size (None: the policy's training-data size)
    every: int = 1  # --data mode: keep every n-th frame of the demos
    max_pairs: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.k < 2:
            raise ValueError(f"k must be ≥ 2 (a winner and a loser), got {self.k}")
        if self.scorer not in SCORERS:
            raise ValueError(f"scorer must be one of {', '.join(SCORERS)}, got {self.scorer!r}")
        if self.scorer in ("grm", "consensus") and not self.grm and self.world_weight > 0:
            raise ValueError(
                f"scorer={self.scorer} needs a GRM checkpoint (--grm PATH), or use --scorer oracle"
            )
        if self.scorer in ("perceptual", "consensus") and not self.perceptual and self.world_weight > 0:
            raise ValueError(f"scorer={self.scorer} needs a perceptual-reward fit (--perceptual PATH)")
        if self.scorer == "critic" and self.world_weight > 0:
            if not self.critic:
                raise ValueError(
                    "scorer=critic needs a noise-sac fine-tune of this policy (--critic <rl run>/policy)"
                )
            if self.continue_steps:
                raise ValueError(
                    "scorer=critic values where a chunk leads by itself: leave continue_steps at 0"
                )
        if self.critic_statistic not in ("min", "mean"):
            raise ValueError(f"critic_statistic must be 'min' or 'mean', got {self.critic_statistic!r}")
        if self.consensus_margin < 0:
            raise ValueError(f"consensus_margin must be ≥ 0, got {self.consensus_margin}")
        if self.continue_steps < 0 or self.branch_every < 1:
            raise ValueError(
                f"need continue_steps ≥ 0 and branch_every ≥ 1, got {self.continue_steps}, {self.branch_every}"
            )
        if self.follow not in ("sample", "winner"):
            raise ValueError(f"follow must be 'sample' or 'winner', got {self.follow!r}")


@dataclass
class DPOConfig:
    # DPO temperature on flow-matching errors (per-element means); 0 with sft_weight > 0: flow matching
    # on the winners alone (best-of-K imitation, no push away from the losers)
    beta: float = 100.0
    sft_weight: float = 0.0  # plain flow-matching loss on winners, added to the DPO loss
    # λ ≥ 0 of the winners' guard: the DPO logit pays β·λ for every rise of a winner's flow-matching
    # error above the reference's, so the winners cannot be made less likely (`loss.py`); 0: plain DPO
    winner_guard: float = 0.0
    steps: int = 200  # optimisation steps per round
    # cap on passes over a round's pairs: a round with few pairs (a strict margin, a judge that keeps
    # little) then takes fewer steps instead of fitting them for hundreds of epochs (None: no cap)
    max_epochs: float | None = None
    # train only on the pairs whose judge margin (best − worst score) is ≥ this: a stricter cut of a
    # stored or generated pair set, where a judge's small gaps are mostly ties to the truth (`dpo judges`)
    keep_margin: float = 0.0
    batch_size: int = 32  # pairs per optimisation step
    lr: float = 1e-5  # AdamW learning rate
    weight_decay: float = 0.0  # AdamW weight decay
    max_grad_norm: float = 1.0  # gradient-norm clip
    train_trunk: bool = False  # False: the (shared, frozen) trunk's features are computed once per pair
    rounds: int = 1  # > 1: regenerate pairs with the improved policy before each later round (needs --task)
    eval_episodes: int = 0  # success before/after each round (deterministic policy), 0: skip
    log_every: int = 10  # steps between logged metrics
    checkpoint_every: int = 100  # steps between checkpoints (a resumable state)
    seed: int = 0  # seeds the optimisation's noise and batches
    device: str = "cpu"  # torch device

    def __post_init__(self) -> None:
        if self.beta < 0 or self.sft_weight < 0 or self.beta == self.sft_weight == 0:
            raise ValueError(
                f"need beta ≥ 0 and sft_weight ≥ 0, not both 0 (nothing to learn), got {self.beta}, "
                f"{self.sft_weight}"
            )
        if self.winner_guard < 0:
            raise ValueError(f"winner_guard must be ≥ 0 (0: plain DPO), got {self.winner_guard}")
        if self.keep_margin < 0:
            raise ValueError(f"keep_margin must be ≥ 0 (0: every pair), got {self.keep_margin}")
        if self.max_epochs is not None and self.max_epochs <= 0:
            raise ValueError(f"max_epochs must be > 0 (or None: no cap), got {self.max_epochs}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DPOConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
