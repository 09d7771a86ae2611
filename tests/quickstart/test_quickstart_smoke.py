"""The README's main job, end to end at a tiny budget, with the shipped reward model."""

import json

import pytest

from robo_reward.commands.quickstart import Quickstart, quickstart
from robo_reward.paths import shipped_models


@pytest.mark.skipif(
    not (shipped_models() / "grm-lite-sim" / "config.json").exists(), reason="no shipped reward model"
)
def test_quickstart_runs_every_stage_and_writes_a_report(tmp_path, capfd):
    cfg = Quickstart(
        out=tmp_path / "qs",
        policy=None,  # BC trained here from 2 demos
        episodes_per_task=2,
        held_out_episodes=3,
        rl_rollouts=2,
        eval_episodes=2,
        bc_demos=2,
        bc_steps=5,
        dpo_rounds=1,
        dpo_pair_episodes=1,
        adapt_seconds=10,
        image_size=64,
    )
    capfd.readouterr()
    res = quickstart(cfg)
    out, err = capfd.readouterr()
    # what a log of it holds (pytest's output is no terminal): no encoder chatter, no bar redraws
    log = (out + err).splitlines()
    assert len(log) <= 200 and not [line for line in log if "libx264" in line or "\r" in line], log
    report = (tmp_path / "qs" / "report.md").read_text()
    for heading in ("Reward model on seen tasks", "One-shot adaptation", "Policy fine-tuning"):
        assert heading in report
    assert (tmp_path / "qs" / "plots" / "progress.png").stat().st_size > 1000
    for name, run in (("BC policy", "bc"), ("RL with GRM-shaped reward", "rl"), ("DPO", "dpo")):
        assert f"![{name} training curves]({run}/metrics.png)" in report
        assert (tmp_path / "qs" / run / "metrics.png").stat().st_size > 1000
    assert "reward model training curves" not in report  # the shipped one, not trained here
    assert (
        "after RL, GRM-shaped reward (grm-lite-sim)" in report
        and "pairs judged by the GRM (grm-lite-sim)" in report
    )
    assert "**Gain of GRM-shaped RL: " in report and "95 % CI [" in report
    adapt = res["adapt"]
    assert adapt["task"] == "drawer_store"
    # One demo of the held-out task must lift its VOC above zero-shot.
    assert adapt["voc_after"]["new"]["drawer_store"] > adapt["voc_before"]["new"]["drawer_store"]
    summary = json.loads((tmp_path / "qs" / "summary.json").read_text())
    assert set(summary["stage_seconds"]) >= {
        "collect demos",
        "evaluate GRM",
        "RL with GRM-shaped reward",
        "DPO",
    }
    # the table `bench run quickstart` renders: the gain is the success difference, the total the stages' sum
    rates = [row["success"] for row in summary["table"]]
    assert rates == [res["rl"]["before"]["success_rate"], res["rl"]["after"]["success_rate"],
                     res["dpo"]["after"]["success_rate"]]  # fmt: skip
    assert summary["table"][1]["gain over BC (95 % CI)"].startswith(f"{rates[1] - rates[0]:+.2f} [")
    *stages, total = summary["stages"]
    assert total["stage"] == "total" and total["seconds"] == pytest.approx(sum(r["seconds"] for r in stages))
    assert {r["stage"] for r in stages} == set(summary["stage_seconds"])
    assert res["policy_source"] == "2 demos, trained here" and "BC (2 demos, trained here)" in report
    assert (tmp_path / "qs" / "bc" / "model" / "config.json").exists()


def test_missing_policy_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no policy at"):
        quickstart(Quickstart(out=tmp_path / "qs", policy=tmp_path / "nope", episodes_per_task=1,
                              held_out_episodes=2, image_size=64))  # fmt: skip


def test_a_used_out_folder_is_refused_before_any_work_or_replaced_with_overwrite(tmp_path):
    from robo_reward.commands.quickstart import _clear
    from robo_reward.utils.errors import UserError

    out = tmp_path / "qs"
    (out / "rl").mkdir(parents=True)
    (out / "rl" / "metrics.jsonl").write_text("{}\n")
    (out / "report.md").write_text("# old\n")
    with pytest.raises(UserError, match="is not empty: pass --overwrite"):
        quickstart(Quickstart(out=out, episodes_per_task=1, held_out_episodes=2, image_size=64))
    assert (out / "report.md").exists()  # nothing touched
    (out / "notes.txt").write_text("mine\n")
    with pytest.raises(UserError, match="holds notes.txt, which no quickstart writes"):
        _clear(out, overwrite=True)
    assert (out / "notes.txt").exists() and (out / "rl" / "metrics.jsonl").exists()
    (out / "notes.txt").unlink()
    _clear(out, overwrite=True)
    assert out.is_dir() and not list(out.iterdir())
