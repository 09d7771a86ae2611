"""Helpers shared by every command: writing `--json` metrics and printing tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from robo_reward.utils.io import write_json

console = Console(stderr=True)


def emit_json(path: str | Path | None, metrics: dict[str, Any]) -> None:
    """Write metrics to `path` (if given) atomically; every eval/bench command calls this."""
    if path is not None:
        write_json(path, metrics)
        console.print(f"[dim]wrote {path}[/dim]")


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = Table(title=title)
    cols = list(rows[0])
    for c in cols:
        table.add_column(str(c))
    for r in rows:
        table.add_row(*[_fmt(r.get(c)) for c in cols])
    Console().print(table)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return "" if v is None else str(v)


def set_threads(threads: int | None) -> None:
    """Limit torch's intra-op threads (more oversubscribe a busy 2-core CPU)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`["key=value", ...]` → {key: value}, values read as JSON (a bare word stays a string)."""
    import json

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            from robo_reward.utils.errors import UserError

            raise UserError(f"--override expects key=value, got {item!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out
