"""Log lines carry the service from any thread, and the flow's correlation id and event id while handling."""

from __future__ import annotations

import json
import threading

from shared import logs


def test_every_line_carries_the_service_and_the_flow_it_belongs_to(capsys):
    logs.configure("feedback")

    def handle():
        flow, current = logs.correlation_id.set("req-123"), logs.event_id.set("ev-9")
        logs.get("t").info("consumer.handled", event_type="x")
        logs.correlation_id.reset(flow)
        logs.event_id.reset(current)
        logs.get("t").info("idle")

    thread = threading.Thread(target=handle)
    thread.start()
    thread.join()
    handled, idle = (json.loads(line) for line in capsys.readouterr().err.strip().splitlines())
    assert handled["service"] == "feedback" and handled["correlation_id"] == "req-123" and handled["event_id"] == "ev-9"
    assert idle["service"] == "feedback" and "correlation_id" not in idle and "event_id" not in idle


def test_personal_fields_are_redacted_even_when_logged_by_mistake(capsys):
    logs.configure("test")
    logs.get().info("client.updated", client_id="c1", email="jo@example.org", preferred_name="Jo", answers=[3])
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["client_id"] == "c1" and line["service"] == "test"
    assert line["email"] == line["preferred_name"] == line["answers"] == "[redacted]"


def test_a_thread_working_for_a_service_says_so_even_when_another_was_configured_last(capsys):
    logs.configure("notifications")  # the tests run all three services in one process

    def work():
        logs.service.set("scheduling")
        logs.get("t").info("relay.published", count=1)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert json.loads(capsys.readouterr().err.strip().splitlines()[-1])["service"] == "scheduling"
