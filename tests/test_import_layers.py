"""The import layers, read from the source (every import statement, function-level ones included, and
module paths named in strings, as `lazy_exports` and `importlib.import_module` take them):

- `models/` (networks, their configs and save/load) reaches, directly or through what it imports, only
  `models/`, `data/`, `cameras/` (frame sources, sync and the preprocessing pipeline that models save
  with their weights: a lower layer that imports only `utils/`), `utils/` and `paths`. So no model
  imports a trainer, the simulator, the benchmarks, the ROS nodes, the reward sources or a command.
- `commands/` (the CLI) is imported only by `robo_reward.cli`, which dispatches to it, and by
  `bench/`, which runs its recipes through the same commands a user types.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import deque
from pathlib import Path

import robo_reward

ROOT = Path(robo_reward.__file__).parent
MODULE_PATH = re.compile(r"robo_reward(\.[A-Za-z_]\w*)+")
MODELS_MAY_REACH = ("robo_reward.models", "robo_reward.data", "robo_reward.cameras", "robo_reward.utils")
MODELS_MAY_REACH_MODULES = {"robo_reward", "robo_reward.paths"}
COMMANDS_IMPORTED_BY = ("robo_reward.cli", "robo_reward.bench")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of `name` that is a module of the package (`a.b.func` → `a.b`)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, modules: dict[str, Path]) -> set[str]:
    """The project modules `module` imports anywhere in its body, and the packages those live in."""
    path = modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            named.add(base)
            named.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and MODULE_PATH.fullmatch(node.value)
        ):
            named.add(node.value)
    found = {m for n in named if n.startswith("robo_reward") and (m := _resolve(n, modules))}
    # importing a.b.c runs the __init__ of a and a.b first
    found |= {".".join(m.split(".")[:i]) for m in found for i in range(1, m.count(".") + 1)}
    return found - {module}


def layer_crossings(start: str, graph: dict[str, set[str]], allowed) -> list[list[str]]:
    """Each import path start → ... → m → n where m is `allowed` (and so is everything before it) and
    n is not: the places where the walk from `start` leaves its layers (breadth first, shortest paths)."""
    parent, todo, crossings = {start: start}, deque([start]), []
    while todo:
        m = todo.popleft()
        for n in sorted(graph[m]):
            if n in parent:
                continue
            parent[n] = m
            if allowed(n):
                todo.append(n)
                continue
            chain = [n, m]
            while chain[-1] != start:
                chain.append(parent[chain[-1]])
            crossings.append(chain[::-1])
    return crossings


def _models_may_reach(name: str) -> bool:
    return name in MODELS_MAY_REACH_MODULES or _within(name, MODELS_MAY_REACH)


def test_the_reader_sees_every_kind_of_import(tmp_path, monkeypatch):
    # a fake tree, so the test's own reading of imports is checked against imports written by hand
    fake = tmp_path / "robo_reward"
    for rel in ("__init__.py", "a/__init__.py", "a/low.py", "a/sub.py", "b/__init__.py", "b/high.py"):
        (fake / rel).parent.mkdir(parents=True, exist_ok=True)
        (fake / rel).write_text("")
    (fake / "a" / "sub.py").write_text(
        "from . import low\n"
        "def f():\n    from robo_reward.b.high import thing\n"
        "LAZY = {'x': 'robo_reward.b'}\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake)
    modules = _modules()
    assert imports_of("robo_reward.a.sub", modules) == {
        "robo_reward", "robo_reward.a", "robo_reward.a.low", "robo_reward.b", "robo_reward.b.high",
    }  # fmt: skip


def test_models_import_nothing_above_data_cameras_and_utils():
    modules = _modules()
    graph = {m: imports_of(m, modules) for m in modules}
    models = [m for m in modules if _within(m, ("robo_reward.models",))]
    assert len(models) > 20  # the walk found the package
    problems = [
        " → ".join(chain) for m in sorted(models) for chain in layer_crossings(m, graph, _models_may_reach)
    ]
    assert not problems, "models/ reaches a higher layer:\n" + "\n".join(problems)


def test_only_the_cli_and_bench_import_commands():
    modules = _modules()
    importers = sorted(
        m
        for m in modules
        if not _within(m, ("robo_reward.commands", *COMMANDS_IMPORTED_BY))
        and any(_within(n, ("robo_reward.commands",)) for n in imports_of(m, modules))
    )
    assert not importers, f"these modules import robo_reward.commands: {importers}"


def test_no_cli_modules_are_left_in_the_layers():
    assert not [p for p in ROOT.rglob("cli.py") if p.parent != ROOT]
