"""Configuration of online RL (flow-noise PPO) of the flow policy; saved as `rl_config.json` in each run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from robo_reward.rewards.wrappers import REWARD_KINDS


@dataclass
class RLConfig:
    task: str = "pick_place"  # registered sim task
    # "ppo": flow-noise PPO on each batch of rollouts; "awr": advantage-weighted flow matching from a
    # replay buffer of every executed chunk (train/rl/awr.py), reusing old rollouts across updates;
    # "group": same-state groups of episodes, self-imitation of the above-group-mean ones (train/rl/group.py)
    algorithm: str = "ppo"
    group_size: int | None = None  # algorithm=group: episodes per start state (None: num_envs)
    # algorithm=group: "imitate" (weighted flow matching of above-mean episodes, policy's own sampler)
    # or "ppo" (flow-noise PPO-clip, every chunk credited with its episode's group advantage)
    group_update: str = "imitate"
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
    # scale τ of the chain's starting noise x_0 ~ N(0, τ²I). PPO credits only the injected noise (the
    # likelihood is conditional on x_0), so x_0's own spread (τ = 1, as in BC sampling) is variance
    # the policy gradient cannot use; τ < 1 moves exploration into the learned σ.
    init_noise_scale: float = 1.0
    noise_std_init: float = 0.05  # in normalised action units
    noise_std_min: float = 0.01
    noise_std_max: float = 0.2
    train_trunk: bool = False  # False: trunk features are computed once and cached (CPU); True: end to end
    gamma: float = 0.99  # per env step; a chunk of n steps discounts by γⁿ
    gae_lambda: float = 0.95
    clip: float = 0.2
    # "element": one PPO ratio per term of the chain log-likelihood (per denoising step, chunk step and
    # action dim; clipped and averaged like per-token ratios), "chain": one ratio for the whole chain.
    # The chain's K·H·A terms (560 for flow-small) make a joint ratio leave [1 − ε, 1 + ε] after
    # the smallest parameter step, so "chain" clips (and KL-stops) nearly every sample.
    ratio_level: str = "element"
    # likelihood terms in the ratio: "executed" keeps the chunk steps that run in the env (the first
    # n_action_steps), whose noise the return can credit; "all" keeps the whole chunk (the exact chain
    # likelihood; the unexecuted steps only reach the return through the expert's attention).
    ratio_positions: str = "all"
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
    # advantage-weighted flow matching on the policy's own sampled chunks (AWR-style): with PPO, a term
    # added to the actor loss with `awr_weight`; with algorithm=awr, the whole actor loss. Weight
    # exp(Â/β) (Â: standardised advantage), capped at awr_max_weight
    awr_weight: float = 0.0
    awr_beta: float = 1.0  # temperature β of the AWR weight exp(Â/β)
    awr_max_weight: float = 20.0  # cap on the AWR weight
    awr_buffer: int = 4096  # algorithm=awr|group: chunks kept (newest first out when full)
    awr_steps: int = 100  # algorithm=awr|group: weighted flow-matching minibatch steps per update
    bc_weight: float = 0.0  # flow-matching loss on demos (bc_data) added to the actor loss
    bc_data: str | None = None
    bc_max_episodes: int | None = None  # first N demos of bc_data (match the BC init's --max-episodes)
    bc_batch_size: int = 32
    seed: int = 0  # env seeds, noise and minibatch order
    device: str = "cpu"
    success_window: int = 20  # episodes in the running success rate
    checkpoint_every: int = 10  # updates (a flow-small checkpoint with optimizer is ~20 MB)
    eval_episodes: int = 0  # deterministic (σ = 0) evaluation episodes after training; 0: skip

    def __post_init__(self) -> None:
        if self.algorithm not in ("ppo", "awr", "group"):
            raise ValueError(f"algorithm must be 'ppo', 'awr' or 'group', got {self.algorithm!r}")
        if self.group_update not in ("imitate", "ppo"):
            raise ValueError(f"group_update must be 'imitate' or 'ppo', got {self.group_update!r}")
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
        if self.ratio_level not in ("element", "chain"):
            raise ValueError(f"ratio_level must be 'element' or 'chain', got {self.ratio_level!r}")
        if self.ratio_positions not in ("executed", "all"):
            raise ValueError(f"ratio_positions must be 'executed' or 'all', got {self.ratio_positions!r}")
        if self.bc_weight > 0 and not self.bc_data:
            raise ValueError("bc_weight > 0 needs demonstrations (--bc-data DIR)")
        if not 0.0 <= self.init_noise_scale <= 1.0:
            raise ValueError(f"init_noise_scale must be in [0, 1], got {self.init_noise_scale}")
        if self.awr_weight < 0 or self.awr_beta <= 0:
            raise ValueError(f"need awr_weight ≥ 0 and awr_beta > 0, got {self.awr_weight}, {self.awr_beta}")
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
