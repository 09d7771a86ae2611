"""The protocol every RL algorithm implements, and the registry that names them.

An algorithm owns its learner state (networks, optimisers, replay or rollout storage) and answers four
questions for the trainer, which owns the envs, the reward, logging and checkpoints:
- collect: `act(batch)` decides for the envs that need a chunk; `embed(batch)` gives the learner's
  observation of a final state; `observe(transitions)` takes the finished decisions;
- update: `ready()` says whether to update now; `update()` runs it and returns `losses/*`, `charts/*`;
- state: `save(folder)` / `load(folder)` everything a resumed run needs, `export(folder)` the acting
  policy (a folder `robo_reward.models.flow_policy.load_policy` reads).

A new algorithm is one module: a config dataclass (subclass `AlgorithmConfig`, with a `name`) and a
class decorated with `@register`; `rl train --algorithm NAME` then finds it. Its module must be
listed in `ALGORITHM_MODULES` (imported lazily, so `--help` stays fast).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch

if TYPE_CHECKING:
    from robo_reward.train.rl.configuration_rl import RLConfig
    from robo_reward.train.rl.rollout import Decision, Transition

ALGORITHM_MODULES = ("robo_reward.train.rl.steered_sac", "robo_reward.train.rl.flow_ppo")
ALGORITHMS: dict[str, type[Algorithm]] = {}


@dataclass
class AlgorithmConfig:
    """Base of the per-algorithm configs; `name` is the registry key."""

    name: ClassVar[str] = ""


class Algorithm(ABC):
    name: ClassVar[str]
    config_class: ClassVar[type[AlgorithmConfig]]

    def __init__(
        self,
        policy,
        cfg: RLConfig,
        algo: AlgorithmConfig,
        n_action_steps: int,
        horizon: int,
        generator: torch.Generator,
    ):
        """`horizon`: the episode's step limit (a learner's time feature is the share of it left)."""
        self.policy, self.cfg, self.algo = policy, cfg, algo
        self.n_action_steps, self.horizon = n_action_steps, horizon
        self.generator = generator

    @abstractmethod
    def act(self, batch: dict) -> Decision: ...

    @abstractmethod
    def embed(self, batch: dict) -> torch.Tensor: ...

    @abstractmethod
    def observe(self, transitions: list[Transition]) -> None: ...

    def on_episode(self, episodes_done: int) -> None:  # noqa: B027 - optional hook
        """Called after every finished training episode (e.g. to end a warm-start phase)."""

    @abstractmethod
    def ready(self) -> bool: ...

    @abstractmethod
    def update(self) -> dict[str, float]: ...

    @abstractmethod
    def save(self, folder: Path) -> None: ...

    @abstractmethod
    def load(self, folder: Path) -> None: ...

    @abstractmethod
    def export(self, folder: Path, extras: dict[str, Any] | None = None) -> Path: ...


def register(cls: type[Algorithm]) -> type[Algorithm]:
    if cls.name in ALGORITHMS and ALGORITHMS[cls.name] is not cls:
        raise ValueError(f"RL algorithm {cls.name!r} is registered twice")
    if cls.config_class.name != cls.name:
        raise ValueError(f"{cls.__name__}.config_class.name must be {cls.name!r}")
    ALGORITHMS[cls.name] = cls
    return cls


def algorithms() -> dict[str, type[Algorithm]]:
    """Every registered algorithm by name (imports the modules that register them)."""
    for module in ALGORITHM_MODULES:
        importlib.import_module(module)
    return ALGORITHMS


def get_algorithm(name: str) -> type[Algorithm]:
    found = algorithms()
    if name not in found:
        raise ValueError(f"unknown RL algorithm {name!r}; choose from {sorted(found)}")
    return found[name]
