"""Configuration of online RL (flow-noise PPO) of the flow policy; saved as `rl_config.json` in each run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from robo_reward.rewards.wrappers import REWARD_KINDS


@dataclass
class RLConfig:
    task: str = "pick_place"  # registered sim task
    init: str = ""  # BC checkpoint folder (FlowPolicy.save_pretrained)
    reward: str = "sparse"  # sparse | oracle | grm | perceptual | naive
    grm: str | None = None  # GRM checkpoint, for reward=grm (and naive, when given)
    perceptual: str | None = None  # perceptual-reward checkpoint, for reward=perceptual
    naive_source: str = "auto"  # Φ for reward=naive: grm|perceptual|oracle|auto (grm if given)
    success_source: str = "env"  # r_success from the env's success flag, or "progress" (Φ ≥ 1 − δ)
    shaping_scale: float = 1.0  # multiplies the shaping term, never the success bonus
    rollouts: int = 100  # training episodes
    num_envs: int = 2
    chunks_per_update: int = 16  # transitions (executed chunks) per env between PPO updates
    max_steps: int | None = None  # episode length cap (None: the task's default)
    image_size: int | None = None  # rendered size; None: the policy's training-data size
    num_denoise_steps: int | None = None  # None: the policy's num_inference_steps
    n_action_steps: int | None = None  # executed per chunk; None: the policy's n_action_steps
    noise_mode: str = "param"  # "param" (per denoising step) or "head" (MLP of trunk features and t)
    noise_std_init: float = 0.05  # in normalised action units
    noise_std_min: float = 0.01
    noise_std_max: float = 0.2
    train_trunk: bool = False  # False: trunk features are computed once and cached (CPU); True: end to end
    gamma: float = 0.99  # per env step; a chunk of n steps discounts by γⁿ
    gae_lambda: float = 0.95
    clip: float = 0.2
    value_clip: float | None = None
    update_epochs: int = 4
    minibatch_size: int = 32
    lr_actor: float = 1e-5  # action expert (and the trunk with train_trunk)
    lr_noise: float = 1e-3
    lr_critic: float = 1e-3
    max_grad_norm: float = 1.0
    target_kl: float | None = 0.05  # stop the epochs of an update when the KL estimate exceeds it
    entropy_coef: float = 0.0
    value_coef: float = 0.5
    critic_warmup_updates: int = 1  # first updates train the value head only
    normalize_advantages: bool = True
    bc_weight: float = 0.0  # flow-matching loss on demos (bc_data) added to the actor loss
    bc_data: str | None = None
    bc_batch_size: int = 32
    seed: int = 0  # env seeds, noise and minibatch order
    device: str = "cpu"
    success_window: int = 20  # episodes in the running success rate
    checkpoint_every: int = 10  # updates (a flow-small checkpoint with optimizer is ~20 MB)
    eval_episodes: int = 0  # deterministic (σ = 0) evaluation episodes after training; 0: skip

    def __post_init__(self) -> None:
        if self.reward not in REWARD_KINDS:
            raise ValueError(f"reward must be one of {REWARD_KINDS}, got {self.reward!r}")
        if self.reward == "grm" and not self.grm:
            raise ValueError("reward=grm needs a GRM checkpoint (--grm PATH)")
        if self.reward == "perceptual" and not self.perceptual:
            raise ValueError("reward=perceptual needs a perceptual-reward checkpoint (--perceptual PATH)")
        if self.naive_source not in ("auto", "grm", "perceptual", "oracle"):
            raise ValueError(f"naive_source must be auto|grm|perceptual|oracle, got {self.naive_source!r}")
        if self.noise_mode not in ("param", "head"):
            raise ValueError(f"noise_mode must be 'param' or 'head', got {self.noise_mode!r}")
        if self.rollouts < 1 or self.num_envs < 1 or self.chunks_per_update < 1:
            raise ValueError("rollouts, num_envs and chunks_per_update must be ≥ 1")

    @property
    def progress_source(self) -> str | None:
        """Which progress source the reward reads (None for sparse)."""
        if self.reward == "sparse":
            return None
        if self.reward in ("oracle", "grm", "perceptual"):
            return self.reward
        if self.naive_source != "auto":
            return self.naive_source
        return "grm" if self.grm else "oracle"

    @property
    def shaping_kind(self) -> str:
        return "potential" if self.reward == "naive" else "pbrs"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RLConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
