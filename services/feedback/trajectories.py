"""Expected treatment response: where a client's score should be at each session, given where they started.

Two sources, both transparent:

* **The practice's own curves** (preferred, as the anchors do): the mean and spread, at each session, of past
  episodes that started within ``tolerance`` points of this client's intake score. Used once at least
  ``min_episodes`` such episodes reached that session.
* **A default model** until then: log-linear improvement proportional to intake severity above a floor,
  ``expected(t) = intake - rate * (intake - floor) * ln(t)`` (session 1 = intake), the shape of Lambert's
  expected recovery curves, with a failure boundary ``z * residual_sd`` worse than expected (z = 1.645: the
  bound of the two-sided 90% interval, after Lutz et al.). The parameters live in each measure's definition
  (``expected_course``) and are placeholders until a practice has data: see docs/feedback.md.

Pure: no Flask, SQL or Kafka.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Expected:
    session: int
    expected: float
    boundary: float  # the failure boundary: worse than this is off track
    source: str  # "practice" (n episodes) or "default model"


def _worse(higher_is_worse: bool, a: float, b: float) -> bool:
    """Is ``a`` worse than ``b``?"""
    return a > b if higher_is_worse else a < b


def default_expected(course: dict, intake: float, session: int, higher_is_worse: bool) -> Expected:
    floor = course.get("floor", 0.0)
    rate = course["rate"]
    excess = (intake - floor) if higher_is_worse else (floor - intake)
    change = rate * max(excess, 0.0) * math.log(max(session, 1))
    expected = intake - change if higher_is_worse else intake + change
    margin = course.get("z", 1.645) * course["residual_sd"]
    boundary = expected + margin if higher_is_worse else expected - margin
    return Expected(session, round(expected, 2), round(boundary, 2), "default model")


def practice_expected(
    past_episodes: list[dict[int, float]],
    intake: float,
    session: int,
    higher_is_worse: bool,
    *,
    tolerance: float = 1.0,
    min_episodes: int = 30,
    z: float = 1.645,
) -> Expected | None:
    """``past_episodes``: completed episodes as {session number: score}; session 1 holds the intake."""
    similar = [e[session] for e in past_episodes if 1 in e and abs(e[1] - intake) <= tolerance and session in e]
    if len(similar) < min_episodes:
        return None
    mean = statistics.fmean(similar)
    sd = statistics.stdev(similar)
    boundary = mean + z * sd if higher_is_worse else mean - z * sd
    return Expected(session, round(mean, 2), round(boundary, 2), f"practice ({len(similar)} episodes)")


def expected_at(
    course: dict | None,
    past_episodes: list[dict[int, float]],
    intake: float,
    session: int,
    higher_is_worse: bool,
    min_episodes: int = 30,
) -> Expected | None:
    found = practice_expected(past_episodes, intake, session, higher_is_worse, min_episodes=min_episodes)
    if found is None and course:
        found = default_expected(course, intake, session, higher_is_worse)
    return found


def position(score: float, expected: Expected, higher_is_worse: bool) -> str:
    """``on_track`` (as good as expected or better), ``watch`` (worse than expected, inside the boundary) or
    ``off_track`` (beyond the failure boundary)."""
    if _worse(higher_is_worse, score, expected.boundary):
        return "off_track"
    if _worse(higher_is_worse, score, expected.expected):
        return "watch"
    return "on_track"
