"""Each service's composition root: every handler is keyed by a catalog spec, the topics consumed are exactly
those handled, and every handler's dependencies are bound (so the consumer can call it with session and event)."""

from __future__ import annotations

import inspect

import pytest

from shared.events import catalog as events
from shared.events.catalog import topic_for
from shared.runtime import Runtime
from tests.support.apps import BOOTSTRAPS, SETTINGS


@pytest.fixture(params=sorted(BOOTSTRAPS))
def wiring(request):
    settings = SETTINGS[request.param]()
    runtime = Runtime.build(settings)
    yield BOOTSTRAPS[request.param](settings, runtime)
    runtime.engine.dispose()


def test_every_handler_key_is_a_spec_in_the_catalog(wiring):
    assert wiring.handlers, f"{wiring.service} consumes nothing"
    for spec in wiring.handlers:
        assert isinstance(spec, events.EventSpec), f"{wiring.service}: handler keyed by {spec!r}, not a spec"
        assert events.CATALOG[(spec.type, spec.version)] is spec


def test_topics_consumed_are_exactly_the_sources_handled(wiring):
    handled = {spec.source for spec in wiring.handlers}
    assert set(wiring.sources) == handled
    assert wiring.service not in handled  # a service never consumes its own topic
    for source in wiring.sources:
        assert any(spec.source == source for spec in wiring.handlers), f"{topic_for(source)} has no handler"


def test_every_handler_is_called_with_session_and_event_alone(wiring):
    for spec, handler in wiring.handlers.items():
        unbound = [
            name
            for name, p in inspect.signature(handler).parameters.items()
            if p.default is inspect.Parameter.empty and p.kind is not p.KEYWORD_ONLY
        ]
        assert unbound == ["session", "event"], f"{spec.name}: {unbound}"


def test_each_background_loop_is_a_named_pass_taking_a_stop_event(wiring):
    for name, one_pass in wiring.loops:
        assert name and list(inspect.signature(one_pass).parameters) == ["stop"]
