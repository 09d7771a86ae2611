import subprocess
import sys

import pytest

from robo_reward.cli import GROUPS, main


def test_top_level_help_lists_every_group(capsys):
    main(["--help"])
    out = capsys.readouterr().out
    for group in GROUPS:
        assert group in out


def test_unknown_group_fails_clearly(capsys):
    with pytest.raises(SystemExit) as e:
        main(["no-such-group"])
    assert e.value.code == 2
    assert "unknown group" in capsys.readouterr().err


@pytest.mark.parametrize("group", list(GROUPS))
def test_every_group_and_command_has_help(group):
    """`robo-reward <group> --help` and `robo-reward <group> <cmd> --help` work for every command."""
    import importlib

    commands = importlib.import_module(GROUPS[group][0]).COMMANDS
    names = [None] if callable(commands) else [None, *commands]
    for name in names:
        args = [group] + ([name] if name else []) + ["--help"]
        r = subprocess.run([sys.executable, "-m", "robo_reward.cli", *args], capture_output=True, text=True)
        assert r.returncode == 0, (args, r.stderr[-2000:])
        assert "usage" in r.stdout.lower(), args
