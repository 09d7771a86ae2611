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


DATA_FLAGS = ("--data", "--eval-data", "--old-eval-data", "--replay", "--demo")


def read_datasets(argv: tuple[str, ...]) -> list[str]:
    """The `data/...` folders a command line reads (the values after its data flags)."""
    found, reading = [], False
    for token in argv:
        if token.startswith("--"):
            reading = token in DATA_FLAGS
        elif reading and token.startswith("data/"):
            found.append(token)
    return found


def made_by_needs(name: str) -> set[str]:
    """The outputs of every recipe `name` needs, directly or through them."""
    outputs, todo, seen = set(), list(get_recipe(name).needs), set()
    while todo:
        need = todo.pop()
        if need not in seen:
            seen.add(need)
            outputs.add(get_recipe(need).output or "")
            todo.extend(get_recipe(need).needs)
    return outputs


def test_read_datasets_takes_every_value_of_the_data_flags_only():
    argv = ("grm", "train", "--data", "data/a", "data/b", "--out", "data/c", "--replay", "data/d")
    assert read_datasets(argv) == ["data/a", "data/b", "data/d"]


@pytest.mark.parametrize("name", sorted(n for n in RECIPES if read_datasets(RECIPES[n].argv)))
def test_every_dataset_a_recipe_reads_is_made_by_what_it_needs(name):
    made = made_by_needs(name)
    for folder in read_datasets(RECIPES[name].argv):
        assert any(out == folder or out.startswith(folder + "/") for out in made), (
            f"{name} reads {folder}, which no recipe it needs makes: `bench run {name}` would fail on a fresh clone"
        )


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
