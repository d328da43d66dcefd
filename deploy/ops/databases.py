"""Dumping and loading one service's database: PostgreSQL with ``pg_dump`` in the directory format (and
``pg_restore``), SQLite with its online backup API (a consistent copy while the services keep writing)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from deploy.postgres.server import _bindir


class DatabaseError(Exception):
    pass


def backend(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    bindir = _bindir()
    if bindir is None or not (bindir / name).exists():
        raise DatabaseError(f"{name} not found: apt-get install postgresql-client")
    return str(bindir / name)


def _libpq(url: str) -> tuple[str, dict]:
    """The URL as libpq reads it (no driver suffix, no password: that goes in PGPASSWORD, not on a command line)."""
    parsed = make_url(url)
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    return parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise DatabaseError(f"{url}: an in-memory database cannot be backed up")
    return Path(database)


def _sqlite_copy(source: Path, target: Path) -> None:
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as out:
        src.backup(out)


def dump(url: str, dest: Path) -> str:
    """Write a consistent copy of the database at ``url`` under ``dest`` (a new path); returns its name."""
    if backend(url) == "sqlite":
        target = dest.with_suffix(".sqlite3")
        _sqlite_copy(_sqlite_path(url), target)
        return target.name
    target = dest.with_suffix(".pgdump")
    libpq, env = _libpq(url)
    done = subprocess.run(
        [_pg_tool("pg_dump"), "--format=directory", "--jobs=2", "--no-owner", "--no-privileges",
         f"--file={target}", libpq],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise DatabaseError(f"pg_dump failed: {done.stderr.strip()[-500:]}")
    return target.name


def is_empty(url: str) -> bool:
    """No tables at all (a new database): a restore refuses to overwrite a practice's data."""
    if backend(url) == "sqlite" and not _sqlite_path(url).exists():
        return True
    engine = create_engine(url)
    try:
        return not inspect(engine).get_table_names()
    finally:
        engine.dispose()


def load(source: Path, url: str) -> None:
    """Bring the dump at ``source`` into the (empty) database at ``url``."""
    if backend(url) == "sqlite":
        if source.suffix != ".sqlite3":
            raise DatabaseError(f"{source.name} is a PostgreSQL dump; this service is configured for SQLite")
        path = _sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        _sqlite_copy(source, path)
        return
    if source.suffix != ".pgdump":
        raise DatabaseError(f"{source.name} is a SQLite copy; this service is configured for PostgreSQL")
    libpq, env = _libpq(url)
    done = subprocess.run(
        [_pg_tool("pg_restore"), "--jobs=2", "--no-owner", "--no-privileges", "--exit-on-error",
         f"--dbname={libpq}", str(source)],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise DatabaseError(f"pg_restore failed: {done.stderr.strip()[-500:]}")
