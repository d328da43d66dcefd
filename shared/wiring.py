"""What a service's composition root (``services/<name>/bootstrap.py``) hands to its worker, app and tests.

A handler is a plain top-level function ``handler(session, event, **deps)``; ``inject`` binds the dependencies
it names (``settings``, ``clock``, ...) so the consumer calls every handler as ``handler(session, event)``.
The topics a worker consumes are derived from its handler registry, so they cannot drift apart.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from shared.events.catalog import EventSpec, directory_topic, topic_for
from shared.events.envelope import Event

Handler = Callable[[Session, Event], None]
Loop = tuple[str, Callable[[threading.Event], None]]  # a name, and one pass of the loop (guarded by the worker)


def inject(handler: Callable[..., None], deps: Mapping[str, Any]) -> Handler:
    """Bind the dependencies ``handler`` declares by name (cosmicpython's bootstrap idiom)."""
    wanted = {name: deps[name] for name in inspect.signature(handler).parameters if name in deps}
    if not wanted:
        return handler
    bound = functools.partial(handler, **wanted)
    bound.__name__ = handler.__name__  # for logs; no __wrapped__, so its signature is what the consumer calls
    return bound


@dataclass(frozen=True)
class Wiring:
    """A service's consumed events and extra background loops, composed once. Each loop is given as one pass;
    the worker runs it under ``shared.loops.run_guarded``, so no service writes its own loop-survival code."""

    service: str
    handlers: Mapping[EventSpec, Handler]
    loops: tuple[Loop, ...] = field(default=())
    metrics: tuple[Callable, ...] = field(default=())  # readers of the service's own state, for /metrics

    @property
    def sources(self) -> list[str]:
        """The services whose topics this one consumes: exactly those it has a handler for."""
        return sorted({spec.source for spec in self.handlers})

    @property
    def topics(self) -> list[str]:
        return [topic_for(source) for source in self.sources]

    @property
    def directory_topics(self) -> list[str]:
        """The compacted topics this service rebuilds its projections from at start-up."""
        return sorted({directory_topic(spec.source) for spec in self.handlers if spec.directory})


def wire(
    service: str, registry: Mapping[EventSpec, Callable[..., None]], deps: Mapping[str, Any], loops=(), metrics=()
) -> Wiring:
    return Wiring(service, {spec: inject(fn, deps) for spec, fn in registry.items()}, tuple(loops), tuple(metrics))
