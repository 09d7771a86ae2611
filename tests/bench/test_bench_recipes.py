"""Every named recipe is a command line the CLI accepts: parsed by the command's own parser, not run."""

from __future__ import annotations

import importlib

import pytest
import tyro

from robo_reward.bench.recipes import RECIPES, Recipe, get_recipe, run_with_needs
from robo_reward.cli import GROUPS


def _parse(argv: tuple[str, ...]) -> None:
    group, rest = argv[0], list(argv[1:])
    commands = importlib.import_module(GROUPS[group][0]).COMMANDS
    if callable(commands):
        parser = tyro.extras.get_parser(commands)
    else:
        name, rest = rest[0], rest[1:]
        parser = tyro.extras.get_parser(commands[name])
    parser.parse_args(rest)  # exits (SystemExit) on anything the command would refuse to parse


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_parses_as_the_cli_would(name):
    r = RECIPES[name]
    assert r.argv[0] in GROUPS and r.command_line().startswith(f"robo-reward {r.argv[0]} ")
    _parse(r.argv)
    for need in r.needs:
        assert get_recipe(need).output, f"{name} needs {need}, which names no output to check"


def test_run_with_needs_runs_missing_outputs_first(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(Recipe, "run", lambda self: ran.append(self.name))
    made = tmp_path / "made"
    made.mkdir()
    fake = {
        "a": Recipe("a", ("sim", "list"), "", output=str(tmp_path / "missing")),
        "b": Recipe("b", ("sim", "list"), "", output=str(made)),
        "c": Recipe("c", ("sim", "list"), "", needs=("a", "b")),
    }
    monkeypatch.setattr("robo_reward.bench.recipes.RECIPES", fake)
    run_with_needs("c")
    assert ran == ["a", "c"]  # b's output exists
