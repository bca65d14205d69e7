"""Behaviour of the pg_standby role: a hot standby streaming from the primary through its slot."""

from __future__ import annotations

import os
import re
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
from harness.lab import psql, wait_for


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


def wait_for_soon(check: Callable[[], bool], seconds: float) -> bool:
    """harness.lab.wait_for, polled every 0.2 s: the standby's state changes fast."""
    return wait_for(check, seconds, interval=0.2)


SYNC_LIST = 'ANY 1 ("pgstandby-standby")'


def test_replication_is_synchronous(primary: Host) -> None:
    assert wait_for_soon(lambda: sql(primary, "SHOW synchronous_standby_names") == SYNC_LIST, 15)
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
    assert wait_for_soon(lambda: sql(primary, "SHOW synchronous_standby_names") == SYNC_LIST, 30)
    assert wait_for_soon(
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
  hosts: "{{ reapply_hosts }}"
  vars:
    postgresql_replication_password: "{{ lookup('file', secrets ~ '/replication') }}"
    postgresql_memory_mb: 1024
    postgresql_synchronous_mode: sync
  tasks:
    - name: Apply the pg_standby role
      ansible.builtin.include_role:
        name: djangostack.deploy.pg_standby
"""


def reapply(tmp_path: Path, *extra_vars: str, hosts: str = "db_standby") -> PlaybookRun:
    """Apply pg_standby again, as site.yml would: to the inventory's standby, or to hosts."""
    playbook = tmp_path / "reapply.yml"
    playbook.write_text(REAPPLY)
    extra = [arg for var in (f"reapply_hosts={hosts}", *extra_vars) for arg in ("-e", var)]
    secrets = f"secrets={os.environ['MOLECULE_EPHEMERAL_DIRECTORY']}/secrets"
    return run_scenario_playbook(playbook, "-e", secrets, *extra)


def said(run: PlaybookRun, message: str) -> bool:
    """Whether the run printed message, whatever its line breaks: Ansible wraps an error,
    and a refusal's message keeps the line breaks of its template."""
    return message in " ".join(run.output.split())


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
    assert wait_for_soon(lambda: sql(primary, "SHOW synchronous_standby_names") == SYNC_LIST, 15)
    marker = f"after the repair {uuid.uuid4()}"
    sql(primary, f"INSERT INTO replication_probe VALUES ('{marker}')", "django")
    count = f"SELECT count(*) FROM replication_probe WHERE marker = '{marker}'"
    assert wait_for_soon(lambda: sql(standby, count, "django") == "1", 15)


# A cluster of someone else's, left where the standby's data directory belongs: what an
# operator's manual initdb, a restored backup of another application or a node moved
# between stacks leaves behind. Its marker row is what the role must never discard.
FOREIGN_DATABASE = "foreign_app"
FOREIGN_MARKER = f"foreign data {uuid.uuid4()}"
SAVED_STANDBY = "/var/lib/postgresql/15-standby-saved-by-the-test"
SYSTEM_IDENTIFIER = "SELECT system_identifier FROM pg_control_system()"


def data_directories(node: Host) -> list[str]:
    """The data directory and those moved aside next to it (main.moved-<UTC time>)."""
    return node.check_output(f"ls -d {DATA} {DATA}.moved-* 2>/dev/null || true").split()


def foreign_cluster_state(node: Host) -> dict[str, str]:
    """What a refusal must leave as it was: the cluster, its databases and marker row, its
    role, and its postmaster (the same start time: not even restarted)."""
    return {
        "cluster": sql(node, SYSTEM_IDENTIFIER),
        "databases": sql(node, "SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database"),
        "marker": sql(node, "SELECT marker FROM foreign_probe", FOREIGN_DATABASE),
        "in recovery": sql(node, "SELECT pg_is_in_recovery()"),
        "started at": sql(node, "SELECT pg_postmaster_start_time()"),
        "service": node.run("systemctl is-active postgresql@15-main").stdout.strip(),
        "standby.signal": str(node.file(f"{DATA}/standby.signal").exists),
        "data directories": " ".join(data_directories(node)),
    }


def test_a_foreign_cluster_is_refused_and_left_untouched(
    primary: Host, standby: Host, tmp_path: Path
) -> None:
    """The standby's data directory holds another cluster with a database of its own: the
    role must refuse (pg_standby_force_reclone is the operator's call), and change nothing:
    not stop it, not move it aside, not make it a standby."""
    standby.check_output("systemctl stop postgresql@15-main")
    # The standby's own copy is kept out of the way (the next test removes it); a new
    # cluster is made in its place by hand, as an operator would, and started.
    standby.check_output(f"mv --no-target-directory {DATA} {SAVED_STANDBY}")
    standby.check_output(
        f"runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb --pgdata {DATA}"
        " --encoding UTF8 --locale C.UTF-8"
    )
    standby.check_output("systemctl start postgresql@15-main")
    sql(standby, f"CREATE DATABASE {FOREIGN_DATABASE}")
    sql(standby, "CREATE TABLE foreign_probe (marker text)", FOREIGN_DATABASE)
    sql(standby, f"INSERT INTO foreign_probe VALUES ('{FOREIGN_MARKER}')", FOREIGN_DATABASE)
    before = foreign_cluster_state(standby)
    assert before["cluster"] != sql(primary, SYSTEM_IDENTIFIER)
    assert before["databases"] == f"{FOREIGN_DATABASE} postgres template0 template1"

    run = reapply(tmp_path)
    assert run.returncode != 0, run.output[-3000:]
    assert said(
        run,
        "pgstandby-standby holds databases of another cluster; set pg_standby_force_reclone=true"
        " to move them aside and clone pgstandby-primary.",
    ), run.output[-3000:]
    assert foreign_cluster_state(standby) == before


def test_a_forced_reclone_moves_the_foreign_cluster_aside_and_streams(
    primary: Host, standby: Host, tmp_path: Path
) -> None:
    """After the refusal above, the operator's way out: pg_standby_force_reclone=true moves
    the foreign cluster aside, whole (nothing lost), and the node is a streaming standby of
    the primary again, as the tests after this one need."""
    foreign = sql(standby, SYSTEM_IDENTIFIER)
    before = data_directories(standby)

    run = reapply(tmp_path, "pg_standby_force_reclone=true")
    assert run.returncode == 0, run.output[-3000:]

    moved = [path for path in data_directories(standby) if path not in before]
    assert len(moved) == 1 and moved[0].startswith(f"{DATA}.moved-"), (before, moved)
    # The foreign cluster, moved aside whole after a clean stop: its control file, its four
    # databases, and its marker row's bytes on disk.
    control = standby.check_output(f"/usr/lib/postgresql/15/bin/pg_controldata {moved[0]}")
    assert re.search(rf"Database system identifier:\s+{foreign}\n", control), control
    assert len(standby.check_output(f"ls {moved[0]}/base").split()) == 4
    assert standby.run(f"grep -rlF '{FOREIGN_MARKER}' {moved[0]}/base").rc == 0

    assert sql(standby, SYSTEM_IDENTIFIER) == sql(primary, SYSTEM_IDENTIFIER)
    assert sql(standby, "SELECT pg_is_in_recovery()") == "t"
    assert wait_for_soon(lambda: sql(primary, "SHOW synchronous_standby_names") == SYNC_LIST, 15)
    marker = f"after the forced reclone {uuid.uuid4()}"
    sql(primary, f"INSERT INTO replication_probe VALUES ('{marker}')", "django")
    count = f"SELECT count(*) FROM replication_probe WHERE marker = '{marker}'"
    assert wait_for_soon(lambda: sql(standby, count, "django") == "1", 15)
    standby.check_output(f"rm -r {SAVED_STANDBY}")


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
    assert wait_for_soon(lambda: sql(standby, "SHOW synchronous_standby_names") == "", 10)


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


FENCE = """
- name: Fence the replaced primary, as failover.yml and switchover.yml do
  hosts: pgstandby-primary
  gather_facts: false
  tasks:
    - name: Stop and mask PostgreSQL, and read its last WAL position
      ansible.builtin.include_role:
        name: djangostack.deploy.postgresql
        tasks_from: fence
"""


def fenced_node_state(node: Host) -> dict[str, str]:
    """What a refusal must leave as it was on a fenced node: its unit masked and stopped,
    its control file, every file of its data directory (no standby.signal added, nothing
    rewound) and no data directory moved aside."""
    return {
        "unit": node.run("systemctl is-enabled postgresql@15-main").stdout.strip(),
        "service": node.run("systemctl is-active postgresql@15-main").stdout.strip(),
        "control": node.check_output(f"/usr/lib/postgresql/15/bin/pg_controldata {DATA}"),
        "files": node.check_output(
            f"cd {DATA} && find . -type f -print0 | sort -z | xargs -0 sha256sum"
        ),
        "data directories": " ".join(data_directories(node)),
    }


def test_a_fenced_former_primary_is_refused_until_rejoin(
    primary: Host, standby: Host, tmp_path: Path
) -> None:
    """Last: the old primary, back and writable after the failover above, is fenced by the
    postgresql role's fence entry point, as failover.yml and switchover.yml do. Applying
    pg_standby to it (the inventory now naming it a standby of the promoted node) must
    refuse and change nothing: only playbooks/rejoin.yml (pg_standby_rewind) lifts the
    fence. Then the rejoin itself, as rejoin.yml runs it: a standby of the new primary."""
    fence = tmp_path / "fence.yml"
    fence.write_text(FENCE)
    fenced = run_scenario_playbook(fence)
    assert fenced.returncode == 0, fenced.output[-3000:]
    before = fenced_node_state(primary)
    assert (before["unit"], before["service"]) == ("masked", "inactive")
    assert re.search(r"Database cluster state:\s+shut down\n", before["control"])
    as_standby = ("pg_standby_primary_host=pgstandby-standby",)

    run = reapply(tmp_path, *as_standby, hosts="pgstandby-primary")
    assert run.returncode != 0, run.output[-3000:]
    assert said(
        run,
        "pgstandby-primary is fenced (a primary replaced by failover.yml or switchover.yml):"
        " make it a standby with playbooks/rejoin.yml",
    ), run.output[-3000:]
    assert fenced_node_state(primary) == before

    # rejoin.yml: the new primary's slot for the node, then pg_standby with pg_standby_rewind.
    sql(standby, "SELECT pg_create_physical_replication_slot('pgstandby_primary')")
    rejoin = reapply(tmp_path, *as_standby, "pg_standby_rewind=true", hosts="pgstandby-primary")
    assert rejoin.returncode == 0, rejoin.output[-3000:]
    assert primary.run("systemctl is-enabled postgresql@15-main").stdout.strip() == "enabled"
    assert sql(primary, "SELECT pg_is_in_recovery()") == "t"
    assert sql(primary, "SELECT status || ' ' || slot_name FROM pg_stat_wal_receiver") == (
        "streaming pgstandby_primary"
    )
    new_primary_list = 'ANY 1 ("pgstandby-primary")'
    assert wait_for_soon(
        lambda: sql(standby, "SHOW synchronous_standby_names") == new_primary_list, 15
    )
    written = "SELECT count(*) FROM replication_probe WHERE marker = 'written on the new primary'"
    assert sql(primary, written, "django") == "1"
