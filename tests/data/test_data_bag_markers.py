"""Episode markers as recorders write them: the documented forms, a user regex, and clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags")
sys.path.insert(0, str(Path(__file__).parent))

from test_data_bag import EPISODES, write_bag

from robo_reward.data.bag import bag_to_episodes
from robo_reward.data.bag_markers import (
    Marker,
    MarkerError,
    compile_marker_regex,
    marker_spans,
    parse_marker,
)

REGEX = r"EP(?P<episode>\d+)_(?P<event>BEGIN|END)"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("start", Marker("start")),
        ("start 3", Marker("start", 3)),
        ("start:3", Marker("start", 3)),
        ("  Start: 3 ", Marker("start", 3)),
        ("start episode 3", Marker("start", 3)),
        ("start:pick the cube", Marker("start", None, "pick the cube")),
        ("start 3: pick the cube", Marker("start", 3, "pick the cube")),
        ("begin", Marker("start")),
        ("end", Marker("end")),
        ("stop 3", Marker("end", 3)),
        ("end:failure", Marker("end", outcome="failure")),
        ("stop 3 failed", Marker("end", 3, outcome="failure")),
        ("end: operator pressed stop", Marker("end")),
        ("done", Marker("end")),
        ("partial", Marker("outcome", outcome="partial")),
        ('{"event": "start", "episode": 3, "task": "pick"}', Marker("start", 3, "pick")),
        ('{"event": "begin", "instruction": "pick"}', Marker("start", None, "pick")),
        ('{"event": "end", "success": false}', Marker("end", outcome="failure")),
        ('{"event": "stop", "episode": "3", "outcome": "partial"}', Marker("end", 3, outcome="partial")),
        (True, Marker("start")),
        (False, Marker("end")),
        ("go", None),
        ("start3", None),
        ("success!", None),
        ('{"event": "jump"}', None),
        ('{"no_event": 1}', None),
        ("{not json", None),
    ],
)
def test_parse_marker(data, expected):
    assert parse_marker(data) == expected


def test_user_regex_goes_first_and_falls_back():
    regex = compile_marker_regex(REGEX)
    assert parse_marker("EP4_BEGIN", regex) == Marker("start", 4)
    assert parse_marker("ep4_end", regex) == Marker("end", 4)
    assert parse_marker("stop 2", regex) == Marker("end", 2)  # the built-in forms still apply
    with pytest.raises(MarkerError, match="named group"):
        compile_marker_regex(r"EP(\d+)_(BEGIN|END)")
    with pytest.raises(MarkerError, match="not a regular expression"):
        compile_marker_regex("EP(")


def test_marker_spans_by_hand():
    messages = [
        (5, "hello"),  # not a marker: counted, not guessed at
        (10, "start 1"),
        (20, "stop 1"),
        (25, "success"),
        (30, "begin:open the drawer"),
        (40, "failure"),  # the open episode's outcome
        (50, "end"),
        (55, "partial"),  # after the end: the last episode's
        (60, "end 9"),  # no episode open
        (70, "start 4"),
        (80, "start 5"),  # closes episode 4 here
    ]
    spans, report = marker_spans(messages, last_ns=99, topic="/m")
    assert spans == [
        (10, 20, "", "success"),
        (30, 50, "open the drawer", "partial"),
        (70, 80, "", "success"),
        (80, 99, "", "success"),
    ]
    assert report.understood == 10 and report.ignored == 1 and report.ignored_examples == ["hello"]
    assert report.notes == [
        "an end marker at 0.000 s with no episode open; ignored",
        "episode 2 had no end; closed at the next start",
        "episode 3 had no end; closed at the last image",
    ]

    with pytest.raises(
        MarkerError, match=r"none of its 2 messages starts an episode \(e\.g\. \['go', 'halt'\]\)"
    ):
        marker_spans([(1, "go"), (2, "halt")], 9, "/m")
    with pytest.raises(MarkerError, match="no start markers"):
        marker_spans([(1, "end")], 9, "/m")


FORMS = {
    "number after a space": ([("start 1", "stop 1"), ("start 2", "stop 2")], None),
    "number after a colon": ([("start:1", "end:1"), ("start:2", "end:2 failure")], None),
    "other verbs": ([("begin", "finish"), ("BEGIN", "done")], None),
    "json": (
        [
            (
                '{"event": "start", "episode": 1, "task": "pick the cube"}',
                '{"event": "end", "success": true}',
            ),
            (
                '{"event": "start", "episode": 2, "task": "pick the cube"}',
                '{"event": "end", "outcome": "failure"}',
            ),
        ],
        None,
    ),
    "user regex": ([("EP1_BEGIN", "EP1_END"), ("EP2_BEGIN", "EP2_END")], REGEX),
}


@pytest.fixture(scope="module")
def canonical(tmp_path_factory):
    eps, _, _ = bag_to_episodes(write_bag(tmp_path_factory.mktemp("bag") / "in"))
    return eps


@pytest.mark.parametrize("form", list(FORMS))
def test_marker_forms_cut_the_same_episodes(tmp_path, canonical, form):
    markers, regex = FORMS[form]
    eps, stats, _ = bag_to_episodes(write_bag(tmp_path / "in", markers=markers), marker_regex=regex)
    assert len(eps) == len(canonical) == 2 and stats.markers.understood == 4 and stats.markers.ignored == 0
    for ep, ref, (start, end, _, _) in zip(eps, canonical, EPISODES, strict=True):
        np.testing.assert_array_equal(ep.extras["bag_stamp_ns"], ref.extras["bag_stamp_ns"])
        assert start * 1e9 <= ep.extras["bag_stamp_ns"][0] and ep.extras["bag_stamp_ns"][-1] <= end * 1e9
    if form in ("json", "number after a colon"):
        assert [e.outcome for e in eps] == ["success", "failure"]
    if form == "json":
        assert [e.task for e in eps] == ["pick the cube"] * 2


def test_cli_help_documents_markers_and_errors_are_one_line(tmp_path, capsys):
    from robo_reward.cli import main

    with pytest.raises(SystemExit):
        main(["data", "import-bag", "--help"])
    help_text = capsys.readouterr().out
    for form in (
        "start 3",
        "start:3",
        "begin",
        "stop 3",
        "end:failure",
        '{"event": "start"',
        "--marker-regex",
    ):
        assert form in help_text, form

    bag = write_bag(tmp_path / "in", markers=[("go", "halt"), ("go", "halt")])

    def refusal(*extra: str) -> str:  # the CLI's one line on stderr, status 2
        with pytest.raises(SystemExit) as err:
            main(["data", "import-bag", "--bag", str(bag), "--out", str(tmp_path / "ds"), *extra])
        message = capsys.readouterr().err
        assert err.value.code == 2 and message.count("\n") == 1, message
        assert message.startswith("robo-reward data import-bag: error: ")
        return message

    message = refusal()
    assert "'go'" in message and "--marker-regex" in message
    assert "'/nope' is not a String/Bool topic of the bag; those are" in refusal("--marker-topic", "/nope")
    assert not (tmp_path / "ds").exists()
