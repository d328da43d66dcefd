import json

from shared import logs


def test_personal_fields_are_redacted_even_when_logged_by_mistake(capsys):
    logs.configure("test")
    logs.get().info("client.updated", client_id="c1", email="jo@example.org", preferred_name="Jo", answers=[3])
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["client_id"] == "c1" and line["service"] == "test"
    assert line["email"] == line["preferred_name"] == line["answers"] == "[redacted]"
