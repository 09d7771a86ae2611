"""Per-frame, per-view encoder features of whole episodes, computed once and cached.

With a frozen encoder every query is answered from these (T, V, F) tensors, so a 2-core CPU spends
its time on the token transformer instead of re-encoding the same images. The cache is in memory
and, optionally, one safetensors file per episode in a folder, keyed by the episode's pixels and
the encoder's weights (a changed encoder or episode never hits a stale entry).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from robo_reward.data.episode import Episode


def encoder_fingerprint(model) -> str:
    """Hash of everything that decides the features: encoder weights and preprocessing."""
    h = hashlib.blake2b(digest_size=8)
    h.update(repr(model.preprocessing.to_dict()).encode())
    for name, t in sorted(model.encoder.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def episode_key(ep: Episode, views: tuple[str, ...]) -> str:
    """Hash of the episode's pixels in the given views (and their shapes)."""
    h = hashlib.blake2b(digest_size=10)
    for v in views:
        frames = np.ascontiguousarray(ep.views[v])
        h.update(f"{v}{frames.shape}".encode())
        h.update(frames.tobytes())
    return h.hexdigest()


class FeatureCache:
    """`cache(episode) -> (T, V, F)` float32 features of every frame and view (model's view order)."""

    def __init__(self, model, folder: str | Path | None = None):
        self.model = model
        self.folder = Path(folder) if folder is not None else None
        self.fingerprint = encoder_fingerprint(model)
        self._memory: dict[str, torch.Tensor] = {}

    def _path(self, key: str) -> Path | None:
        return None if self.folder is None else self.folder / f"{self.fingerprint}-{key}.safetensors"

    def __call__(self, ep: Episode) -> torch.Tensor:
        key = episode_key(ep, self.model.config.views)
        if key in self._memory:
            return self._memory[key]
        path = self._path(key)
        if path is not None and path.exists():
            feats = load_file(str(path))["features"].float()
        else:
            with torch.no_grad():
                feats = self.model.encode_frames({v: ep.views[v] for v in self.model.config.views}).cpu()
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                save_file({"features": feats.half()}, str(tmp))
                tmp.replace(path)
                feats = feats.half().float()  # what a later run will read back, bit for bit
        self._memory[key] = feats
        return feats

    def clear(self) -> None:
        self._memory.clear()
