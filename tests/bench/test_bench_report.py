"""`bench all`'s report: each recipe's table under its command line, failures recorded, --only
re-measures one section and keeps the others' last measurement."""

import json

import pytest

from robo_reward.bench import report
from robo_reward.bench.recipes import RECIPES, get_recipe


def _runner(name: str) -> dict:
    if name == "ros":
        raise RuntimeError("no network")
    return {"rows": [{"recipe": name, "value": 0.5}]}


def test_every_section_names_known_recipes_and_keys_are_unique():
    assert len(set(report.section_names())) == len(report.SECTIONS)
    for s in report.SECTIONS:
        assert s.recipes and all(name in RECIPES for name in s.recipes), s.key


def test_report_renders_each_recipe_under_its_command_and_records_failures(tmp_path):
    done = report.run_all(tmp_path / "results.md", runner=_runner)
    md = (tmp_path / "results.md").read_text()
    assert list(done) == report.section_names()
    for s in report.SECTIONS:
        assert f"## {s.title}" in md
        for name in s.recipes:
            assert get_recipe(name).command_line() in md
    assert "| rl/open_drawer-grm | 0.500 |" in md
    assert "**failed**: RuntimeError: no network" in md
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["ros"]["recipes"]["ros"]["status"] == "failed"
    assert saved["rl"]["recipes"]["rl/open_drawer-oracle"]["result"] == {
        "rows": [{"recipe": "rl/open_drawer-oracle", "value": 0.5}]
    }


def test_only_remeasures_one_section_and_keeps_the_rest(tmp_path):
    path = tmp_path / "results.md"
    report.run_all(path, only=["sim"], runner=_runner)
    assert "(not measured yet: `robo-reward bench all --only rl`)" in path.read_text()
    report.run_all(path, only=["rl"], runner=lambda name: {"rows": [{"recipe": name, "value": 0.25}]})
    md = path.read_text()
    assert "| rl/open_drawer-grm | 0.250 |" in md and "| bench-sim | 0.500 |" in md
    assert "not measured yet: `robo-reward bench all --only rl`" not in md
    with pytest.raises(ValueError, match="unknown bench sections"):
        report.run_all(path, only=["nope"], runner=_runner)


def test_render_result_takes_table_rows_or_scalars():
    assert report.render_result({"table": [{"a": 1, "per_episode": [1, 2]}]}) == "| a |\n|---|\n| 1 |"
    assert report.render_result({"x": 2.0, "nested": {"y": 1}}) == "| x |\n|---|\n| 2.000 |"
    assert report.render_result("runs/bc/model") == "`runs/bc/model`"


def test_bench_all_help_lists_every_section():
    from robo_reward.commands.bench import all as bench_all

    listed = bench_all.__doc__.split("Sections:")[1].split(".")[0]
    assert [k.strip() for k in " ".join(listed.split()).split(",")] == report.section_names()


def test_a_pipelines_stage_seconds_render_under_its_table():
    r = {"table": [{"policy": "BC", "success": 0.4}], "stages": [{"stage": "RL", "seconds": 2.0}]}
    table, stages = report.render_result(r).split("\n\n")
    assert table == "| policy | success |\n|---|---|\n| BC | 0.400 |"
    assert stages == "| stage | seconds |\n|---|---|\n| RL | 2.000 |"


def test_a_section_measured_meanwhile_by_another_run_is_kept(tmp_path):
    path = tmp_path / "results.md"

    def runner(name: str) -> dict:
        if name == "bench-sim":  # while this run measures sim, another one finishes the ros section
            report.run_all(path, only=["ros"], runner=lambda n: {"rows": [{"recipe": n, "value": 0.75}]})
        return {"rows": [{"recipe": name, "value": 0.5}]}

    report.run_all(path, only=["sim"], runner=runner)
    md = path.read_text()
    assert "| bench-sim | 0.500 |" in md and "| ros | 0.750 |" in md


def test_a_reward_model_evaluation_shows_its_chunk_ranking_rows(tmp_path):
    r = {
        "table_markdown": "| source |\n|---|\n| grm |",
        "chunk_ranking": {"rows": {"open_drawer": {"pair_accuracy": 0.8}}},
    }
    md = report.render_result(r)
    assert md.startswith(r["table_markdown"]) and "| open_drawer | 0.800 |" in md
    path = tmp_path / "results.md"
    report.run_all(path, only=["grm"], runner=lambda name: r)
    path.write_text("stale")
    report.rerender(path)
    assert "| open_drawer | 0.800 |" in path.read_text()


def test_a_reward_model_evaluation_shows_its_potential_diagnostics():
    r = {
        "table_markdown": "| source |\n|---|\n| grm |",
        "results": {"grm": {"voc_dense": 0.9, "potential": {"diff_snr@2": 1.25, "over_rate": 0.5}}},
    }
    md = report.render_result(r)
    assert "| source | diff_snr@2 | over_rate |" in md and "| grm | 1.250 | 0.500 |" in md
    assert "potential" not in report.render_result({"table_markdown": "| source |", "results": {"grm": {}}})


def test_recipe_remeasures_one_recipe_and_keeps_its_section(tmp_path):
    path = tmp_path / "results.md"
    report.run_all(path, only=["rl"], runner=_runner)
    report.run_all(
        path,
        recipes=["rl/open_drawer-grm-r2"],
        runner=lambda name: {"rows": [{"recipe": name, "value": 0.75}]},
    )
    md = path.read_text()
    assert "| rl/open_drawer-grm-r2 | 0.750 |" in md and "| rl/open_drawer-grm | 0.500 |" in md
    saved = json.loads(path.with_suffix(".json").read_text())["rl"]["recipes"]
    assert set(saved) == set(next(s for s in report.SECTIONS if s.key == "rl").recipes)
    assert all("measured" in r for r in saved.values())
    with pytest.raises(ValueError, match="publish nothing"):
        report.run_all(path, recipes=["bc/open_drawer5"], runner=_runner)
    with pytest.raises(ValueError, match="not both"):
        report.run_all(path, only=["rl"], recipes=["rl/open_drawer-grm"], runner=_runner)


def test_an_undefined_metric_reads_n_a_not_nan():
    assert (
        report.render_result({"table": [{"auroc": float("nan"), "voc": 0.5}]})
        == "| auroc | voc |\n|---|---|\n| n/a | 0.500 |"
    )


def test_a_list_of_rows_renders_as_a_table():
    rows = [
        {"task": "reach", "ok": True, "outcomes": {"partial": 2}},
        {"task": "push", "ok": True, "outcomes": {}},
    ]
    assert report.render_result(rows) == "| task | ok |\n|---|---|\n| reach | True |\n| push | True |"
