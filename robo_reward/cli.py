"""`robo-reward <group> <command> [options]` — one CLI, typed by dataclasses/signatures via tyro.

Each group is a module of `robo_reward.commands` exposing `COMMANDS: dict[str, callable]`; this file
only maps group names to those modules, imported lazily so `--help` stays fast.

A user's mistake (a `UserError`, or a built-in error raised by validation: a missing file, a bad
value) prints one line, `robo-reward <group> <command>: error: ...`, and exits with status 2.
`--debug` anywhere on the command line, or `ROBO_REWARD_DEBUG=1`, shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys

from robo_reward.utils.errors import UserError, one_line

DEBUG_FLAG = "--debug"
DEBUG_ENV = "ROBO_REWARD_DEBUG"
# built-in errors that validation raises for bad input; anything else is a bug and keeps its traceback
INPUT_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
    ValueError,
)

GROUPS: dict[str, tuple[str, str]] = {
    "sim": (
        "robo_reward.commands.sim",
        "MuJoCo task suite: list, demo, collect datasets, render contact sheets",
    ),
    "data": ("robo_reward.commands.data", "datasets: info, show, rosbag2 import/export"),
    "calibrate": ("robo_reward.commands.calibrate", "ChArUco boards, intrinsics, extrinsics, hand-eye"),
    "grm": ("robo_reward.commands.grm", "general reward model (GRM): train, label, adapt, eval, codec"),
    "encoder": ("robo_reward.commands.encoder", "multi-view time-contrastive encoder: train"),
    "pretrained": ("robo_reward.commands.pretrained", "offline pretrained encoders: convert, info, time"),
    "perceptual": ("robo_reward.commands.perceptual", "perceptual reward: fit, score"),
    "policy": ("robo_reward.commands.policy", "flow-matching policy: train, eval, serve"),
    "rl": ("robo_reward.commands.rl", "online RL of the flow policy: train, compare, eval, export"),
    "dpo": ("robo_reward.commands.dpo", "DPO fine-tuning: pairs, train"),
    "bench": ("robo_reward.commands.bench", "benchmarks: sim, policy, ros, all"),
    "ros": ("robo_reward.commands.ros", "ROS 2 graph without a ROS 2 CLI: launch, lifecycle, estop, status"),
    "quickstart": ("robo_reward.commands.quickstart", "the whole mission end to end on a CPU in minutes"),
}


def _usage() -> str:
    from robo_reward import __version__

    width = max(len(g) for g in GROUPS)
    lines = [
        f"robo-reward {__version__}",
        "",
        "usage: robo-reward <group> [command] [options]   (add --help to any of them)",
        "",
        "groups:",
    ]
    lines += [f"  {name:<{width}}  {desc}" for name, (_, desc) in GROUPS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    argv = [a for a in argv if a != DEBUG_FLAG]
    prog = "robo-reward" + "".join(f" {a}" for a in argv[:2] if not a.startswith("-"))
    try:
        _run(argv)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except (UserError, *INPUT_ERRORS) as e:
        if debug:
            raise
        hint = "" if isinstance(e, UserError) else f" ({DEBUG_FLAG} shows where)"
        print(f"{prog}: error: {one_line(e)}{hint}", file=sys.stderr)
        raise SystemExit(2) from None
    except SystemExit as e:
        if debug or not isinstance(e.code, str):  # a status (tyro's parse errors, --help): keep it
            raise
        print(f"{prog}: error: {' '.join(e.code.split())}", file=sys.stderr)
        raise SystemExit(2) from None


def _run(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return
    if argv[0] in ("-V", "--version"):
        from robo_reward import __version__

        print(__version__)
        return
    if argv[0] not in GROUPS:
        print(f"robo-reward: unknown group {argv[0]!r}\n\n{_usage()}", file=sys.stderr)
        raise SystemExit(2)
    run_command(argv)


def run_command(argv: list[str]):
    """Parse `<group> <command> [options]` as the CLI does and return what the command returns (a named
    recipe runs through here, so it cannot drift from the command line it prints)."""
    import tyro

    group, rest = argv[0], argv[1:]
    module = importlib.import_module(GROUPS[group][0])
    commands = module.COMMANDS
    prog = f"robo-reward {group}"
    if callable(commands):  # a group that is a single command (quickstart)
        return tyro.cli(commands, args=rest, prog=prog)
    return tyro.extras.subcommand_cli_from_dict(commands, args=rest, prog=prog)


if __name__ == "__main__":
    main()
