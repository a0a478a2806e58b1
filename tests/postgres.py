"""A throwaway PostgreSQL server for tests: initdb and pg_ctl in a temporary directory, on 127.0.0.1.

PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` system user
(Debian's package creates it) through ``runuser``. Each test gets a database of its own.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.tools import require_tool


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One running server; :meth:`database` creates an empty database and returns its DSN."""

    def __init__(self) -> None:
        initdb = require_tool("initdb")
        pg_ctl = require_tool("pg_ctl")
        self._as: list[str] = []
        owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            self._as = [shutil.which("runuser") or "runuser", "-u", "postgres", "--"]
        # /tmp, not pytest's tmp_path: the server's user must be able to reach the directory.
        self.root = Path(tempfile.mkdtemp(prefix="sesmon-pg-"))
        self.data = self.root / "data"
        if owner is not None:
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.port = _free_port()
        self._pg_ctl = pg_ctl
        self._names = itertools.count(1)
        self._run([initdb, "-D", str(self.data), "-U", "sesmon", "--auth=trust", "-E", "UTF8", "--no-sync"])
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
            # A test server: durability is not under test here, speed on a busy machine is.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        try:
            log = str(self.root / "log")
            self._run([pg_ctl, "-D", str(self.data), "-o", options, "-l", log, "-w", "start"])
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        self.admin = f"host=127.0.0.1 port={self.port} user=sesmon dbname=postgres"

    def _run(self, command: list[str]) -> None:
        done = subprocess.run([*self._as, *command], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed: {done.stdout}{done.stderr}")

    def database(self) -> str:
        """A new empty database's DSN."""
        name = f"t{next(self._names)}"
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}".encode())
        return f"host=127.0.0.1 port={self.port} user=sesmon dbname={name}"

    def stop(self) -> None:
        try:
            self._run([self._pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
