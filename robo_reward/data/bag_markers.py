"""Episode markers in a rosbag2, in the forms recorders write, turned into episode time spans.

A marker topic is a `std_msgs/Bool` (true starts an episode, false ends it) or a `std_msgs/String`
holding one of these (case and surrounding spaces do not matter):

    start | begin                      an episode starts
    start 3 | start:3 | start episode 3  ... with its number (a leading integer is always the number)
    start:pick the cube | start 3: pick the cube      ... with its instruction
    end | stop | finish | done         the episode ends
    stop 3 | end:3 | end:failure | stop 3 failure    ... with its number and/or outcome (other
                                       text after an end word leaves the outcome as it was)
    success | partial | failure        the outcome of the open (or else the last) episode
    {"event": "start", "episode": 3, "task": "pick the cube"}    JSON: event is any word above;
    {"event": "end", "outcome": "failure"}                        optional episode, task (or
                                                                  instruction), outcome or success
A user regex (`--marker-regex`) is tried first: its named group `event` holds a word above, and
optional groups `episode`, `task`, `outcome` fill the rest, e.g. `EP(?P<episode>\\d+)_(?P<event>BEGIN|END)`.

A start while an episode is open closes it there (nothing is dropped); an episode never ended closes
at the last image. What did not parse is counted and shown, never guessed at.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

from robo_reward.data.episode import OUTCOMES

START_WORDS = ("start", "begin", "started", "start_episode", "episode_start")
END_WORDS = ("end", "stop", "finish", "done", "ended", "stopped", "finished", "end_episode", "episode_end")
OUTCOME_WORDS = {**{o: o for o in OUTCOMES}, "succeeded": "success", "fail": "failure", "failed": "failure"}
GRAMMAR = 'start | start 3 | start:3 | start:<task> | begin | end | stop 3 | end:<outcome> | {"event": ...}'

_VERB = re.compile(r"(?P<verb>[a-z_]+)(?:\s*[:=\s]\s*(?P<rest>.*))?", re.I | re.S)
_NUMBER = re.compile(r"(?:episode\s*)?#?(?P<number>\d+)(?:\s*[:=,\s]\s*(?P<text>.*))?", re.I | re.S)


class MarkerError(ValueError):
    """A marker topic that cannot be read into episodes."""


@dataclass(frozen=True)
class Marker:
    kind: Literal["start", "end", "outcome"]
    episode: int | None = None
    task: str = ""
    outcome: str | None = None


@dataclass
class MarkerReport:
    understood: int = 0
    ignored: int = 0
    ignored_examples: list[str] = field(default_factory=list)  # up to 3
    notes: list[str] = field(default_factory=list)  # starts that closed an open episode, stray ends, ...


def _kind(word: str) -> str | None:
    word = word.strip().lower()
    if word in START_WORDS:
        return "start"
    if word in END_WORDS:
        return "end"
    return "outcome" if word in OUTCOME_WORDS else None


def _marker(kind: str, word: str, episode, task: str, outcome: str | None) -> Marker | None:
    if kind == "outcome":
        return Marker("outcome", outcome=OUTCOME_WORDS[word.strip().lower()])
    outcome = OUTCOME_WORDS.get((outcome or "").strip().lower())
    return Marker(kind, None if episode in (None, "") else int(episode), (task or "").strip(), outcome)


def parse_marker(data: str | bool, regex: re.Pattern | None = None) -> Marker | None:
    """One marker message (String data or Bool) → a `Marker`, or None when it is not one."""
    if isinstance(data, bool):
        return Marker("start" if data else "end")
    text = str(data).strip()
    if regex is not None and (m := regex.fullmatch(text)):
        groups = m.groupdict()
        kind = _kind(groups["event"] or "")
        if kind is not None:
            return _marker(
                kind, groups["event"], groups.get("episode"), groups.get("task"), groups.get("outcome")
            )
    if text.startswith("{"):
        return _json_marker(text)
    m = _VERB.fullmatch(text)
    kind = _kind(m["verb"]) if m else None
    if kind is None:
        return None
    rest = (m["rest"] or "").strip()
    if kind == "outcome":
        return _marker(kind, m["verb"], None, "", None) if not rest else None
    number = _NUMBER.fullmatch(rest)
    episode, rest = (number["number"], (number["text"] or "").strip()) if number else (None, rest)
    if kind == "end":  # text that is not an outcome ("end: operator stopped") leaves the outcome as is
        return _marker(kind, m["verb"], episode, "", rest)
    return _marker(kind, m["verb"], episode, rest, None)


def _json_marker(text: str) -> Marker | None:
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("event"), str):
        return None
    kind = _kind(obj["event"])
    if kind is None:
        return None
    episode = obj.get("episode")
    if episode is not None and not (isinstance(episode, int) or str(episode).isdigit()):
        return None
    outcome = obj.get("outcome")
    if outcome is None and isinstance(obj.get("success"), bool):
        outcome = "success" if obj["success"] else "failure"
    task = obj.get("task", obj.get("instruction", ""))
    return _marker(kind, obj["event"], episode, str(task), None if outcome is None else str(outcome))


def compile_marker_regex(pattern: str | None) -> re.Pattern | None:
    if pattern is None:
        return None
    try:
        regex = re.compile(pattern, re.I)
    except re.error as e:
        raise MarkerError(f"--marker-regex {pattern!r} is not a regular expression: {e}") from None
    if "event" not in regex.groupindex:
        raise MarkerError(
            f"--marker-regex {pattern!r} needs a named group (?P<event>...) holding start/end (or an outcome)"
        )
    return regex


def marker_spans(
    messages: list[tuple[int, str | bool]], last_ns: int, topic: str, regex: re.Pattern | None = None
) -> tuple[list[tuple[int, int, str, str]], MarkerReport]:
    """(start_ns, end_ns, task, outcome) per episode from (stamp_ns, data) marker messages, in time order."""
    report = MarkerReport()
    spans: list[list] = []  # [start, end, task, outcome, number]
    open_span: list | None = None
    for stamp, data in messages:
        marker = parse_marker(data, regex)
        if marker is None:
            report.ignored += 1
            if len(report.ignored_examples) < 3:
                report.ignored_examples.append(str(data)[:80])
            continue
        report.understood += 1
        if marker.kind == "start":
            if open_span is not None:
                open_span[1] = stamp
                report.notes.append(f"episode {len(spans) - 1} had no end; closed at the next start")
            open_span = [stamp, None, marker.task, "success", marker.episode]
            spans.append(open_span)
        elif marker.kind == "end":
            if open_span is None:
                report.notes.append(f"an end marker at {stamp * 1e-9:.3f} s with no episode open; ignored")
                continue
            if None not in (marker.episode, open_span[4]) and marker.episode != open_span[4]:
                report.notes.append(
                    f"episode {open_span[4]} was ended by a marker for episode {marker.episode}"
                )
            open_span[1] = stamp
            open_span[3] = marker.outcome or open_span[3]
            open_span = None
        elif spans:  # an outcome word: for the open episode, else the one that just ended
            spans[-1][3] = marker.outcome
    if open_span is not None:
        open_span[1] = last_ns
        report.notes.append(f"episode {len(spans) - 1} had no end; closed at the last image")
    if not spans:
        if report.ignored:
            raise MarkerError(
                f"marker topic {topic!r}: none of its {report.ignored + report.understood} messages starts "
                f"an episode (e.g. {report.ignored_examples}); markers read: {GRAMMAR}; or pass "
                "--marker-regex with a (?P<event>...) group"
            )
        raise MarkerError(f"marker topic {topic!r} has no start markers; markers read: {GRAMMAR}")
    return [(s[0], s[1], s[2], s[3]) for s in spans], report
