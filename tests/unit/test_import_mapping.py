"""Reading another product's export as Attune's import columns (pure translation, no database)."""

from __future__ import annotations

import pytest

from services.scheduling.import_mapping import (
    CellError,
    Mapping,
    MappingError,
    modality,
    parse_working_hours,
    read_csv,
    shipped_mappings,
)


def test_shipped_mappings_load_and_a_typo_in_a_mapping_is_refused(tmp_path):
    assert {"attune", "simplepractice"} <= set(shipped_mappings())
    for name in shipped_mappings():
        Mapping.load(name)
    bad = tmp_path / "mine.json"
    bad.write_text('{"clients": {"legal_nam": "Name"}}')
    with pytest.raises(MappingError, match="clients.legal_nam"):
        Mapping.load(str(bad))
    with pytest.raises(MappingError, match="no mapping"):
        Mapping.load("../etc/passwd")


def test_templates_dates_times_and_value_maps_translate_a_row():
    mapping = Mapping(
        "x",
        columns={"clients": {"legal_name": "{First} {Last}", "date_of_birth": "DOB", "external_id": "ID"},
                 "appointments": {"time": "Start", "type": "Service", "date": "Day"}},
        date_format="%m/%d/%Y",
        time_format="%I:%M %p",
        values={"type": {"90837": "individual"}},
    )  # fmt: skip
    row = mapping.translate("clients", {"First": " Jo ", "Last": "Bloggs", "DOB": "05/17/1990", "ID": "", "email": "x"})
    assert row == {"legal_name": "Jo Bloggs", "date_of_birth": "1990-05-17", "email": "x"}  # blank id dropped
    appt = mapping.translate("appointments", {"Start": "02:30 PM", "Service": "90837", "Day": "2026-12-07"})
    assert appt == {"time": "14:30", "type": "individual", "date": "2026-12-07"}  # ISO dates read too
    with pytest.raises(CellError) as err:
        mapping.translate("clients", {"First": "A", "DOB": "17.05.1990"})
    assert err.value.column == "date_of_birth" and "03/31/2026" in str(err.value)


def test_working_hours_and_modality_labels():
    assert parse_working_hours("mon-wed 09:00-12:00,13:00-17:00; fri 10:00-14:00") == {
        "mon": [["09:00", "12:00"], ["13:00", "17:00"]],
        "tue": [["09:00", "12:00"], ["13:00", "17:00"]],
        "wed": [["09:00", "12:00"], ["13:00", "17:00"]],
        "fri": [["10:00", "14:00"]],
    }
    for bad in ("funday 09:00-10:00", "mon 9"):
        with pytest.raises(CellError):
            parse_working_hours(bad)
    assert [modality(v) for v in ("Video Office", "Telehealth", "In Person", "Main office", "in_person")] == [
        "telehealth", "telehealth", "in_person", "in_person", "in_person"]  # fmt: skip


def test_csv_exports_with_a_byte_order_mark_or_semicolons_read_the_same():
    comma = b"external_id,legal_name\nC1,Jo Bloggs\n"
    semicolon = "\ufeffexternal_id;legal_name\r\nC1;Jo Bloggs\r\n".encode()
    assert read_csv(comma) == read_csv(semicolon) == (["external_id", "legal_name"],
                                                      [{"external_id": "C1", "legal_name": "Jo Bloggs"}])  # fmt: skip
