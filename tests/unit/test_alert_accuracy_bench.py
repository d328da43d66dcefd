"""The short version of the alert-accuracy benchmark (the full one is ``make bench``): the cohort generator is
independent of the rules, the limit's inference is exact, and the report covers every rule set."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from bench import alert_accuracy, cohort

ROOT = Path(__file__).resolve().parents[2]


def test_the_generator_shares_no_code_or_parameters_with_the_rules():
    tree = ast.parse((ROOT / "bench" / "cohort.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "math", "random", "dataclasses"}, imported
    assert "measures" not in (ROOT / "bench" / "cohort.py").read_text().replace("measurement", "")


def test_the_generator_draws_its_stated_classes_and_noise():
    episodes = cohort.generate(6000, seed=1)
    for latent, (p, _, _) in cohort.CLASSES.items():
        share = sum(e.latent == latent for e in episodes) / len(episodes)
        assert abs(share - p) < 0.02, latent
    residuals = [o - t for e in episodes for o, t in zip(e.observed, e.true, strict=True) if 3 < t < 24]
    assert abs(np.std(residuals) - cohort.NOISE_SD) < 0.1  # rounding adds about 0.08 of variance: still close
    assert all(len(e.observed) == cohort.QUESTIONNAIRES for e in episodes)


def test_the_limit_is_exact_inference_on_the_generator():
    episodes = cohort.generate(400, seed=3)
    latents = np.array([e.latent for e in episodes])
    llr, posterior = alert_accuracy.evidence(episodes)
    # one score says nothing about the class (the intake is drawn independently of it): the prior, for everyone
    assert np.allclose(posterior[:, 0], cohort.CLASSES[cohort.DETERIORATING][0])
    det, imp = latents == cohort.DETERIORATING, np.isin(latents, cohort.IMPROVING)
    # twelve scores tell a deteriorator from an improver (less well from a client with no change)
    assert posterior[det, -1].mean() > 0.6 and posterior[imp, -1].mean() < 0.02
    assert llr[det, 3].mean() > llr[imp, 3].mean()
    curve = [alert_accuracy.limit_detection(llr[:, 3], det, imp, fa) for fa in (0, 0.05, 0.2, 1)]
    assert curve == sorted(curve) and curve[-1] == 1.0


def test_a_small_run_reports_every_rule_set():
    result = alert_accuracy.measure(n_test=300, n_train=600, percentiles=(90,))
    names = [r.name for r in result["runs"]]
    assert names == [
        "reliable change only",
        "+ off track, published default",
        "+ off track, practice-fitted (90th pct)",
    ]
    text = alert_accuracy.page(result)
    assert all(name in text for name in names) and "{" not in text  # every figure filled in
    only_rc, published, fitted = (r.summary for r in result["runs"])
    # adding a rule can only add alarms: detection and false alarms never fall
    for s in (published, fitted):
        assert s["det_by"][12] >= only_rc["det_by"][12] and s["fa_imp_by"][12] >= only_rc["fa_imp_by"][12]
