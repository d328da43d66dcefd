"""A synthetic PHQ-9 cohort whose truth does not come from the rules it is used to judge.

Nothing here imports Attune's code or reads its measure definitions: the classes, shapes, proportions and
noise are this module's own, stated below with where each comes from. Ground truth is the latent class a
client was drawn from, never a score threshold.

* **Classes and shapes.** Growth-mixture studies of routine psychological therapy in NHS Talking Therapies
  services find a handful of classes: among clients starting moderate to severe, no change, gradual
  improvement and fast improvement (Skelton et al. 2023, Psychol Med, N = 16,258, 11 sessions), plus a class
  with little change until about the sixth session and rapid improvement after it (Saunders et al. 2019,
  J Affect Disord 249:327-335, N = 4,394). Routine care also has clients who get worse: 5-14% (Lambert &
  Shimokawa 2011), here a steady or early rise, and a "worse, then better" class that spikes early and then
  recovers (a false-alarm trap for any early warning).
* **Proportions** are this benchmark's assumption, not figures from those papers (which the papers report
  per sample and per measure): 20% rapid, 30% gradual, 12% delayed, 25% no change, 8% deteriorating (inside
  Lambert & Shimokawa's range), 5% worse-then-better.
* **Noise.** Each observed score is the true score plus Normal noise with the PHQ-9's standard error of
  measurement, SD * sqrt(1 - r) = 5.5 * sqrt(1 - 0.84) = 2.2 points (r: 48-hour test-retest reliability,
  Kroenke et al. 2001; SD 5.5: an assumed spread of treatment-seeking intakes), rounded and clipped to 0-27.
* **Intake**: the true intake score is drawn from 10-27 (clients above the caseness cut-off), weighted by a
  Normal(16, 4.5) density. Every client completes 12 weekly questionnaires (no dropout).

Within each class, the shape's parameters take a few values with equal probability, so a detector that
knows this generator can compute the exact posterior (bench/alert_accuracy.py does).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

QUESTIONNAIRES = 12
SCALE = (0, 27)
NOISE_SD = 5.5 * math.sqrt(1 - 0.84)
INTAKES = list(range(10, 28))
INTAKE_WEIGHTS = [math.exp(-(((x - 16) / 4.5) ** 2) / 2) for x in INTAKES]

DETERIORATING = "deteriorating"
IMPROVING = ("rapid response", "gradual response", "delayed response")
NO_CHANGE = "no change"
WORSE_THEN_BETTER = "worse then better"


def _span(t: int) -> float:
    """0 at the intake, 1 at the last questionnaire."""
    return (t - 1) / (QUESTIONNAIRES - 1)


def _rapid(x0: float, t: int, residual: float, tau: float) -> float:
    return x0 * (residual + (1 - residual) * math.exp(-(t - 1) / tau))


def _gradual(x0: float, t: int, gain: float) -> float:
    return x0 * (1 - gain * _span(t))


def _delayed(x0: float, t: int, start: int) -> float:
    if t <= start:
        return x0
    return x0 * (1 - 0.55 * (t - start) / (QUESTIONNAIRES - start))


def _flat(x0: float, t: int, drift: float) -> float:
    return x0 + drift * _span(t)


def _worsening(x0: float, t: int, rise: float, early: bool) -> float:
    s = _span(t)
    return x0 + rise * (math.sqrt(s) if early else s)


def _spike(x0: float, t: int, height: float) -> float:
    if t <= 3:
        return x0 + height * (t - 1) / 2
    return (x0 + height) + (0.6 * x0 - (x0 + height)) * (t - 3) / (QUESTIONNAIRES - 3)


# class -> (prior probability, shape, the parameter values the shape takes with equal probability)
CLASSES: dict[str, tuple[float, object, list[tuple]]] = {
    "rapid response": (0.20, _rapid, [(r, tau) for r in (0.25, 0.35, 0.45) for tau in (1.0, 1.5, 2.0)]),
    "gradual response": (0.30, _gradual, [(g,) for g in (0.4, 0.5, 0.6)]),
    "delayed response": (0.12, _delayed, [(s,) for s in (5, 6, 7)]),
    NO_CHANGE: (0.25, _flat, [(d,) for d in (-1.0, 0.0, 1.0)]),
    DETERIORATING: (0.08, _worsening, [(r, e) for r in (5.0, 7.0, 9.0) for e in (False, True)]),
    WORSE_THEN_BETTER: (0.05, _spike, [(h,) for h in (3.0, 4.0, 5.0)]),
}


@dataclass(frozen=True)
class Episode:
    latent: str  # the ground truth: the class this client was drawn from
    true: list[float]
    observed: list[int]


def true_course(latent: str, intake: float, params: tuple) -> list[float]:
    shape = CLASSES[latent][1]
    lo, hi = SCALE
    return [min(hi, max(lo, shape(intake, t, *params))) for t in range(1, QUESTIONNAIRES + 1)]


def observe(true: float, rng: random.Random) -> int:
    lo, hi = SCALE
    return int(min(hi, max(lo, round(true + rng.gauss(0, NOISE_SD)))))


def generate(n: int, seed: int) -> list[Episode]:
    rng = random.Random(seed)
    names = list(CLASSES)
    priors = [CLASSES[c][0] for c in names]
    cohort = []
    for _ in range(n):
        latent = rng.choices(names, priors)[0]
        params = rng.choice(CLASSES[latent][2])
        intake = rng.choices(INTAKES, INTAKE_WEIGHTS)[0]
        true = true_course(latent, intake, params)
        cohort.append(Episode(latent, true, [observe(v, rng) for v in true]))
    return cohort
