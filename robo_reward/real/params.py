"""Typed, described node parameters: declared from one list per node, checked against rig YAML.

Each node module lists its parameters as `PARAMS: tuple[Param, ...]`. The node declares them with a
`ParameterDescriptor` (type + description, no dynamic typing), so a YAML value of the wrong type is
refused at start-up; the launch-file test reads the same lists to check every key in
`real/<rig>/ros_params.yaml` without starting ROS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

# ParameterType numbers (rcl_interfaces/msg/ParameterType), so this module needs no ROS import.
_TYPES = {
    "bool": 1,
    "int": 2,
    "double": 3,
    "string": 4,
    "bool_array": 6,
    "int_array": 7,
    "double_array": 8,
    "string_array": 9,
}


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str
    type: str = ""  # inferred from `default` when empty; needed for empty lists
    read_only: bool = False

    @property
    def ros_type(self) -> str:
        if self.type:
            if self.type not in _TYPES:
                raise ValueError(f"parameter {self.name}: unknown type {self.type!r}")
            return self.type
        return value_type(self.default, self.name)


def value_type(value: Any, name: str = "?") -> str:
    """The ROS parameter type a Python value has (bool before int: bool is an int in Python)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"parameter {name}: give an explicit type for an empty list")
        return f"{value_type(value[0], name)}_array"
    raise TypeError(f"parameter {name}: unsupported value {value!r}")


def check_values(params: Iterable[Param], values: Mapping[str, Any]) -> list[str]:
    """Problems with a `ros__parameters` mapping: unknown names and wrong types (empty = fine)."""
    known = {p.name: p for p in params}
    problems = []
    for name, value in values.items():
        if name not in known:
            problems.append(f"{name}: not a parameter of this node (known: {sorted(known)})")
            continue
        want = known[name].ros_type
        if isinstance(value, list) and not value and want.endswith("_array"):
            continue
        try:
            got = value_type(value, name)
        except (TypeError, ValueError) as e:
            problems.append(str(e))
            continue
        if got != want:
            problems.append(f"{name}: {value!r} is {got}, declared {want} (write 10.0, not 10, for doubles)")
    return problems


def declare(node: Any, params: Iterable[Param]) -> SimpleNamespace:
    """Declare every parameter on an rclpy node and return their values as attributes.

    An empty list default is declared by type alone (rclpy would type `[]` as a byte array); it
    reads back as `[]` unless the parameter file sets it.
    """
    from rcl_interfaces.msg import ParameterDescriptor
    from rclpy.parameter import Parameter

    values = {}
    for p in params:
        t = p.ros_type
        descriptor = ParameterDescriptor(
            name=p.name, type=_TYPES[t], description=p.description, read_only=p.read_only
        )
        default: Any = p.default
        if t.endswith("_array"):
            default = list(default) if default else Parameter.Type(_TYPES[t])
        value = node.declare_parameter(p.name, default, descriptor).value
        if t.endswith("_array"):
            value = [] if value is None else list(value)
        values[p.name] = value
    return SimpleNamespace(**values)
