"""Progress sources: every Φ the project knows, behind one interface and one registry.

A progress source keeps one state per slot (a vector env's envs, a robot, a judge's K candidates) and
is asked for several slots at once, so a learned model batches its inference:

    reset(mask, obs, info)  → (N,) Φ of the slots in `mask` at the start of an episode
    update(mask, obs, info) → (N,) Φ of the slots in `mask` after a step

`obs` and `info` are batched like a gymnasium vector env's (arrays with a leading N axis; `info` may
carry `progress` for the privileged source). Only the rows in `mask` are meaningful.

Registered by name (`make_source`): `sparse` (no progress: Φ ≡ 0, the reward is the success alone),
`oracle` (privileged sim progress), `grm` (the GRM's online fusion), `perceptual` (the perceptual
reward of each frame). The RL reward wrapper, the DPO judges and the ROS reward node all build their
source here; a new reward model is its own package plus one `@register_source` class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from robo_reward.data.episode import IMAGE_KEY


class ProgressSource(Protocol):
    num_envs: int

    def reset(self, mask: np.ndarray, obs: dict, info: dict) -> np.ndarray: ...

    def update(self, mask: np.ndarray, obs: dict, info: dict) -> np.ndarray: ...


SourceFactory = Callable[..., ProgressSource]
SOURCES: dict[str, SourceFactory] = {}


def register_source(name: str) -> Callable[[SourceFactory], SourceFactory]:
    """Class decorator: `cls(num_envs, instruction, checkpoint=None, device="cpu")` builds the source."""

    def add(factory: SourceFactory) -> SourceFactory:
        if name in SOURCES:
            raise ValueError(f"progress source {name!r} is registered twice")
        SOURCES[name] = factory
        return factory

    return add


def make_source(
    name: str,
    num_envs: int,
    instruction: str,
    checkpoint: str | None = None,
    device: str = "cpu",
    **options,
) -> ProgressSource:
    """A registered progress source by name (learned ones loaded from `checkpoint`); `options` are
    that source's own keywords (e.g. `grm`'s per-slot `goals`)."""
    if name not in SOURCES:
        raise ValueError(f"unknown progress source {name!r}; choose from {sorted(SOURCES)}")
    return SOURCES[name](num_envs, instruction, checkpoint=checkpoint, device=device, **options)


def info_array(info: dict, key: str, n: int, default: float = 0.0) -> np.ndarray:
    """A per-env column of a vector env's info dict, `default` where an env did not report it."""
    out = np.full(n, default, dtype=np.float64)
    if key in info:
        mask = info.get(f"_{key}", np.ones(n, bool))
        out[mask] = np.asarray(info[key], dtype=np.float64)[mask]
    return out


def _needs_checkpoint(name: str, checkpoint: str | None) -> str:
    if not checkpoint:
        raise ValueError(f"the {name} progress source needs a checkpoint")
    return checkpoint


@register_source("sparse")
class NoProgress:
    """Φ ≡ 0: shaping adds nothing, the reward is the success bonus alone."""

    def __init__(
        self, num_envs: int, instruction: str = "", checkpoint: str | None = None, device: str = "cpu"
    ):
        self.num_envs = num_envs

    def reset(self, mask: np.ndarray, obs: dict, info: dict) -> np.ndarray:
        return np.zeros(self.num_envs)

    def update(self, mask: np.ndarray, obs: dict, info: dict) -> np.ndarray:
        return np.zeros(self.num_envs)


@register_source("oracle")
class OracleProgress:
    """Privileged simulator progress from `info["progress"]` (evaluation and upper-bound baseline)."""

    def __init__(
        self, num_envs: int, instruction: str = "", checkpoint: str | None = None, device: str = "cpu"
    ):
        self.num_envs = num_envs

    def reset(self, mask: np.ndarray, obs: dict, info: dict) -> np.ndarray:
        return info_array(info, "progress", self.num_envs)

    def update(self, mask: np.ndarray, obs: dict, info: dict) -> np.ndarray:
        return info_array(info, "progress", self.num_envs)


@register_source("grm")
class GRMProgress:
    """The GRM's online fused progress (`robo_reward.models.grm.inference.OnlineProgress`), one state per slot.

    Φ(s_0) := 0 at reset — the forward-anchored view's own value at s_init; since Φ(s_0) enters the
    shaped return only as the constant −Φ(s_0), this choice cannot change which policy is optimal.
    `goals`: an optional goal frame per slot ({view: (H, W, 3)}) instead of the checkpoint's reference.
    """

    def __init__(self, num_envs: int, instruction: str, checkpoint: str | None = None, device: str = "cpu",
                 model=None, goals: list | None = None):  # fmt: skip
        from robo_reward.models.grm.inference import OnlineProgress

        if model is None:
            from robo_reward.models.grm.modeling_grm import GRM

            model = GRM.from_pretrained(_needs_checkpoint("grm", checkpoint), device=device)
        self.num_envs, self.goals = num_envs, goals
        self.online = OnlineProgress(model, num_envs, instruction)

    def reset(self, mask: np.ndarray, obs: dict, info: dict) -> np.ndarray:
        ids = np.flatnonzero(mask)
        goals = None if self.goals is None else [self.goals[i] for i in ids]
        self.online.reset(obs, env_ids=ids, goals=goals)
        return np.zeros(self.num_envs)

    def update(self, mask: np.ndarray, obs: dict, info: dict) -> np.ndarray:
        return np.asarray(self.online.step(obs), dtype=np.float64)


@register_source("perceptual")
class PerceptualProgress:
    """The perceptual reward (Sermanet et al.) of the current frame of each slot: stateless per frame."""

    def __init__(self, num_envs: int, instruction: str = "", checkpoint: str | None = None, device: str = "cpu",
                 model=None):  # fmt: skip
        if model is None:
            from robo_reward.models.perceptual.modeling_perceptual import PerceptualReward

            model = PerceptualReward.from_pretrained(_needs_checkpoint("perceptual", checkpoint))
        self.reward, self.num_envs = model, num_envs

    def _progress(self, mask: np.ndarray, obs: dict) -> np.ndarray:
        out = np.zeros(self.num_envs)
        ids = np.flatnonzero(mask)
        if len(ids):
            out[ids] = self.reward.progress_obs(
                {k: np.asarray(v)[ids] for k, v in obs.items() if k.startswith(IMAGE_KEY)}
            )
        return out

    def reset(self, mask: np.ndarray, obs: dict, info: dict) -> np.ndarray:
        return self._progress(mask, obs)

    def update(self, mask: np.ndarray, obs: dict, info: dict) -> np.ndarray:
        return self._progress(mask, obs)
