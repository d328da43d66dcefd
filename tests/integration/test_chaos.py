"""The short chaos run (``bench/chaos.py``) inside the test suite: the real system as production runs it
(gunicorn, two replicas of each worker process, PostgreSQL, the broker, SMTP), a few hundred flows through
the public HTTP surfaces, every fault at least once, and nothing lost or sent twice unflagged. At the quiet end
every /metrics is scraped: each metric the alert rules and the dashboard name is there, none holds personal
data, and every metric served is on the dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench import chaos
from bench.system import fetch_text
from tests.support import identity

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
NAME = re.compile(r"\battune_[a-z_]+")


def named_in_monitoring() -> set[str]:
    """Every metric the alert rules and the Grafana dashboard query."""
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return {name for expr in exprs for name in NAME.findall(expr)}


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.timeout(1800)  # about 6 minutes on an idle 2-core machine: faults on a schedule, then quiescence
def test_a_short_chaos_run_loses_nothing_and_every_metric_is_served(tmp_path):
    scraped: dict[str, str] = {}

    def scrape(run):
        for name, url in run.system.metrics_urls().items():
            scraped[name] = fetch_text(url)

    tally, run = chaos.chaos(chaos.SHORT, 20261201, tmp_path, idp=identity.provider(), progress=False,
                             before_stop=scrape)  # fmt: skip
    table, passed = chaos.report(tally, run, chaos.SHORT, 20261201)
    assert passed, table
    scenarios = {row[0] for row in tally.faults}
    assert {"SIGKILL a random worker", "PostgreSQL restarted (immediate stop, 5 s down)"} <= scenarios, table
    assert len(scenarios) == 8, table  # kills, poison, broker, PostgreSQL, SMTP down / 421 / 535, SIGTERM
    assert tally.check("urgent alert per risk answer").expected > 0, table
    assert tally.check("alert per deterioration").expected > 0, table

    families, samples = set(), set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    for text in scraped.values():
        for family in text_string_to_metric_families(text):
            families.add(family.name)
            # a labelled family with no sample yet (no scrape error so far) is served all the same
            samples.update(family.name + suffix for suffix in suffixes.get(family.type, ()))
            samples.update(sample.name for sample in family.samples)
    served = {name for name in families | samples if name.startswith("attune_")}
    assert named_in_monitoring() - served == set()  # every metric the rules and dashboard use exists
    shown = named_in_monitoring()
    unshown = {f for f in families if f.startswith("attune_") and not any(n.startswith(f) for n in shown)}
    assert unshown == set(), "served but on no dashboard panel"
    everything = "\n".join(scraped.values())
    for leaked in ("@example.org", "Client 1", "/q/ey", "csrf"):
        assert leaked not in everything
    assert 'route="/q/<token>"' in everything  # a route template, never the path with the token


def test_the_alert_rules_load_and_fire_as_their_tests_say():
    import subprocess

    checked = subprocess.run(["promtool", "check", "rules", str(MONITORING / "alerts.yml")], capture_output=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(["promtool", "test", "rules", "alerts.test.yml"], cwd=MONITORING, capture_output=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    config = subprocess.run(["promtool", "check", "config", "prometheus.yml"], cwd=MONITORING, capture_output=True)
    assert config.returncode == 0, config.stdout + config.stderr
