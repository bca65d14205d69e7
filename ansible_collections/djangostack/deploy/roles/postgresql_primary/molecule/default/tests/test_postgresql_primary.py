"""Behaviour of the postgresql_primary role: who may connect, to what, and how it is sized."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import testinfra
from testinfra.host import Host

SECRETS = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "secrets"


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


def psql(
    client: Host, conninfo: str, secret: str, sql: str
) -> testinfra.backend.base.CommandResult:
    """Run one statement with psql from client over the network; the password via PGPASSWORD."""
    return client.run(
        "PGPASSWORD=%s PGCONNECT_TIMEOUT=5 psql %s -XAtq -v ON_ERROR_STOP=1 -c %s",
        password(secret),
        conninfo,
        sql,
    )


def setting(db: Host, name: str) -> str:
    return db.check_output("runuser -u postgres -- psql -XAtc %s", f"SHOW {name}")


def test_listens_on_its_address_only(db: Host, db_address: str) -> None:
    listeners = db.check_output("ss -Htln 'sport = :5432'").splitlines()
    assert [line.split()[3] for line in listeners] == [f"{db_address}:5432"]


def test_app_host_reads_and_writes_its_database(db_address: str) -> None:
    result = psql(
        host("app"),
        f"host={db_address} dbname=django user=django",
        "app",
        "CREATE TABLE IF NOT EXISTS probe (id int); INSERT INTO probe VALUES (1);"
        " SELECT current_user || ' ' || count(*) FROM probe",
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.split()[0] == "django"


def test_app_host_cannot_reach_other_databases(db_address: str) -> None:
    result = psql(host("app"), f"host={db_address} dbname=postgres user=django", "app", "SELECT 1")
    assert result.rc != 0
    assert "no pg_hba.conf entry" in result.stderr


def test_app_host_cannot_replicate(db_address: str) -> None:
    result = psql(
        host("app"),
        f"host={db_address} user=replicator replication=true",
        "replication",
        "IDENTIFY_SYSTEM",
    )
    assert result.rc != 0
    assert "no pg_hba.conf entry" in result.stderr


def test_standby_host_may_replicate_and_has_a_slot(db: Host, db_address: str) -> None:
    result = psql(
        host("standby"),
        f"host={db_address} user=replicator replication=true",
        "replication",
        "IDENTIFY_SYSTEM",
    )
    assert result.rc == 0, result.stderr
    slots = db.check_output(
        "runuser -u postgres -- psql -XAtc %s",
        "SELECT slot_name || ' ' || slot_type FROM pg_replication_slots",
    )
    assert slots.splitlines() == ["pgprimary_standby physical"]


def test_a_stranger_is_refused(db_address: str) -> None:
    result = psql(
        host("stranger"), f"host={db_address} dbname=django user=django", "app", "SELECT 1"
    )
    assert result.rc != 0
    assert "no pg_hba.conf entry" in result.stderr


def test_a_wrong_password_is_refused(db_address: str) -> None:
    result = host("app").run(
        "PGPASSWORD=wrong psql %s -XAtc 'SELECT 1'", f"host={db_address} dbname=django user=django"
    )
    assert result.rc != 0
    assert "password authentication failed" in result.stderr


def test_only_scram_is_accepted(db: Host) -> None:
    methods = db.check_output(
        "runuser -u postgres -- psql -XAtc %s",
        "SELECT DISTINCT type || ' ' || auth_method FROM pg_hba_file_rules ORDER BY 1",
    )
    assert methods.splitlines() == ["host scram-sha-256", "local peer"]
    assert setting(db, "password_encryption") == "scram-sha-256"


def test_sizing_is_computed(db: Host) -> None:
    # One pgpool host x 32 children x 4 pools + 10 reserve + 3 superuser slots.
    assert setting(db, "max_connections") == str(32 * 4 + 10 + 3)
    # memory 1024 MiB: a quarter for shared_buffers, three quarters of cache.
    assert setting(db, "shared_buffers") == "256MB"
    assert setting(db, "effective_cache_size") == "768MB"
    assert setting(db, "maintenance_work_mem") == "64MB"
    assert setting(db, "work_mem") == "4MB"


def test_ready_for_streaming_standbys(db: Host) -> None:
    assert setting(db, "wal_level") == "replica"
    assert setting(db, "wal_log_hints") == "on"
    assert setting(db, "max_wal_senders") == "4"
    assert setting(db, "max_slot_wal_keep_size") == "4GB"


def test_no_restart_or_reload_is_pending(db: Host) -> None:
    pending = db.check_output(
        "runuser -u postgres -- psql -XAtc %s",
        "SELECT count(*) FROM pg_settings WHERE pending_restart",
    )
    assert pending == "0"
