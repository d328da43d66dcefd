"""The admin's import page in real Chromium: upload CSV files, read the dry run (counts, every rejected row and
why, a download of them), import, and see that nothing is written before the import nor twice after it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.scheduling.cli import create_practice
from services.scheduling.models import Appointment, Client, Clinician
from shared.db import transaction
from tests.support.accessibility import axe_violations
from tests.support.csv_files import next_monday, write_csv
from tests.support.live import serve, signed_in_page


@pytest.fixture
def admin(tmp_path, browser):
    runtime, server = serve("scheduling", f"sqlite:///{tmp_path / 's.db'}")
    with transaction(runtime.sessions) as s:
        create_practice(s)
    page = signed_in_page(browser, server, "admin", None, "/desk/import", viewport=(1280, 900))
    yield page, server, runtime
    page.context.close()
    server.stop()


def _count(runtime, model) -> int:
    with runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_an_admin_checks_the_files_then_imports_them_once(admin, tmp_path):
    page, server, runtime = admin
    monday = next_monday().date().isoformat()
    staff = write_csv(
        tmp_path / "staff.csv",
        [
            {
                "external_id": "T1",
                "name": "Dr Ada Okafor",
                "email": "ada@p.example",
                "working_hours": "mon-fri 09:00-17:00",
            },
        ],
    )
    clients = write_csv(
        tmp_path / "clients.csv",
        [
            {
                "external_id": "C1",
                "legal_name": "Jordan Avery",
                "email": "j@example.org",
                "consent_email": "yes",
                "consent_evidence": "intake form",
                "clinician": "T1",
            },
            {"external_id": "C2", "legal_name": "", "email": "nobody"},
        ],
    )
    appts = write_csv(tmp_path / "appts.csv", [
        {"client": "C1", "clinician": "T1", "type": "individual", "date": monday, "time": "10:00", "repeat": "weekly",
         "count": "4"},
    ])  # fmt: skip
    assert page.get_by_role("link", name="Import").get_attribute("aria-current") == "page"
    page.get_by_role("button", name="Check the files").click()
    assert page.locator("#import-error").inner_text() == "Choose at least one file."
    page.get_by_label("Clinicians (CSV)").set_input_files(staff)
    page.get_by_label("Clients (CSV)").set_input_files(clients)
    page.get_by_label("Future appointments (CSV)").set_input_files(appts)
    page.get_by_role("button", name="Check the files").click()
    assert page.get_by_role("heading", name="What the import would do").is_visible()
    assert axe_violations(page) == []
    rows = {r.locator("th").inner_text(): [c.inner_text() for c in r.locator("td").all()]
            for r in page.locator("#import-counts tbody tr").all()}  # fmt: skip
    assert rows["Clinicians"][:3] == ["1", "0", "0"]
    assert rows["Clients"][0] == "1" and rows["Clients"][2].startswith("1")
    assert rows["Appointments"] == ["1", "0", "0", "4"]
    reason = page.locator("#import-rejected tbody tr").first.inner_text()
    assert "legal_name" in reason and "email: Not a valid email address." in reason
    assert _count(runtime, Client) == 0 and _count(runtime, Clinician) == 0  # a dry run wrote nothing
    with page.expect_download() as download:
        page.get_by_role("link", name="download the rejected rows").click()
    rejected = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(r["line"], r["email"]) for r in rejected] == [("3", "nobody")]
    page.get_by_role("button", name="Import").click()
    assert page.get_by_role("heading", name="Imported").is_visible()
    assert (_count(runtime, Clinician), _count(runtime, Client), _count(runtime, Appointment)) == (1, 1, 4)
    page.go_back()  # the same upload again: already imported, nothing twice
    page.reload()
    assert page.get_by_role("heading", name="Imported").is_visible()
    assert _count(runtime, Appointment) == 4


def test_the_front_desk_cannot_reach_the_import_page(tmp_path, browser):
    runtime, server = serve("scheduling", f"sqlite:///{tmp_path / 's.db'}")
    page = signed_in_page(browser, server, "frontdesk", None, "/desk/day")
    try:
        assert page.get_by_role("link", name="Import").count() == 0
        response = page.goto(f"{server.url}/desk/import")
        assert response.status == 403
    finally:
        page.context.close()
        server.stop()
