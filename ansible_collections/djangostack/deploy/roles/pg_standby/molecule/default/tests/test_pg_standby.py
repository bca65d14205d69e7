"""Behaviour of the pg_standby role: a hot standby streaming from the primary through its slot."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import testinfra
from testinfra.host import Host

from harness import CommandFailed
from harness.ansible_cli import PlaybookRun, adhoc, run_scenario_playbook
from harness.lab import psql


def host(name: str) -> Host:
    return testinfra.get_host(f"docker://pgstandby-{name}")


def sql(node: Host, statement: str, database: str = "postgres") -> str:
    """One statement as the postgres superuser over the node's local socket."""
    return psql(node.backend.name, statement, database)


@pytest.fixture(scope="module")
def primary() -> Host:
    return host("primary")


@pytest.fixture(scope="module")
def standby() -> Host:
    return host("standby")


def test_standby_is_in_recovery_and_primary_is_not(primary: Host, standby: Host) -> None:
    assert sql(standby, "SELECT pg_is_in_recovery()") == "t"
    assert sql(primary, "SELECT pg_is_in_recovery()") == "f"


def test_standby_streams_through_its_slot(primary: Host, standby: Host) -> None:
    assert sql(standby, "SELECT status || ' ' || slot_name FROM pg_stat_wal_receiver") == (
        "streaming pgstandby_standby"
    )
    assert sql(
        primary,
        "SELECT r.application_name || ' ' || r.state || ' ' || s.slot_name || ' ' || s.active"
        " FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid",
    ) == ("pgstandby-standby streaming pgstandby_standby true")


def test_a_committed_row_reaches_the_standby(primary: Host, standby: Host) -> None:
    marker = uuid.uuid4().hex
    sql(primary, "CREATE TABLE IF NOT EXISTS replication_probe (marker text)", "django")
    sql(primary, f"INSERT INTO replication_probe VALUES ('{marker}')", "django")
    deadline = time.monotonic() + 10
    seen = ""
    while time.monotonic() < deadline:
        seen = sql(
            standby, f"SELECT count(*) FROM replication_probe WHERE marker = '{marker}'", "django"
        )
        if seen == "1":
            break
        time.sleep(0.2)
    assert seen == "1"


def test_standby_refuses_writes(standby: Host) -> None:
    with pytest.raises(CommandFailed) as refused:
        sql(standby, "CREATE TABLE nope (id int)", "django")
    assert "read-only transaction" in refused.value.stderr


def test_standby_can_take_over_with_the_same_capacity(primary: Host, standby: Host) -> None:
    for setting in ("max_connections", "max_wal_senders", "max_replication_slots", "wal_log_hints"):
        assert sql(standby, f"SHOW {setting}") == sql(primary, f"SHOW {setting}"), setting


def test_standby_listens_on_its_address_only(standby: Host) -> None:
    address = standby.check_output("hostname -I").split()[0]
    listeners = standby.check_output("ss -Htln 'sport = :5432'").splitlines()
    assert [line.split()[3] for line in listeners] == [f"{address}:5432"]


def test_password_stays_out_of_the_configuration(standby: Host) -> None:
    conninfo = sql(standby, "SHOW primary_conninfo")
    assert "password" not in conninfo
    assert "passfile=/var/lib/postgresql/.pgpass" in conninfo
    passfile = standby.file("/var/lib/postgresql/.pgpass")
    assert passfile.user == "postgres"
    assert passfile.mode == 0o600


def test_standby_is_a_clone_of_the_primary(primary: Host, standby: Host) -> None:
    """Same system identifier: what the role's clone decision compares on every run."""
    identify = "SELECT system_identifier FROM pg_control_system()"
    assert sql(standby, identify) == sql(primary, identify)


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


SYNC_LIST = 'ANY 1 ("pgstandby-standby")'


def test_replication_is_synchronous(primary: Host) -> None:
    assert wait_for(lambda: sql(primary, "SHOW synchronous_standby_names") == SYNC_LIST, 15)
    assert sql(
        primary, "SELECT application_name || ' ' || sync_state FROM pg_stat_replication"
    ) == ("pgstandby-standby quorum")


def test_guard_waits_on_the_standby_too(standby: Host) -> None:
    """The guard runs on every node and takes over when its node is promoted."""
    assert standby.service("djangostack-sync-guard").is_running
    assert standby.service("djangostack-sync-guard").is_enabled


def run_module(node: str, module: str, *args: str) -> dict[str, Any]:
    """Run one of the collection's modules on a scenario host, as a playbook would."""
    name = f"pgstandby-{node}"
    become = ("--become", "--become-user", "postgres")
    module_args = ("-m", f"djangostack.deploy.{module}", *become, *args)
    return adhoc(name, os.environ["MOLECULE_INVENTORY_FILE"], *module_args)[name]


def replication_info(node: str) -> dict[str, Any]:
    result = run_module(node, "pg_replication_info")
    assert not result.get("failed"), result
    return result


def test_replication_info_module_reads_the_live_topology(primary: Host) -> None:
    on_primary = replication_info("primary")
    on_standby = replication_info("standby")
    assert on_primary["role"] == "primary"
    assert on_standby["role"] == "standby"
    assert on_primary["timeline"] == on_standby["timeline"] == 1
    assert [(s["application_name"], s["state"]) for s in on_primary["standbys"]] == [
        ("pgstandby-standby", "streaming")
    ]
    assert on_standby["receiver_status"] == "streaming"
    assert on_standby["upstream_host"] == primary.check_output("hostname -I").split()[0]
    assert on_primary["changed"] is False


def test_losing_the_standby_stalls_writes_only_for_the_grace_period(
    primary: Host, standby: Host
) -> None:
    """Last in this module: it stops the standby, then brings it back."""
    standby.check_output("systemctl stop postgresql@15-main")
    try:
        started = time.monotonic()
        # Without the guard this commit would wait for ever; bounded here at 30 s.
        write = "INSERT INTO replication_probe VALUES ('while the standby is away')"
        psql(primary.backend.name, write, "django", timeout=30)
        stalled = time.monotonic() - started
        print(f"commit with the standby lost returned after {stalled:.1f} s")
        assert sql(primary, "SHOW synchronous_standby_names") == ""
    finally:
        standby.check_output("systemctl start postgresql@15-main")
    # Back to synchronous once the standby streams again.
    assert wait_for(lambda: sql(primary, "SHOW synchronous_standby_names") == SYNC_LIST, 30)
    assert wait_for(
        lambda: (
            sql(
                standby,
                "SELECT count(*) FROM replication_probe WHERE marker LIKE 'while%'",
                "django",
            )
            == "1"
        ),
        30,
    )


REAPPLY = """
- name: Learn every host's addresses
  hosts: all
  gather_facts: true
  tasks: []

- name: Apply pg_standby again, as site.yml would after the failover
  hosts: db_standby
  vars:
    postgresql_replication_password: "{{ lookup('file', secrets ~ '/replication') }}"
    postgresql_memory_mb: 1024
    postgresql_synchronous_mode: sync
  tasks:
    - name: Apply the pg_standby role
      ansible.builtin.include_role:
        name: djangostack.deploy.pg_standby
"""


def reapply(tmp_path: Path, *extra_vars: str) -> PlaybookRun:
    """Apply pg_standby to the inventory's standby again, as site.yml would."""
    playbook = tmp_path / "reapply.yml"
    playbook.write_text(REAPPLY)
    extra = [arg for var in extra_vars for arg in ("-e", var)]
    secrets = f"secrets={os.environ['MOLECULE_EPHEMERAL_DIRECTORY']}/secrets"
    return run_scenario_playbook(playbook, "-e", secrets, *extra)


DATA = "/var/lib/postgresql/15/main"


def test_a_standby_that_cannot_start_is_moved_aside_and_cloned_afresh(
    primary: Host, standby: Host, tmp_path: Path
) -> None:
    """Seen after a failover cycle: a standby PostgreSQL refused to start, and re-applying
    the role failed at its first start. Now the role moves the broken data directory aside
    (kept, within pg_standby_kept_data_directories: here 1, so an older one goes) and
    clones the primary afresh, and is done only when the new copy streams synchronously."""
    standby.check_output("systemctl stop postgresql@15-main")
    # No PG_VERSION: PostgreSQL refuses to start, while pg_controldata still reads the
    # cluster as a standby of the primary's (a standby kept, until it fails to start).
    standby.check_output(f"rm {DATA}/PG_VERSION")
    standby.check_output(f"touch {DATA}/broken-on-purpose")
    assert standby.run("systemctl start postgresql@15-main").rc != 0
    older = f"{DATA}.moved-20000101T000000Z"
    standby.check_output(f"install -d -o postgres -g postgres {older}")

    run = reapply(tmp_path, "pg_standby_kept_data_directories=1")
    assert run.returncode == 0, run.output[-3000:]
    assert "Moving its data directory aside and cloning pgstandby-primary afresh" in run.output

    moved = standby.check_output(f"ls -d {DATA}.moved-*").split()
    assert len(moved) == 1 and moved[0] != older, moved
    assert standby.file(f"{moved[0]}/broken-on-purpose").exists
    assert sql(standby, "SELECT pg_is_in_recovery()") == "t"
    assert wait_for(lambda: sql(primary, "SHOW synchronous_standby_names") == SYNC_LIST, 15)
    marker = f"after the repair {uuid.uuid4()}"
    sql(primary, f"INSERT INTO replication_probe VALUES ('{marker}')", "django")
    count = f"SELECT count(*) FROM replication_probe WHERE marker = '{marker}'"
    assert wait_for(lambda: sql(standby, count, "django") == "1", 15)


def test_promotion(primary: Host, standby: Host) -> None:
    """pg_promote: check mode changes nothing, a lagging limit refuses, then a real
    promotion on a new timeline that accepts writes, and a second call (another pgpool
    racing) changes nothing. Near the end: the scenario is left after a failover."""
    dry = run_module("standby", "pg_promote", "--check")
    assert dry["changed"] is True
    assert sql(standby, "SELECT pg_is_in_recovery()") == "t"

    # The old primary's position is ahead of anything the standby could have received.
    ahead = "FFFF/FFFFFFFF"
    refused = run_module("standby", "pg_promote", "-a", f"primary_lsn={ahead}")
    assert refused.get("failed") is True
    assert "max_lag_bytes" in refused["msg"]
    assert sql(standby, "SELECT pg_is_in_recovery()") == "t"

    primary.check_output("systemctl stop postgresql@15-main")
    promoted = run_module("standby", "pg_promote")
    assert promoted["changed"] is True, promoted
    assert promoted["previous_timeline"] == 1
    assert promoted["timeline"] == 2
    print(f"promoted in {promoted['seconds']} s")
    sql(standby, "INSERT INTO replication_probe VALUES ('written on the new primary')", "django")

    again = run_module("standby", "pg_promote")
    assert again["changed"] is False
    assert again["msg"] == "already a primary"
    # The new primary's guard drops the copied list that named the node itself.
    assert wait_for(lambda: sql(standby, "SHOW synchronous_standby_names") == "", 10)


def test_site_after_a_failover_never_reclones_the_new_primary(
    primary: Host, standby: Host, tmp_path: Path
) -> None:
    """After the promotion above, the inventory still calls the promoted node a standby.
    Re-applying the role must refuse, not wipe it: it holds the newest writes."""
    primary.check_output("systemctl start postgresql@15-main")  # the old primary is back
    run = reapply(tmp_path)
    assert run.returncode != 0
    assert "is a promoted copy of the cluster of pgstandby-primary" in run.output, run.output
    # Untouched: still a primary, still holding the write made after the promotion.
    assert sql(standby, "SELECT pg_is_in_recovery()") == "f"
    assert (
        sql(
            standby,
            "SELECT count(*) FROM replication_probe WHERE marker = 'written on the new primary'",
            "django",
        )
        == "1"
    )
