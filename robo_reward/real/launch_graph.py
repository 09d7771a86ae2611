"""Read a ROS 2 Python launch file without the `launch` package, and run its nodes as processes.

`parse_launch_file(path, **args)` walks the file's syntax tree (never imports or executes it) and
evaluates the small subset our launch files use: `DeclareLaunchArgument`, `LaunchConfiguration`,
`PathJoinSubstitution`, `IfCondition`/`UnlessCondition`, `Node`/`LifecycleNode` with `executable`,
`name`, `namespace`, `parameters` (files and dicts) and `remappings`, module-level path constants built
with `os.path`. Anything else is an error naming the line, so a launch file that drifts from what the
checks understand fails loudly.

`NodeGraph(specs)` starts each node like `ros2 launch` would (same executable, name, parameter files
in the same order), as `python -m <module>` when the console script is not installed, and stops
them with SIGTERM. The launch-file test, the graph tests, `robo-reward bench ros` and
`robo-reward ros launch` all use it.
"""

from __future__ import annotations

import ast
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from robo_reward.real import SCRIPT_MODULES


@dataclass(frozen=True)
class LaunchConfig:
    name: str


@dataclass(frozen=True)
class PathJoin:
    parts: tuple


@dataclass(frozen=True)
class Condition:
    value: Any
    negate: bool = False


@dataclass
class LaunchArg:
    name: str
    default: Any = None
    description: str = ""


@dataclass
class NodeSpec:
    executable: str
    name: str
    namespace: str = ""
    lifecycle: bool = False
    parameters: list = field(default_factory=list)  # resolved: file paths (str) and dicts
    remappings: list = field(default_factory=list)
    condition: Any = None
    line: int = 0

    @property
    def module(self) -> str:
        if self.executable not in SCRIPT_MODULES:
            raise KeyError(
                f"{self.executable!r} is not one of robo_reward's node scripts {sorted(SCRIPT_MODULES)}"
            )
        return SCRIPT_MODULES[self.executable]

    @property
    def param_files(self) -> list[str]:
        return [p for p in self.parameters if isinstance(p, str)]


class LaunchFileError(ValueError):
    pass


_KNOWN_CALLS = {"LaunchConfiguration", "PathJoinSubstitution", "IfCondition", "UnlessCondition",
                "DeclareLaunchArgument", "Node", "LifecycleNode", "LaunchDescription"}  # fmt: skip


class _Evaluator:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.scope: dict[str, Any] = {"__file__": str(path)}
        self.launch_args: dict[str, LaunchArg] = {}

    def fail(self, node: ast.AST, what: str) -> LaunchFileError:
        return LaunchFileError(f"{self.path}:{getattr(node, 'lineno', '?')}: {what}")

    def run_body(self, body: list[ast.stmt]) -> Any:
        for stmt in body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Pass)):
                continue
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # docstring
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            ):
                self.scope[stmt.targets[0].id] = self.eval(stmt.value)
                continue
            if isinstance(stmt, ast.FunctionDef):
                self.scope[stmt.name] = stmt
                continue
            if isinstance(stmt, ast.Return):
                return self.eval(stmt.value)
            raise self.fail(stmt, f"unsupported statement {type(stmt).__name__}")
        return None

    def eval(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in self.scope:
                raise self.fail(node, f"unknown name {node.id!r}")
            return self.scope[node.id]
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.eval(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            return {self.eval(k): self.eval(v) for k, v in zip(node.keys, node.values, strict=True)}
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.fail(node, f"unsupported expression {ast.unparse(node)!r}")

    def call(self, node: ast.Call) -> Any:
        func = ast.unparse(node.func)
        args = [self.eval(a) for a in node.args]
        kwargs = {k.arg: self.eval(k.value) for k in node.keywords}
        if func in ("os.path.join", "os.path.dirname", "os.path.abspath"):
            return getattr(os.path, func.rsplit(".", 1)[1])(*args)
        if func not in _KNOWN_CALLS:
            raise self.fail(node, f"unsupported call {func}(...)")
        if func == "LaunchConfiguration":
            return LaunchConfig(args[0])
        if func == "PathJoinSubstitution":
            return PathJoin(tuple(args[0]))
        if func in ("IfCondition", "UnlessCondition"):
            return Condition(args[0], negate=func == "UnlessCondition")
        if func == "DeclareLaunchArgument":
            arg = LaunchArg(
                args[0] if args else kwargs["name"],
                kwargs.get("default_value"),
                kwargs.get("description", ""),
            )
            self.launch_args[arg.name] = arg
            return arg
        if func == "LaunchDescription":
            return args[0] if args else []
        unknown = set(kwargs) - {"executable", "name", "namespace", "parameters", "remappings", "output",
                                 "condition", "package", "arguments", "emulate_tty"}  # fmt: skip
        if unknown or "package" in kwargs:
            raise self.fail(node, f"unsupported Node arguments {sorted(unknown | ({'package'} & set(kwargs)))} "
                                  "(executables are console scripts found on PATH: no `package`)")  # fmt: skip
        return NodeSpec(
            executable=kwargs["executable"],
            name=kwargs["name"],
            namespace=kwargs.get("namespace", ""),
            lifecycle=func == "LifecycleNode",
            parameters=kwargs.get("parameters", []),
            remappings=kwargs.get("remappings", []),
            condition=kwargs.get("condition"),
            line=node.lineno,
        )


def _resolve(value: Any, args: dict[str, str]) -> Any:
    if isinstance(value, LaunchConfig):
        if value.name not in args:
            raise LaunchFileError(f"launch argument {value.name!r} has no value and no default")
        return args[value.name]
    if isinstance(value, PathJoin):
        return os.path.join(*(str(_resolve(p, args)) for p in value.parts))
    if isinstance(value, list):
        return [_resolve(v, args) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, args) for k, v in value.items()}
    return value


def parse_launch_file(path: str | Path, **overrides: str) -> tuple[list[NodeSpec], dict[str, LaunchArg]]:
    """The nodes a launch file starts (conditions applied) with every substitution resolved."""
    path = Path(path).resolve()
    ev = _Evaluator(path)
    ev.run_body(ast.parse(path.read_text(), str(path)).body)
    fn = ev.scope.get("generate_launch_description")
    if not isinstance(fn, ast.FunctionDef):
        raise LaunchFileError(f"{path}: no generate_launch_description()")
    actions = ev.run_body(fn.body)
    if not isinstance(actions, list):
        raise LaunchFileError(f"{path}: generate_launch_description() must return LaunchDescription([...])")
    unknown = set(overrides) - set(ev.launch_args)
    if unknown:
        raise LaunchFileError(
            f"{path}: unknown launch arguments {sorted(unknown)}; declared: {sorted(ev.launch_args)}"
        )
    args = {n: a.default for n, a in ev.launch_args.items() if a.default is not None} | overrides
    nodes = []
    for action in actions:
        if not isinstance(action, NodeSpec):
            continue
        if action.condition is not None:
            on = str(_resolve(action.condition.value, args)).strip().lower() in ("true", "1")
            if on == action.condition.negate:
                continue
        action.parameters = _resolve(action.parameters, args)
        action.remappings = _resolve(action.remappings, args)
        nodes.append(action)
    return nodes, ev.launch_args


# -- running a graph --------------------------------------------------------------------------------


def _uniform(value: Any) -> Any:
    """rcl's YAML parser wants arrays of one type: [0.5, 0] → [0.5, 0.0]."""
    if isinstance(value, (list, tuple)) and any(isinstance(x, float) for x in value):
        return [float(x) for x in value]
    return list(value) if isinstance(value, tuple) else value


def node_command(spec: NodeSpec, params_dir: Path, extra: dict | None = None) -> list[str]:
    """The command line `ros2 launch` would run for `spec` (console script, or python -m)."""
    script = shutil.which(
        spec.executable, path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    )
    cmd = [script] if script else [sys.executable, "-m", spec.module]
    cmd += ["--ros-args", "-r", f"__node:={spec.name}"]
    if spec.namespace:
        cmd += ["-r", f"__ns:={spec.namespace}"]
    for i, p in enumerate([*spec.parameters, *([extra] if extra else [])]):
        if isinstance(p, dict):  # as launch_ros does: a dict becomes a temporary parameter file
            f = params_dir / f"{spec.name}_params_{i}.yaml"
            values = {k: _uniform(v) for k, v in p.items()}
            f.write_text(yaml.safe_dump({spec.name: {"ros__parameters": values}}))
            p = str(f)
        cmd += ["--params-file", p]
    for src, dst in spec.remappings:
        cmd += ["-r", f"{src}:={dst}"]
    return cmd


def _die_with_parent() -> None:
    """In a node's process, before it runs: ask Linux to SIGTERM it when its launcher dies, however the
    launcher dies (a SIGKILL, a test's timeout), so no node outlives the graph that started it."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class NodeGraph:
    """Start nodes as child processes; `stop()` sends SIGTERM and returns their exit codes."""

    def __init__(self, specs: list[NodeSpec], env: dict[str, str], log_dir: str | Path,
                 extra_params: dict[str, dict] | None = None, cwd: str | Path | None = None) -> None:  # fmt: skip
        self.specs = {s.name: s for s in specs}
        self.env, self.log_dir = env, Path(log_dir)
        self.extra = extra_params or {}
        self.cwd = cwd
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, Any] = {}

    def start(self, names: list[str] | None = None) -> NodeGraph:
        """Spawn the nodes; if any cannot be started, the ones already running are stopped."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        names = names or list(self.specs)
        commands = {n: node_command(self.specs[n], self.log_dir, self.extra.get(n)) for n in names}
        try:
            for name, cmd in commands.items():
                log = open(self.log_dir / f"{name}.log", "w")  # noqa: SIM115 — closed in stop()
                self._logs[name] = log
                self.procs[name] = subprocess.Popen(
                    cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd,
                    preexec_fn=_die_with_parent,
                )  # fmt: skip
        except BaseException:
            self.stop()
            raise
        return self

    def alive(self) -> dict[str, bool]:
        return {n: p.poll() is None for n, p in self.procs.items()}

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, names: list[str] | None = None, timeout: float = 15.0) -> dict[str, int]:
        """SIGTERM (our own children only), wait, SIGKILL what is left; exit codes (-9: killed)."""
        names = names or list(self.procs)
        for n in names:
            if self.procs[n].poll() is None:
                self.procs[n].send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        codes = {}
        for n in names:
            p = self.procs[n]
            try:
                codes[n] = p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                codes[n] = p.wait()
        for n in names:
            del self.procs[n]
            self._logs.pop(n).close()
        for n in [n for n in self._logs if n not in self.procs]:  # opened, never spawned
            self._logs.pop(n).close()
        return codes

    def __enter__(self) -> NodeGraph:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.procs:
            self.stop()
