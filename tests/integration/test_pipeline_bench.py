"""The pipeline benchmark's short version (``bench/pipeline.py``, SMOKE: a few hundred flows) inside the test
suite: every phase runs against the real system on PostgreSQL, and every flow it started is counted through to
the therapist's alert email. Timings are the benchmark's business, not this test's: it asserts counts only."""

from __future__ import annotations

import os

import pytest

from bench import pipeline
from tests.support import identity


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.timeout(1500)
def test_every_flow_of_every_phase_finishes_once(tmp_path):
    plan = pipeline.SMOKE
    namespace = os.environ.get("ATTUNE_KAFKA_NAMESPACE")
    r = pipeline.benchmark("postgresql", plan, tmp_path, idp=identity.provider())
    assert os.environ.get("ATTUNE_KAFKA_NAMESPACE") == namespace  # the tests after it share this process
    assert r["rest"]["complete_to_alert"]["n"] == plan.rest_flows and r["rest"]["unfinished"] == 0, r["rest"]
    for step in r["rates"]:
        assert step["flows"] == int(step["rate"] * plan.rate_seconds), step
        assert step["unfinished"] == 0 and not step["errors"], step
        assert step["complete_to_invitation"]["n"] == step["flows"], step
    assert r["drain"]["delivered"] == r["drain"]["sessions"] == plan.drain_flows, r["drain"]
    assert [b["replicas"] for b in r["scale"]] == [1, 2]
    for burst in r["scale"]:
        # the chaos run's count: one invitation per session, one urgent alert with its notices per risk answer
        assert burst["finished"] == plan.scale_flows, burst
        assert (burst["lost"], burst["duplicated"], burst["out_of_order"]) == (0, 0, 0), burst
        assert burst["checks"]["invitation per completed session"]["delivered"] == plan.scale_flows, burst
    staff = r["staff"]
    assert staff["under_load"]["errors"] == 0 and staff["booking_alone"]["errors"] == 0, staff
    assert staff["under_load"]["book"]["n"] + staff["under_load"]["search"]["n"] == staff["under_load"]["requests"]
    sustained = staff["under_sustained_load"]
    assert sustained["errors"] == 0 and sustained["book"]["n"] + sustained["search"]["n"] == sustained["requests"]
    assert r["ceiling"]["records"] == plan.ceiling_records and r["ceiling"]["end_to_end_per_second"] > 0
    dash = r["dashboard"]
    assert dash["caseload_rows"] >= 40 and dash["progress"]["n"] == plan.dashboard_requests, dash
