"""A fixed-capacity replay buffer of decision-level transitions, saved with each checkpoint.

One row = one decision (one executed chunk): the learner's observation, its action (for noise-space
SAC, the chunk's initial noise), the chunk's discounted reward Σ_j γ^j r_j, its discount γⁿ, whether
nothing bootstraps after it, the next observation, the share of the episode's time left before and
after it, and where the row came from (`SOURCES`). Rows of one episode are linked (`link`), so a
minibatch can be read as n-step transitions (`sample(..., n_step=n)`): n decisions' discounted rewards,
then the bootstrap from the n-th next observation, cut short where an episode ends.
A full buffer overwrites its oldest rows (a ring). `save`/`load` write the filled rows as
safetensors plus the ring's counters as JSON, so a resumed run samples from exactly the same rows.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from robo_reward.utils.io import read_json, write_json

SOURCES = ("warmstart", "online", "demo")
FIELDS = ("obs", "action", "reward", "discount", "terminated", "next_obs", "time", "next_time", "source", "row_id",
          "successor")  # fmt: skip


class ReplayBuffer:
    def __init__(self, capacity: int, obs_dim: int, action_dim: int):
        if capacity < 1:
            raise ValueError(f"replay capacity must be ≥ 1, got {capacity}")
        self.capacity, self.obs_dim, self.action_dim = capacity, obs_dim, action_dim
        self.data = {
            "obs": torch.zeros(capacity, obs_dim),
            "action": torch.zeros(capacity, action_dim),
            "reward": torch.zeros(capacity),
            "discount": torch.zeros(capacity),
            "terminated": torch.zeros(capacity),
            "next_obs": torch.zeros(capacity, obs_dim),
            "time": torch.zeros(capacity),
            "next_time": torch.zeros(capacity),
            "source": torch.zeros(capacity, dtype=torch.int64),
            "row_id": torch.full((capacity,), -1, dtype=torch.int64),  # `added` when the row was written
            "successor": torch.full((capacity,), -1, dtype=torch.int64),  # row id of the episode's next row
        }
        self.size = 0
        self.next_row = 0
        self.added = 0  # rows ever added (counts overwritten ones too)

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        reward: float,
        discount: float,
        terminated: bool,
        next_obs: torch.Tensor,
        source: str = "online",
        time: float = 0.0,
        next_time: float = 0.0,
    ) -> int:
        """Write one row (overwriting the oldest when full); returns its row id."""
        for name, value, dim in (("obs", obs, self.obs_dim), ("next_obs", next_obs, self.obs_dim)):
            if value.shape != (dim,):
                raise ValueError(f"{name} must be ({dim},), got {tuple(value.shape)}")
        if action.shape != (self.action_dim,):
            raise ValueError(f"action must be ({self.action_dim},), got {tuple(action.shape)}")
        row = {
            "obs": obs, "action": action, "reward": float(reward), "discount": float(discount),
            "terminated": float(terminated), "next_obs": next_obs, "source": SOURCES.index(source),
            "time": float(time), "next_time": float(next_time),
        }  # fmt: skip
        for name, value in row.items():  # all checked before any is written: no half rows
            if not torch.isfinite(torch.as_tensor(value, dtype=torch.float32)).all():
                raise FloatingPointError(f"replay row field {name!r} is not finite")
        for name, value in row.items():
            self.data[name][self.next_row] = torch.as_tensor(value)
        self.data["row_id"][self.next_row] = self.added
        self.data["successor"][self.next_row] = -1
        self.next_row = (self.next_row + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        self.added += 1
        return self.added - 1

    def link(self, row_id: int, successor_id: int) -> None:
        """Record that row `successor_id` is the next decision of row `row_id`'s episode."""
        row = row_id % self.capacity
        if self.data["row_id"][row] == row_id:  # not overwritten since
            self.data["successor"][row] = successor_id

    def sample(self, batch_size: int, generator: torch.Generator, n_step: int = 1) -> dict[str, torch.Tensor]:
        """A uniform minibatch (with replacement) of the filled rows, read as `n_step` transitions:
        reward = Σ_k (Π_{j<k} discount_j)·reward_k over up to n linked rows of the episode, discount
        = the product of theirs, terminated / next_obs / next_time those of the last one used."""
        if self.size == 0:
            raise RuntimeError("cannot sample an empty replay buffer")
        idx = torch.randint(self.size, (batch_size,), generator=generator)
        out = {k: v[idx] for k, v in self.data.items()}
        last = idx.clone()
        for _ in range(n_step - 1):
            succ = self.data["successor"][last]
            row = succ.clamp_min(0) % self.capacity
            go = (out["terminated"] == 0) & (succ >= 0) & (self.data["row_id"][row] == succ)
            if not go.any():
                break
            out["reward"] = torch.where(
                go, out["reward"] + out["discount"] * self.data["reward"][row], out["reward"]
            )
            out["discount"] = torch.where(go, out["discount"] * self.data["discount"][row], out["discount"])
            out["terminated"] = torch.where(go, self.data["terminated"][row], out["terminated"])
            last = torch.where(go, row, last)
        out["next_obs"], out["next_time"] = self.data["next_obs"][last], self.data["next_time"][last]
        return out

    def count(self, source: str) -> int:
        return int((self.data["source"][: self.size] == SOURCES.index(source)).sum())

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        save_file(
            {k: v[: self.size].contiguous() for k, v in self.data.items()}, str(folder / "replay.safetensors")
        )
        write_json(
            folder / "replay.json",
            {
                "capacity": self.capacity, "obs_dim": self.obs_dim, "action_dim": self.action_dim,
                "size": self.size, "next_row": self.next_row, "added": self.added,
            },
        )  # fmt: skip

    @classmethod
    def load(cls, folder: str | Path) -> ReplayBuffer:
        folder = Path(folder)
        meta = read_json(folder / "replay.json")
        buf = cls(meta["capacity"], meta["obs_dim"], meta["action_dim"])
        rows = load_file(str(folder / "replay.safetensors"))
        if set(rows) != set(FIELDS) or any(len(v) != meta["size"] for v in rows.values()):
            raise ValueError(f"{folder}/replay.safetensors does not match replay.json (size {meta['size']})")
        for k, v in rows.items():
            buf.data[k][: meta["size"]] = v
        buf.size, buf.next_row, buf.added = meta["size"], meta["next_row"], meta["added"]
        return buf
