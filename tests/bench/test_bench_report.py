"""`bench all`'s report: every section rendered with its command, failures recorded, --only honoured."""

import json

import pytest

from robo_reward.bench import report


@pytest.fixture
def fake_sections(monkeypatch):
    def ok() -> dict:
        return {"rows": [{"metric": "voc", "value": 0.5}]}

    def broken() -> dict:
        raise RuntimeError("no data")

    monkeypatch.setattr(report, "_sections", lambda out: [("good", "cmd-a", ok), ("bad", "cmd-b", broken)])


def test_report_renders_each_section_and_records_failures(tmp_path, fake_sections):
    results = report.run_all(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "## good" in md and "`cmd-a`" in md and "| voc | 0.500 |" in md
    assert "## bad" in md and "**failed**: RuntimeError: no data" in md
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["good"]["status"] == "ok" and saved["bad"]["status"] == "failed"
    assert results["bad"]["result"]["error"] == "RuntimeError: no data"


def test_only_runs_named_sections(tmp_path, fake_sections):
    results = report.run_all(tmp_path, only=["ok"])
    assert list(results) == ["good"]
    with pytest.raises(ValueError, match="unknown bench sections"):
        report.run_all(tmp_path, only=["nope"])


def test_bench_all_writes_its_json_into_out_unless_told(tmp_path, fake_sections):
    from robo_reward.commands.bench import all as bench_all

    bench_all(out=tmp_path / "a")
    assert json.loads((tmp_path / "a" / "bench.json").read_text())["good"]["status"] == "ok"
    bench_all(out=tmp_path / "b", json=tmp_path / "elsewhere.json")
    assert (tmp_path / "elsewhere.json").exists() and not (tmp_path / "b" / "bench.json").exists()


def test_section_names_are_the_documented_keys():
    assert report.section_names() == [
        "sim", "tasks", "datasets", "grm", "adapt", "perceptual", "policy_latency",
        "policy_success", "rl", "dpo", "calibration", "ros",
    ]  # fmt: skip
