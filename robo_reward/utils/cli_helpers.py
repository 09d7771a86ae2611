"""Helpers shared by every command: writing `--json` metrics and printing tables."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from robo_reward.utils.io import write_json

# In a log, rich would wrap every message at the 80 columns it assumes there (a path split over lines)
console = Console(stderr=True, soft_wrap=not sys.stderr.isatty())


def emit_json(path: str | Path | None, metrics: dict[str, Any]) -> None:
    """Write metrics to `path` (if given) atomically; every eval/bench command calls this."""
    if path is not None:
        write_json(path, metrics)
        console.print(f"[dim]wrote {path}[/dim]")


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    """A table on stdout: drawn by rich on a terminal (cells fold, never cut), markdown anywhere else,
    so a log keeps every cell whole however wide the table is."""
    if not rows:
        return
    out = Console()
    if not out.is_terminal:
        print(f"{title}\n{markdown_table(rows)}", flush=True)
        return
    table = Table(title=title)
    cols = list(rows[0])
    for c in cols:
        table.add_column(str(c), overflow="fold")
    for r in rows:
        table.add_row(*[_fmt(r.get(c)) for c in cols])
    out.print(table)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    lines = ["| " + " | ".join(_cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if v != v else f"{v:.3f}"  # NaN: a metric undefined on this data (e.g. one class)
    return "" if v is None else str(v)


def _cell(v: Any) -> str:
    """A value as one markdown cell: a `|` or a line break would split it."""
    return _fmt(v).replace("|", "\\|").replace("\n", " ")


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
