"""What a person reads in a log: tables, messages, progress lines."""

from robo_reward.utils.cli_helpers import console, print_table


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
