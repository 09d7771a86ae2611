"""Every named recipe, and every command the README and the model cards show, is a command line the CLI
accepts: parsed by the command's own parser, not run."""

from __future__ import annotations

import importlib
import shlex
from pathlib import Path

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


REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = ("README.md", *sorted(str(p.relative_to(REPO)) for p in REPO.glob("models/*/card.md")))


def shown_commands(text: str) -> list[tuple[str, ...]]:
    """Every `robo-reward <group> ...` line of the text's code blocks (continuation lines joined)."""
    commands, in_block = [], False
    for line in text.replace("\\\n", " ").splitlines():
        if line.strip().startswith("```"):
            in_block = not in_block
        elif in_block and line.strip().startswith("robo-reward "):
            argv = tuple(shlex.split(line, comments=True)[1:])
            if argv and argv[0] in GROUPS:
                commands.append(argv)
    return commands


def test_shown_commands_joins_continuations_and_skips_prose():
    text = (
        "robo-reward sim list\n```bash\nrobo-reward sim collect --out d \\\n  --episodes 2  # two\nls\n```\n"
    )
    assert shown_commands(text) == [("sim", "collect", "--out", "d", "--episodes", "2")]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_command_a_document_shows_parses(document):
    commands = shown_commands((REPO / document).read_text())
    assert commands, f"{document} shows no robo-reward command"
    for argv in commands:
        try:
            _parse(argv)
        except SystemExit:
            pytest.fail(f"{document} shows a command the CLI refuses: robo-reward {shlex.join(argv)}")
