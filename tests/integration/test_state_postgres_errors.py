"""PostgreSQL state that cannot be used fails in one line that names where and why, never the password."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from sesmon.state.ports import StateError
from sesmon.state.postgres import PostgresState
from tests.conftest import environment_without_aws

PASSWORD = "s3cret-hunter22"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    dsn = f"postgresql://sesmon:{PASSWORD}@127.0.0.1:{_closed_port()}/sesmon"
    with pytest.raises(StateError) as caught:
        PostgresState(dsn, connect_timeout=2)
    message = str(caught.value)
    assert "cannot connect to PostgreSQL at 127.0.0.1:" in message
    assert PASSWORD not in message
    assert "\n" not in message


def test_a_user_who_cannot_create_tables_is_told_so(postgres_server: object, postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute("CREATE ROLE reader LOGIN")
        admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    with pytest.raises(StateError, match=r"cannot set up the sesmon schema .* create tables"):
        PostgresState(postgres_dsn.replace("user=sesmon", "user=reader"), connect_timeout=5)


def test_sesmon_run_with_an_unreachable_database_exits_1_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "sesmon.yaml"
    config.write_text(
        f"""
targets:
  - name: prod
    region: us-east-1
    cloudwatch: {{enabled: false}}
    account: {{enabled: false}}
    identities: {{enabled: false}}
state:
  backend: postgresql
  dsn: postgresql://sesmon:{PASSWORD}@127.0.0.1:{_closed_port()}/sesmon?connect_timeout=1
server:
  listen: 127.0.0.1:0
""",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "sesmon.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment_without_aws(),
        check=False,
    )
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("sesmon:")]
    assert len(errors) == 1
    assert "cannot connect to PostgreSQL at 127.0.0.1:" in errors[0]
    assert PASSWORD not in done.stdout + done.stderr
