"""Resumable training checkpoints written as a whole: into a sibling folder, then renamed into place."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path


def write_checkpoint(folder: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` to fill a fresh sibling folder, then swap it in for `folder`.

    A crash leaves either the previous checkpoint or the new one, never a mix of the two.
    """
    folder = Path(folder)
    tmp, old = folder.with_name(f".{folder.name}.writing"), folder.with_name(f".{folder.name}.old")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    write(tmp)
    if folder.exists():
        if old.exists():
            shutil.rmtree(old)
        folder.rename(old)
    tmp.rename(folder)
    if old.exists():
        shutil.rmtree(old)
    return folder
