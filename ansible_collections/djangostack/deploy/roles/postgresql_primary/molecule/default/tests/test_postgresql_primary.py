"""Behaviour of the postgresql_primary role: who may connect, to what, and how it is sized."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import testinfra
from testinfra.host import Host

from harness import CommandFailed
from harness.lab import psql

SECRETS = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "secrets"
DB = "pgprimary-db"


def host(name: str) -> Host:
    return testinfra.get_host(f"docker://pgprimary-{name}")


@pytest.fixture(scope="module")
def db() -> Host:
    return host("db")


@pytest.fixture(scope="module")
def db_address(db: Host) -> str:
    return db.check_output("hostname -I").split()[0]


def password(name: str) -> str:
    return (SECRETS / name).read_text().split()[0]


def connect(client: str, conninfo: str, secret: str, sql: str) -> str:
    """One statement with psql from a client host (pgprimary-<client>) over the network,
    the password via PGPASSWORD; raises CommandFailed when refused."""
    return psql(
        f"pgprimary-{client}",
        sql,
        conninfo,
        user=None,
        options=("-XAtq", "-v", "ON_ERROR_STOP=1"),
        env={"PGPASSWORD": password(secret), "PGCONNECT_TIMEOUT": "5"},
    )


def refusal(client: str, conninfo: str, secret: str, sql: str) -> str:
    """psql's error when the connection is refused."""
    with pytest.raises(CommandFailed) as refused:
        connect(client, conninfo, secret, sql)
    return refused.value.stderr


def setting(name: str) -> str:
    return psql(DB, f"SHOW {name}", "postgres")


def test_listens_on_its_address_only(db: Host, db_address: str) -> None:
    listeners = db.check_output("ss -Htln 'sport = :5432'").splitlines()
    assert [line.split()[3] for line in listeners] == [f"{db_address}:5432"]


def test_app_host_reads_and_writes_its_database(db_address: str) -> None:
    result = connect(
        "app",
        f"host={db_address} dbname=django user=django",
        "app",
        "CREATE TABLE IF NOT EXISTS probe (id int); INSERT INTO probe VALUES (1);"
        " SELECT current_user || ' ' || count(*) FROM probe",
    )
    assert result.split()[0] == "django"


def test_app_host_cannot_reach_other_databases(db_address: str) -> None:
    error = refusal("app", f"host={db_address} dbname=postgres user=django", "app", "SELECT 1")
    assert "no pg_hba.conf entry" in error


def test_app_host_cannot_replicate(db_address: str) -> None:
    error = refusal(
        "app",
        f"host={db_address} user=replicator replication=true",
        "replication",
        "IDENTIFY_SYSTEM",
    )
    assert "no pg_hba.conf entry" in error


def test_standby_host_may_replicate_and_has_a_slot(db_address: str) -> None:
    connect(
        "standby",
        f"host={db_address} user=replicator replication=true",
        "replication",
        "IDENTIFY_SYSTEM",
    )
    slots = psql(DB, "SELECT slot_name || ' ' || slot_type FROM pg_replication_slots", "postgres")
    assert slots.splitlines() == ["pgprimary_standby physical"]


def test_a_stranger_is_refused(db_address: str) -> None:
    error = refusal("stranger", f"host={db_address} dbname=django user=django", "app", "SELECT 1")
    assert "no pg_hba.conf entry" in error


def test_a_wrong_password_is_refused(db_address: str) -> None:
    conninfo = f"host={db_address} dbname=django user=django"
    with pytest.raises(CommandFailed) as refused:
        psql("pgprimary-app", "SELECT 1", conninfo, user=None, env={"PGPASSWORD": "wrong"})
    assert "password authentication failed" in refused.value.stderr


def test_only_scram_is_accepted() -> None:
    methods = psql(
        DB,
        "SELECT DISTINCT type || ' ' || auth_method FROM pg_hba_file_rules ORDER BY 1",
        "postgres",
    )
    assert methods.splitlines() == ["host scram-sha-256", "local peer"]
    assert setting("password_encryption") == "scram-sha-256"


def test_sizing_is_computed() -> None:
    # One pgpool host x 32 children x 4 pools + 10 reserve + 3 superuser slots.
    assert setting("max_connections") == str(32 * 4 + 10 + 3)
    # memory 1024 MiB: a quarter for shared_buffers, three quarters of cache.
    assert setting("shared_buffers") == "256MB"
    assert setting("effective_cache_size") == "768MB"
    assert setting("maintenance_work_mem") == "64MB"
    assert setting("work_mem") == "4MB"


def test_ready_for_streaming_standbys() -> None:
    assert setting("wal_level") == "replica"
    assert setting("wal_log_hints") == "on"
    assert setting("max_wal_senders") == "4"
    assert setting("max_slot_wal_keep_size") == "4GB"


def test_no_restart_or_reload_is_pending() -> None:
    pending = psql(DB, "SELECT count(*) FROM pg_settings WHERE pending_restart", "postgres")
    assert pending == "0"
