"""The backup archive: every file checksummed, the archive's own checksum beside it, encryption with a key
file; a damaged, truncated, tampered or wrongly keyed archive is refused before anything is restored."""

from __future__ import annotations

import json

import pytest

from deploy.ops import archive


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "src"
    (src / "scheduling.pgdump").mkdir(parents=True)
    (src / "scheduling.pgdump" / "toc.dat").write_bytes(b"table of contents" * 100)
    (src / "feedback.sqlite3").write_bytes(bytes(range(256)) * 5000)  # bigger than one line, smaller than a chunk
    return src


def test_a_plain_archive_round_trips_with_every_file_checksummed(folder, tmp_path):
    dest = archive.write(folder, {"taken_at": "2026-12-02T04:00:00+00:00"}, tmp_path / "a.tar.gz")
    assert (tmp_path / "a.tar.gz.sha256").read_text().split() == [archive.sha256_file(dest), "a.tar.gz"]
    manifest = archive.open_archive(dest, tmp_path / "out")
    assert set(manifest["files"]) == {"scheduling.pgdump/toc.dat", "feedback.sqlite3"}
    assert (tmp_path / "out" / "feedback.sqlite3").read_bytes() == (folder / "feedback.sqlite3").read_bytes()
    assert manifest["encrypted"] is False


def test_an_encrypted_archive_needs_its_key_and_streams_in_chunks(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "CHUNK", 4096)  # many chunks
    key, other = tmp_path / "backup.key", tmp_path / "other.key"
    archive.new_key(key)
    archive.new_key(other)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    dest = archive.write(folder, {}, tmp_path / "a.tar.gz.enc", key)
    assert b"table of contents" not in dest.read_bytes()
    with pytest.raises(archive.ArchiveError, match="encrypted"):
        archive.open_archive(dest, tmp_path / "o1")
    with pytest.raises(archive.ArchiveError, match="wrong key"):
        archive.open_archive(dest, tmp_path / "o2", other)
    manifest = archive.open_archive(dest, tmp_path / "o3", key)
    assert manifest["encrypted"] is True
    assert (tmp_path / "o3" / "scheduling.pgdump" / "toc.dat").read_bytes().startswith(b"table of contents")


def test_damage_is_found_by_the_sidecar_the_chunks_or_the_manifest(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "CHUNK", 4096)
    key = tmp_path / "k"
    archive.new_key(key)
    dest = archive.write(folder, {}, tmp_path / "a.tar.gz.enc", key)
    data = bytearray(dest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    with pytest.raises(archive.ArchiveError, match="damaged"):
        archive.open_archive(dest, tmp_path / "o1", key)
    (tmp_path / "a.tar.gz.enc.sha256").unlink()  # without the sidecar, the chunk's own check finds it
    with pytest.raises(archive.ArchiveError, match="wrong key, or the archive was altered"):
        archive.open_archive(dest, tmp_path / "o2", key)
    plain = archive.write(folder, {}, tmp_path / "b.tar.gz")
    (tmp_path / "b.tar.gz.sha256").unlink()
    plain.write_bytes(plain.read_bytes()[: plain.stat().st_size // 2])  # truncated
    with pytest.raises(archive.ArchiveError, match="cannot be read"):
        archive.open_archive(plain, tmp_path / "o3")


def test_a_file_that_differs_from_the_manifest_is_refused(folder, tmp_path):
    (folder / "manifest.json").write_text("{}")
    dest = archive.write(folder, {}, tmp_path / "a.tar.gz")
    out = tmp_path / "out"
    archive.open_archive(dest, out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"]["feedback.sqlite3"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    import tarfile

    forged = tmp_path / "forged.tar.gz"
    with tarfile.open(forged, "w:gz") as tar:
        tar.add(folder / "manifest.json", arcname="manifest.json")
        tar.add(folder / "feedback.sqlite3", arcname="feedback.sqlite3")
        tar.add(folder / "scheduling.pgdump" / "toc.dat", arcname="scheduling.pgdump/toc.dat")
    with pytest.raises(archive.ArchiveError, match="feedback.sqlite3"):
        archive.open_archive(forged, tmp_path / "o2")
