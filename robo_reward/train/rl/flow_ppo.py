"""Flow-noise PPO (ReinFlow / πRL): the on-policy baseline. The action expert is trained through the
likelihood of a noisy Euler chain (learned σ per denoising step, `flow_noise.py`), with a value head
on trunk features; GAE per env over each batch of `chunks_per_update` decisions per env.

Measured on this stack: within 150-300 episodes it does not move a 5-demo
BC policy, even with the privileged reward; it stays as the reference the off-policy learners beat.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from robo_reward.train.rl.actor_critic import FlowActorCritic
from robo_reward.train.rl.algorithm import Algorithm, AlgorithmConfig, register
from robo_reward.train.rl.demo_term import BCRegularizer, with_demo_term
from robo_reward.train.rl.ppo import gae, normalize_advantages, ppo_clip_loss, value_loss
from robo_reward.train.rl.rollout import Decision, Transition


@dataclass
class FlowPPOConfig(AlgorithmConfig):
    name: ClassVar[str] = "flow-ppo"
    chunks_per_update: int = 48  # decisions per env between updates
    noise_mode: str = "param"  # σ per denoising step ("param") or an MLP of features and t ("head")
    # scale τ of the chain's starting noise x_0 ~ N(0, τ²I). The likelihood is conditional on x_0, so
    # x_0's own spread is variance the policy gradient cannot credit; τ = 0 moves exploration into σ.
    init_noise_scale: float = 0.0
    noise_std_init: float = 0.1  # in normalised action units
    noise_std_min: float = 0.01
    noise_std_max: float = 0.2
    gae_lambda: float = 0.95
    clip: float = 0.2
    ratio_level: str = "element"  # a ratio per likelihood term, averaged; "chain": one for the whole chain
    ratio_positions: str = "executed"  # the terms of the executed chunk steps only; "all": every step
    value_clip: float | None = None
    update_epochs: int = 4
    minibatch_size: int = 32
    lr_actor: float = 1e-4
    lr_noise: float = 1e-3
    lr_critic: float = 1e-3
    max_grad_norm: float = 1.0
    target_kl: float | None = None  # stop an update's epochs when the KL estimate exceeds 1.5×
    entropy_coef: float = 0.0
    value_coef: float = 0.5
    critic_warmup_updates: int = 1  # the first updates train the value head only
    bc_weight: float = 0.0  # flow matching on demos (bc_data) added to the actor loss
    bc_data: str | None = None
    bc_max_episodes: int | None = None

    def __post_init__(self) -> None:
        if self.noise_mode not in ("param", "head"):
            raise ValueError(f"noise_mode must be 'param' or 'head', got {self.noise_mode!r}")
        if self.ratio_level not in ("element", "chain"):
            raise ValueError(f"ratio_level must be 'element' or 'chain', got {self.ratio_level!r}")
        if self.ratio_positions not in ("executed", "all"):
            raise ValueError(f"ratio_positions must be 'executed' or 'all', got {self.ratio_positions!r}")
        if self.bc_weight > 0 and not self.bc_data:
            raise ValueError("bc_weight > 0 needs demonstrations: add --bc-data DIR")
        if not 0.0 <= self.init_noise_scale <= 1.0:
            raise ValueError(f"init_noise_scale must be in [0, 1], got {self.init_noise_scale}")
        if self.chunks_per_update < 1:
            raise ValueError("chunks_per_update must be ≥ 1")


@register
class FlowPPO(Algorithm):
    name, config_class = "flow-ppo", FlowPPOConfig

    def __init__(self, policy, cfg, algo: FlowPPOConfig, n_action_steps: int, horizon: int, generator):
        super().__init__(policy, cfg, algo, n_action_steps, horizon, generator)
        self.actor = FlowActorCritic(
            policy, None, algo.noise_mode, algo.noise_std_init, algo.noise_std_min, algo.noise_std_max,
            init_noise_scale=algo.init_noise_scale,
        ).to(policy.device)  # fmt: skip
        self.optimizer = torch.optim.Adam(
            [
                {"params": list(policy.expert.parameters()), "lr": algo.lr_actor},
                {"params": list(self.actor.noise.parameters()), "lr": algo.lr_noise},
                {"params": list(self.actor.value.parameters()), "lr": algo.lr_critic},
            ]
        )
        self.bc = None
        if algo.bc_data and algo.bc_weight:
            self.bc = BCRegularizer(
                policy, algo.bc_data, 32, cfg.seed, algo.bc_max_episodes, frozen_trunk=True
            )
        self.transitions: list[Transition] = []
        self.updates = 0

    # ---- collect -----------------------------------------------------------------------------------
    def act(self, batch: dict) -> Decision:
        out = self.actor.act(batch, generator=self.generator)
        records = [
            {"chain": out["chain"][j].cpu(), "logp_elements": out["logp_elements"][j].cpu()}
            for j in range(len(out["features"]))
        ]
        return Decision(obs=out["features"], chunks=out["action"].cpu().numpy(), records=records)

    @torch.no_grad()
    def embed(self, batch: dict) -> torch.Tensor:
        return self.actor.encode(batch)

    def observe(self, transitions: list[Transition]) -> None:
        self.transitions += transitions

    def ready(self) -> bool:
        return len(self.transitions) >= self.algo.chunks_per_update * self.cfg.rollout.num_envs

    # ---- update ------------------------------------------------------------------------------------
    def advantages(self, transitions: list[Transition]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """GAE per env over its own sequence (arrival order), with V from the current value head.
        Returns the values, advantages and returns, aligned with `transitions`."""
        with torch.no_grad():
            values = self.actor.value(torch.stack([t.obs for t in transitions])).cpu().numpy()
            nxt = [t.next_obs if t.next_obs is not None else torch.zeros_like(t.obs) for t in transitions]
            next_values = self.actor.value(torch.stack(nxt)).cpu().numpy()
        adv, ret = np.zeros(len(transitions)), np.zeros(len(transitions))
        for env in sorted({t.env for t in transitions}):
            idx = np.array([i for i, t in enumerate(transitions) if t.env == env])
            col = {k: np.array([getattr(transitions[i], k) for i in idx], dtype=np.float64)
                   for k in ("reward", "discount", "episode_end")}  # fmt: skip
            final = np.array([transitions[i].final(self.cfg.time_limit) for i in idx], dtype=np.float64)
            a, r = gae(col["reward"], values[idx], next_values[idx], col["discount"], final, col["episode_end"],
                       self.algo.gae_lambda)  # fmt: skip
            adv[idx], ret[idx] = a, r
        return values, adv, ret

    def update(self) -> dict[str, float]:
        transitions, self.transitions = self.transitions, []
        values_old, adv, ret = self.advantages(transitions)
        stats = self.ppo_epochs(
            transitions, values_old, adv, ret, actor_on=self.updates >= self.algo.critic_warmup_updates
        )
        self.updates += 1
        var = float(np.var(ret))
        stats["charts/explained_variance"] = float(1 - np.var(ret - values_old) / var) if var > 0 else 0.0
        return stats | {"charts/noise_std": self.actor.mean_std(), "charts/updates": float(self.updates)}

    def _terms(self, elements: torch.Tensor) -> torch.Tensor:
        """(B, K·H·A) likelihood terms → those of the executed chunk steps (all with ratio_positions=all)."""
        if self.algo.ratio_positions == "all":
            return elements
        a = self.actor
        return elements.view(len(elements), a.num_steps, a.horizon, a.action_dim)[
            :, :, : self.n_action_steps
        ].flatten(1)

    def ppo_epochs(self, transitions, values_old, adv, ret, actor_on: bool) -> dict[str, float]:
        """PPO epochs over minibatches of decisions. Every loss term is spelled out here."""
        algo, dev = self.algo, self.policy.device
        features = torch.stack([t.obs for t in transitions]).to(dev)
        chains = torch.stack([t.record["chain"] for t in transitions]).to(dev)
        element = algo.ratio_level == "element"
        logp_old = self._terms(torch.stack([t.record["logp_elements"] for t in transitions]).to(dev))
        logp_old = logp_old if element else logp_old.sum(1)
        v_old = torch.as_tensor(values_old, device=dev, dtype=torch.float32)
        adv_t = torch.as_tensor(adv, device=dev, dtype=torch.float32)
        ret_t = torch.as_tensor(ret, device=dev, dtype=torch.float32)
        n = len(transitions)
        stats: dict[str, list[float]] = {}
        for _epoch in range(algo.update_epochs):
            stop = False
            for idx in torch.randperm(n, generator=self.generator).split(min(algo.minibatch_size, n)):
                out = self.actor.evaluate(features[idx], chains[idx])
                a = normalize_advantages(adv_t[idx])
                logp_new = self._terms(out["logp_elements"])
                logp_new = logp_new if element else logp_new.sum(1)
                pg_loss, pg_stats = ppo_clip_loss(
                    logp_new, logp_old[idx], a[:, None] if element else a, algo.clip
                )
                v_loss = value_loss(out["value"], ret_t[idx], v_old[idx], algo.value_clip)
                entropy = out["entropy"].mean()
                loss = algo.value_coef * v_loss
                if actor_on:
                    loss = loss + pg_loss - algo.entropy_coef * entropy
                    loss = with_demo_term(loss, self.bc, algo.bc_weight, stats)
                self.optimizer.zero_grad()
                loss.backward()
                params = [p for g in self.optimizer.param_groups for p in g["params"]]
                grad_norm = torch.nn.utils.clip_grad_norm_(params, algo.max_grad_norm)
                self.optimizer.step()
                for k, v in (("losses/policy", pg_loss.item()), ("losses/value", v_loss.item()),
                             ("losses/entropy", entropy.item()), ("charts/grad_norm", float(grad_norm)),
                             *((f"charts/{k}", v) for k, v in pg_stats.items())):  # fmt: skip
                    stats.setdefault(k, []).append(v)
                if actor_on and algo.target_kl is not None and pg_stats["approx_kl"] > 1.5 * algo.target_kl:
                    stop = True
                    break
            if stop:
                break
        return {k: float(np.mean(v)) for k, v in stats.items()}

    # ---- state -------------------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        from robo_reward.utils.io import write_json
        from robo_reward.utils.training_state import save_optimizer

        self.actor.save(folder / "learner")
        save_optimizer(self.optimizer, folder / "learner" / "optimizer.safetensors")
        write_json(folder / "learner" / "counters.json", {"updates": self.updates, "algorithm": self.name})

    def load(self, folder: Path) -> None:
        from robo_reward.utils.checkpoint import load_folder
        from robo_reward.utils.io import read_json
        from robo_reward.utils.training_state import load_optimizer

        counters = read_json(folder / "learner" / "counters.json")
        if counters.get("algorithm") != self.name:
            raise ValueError(f"{folder} holds a {counters.get('algorithm')!r} learner, not {self.name!r}")
        _, tensors = load_folder(folder / "learner" / "policy")
        self.policy.load_state_dict(tensors)
        self.actor.load_heads(folder / "learner")
        load_optimizer(self.optimizer, folder / "learner" / "optimizer.safetensors")
        self.updates = counters["updates"]

    def export(self, folder: Path, extras: dict[str, Any] | None = None) -> Path:
        return self.policy.save_pretrained(folder, extras=extras)
