"""Resolve a model config from a preset name or a saved `config.json`, shared by every model family."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

C = TypeVar("C")


def strict_from_dict(cls: type[C], d: dict, label: str) -> C:
    """`cls(**d)` for a config dataclass, naming any key it does not know (a typo, or a newer file)."""
    unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown {label} config keys: {sorted(unknown)}")
    return cls(**d)


def resolve_config(
    name_or_path: str | Path, presets: dict[str, C], prefix: str, cls: Any, label: str, **overrides
) -> C:
    """A preset by name (`<prefix>-small`, or just `small`), or a config.json / checkpoint folder.

    `cls.from_dict` rebuilds a saved config; `overrides` replace fields either way.
    """
    name = str(name_or_path)
    key = name if name in presets else f"{prefix}-{name}"
    if key in presets:
        return dataclasses.replace(presets[key], **overrides)
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "config.json"
    if path.is_file():
        from robo_reward.utils.io import read_json

        d = read_json(path)
        d.update(overrides)
        return cls.from_dict(d)
    raise ValueError(f"unknown {label} config {name!r}: presets are {sorted(presets)}, or give a config.json")
