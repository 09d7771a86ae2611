"""Where the project's data folders live. One module knows; `ROBO_REWARD_HOME` overrides it."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The folder holding `sim/`, `real/`, `models/`, `calibration/`, `launch/` (the repository root)."""
    env = os.environ.get("ROBO_REWARD_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return Path(__file__).resolve().parent.parent


def sim_assets() -> Path:
    return project_root() / "sim"


def rig_configs() -> Path:
    return project_root() / "real"


def shipped_models() -> Path:
    return project_root() / "models"


def calibration_results() -> Path:
    return project_root() / "calibration"


def launch_files() -> Path:
    return project_root() / "launch"


def runs_dir() -> Path:
    return Path(os.environ.get("ROBO_REWARD_RUNS", project_root() / "runs"))
