"""What a person reads in a log: tables, messages, progress lines."""

import io

from robo_reward.utils.cli_helpers import console, print_table
from robo_reward.utils.logging import LineProgress, progress_bar


def test_a_wide_table_in_a_log_keeps_every_cell_whole(capsys):
    cols = [f"column_with_a_long_name_{i}" for i in range(12)]
    rows = [{c: f"value-{r}-{i}-" + "x" * 20 for i, c in enumerate(cols)} for r in range(3)]
    print_table("twelve wide columns", rows)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "twelve wide columns"
    header, rule, *body = lines[1:]
    assert [c.strip() for c in header.strip("|").split("|")] == cols
    assert rule == "|" + "---|" * 12
    assert [[c.strip() for c in line.strip("|").split("|")] for line in body] == [
        [r[c] for c in cols] for r in rows
    ]


def test_a_cell_holding_a_bar_stays_one_cell(capsys):
    print_table("t", [{"a": "x|y", "b": 0.5}])
    assert capsys.readouterr().out.splitlines()[-1] == r"| x\|y | 0.500 |"


def test_a_long_message_in_a_log_stays_on_one_line(capsys):
    path = "/runs/" + "/".join(f"folder-{i}" for i in range(20))
    console.print(f"wrote 10 episodes to {path}")
    assert capsys.readouterr().err == f"wrote 10 episodes to {path}\n"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_in_a_log_prints_quarters_and_the_end():
    clock, out = Clock(), io.StringIO()
    with LineProgress(stream=out, get_time=clock) as progress:
        job = progress.add_task("adapt", total=100, info="")
        for step in range(1, 101):
            clock.now = step  # one step a second: every quarter is 25 s after the last line
            progress.update(job, completed=step, info=f"loss {1 / step:.3f}")
    assert out.getvalue().splitlines() == [
        "adapt: 25/100 (25%), 0:25 elapsed, ~1:15 left, loss 0.040",
        "adapt: 50/100 (50%), 0:50 elapsed, ~0:50 left, loss 0.020",
        "adapt: 75/100 (75%), 1:15 elapsed, ~0:25 left, loss 0.013",
        "adapt: 100/100 (100%), 1:40 elapsed, loss 0.010",
    ]


def test_a_quick_step_in_a_log_costs_one_line():
    clock, out = Clock(), io.StringIO()
    with LineProgress(stream=out, get_time=clock) as progress:
        job = progress.add_task("collect", total=1000, info="")
        for step in range(1, 1001):
            clock.now = step * 0.005  # 5 s in all: the quarters come too fast for a line each
            progress.advance(job)
            progress.update(job, info="x")  # info alone never prints
    assert out.getvalue().splitlines() == ["collect: 1000/1000 (100%), 0:05 elapsed, x"]


def test_a_step_without_a_total_beats_every_30_s_and_reports_where_it_stopped():
    clock, out = Clock(), io.StringIO()
    with LineProgress(stream=out, get_time=clock) as progress:
        job = progress.add_task("rollouts", total=None, info="")
        for step in range(1, 71):
            clock.now = 2 * step
            progress.advance(job)
        idle = progress.add_task("never advanced", total=10, info="")
        progress.update(idle, info="waiting")
    assert out.getvalue().splitlines() == [
        "rollouts: 15, 0:30 elapsed",
        "rollouts: 30, 1:00 elapsed",
        "rollouts: 45, 1:30 elapsed",
        "rollouts: 60, 2:00 elapsed",
        "rollouts: 70, 2:20 elapsed",  # the display stopped before 2:30
    ]


def test_progress_bar_is_live_on_a_terminal_lines_in_a_log_and_silent_when_disabled(monkeypatch):
    monkeypatch.delenv("ROBO_REWARD_PROGRESS", raising=False)
    assert isinstance(progress_bar(), LineProgress)  # pytest's stderr is no terminal
    assert not isinstance(progress_bar(disable=True), LineProgress) and progress_bar(disable=True).disable
    monkeypatch.setenv("ROBO_REWARD_PROGRESS", "1")
    bar = progress_bar()
    assert not isinstance(bar, LineProgress) and not bar.disable
