"""Errors meant for the person at the keyboard, not for a debugger.

A `UserError` says what is wrong and how to fix it in one sentence; the CLI prints it as one line
(`robo-reward <group> <command>: error: ...`) and exits with status 2. Tracebacks are for bugs, and
for `--debug` (or `ROBO_REWARD_DEBUG=1`).
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix (a missing path, a bad option, a run folder in the way)."""


class ResumeError(UserError):
    """`--resume` was refused: the checkpoint is not this run's, not this config's, or cannot be verified."""


class DatasetError(UserError):
    """A dataset folder is missing, incomplete or damaged; the message names the file."""


class UnknownNameError(UserError, KeyError):
    """A name looked up in a registry (a task, a preset) that is not there; still a KeyError for callers
    that catch one."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def one_line(exc: BaseException) -> str:
    """The exception's message on one line, with the file name of an OS error spelled out."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.strerror}: {exc.filename}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())
