"""`robo-reward data import-bag | info | show | export-bag` end to end on a small bag."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("rosbags")
sys.path.insert(0, str(Path(__file__).parent))

from test_data_bag import write_bag

from robo_reward.cli import main


def test_data_cli_round_trip(tmp_path, capsys):
    bag = write_bag(tmp_path / "in")
    ds = tmp_path / "ds"
    main(
        [
            "data",
            "import-bag",
            "--bag",
            str(bag),
            "--out",
            str(ds),
            "--fps",
            "10",
            "--json",
            str(tmp_path / "i.json"),
        ]
    )
    metrics = json.loads((tmp_path / "i.json").read_text())
    assert (
        metrics["frames"] >= 38
        and metrics["frames_per_s"] > 0
        and metrics["skew_max_ms"] <= metrics["slop_ms"]
    )

    main(["data", "info", "--dataset", str(ds), "--json", str(tmp_path / "info.json")])
    info = json.loads((tmp_path / "info.json").read_text())
    assert info["episodes"] == 2 and info["fps"] == 10 and info["views"] == ["front", "side", "wrist"]
    assert info["outcomes"] == {"success": 1, "failure": 1} and "observation.state" in info["columns"]

    main(["data", "show", "--dataset", str(ds), "--episode", "1", "--out", str(tmp_path / "sheet.png")])
    assert (tmp_path / "sheet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    out = tmp_path / "out"
    main(
        [
            "data",
            "export-bag",
            "--dataset",
            str(ds),
            "--out",
            str(out),
            "--storage",
            "sqlite3",
            "--json",
            str(tmp_path / "e.json"),
        ]
    )
    counts = json.loads((tmp_path / "e.json").read_text())
    assert counts["/camera/side/image_raw"] == metrics["frames"]

    for argv, message in (
        (["--out", str(ds)], "exists; pass overwrite=True (CLI: --overwrite)"),
        (["--out", str(tmp_path / "x"), "--view", "front"], "--view takes NAME=TOPIC"),
    ):
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:  # a mistake: one line, exit status 2
            main(["data", "import-bag", "--bag", str(bag), *argv])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
