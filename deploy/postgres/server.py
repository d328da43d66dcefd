"""A throwaway PostgreSQL server from Debian's postgresql package (no Docker): for the test suite and the chaos run."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from deploy.processes import free_port


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


class PostgresServer:
    def __init__(self, durable: bool = False):
        """``durable``: keep fsync and synchronous commit (as production does), for tests that crash the
        server and expect every committed transaction to survive; the suite's server trades them for speed."""
        self.durable = durable
        bindir = _bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="attune-pg-"))
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root: use Debian's postgres account
            pwd.getpwnam("postgres")
            os.chmod(self.base, 0o755)  # noqa: S103 - the postgres account must reach it
            shutil.chown(self.base, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = self.base / "data"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, text=True)

    def start(self) -> str:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "attune", "--auth=trust", "-E", "UTF8")
        self.resume()
        return self.url("postgres")

    def resume(self) -> None:
        """Start the server on its existing data (again, after ``halt``): same port, same databases."""
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.base / "postgres.log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def halt(self) -> None:
        """Stop the server abruptly (``immediate``: clients see their connections die), keeping its data."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://attune@127.0.0.1:{self.port}/{database}"

    def stop(self, keep_data: bool = False) -> None:
        """Stop the server and remove its files (``keep_data``: leave them, to look into after a failed run)."""
        try:
            if (self.data / "postmaster.pid").exists():  # a test may have halted it already
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            if not keep_data:
                shutil.rmtree(self.base, ignore_errors=True)


def create_database(admin_url: str) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name
