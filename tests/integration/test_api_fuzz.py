"""The three APIs fuzzed from their own OpenAPI documents (schemathesis), signed in with real Keycloak tokens:
no 5xx, every error a problem+json body, every response as documented."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from tests.support.apps import make_app, make_scheduling
from tests.support.feedback_data import client_with_scores

# The three criteria; not "a schema-valid request is accepted": a 404 or a domain 422 for a valid
# shape (an unknown client, a measure that does not exist) is the right answer, not a failure.
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def _made(name, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / name}.db"
    made = make_scheduling(url) if name == "scheduling" else make_app(name, url)
    if name == "feedback":
        client_with_scores(made.runtime, "c1", "k1", [10, 14])
    return made


@pytest.fixture(scope="module")
def scheduling_api(tmp_path_factory):
    made = _made("scheduling", tmp_path_factory)
    yield made
    made.close()


@pytest.fixture(scope="module")
def feedback_api(tmp_path_factory):
    made = _made("feedback", tmp_path_factory)
    yield made
    made.close()


@pytest.fixture(scope="module")
def notifications_api(tmp_path_factory):
    made = _made("notifications", tmp_path_factory)
    yield made
    made.close()


@pytest.fixture(scope="module")
def scheduling_schema(scheduling_api):
    return schemathesis.openapi.from_wsgi("/openapi.json", scheduling_api.app)


@pytest.fixture(scope="module")
def feedback_schema(feedback_api):
    return schemathesis.openapi.from_wsgi("/openapi.json", feedback_api.app)


@pytest.fixture(scope="module")
def notifications_schema(notifications_api):
    return schemathesis.openapi.from_wsgi("/openapi.json", notifications_api.app)


def _check(case, headers):
    response = case.call(headers=headers)
    where = f"{case.method} {case.formatted_path}"
    assert response.status_code < 500, f"{where}: {response.status_code}"
    if response.status_code >= 400:
        found = {k.lower(): v for k, v in response.headers.items()}.get("content-type", "")
        content_type = found[0] if isinstance(found, list) else found
        assert content_type.startswith("application/problem+json"), f"{where}: {response.status_code} {content_type}"
    case.validate_response(response, checks=CHECKS)


def _fuzz(schema, headers) -> int:
    """Each operation, fuzzed with hypothesis (schemathesis' own pytest plugin does not run on pytest 9)."""
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @FUZZ
        def run(case):
            _check(case, headers)

        run()
    return operations


def test_scheduling_api(scheduling_schema, scheduling_api):
    assert _fuzz(scheduling_schema, scheduling_api.headers("frontdesk")) >= 20


def test_feedback_api(feedback_schema, feedback_api):
    assert _fuzz(feedback_schema, feedback_api.headers("clinician", "k1")) >= 10


def test_notifications_api(notifications_schema, notifications_api):
    assert _fuzz(notifications_schema, notifications_api.headers("admin")) >= 1
