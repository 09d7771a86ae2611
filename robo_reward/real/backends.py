"""Policy backends for the policy node: anything that turns an observation (the contract) into an
action chunk (H, A) in real units. `make_backend(kind, ...)` picks one by name (the `policy`
parameter): a local flow policy (plain or RL-steered), a remote policy server, or the scripted
`hold` / `constant`."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from robo_reward.data.episode import IMAGE_KEY, STATE_KEY


class Backend(Protocol):
    chunk_size: int
    action_dim: int

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        """Observation contract → action chunk (H, A) in real units; (0, A) means "hold"."""

    def close(self) -> None: ...


class HoldBackend:
    """Never moves: the runner holds. For bring-up and for the watchdog tests."""

    def __init__(self, action_dim: int, chunk_size: int = 1, **_: Any) -> None:
        self.action_dim, self.chunk_size = action_dim, chunk_size

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        return np.zeros((0, self.action_dim), np.float32)

    def close(self) -> None:
        pass


class ConstantBackend:
    """A scripted policy repeating one action (bring-up of a new arm, safety tests)."""

    def __init__(self, action: list[float], action_dim: int, chunk_size: int = 8, **_: Any) -> None:
        if len(action) != action_dim:
            raise ValueError(f"constant_action has {len(action)} values, the action space has {action_dim}")
        self.action = np.asarray(action, np.float32)
        self.action_dim, self.chunk_size = action_dim, chunk_size

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        return np.tile(self.action, (self.chunk_size, 1))

    def close(self) -> None:
        pass


class FlowBackend:
    """A local flow policy: `checkpoint` is a policy folder (a FlowPolicy, or an RL fine-tune that
    steers one: `load_policy` tells them apart), or `random:<preset>` for an untrained policy of
    that preset sized to this arm (a seeded random init: tests and bring-up only)."""

    def __init__(
        self,
        checkpoint: str,
        action_dim: int,
        state_dim: int,
        views: tuple[str, ...],
        device: str = "cpu",
        num_steps: int = 0,
        seed: int = 0,
        **_: Any,
    ) -> None:
        import torch

        from robo_reward.models.flow_policy import FlowPolicy, make_config
        from robo_reward.models.flow_policy.steering import load_policy

        torch.manual_seed(seed)
        if checkpoint.startswith("random:"):
            cfg = make_config(
                checkpoint.split(":", 1)[1], views=tuple(views), state_dim=state_dim, action_dim=action_dim
            )
            self.policy = FlowPolicy(cfg).to(device).eval()
        else:
            self.policy = load_policy(checkpoint, device=device)
        c = self.policy.config
        if c.action_dim != action_dim or c.state_dim != state_dim:
            raise ValueError(
                f"checkpoint {checkpoint} has state_dim {c.state_dim}, action_dim {c.action_dim}; "
                f"this arm gives state_dim {state_dim} and needs action_dim {action_dim}"
            )
        self.views = c.views
        self.chunk_size, self.action_dim = c.chunk_size, c.action_dim
        self.n_action_steps = c.n_action_steps
        self.num_steps = num_steps or None
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self._torch = torch

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        batch = {f"{IMAGE_KEY}{v}": obs[f"{IMAGE_KEY}{v}"][None] for v in self.views}
        batch[STATE_KEY] = np.asarray(obs[STATE_KEY], np.float32)[None]
        batch["task"] = [obs["task"]]
        with self._torch.inference_mode():
            chunk = self.policy.sample(batch, num_steps=self.num_steps, generator=self.generator)
        return chunk[0].cpu().numpy()

    def close(self) -> None:
        del self.policy


class RemoteBackend:
    """A policy server (`robo-reward policy serve`) at `checkpoint` = "ws://host:port" or "host:port"."""

    def __init__(self, checkpoint: str, action_dim: int, chunk_size: int = 8, **_: Any) -> None:
        from robo_reward.serving import PolicyClient

        host, _, port = checkpoint.removeprefix("ws://").rpartition(":")
        self.client = PolicyClient(host or "127.0.0.1", int(port), connect_timeout=10.0)
        meta = self.client.get_server_metadata()
        self.action_dim = int(meta.get("action_dim", action_dim))
        self.chunk_size = int(meta.get("chunk_size", chunk_size))
        if self.action_dim != action_dim:
            raise ValueError(f"server policy has action_dim {self.action_dim}, this arm needs {action_dim}")

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        request = {k: v for k, v in obs.items() if k.startswith(IMAGE_KEY) or k in (STATE_KEY, "task")}
        return np.asarray(self.client.infer(request)["actions"], np.float32).reshape(-1, self.action_dim)

    def close(self) -> None:
        self.client.close()


BACKENDS = {"flow": FlowBackend, "remote": RemoteBackend, "hold": HoldBackend, "constant": ConstantBackend}


def make_backend(kind: str, **kwargs: Any) -> Backend:
    if kind not in BACKENDS:
        raise ValueError(f"unknown policy backend {kind!r}; choose from {sorted(BACKENDS)}")
    return BACKENDS[kind](**kwargs)
