"""Behaviour-cloning samples: (observation at t, action chunk a_t..a_{t+H−1}) from Episodes.

Every frame of every kept episode is a sample. Chunks running past the episode end repeat its last
action (the robot holds). Views are resized once, at load, to the policy's image size with the
policy's own resize, and kept in memory as uint8; sampling a batch is then pure indexing.
Tasks are balanced: by default each task gets the same share of a batch whatever its number of frames
(`ChunkDataset.sampling_weights` for the other choices).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from robo_reward.data.episode import ENV_STATE_KEY, IMAGE_KEY, STATE_KEY, Episode
from robo_reward.models.flow_policy.modeling_flow_policy import IMAGE_FEATURES_KEY, resize_uint8

BALANCE_MODES = ("task", "sqrt_frames", "frames")


def chunk_indices(lengths: Sequence[int], horizon: int) -> np.ndarray:
    """(N, H) flat frame indices of a_t..a_{t+H−1} for every frame, clamped to each episode's last frame."""
    rows, start = [], 0
    for T in lengths:
        t = np.arange(T)[:, None] + np.arange(horizon)[None]
        rows.append(start + np.minimum(t, T - 1))
        start += T
    return np.concatenate(rows) if rows else np.zeros((0, horizon), np.int64)


@dataclass
class ChunkDataset:
    views: dict[str, torch.Tensor]  # view -> (N, S, S, 3) uint8
    state: torch.Tensor  # (N, D) float32
    action: torch.Tensor  # (N, A) float32
    chunks: torch.Tensor  # (N, H) int64 rows of `action`
    tasks: list[str]  # (N,) instruction of each frame
    task_names: list[str]  # (N,) registry name (or instruction) of each frame, for balancing
    num_episodes: int
    features: torch.Tensor | None = None  # (N, V, n, C) float16 frozen-backbone features, once cached
    environment_state: torch.Tensor | None = None  # (N, E) privileged object state (auxiliary targets)

    @classmethod
    def from_episodes(
        cls,
        episodes: Sequence[Episode],
        views: Sequence[str],
        image_size: int,
        horizon: int,
        outcomes: Sequence[str] = ("success",),
        environment_state: bool = False,
    ) -> ChunkDataset:
        """`environment_state=True` also loads every episode's `observation.environment_state` column."""
        kept = [e for e in episodes if e.outcome in outcomes]
        if not kept:
            raise ValueError(f"no episodes with outcome in {tuple(outcomes)} among {len(episodes)}")
        for e in kept:
            missing = set(views) - set(e.views)
            if missing:
                raise ValueError(f"an episode of {e.task_name or e.task!r} lacks views {sorted(missing)}")
        env_state = None
        if environment_state:
            rows = []
            for e in kept:
                if ENV_STATE_KEY not in e.extras:
                    raise ValueError(
                        f"an episode of {e.task_name or e.task!r} has no {ENV_STATE_KEY!r} column (datasets "
                        "collected by `robo-reward sim collect` have one); train without the auxiliary loss"
                    )
                rows.append(np.asarray(e.extras[ENV_STATE_KEY], np.float32).reshape(len(e), -1))
            if len({r.shape[1] for r in rows}) > 1:
                raise ValueError(
                    f"{ENV_STATE_KEY} sizes differ between episodes ({sorted({r.shape[1] for r in rows})}): "
                    "the auxiliary loss needs tasks with the same objects"
                )
            env_state = torch.from_numpy(np.concatenate(rows))
        return cls(
            views={
                v: torch.from_numpy(np.concatenate([resize_uint8(e.views[v], image_size) for e in kept]))
                for v in views
            },
            state=torch.from_numpy(np.concatenate([e.state for e in kept]).astype(np.float32)),
            action=torch.from_numpy(np.concatenate([e.action for e in kept]).astype(np.float32)),
            chunks=torch.from_numpy(chunk_indices([len(e) for e in kept], horizon)),
            tasks=[e.task for e in kept for _ in range(len(e))],
            task_names=[e.task_name or e.task for e in kept for _ in range(len(e))],
            num_episodes=len(kept),
            environment_state=env_state,
        )

    def __len__(self) -> int:
        return len(self.state)

    def sampling_weights(self, balance: str = "task") -> np.ndarray:
        """(N,) probabilities of drawing each frame: every task gets the same share (`task`), a share
        proportional to the square root of its frames (`sqrt_frames`: long tasks get more, short ones
        still their part), or every frame the same (`frames`). Frames of one task are equally likely."""
        if balance not in BALANCE_MODES:
            raise ValueError(f"balance must be one of {BALANCE_MODES}, got {balance!r}")
        names, inverse, counts = np.unique(self.task_names, return_inverse=True, return_counts=True)
        share = {"task": np.ones(len(names)), "sqrt_frames": np.sqrt(counts), "frames": counts.astype(float)}
        task_share = share[balance] / share[balance].sum()
        w = task_share[inverse] / counts[inverse]
        return w / w.sum()

    @torch.inference_mode()
    def cache_features(self, policy, batch_size: int = 256) -> None:
        """Run the policy's (frozen) backbone over every frame once; later batches carry the features."""
        out = []
        for i in range(0, len(self), batch_size):
            obs = {IMAGE_KEY + v: frames[i : i + batch_size] for v, frames in self.views.items()}
            out.append(policy.image_features(obs).to("cpu", torch.float16))
        self.features = torch.cat(out)

    def batch(self, idx: np.ndarray) -> tuple[dict, torch.Tensor]:
        """Observation batch in the contract and the (B, H, A) action chunks for frame indices `idx`
        (with the privileged `observation.environment_state` when loaded: pop it before acting)."""
        t = torch.as_tensor(idx)
        obs = {IMAGE_KEY + v: frames[t] for v, frames in self.views.items()}
        if self.features is not None:
            obs[IMAGE_FEATURES_KEY] = self.features[t]
        obs[STATE_KEY] = self.state[t]
        if self.environment_state is not None:
            obs[ENV_STATE_KEY] = self.environment_state[t]
        obs["task"] = [self.tasks[i] for i in idx]
        return obs, self.action[self.chunks[t]]


_RED_BLUE = re.compile(r"\b(red|blue)\b")


def swap_red_blue(text: str) -> str:
    """The instruction with the words `red` and `blue` exchanged (lower case, whole words)."""
    return _RED_BLUE.sub(lambda m: "blue" if m.group(1) == "red" else "red", text)


COLOUR_SWAP_PIXELS = ("all", "saturated")


def _mirror_red_blue(images: torch.Tensor, pixels: str) -> torch.Tensor:
    """(N, S, S, 3) uint8 with the red and blue channels exchanged: in every pixel, or (`saturated`) only
    in vivid red or blue pixels (saturation > 0.5, brightest channel > 60, green < 0.6 of it), so the
    cubes change colour and the brown floor, the grey robot, the green pad and yellow do not."""
    mirrored = images.flip(-1)
    if pixels == "all":
        return mirrored
    x = images.float()
    top, low = x.max(-1), x.min(-1).values
    vivid = ((top.values - low) > 0.5 * top.values) & (top.values > 60) & (x[..., 1] < 0.6 * top.values)
    return torch.where(vivid[..., None], mirrored, images)


def colour_swap(obs: dict, p: float, generator: torch.Generator | None = None, pixels: str = "all") -> None:
    """In place: each sample whose instruction names red or blue is, with probability `p`, mirrored in
    colour: its images' red and blue channels (`pixels`: see `_mirror_red_blue`) and its instruction's two
    words exchanged. The sim's red cube (0.85, 0.2, 0.2) then looks like its blue one (0.2, 0.35, 0.85)
    and the reverse, so every task done with the red cube is also shown done with the blue one."""
    tasks = obs["task"]
    named = torch.tensor([_RED_BLUE.search(t) is not None for t in tasks])
    swap = named & (torch.rand(len(tasks), generator=generator) < p)
    if not swap.any():
        return
    for key in [k for k in obs if k.startswith(IMAGE_KEY)]:
        obs[key][swap] = _mirror_red_blue(obs[key][swap], pixels)
    obs["task"] = [swap_red_blue(t) if s else t for t, s in zip(tasks, swap.tolist(), strict=True)]


def random_shift(images: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """DrQ-style augmentation: replicate-pad by `pad` pixels and crop back at a random offset per image.

    images (B, S, S, 3) uint8 → same shape and dtype.
    """
    if pad <= 0:
        return images
    B, S = images.shape[0], images.shape[1]
    x = images.permute(0, 3, 1, 2).float()
    x = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="replicate")
    ox, oy = (torch.randint(0, 2 * pad + 1, (2, B), generator=generator)).tolist()
    out = torch.stack([x[b, :, oy[b] : oy[b] + S, ox[b] : ox[b] + S] for b in range(B)])
    return out.round().to(torch.uint8).permute(0, 2, 3, 1)
