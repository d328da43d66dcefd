"""One backup archive: a folder (the databases' dumps and ``manifest.json``) as a gzipped tar, every file's
SHA-256 in the manifest, the archive's own SHA-256 beside it (``<archive>.sha256``, ``sha256sum -c`` reads
it), optionally encrypted with a key file.

Encryption is Fernet (``cryptography``: AES-128-CBC + HMAC-SHA256, authenticated) over fixed-size chunks so an
archive of any size streams through in bounded memory; each chunk is a length-prefixed Fernet token. A
reordered, dropped or truncated chunk fails a token's check, the tar's structure or a file's checksum: a
restore verifies all three before it touches a database.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import tarfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

MAGIC = b"ATTUNE-BACKUP-FERNET-1\n"
CHUNK = 8 * 1024 * 1024
MANIFEST = "manifest.json"


class ArchiveError(Exception):
    """The archive is damaged, incomplete, tampered with, or the key is wrong."""


def new_key(path: Path) -> None:
    """Write a fresh key file (readable by its owner only). Keep a copy away from the archives."""
    path.write_bytes(Fernet.generate_key() + b"\n")
    os.chmod(path, 0o600)


def _fernet(key_file: Path) -> Fernet:
    try:
        return Fernet(key_file.read_bytes().strip())
    except ValueError as exc:
        raise ArchiveError(f"{key_file} is not an Attune backup key (make one with `attune backup --new-key`)") from exc


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_folder(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (except the manifest) -> its SHA-256, by relative path."""
    return {
        str(p.relative_to(folder)): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def write(folder: Path, manifest: dict, dest: Path, key_file: Path | None = None) -> Path:
    """Pack ``folder`` with ``manifest`` (checksums added) into ``dest`` (``.tar.gz``, or ``.tar.gz.enc``)."""
    manifest = {**manifest, "files": checksum_folder(folder), "encrypted": key_file is not None}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    plain = dest if key_file is None else dest.with_name(dest.name + ".part")
    with tarfile.open(plain, "w:gz") as tar:
        tar.add(folder / MANIFEST, arcname=MANIFEST)
        for name in manifest["files"]:
            tar.add(folder / name, arcname=name)
    if key_file is not None:
        fernet = _fernet(key_file)
        with plain.open("rb") as src, dest.open("wb") as out:
            out.write(MAGIC)
            for block in iter(lambda: src.read(CHUNK), b""):
                token = fernet.encrypt(block)
                out.write(struct.pack(">I", len(token)) + token)
        plain.unlink()
    dest.with_name(dest.name + ".sha256").write_text(f"{sha256_file(dest)}  {dest.name}\n")
    return dest


def _decrypt(path: Path, key_file: Path | None, into: Path) -> Path:
    with path.open("rb") as src:
        head = src.read(len(MAGIC))
        if head != MAGIC:
            return path  # not encrypted
        if key_file is None:
            raise ArchiveError("this archive is encrypted: give its --key-file")
        fernet = _fernet(key_file)
        plain = into / "archive.tar.gz"
        with plain.open("wb") as out:
            while size := src.read(4):
                if len(size) < 4:
                    raise ArchiveError("the archive ends inside a chunk: it is truncated")
                token = src.read(struct.unpack(">I", size)[0])
                try:
                    out.write(fernet.decrypt(token))
                except InvalidToken:
                    raise ArchiveError("a chunk does not decrypt: wrong key, or the archive was altered") from None
    return plain


def open_archive(path: Path, into: Path, key_file: Path | None = None) -> dict:
    """Verify and unpack ``path`` into ``into``; returns the manifest. Raises ArchiveError on any mismatch."""
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.exists():
        expected = sidecar.read_text().split()[0]
        if sha256_file(path) != expected:
            raise ArchiveError(f"{path.name} does not match {sidecar.name}: the copy is damaged")
    into.mkdir(parents=True, exist_ok=True)
    plain = _decrypt(path, key_file, into)
    try:
        with tarfile.open(plain, "r:gz") as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"the archive cannot be read: {exc}") from exc
    if plain != path:
        plain.unlink()
    try:
        manifest = json.loads((into / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise ArchiveError("the archive has no readable manifest") from exc
    found = checksum_folder(into)
    if found != manifest.get("files"):
        bad = sorted(set(found.items()) ^ set(manifest.get("files", {}).items()))
        raise ArchiveError(f"files differ from the manifest: {', '.join(sorted({n for n, _ in bad}))}")
    return manifest


def describe(manifest: dict) -> str:
    buffer = io.StringIO()
    buffer.write(f"taken {manifest.get('taken_at')} by Attune {manifest.get('attune_version')}\n")
    for service, db in manifest.get("databases", {}).items():
        buffer.write(f"  {service}: {db['backend']} ({db['path']})\n")
    return buffer.getvalue()
