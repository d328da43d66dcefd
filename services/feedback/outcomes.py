"""Outcome rates for finished episodes, as NHS Talking Therapies defines them (pure: no Flask, SQL or Kafka).

An episode **finished treatment** when it ended with at least two attended sessions. It has **paired scores**
when PHQ-9 and GAD-7 were each scored at least twice in it; the first and the last score are compared.

- **Case at the start**: PHQ-9 first score >= 10 or GAD-7 first score >= 8.
- **Recovery**: a case at the start, and at the end PHQ-9 < 10 and GAD-7 < 8.
- **Reliable improvement**: at least one measure fell by its reliable-change points (PHQ-9 6, GAD-7 4) and
  neither rose by them. **Reliable deterioration** is the mirror: at least one rose by them and neither fell.
- **Reliable recovery**: recovered and reliably improved.

Rates: recovery and reliable recovery over finished, paired episodes that were a case at the start; reliable
improvement and deterioration over finished, paired episodes. A group with fewer than ``min_episodes`` finished
episodes shows no figures at all, so that a report never points at a client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from statistics import fmean

CASENESS = {"phq9": 10, "gad7": 8}  # a case at or above these
RELIABLE_CHANGE = {"phq9": 6, "gad7": 4}  # points of change that are reliable
MEASURES = tuple(CASENESS)


@dataclass(frozen=True)
class EpisodeScores:
    episode_id: str
    clinician_id: str | None
    sessions_attended: int
    first: Mapping[str, float]  # measure id -> its first score in the episode
    last: Mapping[str, float]  # measure id -> its last score (only where scored at least twice)
    questionnaires_sent: int = 0
    questionnaires_completed: int = 0


@dataclass(frozen=True)
class EpisodeOutcome:
    finished: bool
    paired: bool
    case_at_start: bool = False
    recovered: bool = False
    reliably_improved: bool = False
    reliably_deteriorated: bool = False
    change: Mapping[str, float] = field(default_factory=dict)  # last - first, per measure

    @property
    def reliably_recovered(self) -> bool:
        return self.recovered and self.reliably_improved


def _case(scores: Mapping[str, float]) -> bool:
    return any(scores[m] >= cut for m, cut in CASENESS.items())


def classify(e: EpisodeScores) -> EpisodeOutcome:
    finished = e.sessions_attended >= 2
    paired = all(m in e.first and m in e.last for m in MEASURES)
    if not paired:
        return EpisodeOutcome(finished=finished, paired=False)
    change = {m: e.last[m] - e.first[m] for m in MEASURES}  # higher is worse on both
    fell = any(change[m] <= -RELIABLE_CHANGE[m] for m in MEASURES)
    rose = any(change[m] >= RELIABLE_CHANGE[m] for m in MEASURES)
    case = _case(e.first)
    return EpisodeOutcome(
        finished=finished,
        paired=True,
        case_at_start=case,
        recovered=case and not _case(e.last),
        reliably_improved=fell and not rose,
        reliably_deteriorated=rose and not fell,
        change=change,
    )


@dataclass(frozen=True)
class Rate:
    count: int
    of: int

    @property
    def percent(self) -> float | None:
        return round(100 * self.count / self.of, 1) if self.of else None


@dataclass(frozen=True)
class GroupReport:
    """One row of a report: the practice, a clinician or a supervisor's team. ``suppressed`` rows carry no
    figures but the fact that there were too few episodes to show."""

    group: str
    label: str
    suppressed: bool
    finished: int | None = None
    paired: int | None = None
    cases: int | None = None
    recovery: Rate | None = None
    reliable_improvement: Rate | None = None
    reliable_recovery: Rate | None = None
    reliable_deterioration: Rate | None = None
    completion: Rate | None = None
    mean_change: Mapping[str, float | None] = field(default_factory=dict)


def summarise(group: str, label: str, episodes: Iterable[EpisodeScores], min_episodes: int = 5) -> GroupReport:
    episodes = list(episodes)
    outcomes = [(e, classify(e)) for e in episodes]
    finished = [(e, o) for e, o in outcomes if o.finished]
    if len(finished) < min_episodes:
        return GroupReport(group=group, label=label, suppressed=True)
    paired = [o for _, o in finished if o.paired]
    cases = [o for o in paired if o.case_at_start]
    return GroupReport(
        group=group,
        label=label,
        suppressed=False,
        finished=len(finished),
        paired=len(paired),
        cases=len(cases),
        recovery=Rate(sum(o.recovered for o in cases), len(cases)),
        reliable_improvement=Rate(sum(o.reliably_improved for o in paired), len(paired)),
        reliable_recovery=Rate(sum(o.reliably_recovered for o in cases), len(cases)),
        reliable_deterioration=Rate(sum(o.reliably_deteriorated for o in paired), len(paired)),
        completion=Rate(
            sum(e.questionnaires_completed for e, _ in finished), sum(e.questionnaires_sent for e, _ in finished)
        ),
        mean_change={m: round(fmean(o.change[m] for o in paired), 2) if paired else None for m in MEASURES},
    )
