"""Configuration of online RL over a BC flow policy, nested by concern; saved as `rl_config.json`.

    RLConfig            the run: task, start policy, reward, budget, seed
      .rollout          how the envs are stepped (RolloutConfig)
      .shaping          how the reward's progress becomes a reward (ShapingOptions)
      .log              checkpoints, running success, evaluation (LogConfig)
      .algo             the algorithm's own config (a registered `AlgorithmConfig`: noise-sac, ...)

Discounting: `gamma` is per env step; a decision that runs n steps discounts by γⁿ (0.985² ≈ 0.97 for
the 2-step decisions of the shipped policies), and PBRS uses the same γ so the shaped chunk reward
telescopes to r_success + γⁿΦ(s') − Φ(s).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from robo_reward.train.rl.algorithm import AlgorithmConfig, get_algorithm

REWARDS = ("sparse", "oracle", "grm", "perceptual", "naive")


@dataclass
class RolloutConfig:
    num_envs: int = 2  # sync vector envs (2 cores: subprocesses do not pay)
    max_steps: int | None = None  # episode length cap (None: the task's default)
    image_size: int | None = None  # rendered size; None: the policy's training-data size
    n_action_steps: int | None = None  # chunk steps executed per decision; None: the policy's

    def __post_init__(self) -> None:
        if self.num_envs < 1:
            raise ValueError(f"rollout.num_envs must be ≥ 1, got {self.num_envs}")


@dataclass
class ShapingOptions:
    success_source: str = "env"  # r_success from the env's success flag, or "progress" (Φ ≥ 1 − δ)
    scale: float = 1.0  # multiplies the shaping term, never the success bonus
    # Φ is evaluated every this many env steps (None: once per decision) and held in between, so the
    # shaping is paid as differences over that window: less of a learned Φ's frame-to-frame noise per
    # unit of signal (8 for the shipped GRM: its 8-step differences carry twice the SNR of 2-step ones)
    potential_every: int | None = None
    naive_source: str = "auto"  # Φ for reward=naive: grm | perceptual | oracle | auto (grm if given)

    def __post_init__(self) -> None:
        if self.success_source not in ("env", "progress"):
            raise ValueError(f"shaping.success_source must be env|progress, got {self.success_source!r}")
        if self.naive_source not in ("auto", "grm", "perceptual", "oracle"):
            raise ValueError(
                f"shaping.naive_source must be auto|grm|perceptual|oracle, got {self.naive_source!r}"
            )
        if self.potential_every is not None and self.potential_every < 1:
            raise ValueError(f"shaping.potential_every must be ≥ 1, got {self.potential_every}")


@dataclass
class LogConfig:
    checkpoint_every: int = 25  # episodes between checkpoints (and at the end)
    success_window: int = 20  # episodes in the running success rate
    eval_episodes: int = 0  # evaluation episodes of the exported policy after training (0: none)
    eval_seeds: int = 1  # evaluation seed sets of `eval_episodes` each (seeds never used in training)


@dataclass
class RLConfig:
    task: str = "open_drawer"  # registered sim task
    init: str = ""  # BC checkpoint folder (FlowPolicy.save_pretrained)
    reward: str = "sparse"  # sparse | oracle | grm | perceptual | naive
    grm: str | None = None  # GRM checkpoint, for reward=grm (and naive, when given)
    perceptual: str | None = None  # perceptual-reward checkpoint, for reward=perceptual
    rollouts: int = 300  # training episodes (warm-start episodes included)
    gamma: float = 0.985  # per env step
    # "terminal": the time limit ends a finite-horizon task (no bootstrap after it, Φ := 0 there, the
    # critic sees the time left); "bootstrap": a truncation is not an end and values bootstrap through it
    time_limit: str = "terminal"
    seed: int = 0  # env seeds, exploration noise, minibatches
    device: str = "cpu"
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    shaping: ShapingOptions = field(default_factory=ShapingOptions)
    log: LogConfig = field(default_factory=LogConfig)
    algo: AlgorithmConfig = field(default_factory=lambda: default_algorithm_config())

    def __post_init__(self) -> None:
        if self.reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {self.reward!r}")
        if self.reward == "grm" and not self.grm:
            raise ValueError("reward=grm needs a GRM checkpoint: add --grm PATH (e.g. models/grm-small-sim)")
        if self.reward == "perceptual" and not self.perceptual:
            raise ValueError("reward=perceptual needs a perceptual-reward fit: add --perceptual PATH")
        if self.rollouts < 1:
            raise ValueError(f"rollouts must be ≥ 1, got {self.rollouts}")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        if self.time_limit not in ("terminal", "bootstrap"):
            raise ValueError(f"time_limit must be 'terminal' or 'bootstrap', got {self.time_limit!r}")

    @property
    def algorithm(self) -> str:
        return self.algo.name

    @property
    def progress_source(self) -> str | None:
        """Which progress source the reward reads (None for sparse)."""
        if self.reward == "sparse":
            return None
        if self.reward != "naive":
            return self.reward
        if self.shaping.naive_source != "auto":
            return self.shaping.naive_source
        return "grm" if self.grm else "oracle"

    @property
    def shaping_kind(self) -> str:
        return "potential" if self.reward == "naive" else "pbrs"

    @property
    def return_range(self) -> tuple[float, float] | None:
        """What a discounted return of this reward can be (None where it grows with the horizon).

        Sparse pays the success bonus once: [0, 1]. PBRS telescopes (Φ in [0, 1], Φ(terminal) := 0):
        a success pays γᵀ − scale·Φ(s_0), a time-out scale·(γᵀΦ(s_T) − Φ(s_0)), so [−scale, max(1, scale)].
        Naive Φ-as-reward is paid every step."""
        if self.reward == "sparse":
            return 0.0, 1.0
        if self.shaping_kind == "pbrs":
            scale = abs(self.shaping.scale)
            return -scale, max(1.0, scale)
        return None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["algo"] = {"name": self.algo.name, **dataclasses.asdict(self.algo)}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RLConfig:
        d = dict(d)
        algo = dict(d.pop("algo"))
        algo_cls = get_algorithm(algo.pop("name")).config_class
        nested = {"rollout": RolloutConfig, "shaping": ShapingOptions, "log": LogConfig}
        kwargs = {k: (nested[k](**v) if k in nested else v) for k, v in d.items()}
        return cls(**kwargs, algo=algo_cls(**algo))


def default_algorithm_config() -> AlgorithmConfig:
    from robo_reward.train.rl.steered_sac import NoiseSACConfig

    return NoiseSACConfig()
