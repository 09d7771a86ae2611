"""A trainer's run folder: whose it is, what may resume it, and logs that agree with its checkpoint.

Every trainer (`--out DIR`) goes through `TrainingRun`:

- A new run refuses a non-empty `--out` unless `--overwrite` (which discards the old folder whole,
  only if it looks like a run folder) and writes `run.json`: a fresh run id, the trainer's name and
  the hash of the config that decides its results.
- `--resume` reads `run.json`, refuses a config whose hash differs (naming the changed fields),
  recovers an interrupted checkpoint swap, verifies the checkpoint against its manifest (files, run
  id, config hash) and cuts every JSONL log back to the checkpoint's counters, so nothing is counted
  twice and nothing comes from another run.

How a trainer adopts it (`counters` are whatever it counts; logs are keyed by one of them):

    run = TrainingRun.open(out, "rl", hashed_config, resume=resume, overwrite=overwrite)
    manifest = run.load_checkpoint(out / "checkpoint") if run.resumed else None
    if manifest is not None:
        ... load weights, optimizer (training_state.load_optimizer), RNG (load_rng_state) from
        manifest.folder; counters = manifest.counters
    run.cut_logs({"metrics.jsonl": "update", "episodes.jsonl": None}, manifest)  # None: by line count
    ...
    def write(tmp): policy.save_pretrained(tmp, atomic=False); save_optimizer(opt, tmp / "optimizer.safetensors")
    run.save_checkpoint(out / "checkpoint", write, {"update": u, "episodes": n_episodes})

`cut_logs` keeps records whose key is ≤ the counter of the same name; a log with key None keeps as
many lines as the manifest counter named after the file's stem (`episodes.jsonl` → "episodes").
Counters must be written to the logs *before* the checkpoint that counts them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from robo_reward.utils.checkpoint import (
    Manifest,
    recover_interrupted_swap,
    verify_checkpoint,
    write_training_checkpoint,
)
from robo_reward.utils.distributed import barrier
from robo_reward.utils.errors import ResumeError
from robo_reward.utils.io import atomic_path, read_json, write_json
from robo_reward.utils.killpoints import kill_point
from robo_reward.utils.preflight import RUN_FILE, check_out_folder, holds_results


def _canonical(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o.expanduser().resolve())
    if isinstance(o, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(o.items(), key=lambda kv: str(kv[0]))}
    if isinstance(o, list | tuple | set | frozenset):
        items = [_canonical(v) for v in o]
        return sorted(items, key=repr) if isinstance(o, set | frozenset) else items
    if hasattr(o, "item") and callable(o.item):  # numpy scalars
        return o.item()
    return o


def config_hash(config: Mapping[str, Any]) -> str:
    """A short hash of a config (paths resolved, key order ignored)."""
    text = json.dumps(_canonical(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def discard_folder(out: Path) -> None:
    """Delete a results folder so that a kill halfway leaves no half-deleted results at `out`."""
    trash = out.with_name(f".{out.name}.discarded-{os.getpid()}")
    out.rename(trash)
    shutil.rmtree(trash)


def _changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    old_c, new_c = _canonical(old), _canonical(new)
    return sorted(k for k in set(old_c) | set(new_c) if old_c.get(k) != new_c.get(k))


class TrainingRun:
    """The identity of one training run in its folder (see the module docstring)."""

    def __init__(self, out: Path, run_id: str, config_hash: str, resumed: bool, rank: int):
        self.out, self.run_id, self.config_hash = out, run_id, config_hash
        self.resumed, self.rank = resumed, rank

    @classmethod
    def open(
        cls,
        out: str | Path,
        trainer: str,
        config: Mapping[str, Any],
        *,
        resume: bool,
        overwrite: bool = False,
        rank: int = 0,
    ) -> TrainingRun:
        """Start a new run in `out` or reopen the one there for `--resume` (every DDP rank calls this;
        rank 0 does the work)."""
        out = Path(out)
        digest = config_hash(config)
        if rank == 0:
            check_out_folder(out, resume=resume, overwrite=overwrite)
            if resume:
                saved = read_json(out / RUN_FILE)
                if saved.get("trainer") != trainer:
                    raise ResumeError(f"--resume: {out} is a {saved.get('trainer')} run, not a {trainer} run")
                if saved.get("config_hash") != digest:
                    changed = _changed_fields(saved.get("config", {}), config)
                    raise ResumeError(
                        f"--resume: {out} was started with other options (changed: {', '.join(changed) or '?'}); "
                        "resume with the original options, or start a new run with --overwrite or another --out"
                    )
            else:
                if overwrite and holds_results(out):
                    discard_folder(out)
                out.mkdir(parents=True, exist_ok=True)
                write_json(
                    out / RUN_FILE,
                    {
                        "run_id": uuid.uuid4().hex,
                        "trainer": trainer,
                        "config_hash": digest,
                        "config": _canonical(config),
                    },
                )
                kill_point("run.started")
        barrier()
        run_id = read_json(out / RUN_FILE)["run_id"]
        return cls(out, run_id, digest, resume, rank)

    def load_checkpoint(self, folder: str | Path) -> Manifest | None:
        """The verified checkpoint at `folder` (after recovering an interrupted swap), or None if the run
        was killed before its first one. Every rank calls this."""
        folder = Path(folder)
        if self.rank == 0:
            recover_interrupted_swap(folder)
        barrier()
        if not folder.exists():
            return None
        return verify_checkpoint(folder, run_id=self.run_id, config_hash=self.config_hash)

    def save_checkpoint(
        self, folder: str | Path, write: Callable[[Path], None], counters: dict[str, int]
    ) -> Path:
        """Write a checkpoint of this run as one unit (rank 0 only)."""
        return write_training_checkpoint(
            folder, write, run_id=self.run_id, config_hash=self.config_hash, counters=counters
        )

    def cut_logs(self, logs: Mapping[str, str | None], manifest: Manifest | None) -> dict[str, int]:
        """Cut each log back to the checkpoint (to nothing without one); returns lines dropped per log."""
        if self.rank != 0:
            return {}
        counters = manifest.counters if manifest is not None else {}
        dropped = {}
        for name, key in logs.items():
            path = self.out / name
            if key is None:
                dropped[name] = cut_jsonl(path, max_lines=counters.get(Path(name).stem, 0))
            else:
                dropped[name] = cut_jsonl(path, key=key, upto=counters.get(key, 0))
        return dropped


def cut_jsonl(
    path: str | Path, *, key: str | None = None, upto: int = 0, max_lines: int | None = None
) -> int:
    """Rewrite a JSONL log (atomically) keeping the records with `record[key] <= upto`, or its first
    `max_lines` records. A torn last line (a kill mid-write) is dropped; a damaged line elsewhere is an
    error. Returns how many records were dropped."""
    path = Path(path)
    if not path.exists():
        return 0
    lines = path.read_text().splitlines()
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append((line, json.loads(line)))
        except json.JSONDecodeError as e:
            if i == len(lines) - 1:
                continue  # the line being written when the process died
            raise ResumeError(f"{path} line {i + 1} is not JSON ({e}): the log was damaged") from e
    if max_lines is not None:
        kept = records[:max_lines]
    else:
        kept = [(line, r) for line, r in records if int(r[key]) <= upto]
    dropped = sum(1 for line in lines if line.strip()) - len(kept)
    if dropped:
        with atomic_path(path) as tmp:
            tmp.write_text("".join(line + "\n" for line, _ in kept))
    return dropped
