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


ROLES = {"scheduling": ("frontdesk", None), "feedback": ("clinician", "k1"), "notifications": ("admin", None)}
LEAST_OPERATIONS = {"scheduling": 20, "feedback": 10, "notifications": 1}


@pytest.fixture(params=sorted(ROLES))
def api(request, tmp_path):
    name = request.param
    url = f"sqlite:///{tmp_path / name}.db"
    made = make_scheduling(url) if name == "scheduling" else make_app(name, url)
    if name == "feedback":
        client_with_scores(made.runtime, "c1", "k1", [10, 14])
    yield made
    made.close()


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


def test_every_operation_fuzzed(api):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", api.app)
    assert _fuzz(schema, api.headers(*ROLES[api.name])) >= LEAST_OPERATIONS[api.name]
