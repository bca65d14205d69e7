"""Behaviour of the postgresql role: the settings every database node shares, and the fence
that failover.yml and switchover.yml put on a primary they replace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import testinfra
from testinfra.host import Host

from harness.ansible_cli import PlaybookRun, run_scenario_playbook
from harness.lab import psql

CLUSTER = "postgresql@15-main"


@pytest.fixture(scope="module")
def node() -> Host:
    return testinfra.get_host("docker://postgresql-node")


def sql(node: Host, statement: str) -> str:
    """One statement as the postgres superuser over the node's local socket."""
    return psql(node.backend.name, statement, "postgres")


def test_sizing_comes_from_the_shared_settings(node: Host) -> None:
    # No pgpool host and no peer: max_connections is the reserve (7) plus 3 superuser
    # slots; a quarter of postgresql_memory_mb (512) is shared_buffers.
    assert sql(node, "SHOW max_connections") == "10"
    assert sql(node, "SHOW shared_buffers") == "128MB"
    assert sql(node, "SHOW max_wal_senders") == "3"


def test_it_listens_on_its_own_address_only(node: Host) -> None:
    address = node.check_output("hostname -I").split()[0]
    assert sql(node, "SHOW listen_addresses") == address


def fence(tmp_path: Path) -> PlaybookRun:
    """The fence entry point, as the playbooks call it, then a plain install: the fenced node
    must stay down. Prints the facts the playbooks read."""
    playbook = tmp_path / "fence.yml"
    playbook.write_text(
        """
- name: Fence the node, then install again
  hosts: postgres
  gather_facts: false
  tasks:
    - name: Fence it
      ansible.builtin.include_role:
        name: djangostack.deploy.postgresql
        tasks_from: fence
    - name: Install again, as a run of site.yml would
      ansible.builtin.include_role:
        name: djangostack.deploy.postgresql
        tasks_from: install
    - name: Print what the playbooks read
      ansible.builtin.debug:
        msg: >-
          fenced={{ postgresql_fenced }} lsn={{ postgresql_fenced_lsn }}
          clean={{ postgresql_fenced_clean }}
"""
    )
    return run_scenario_playbook(playbook)


def test_a_fenced_node_stops_cleanly_and_stays_down(node: Host, tmp_path: Path) -> None:
    sql(node, "CREATE TABLE IF NOT EXISTS fence_probe (n int); INSERT INTO fence_probe VALUES (1)")
    run = fence(tmp_path)
    assert run.returncode == 0, run.output
    facts = re.search(r"fenced=(\w+) lsn=(\S+) clean=(\w+)", run.output)
    assert facts, run.output
    # The unit is masked and stays down after an install; the stop was clean, so the
    # fence's LSN is the last record (the shutdown checkpoint).
    assert node.run("systemctl is-enabled %s", CLUSTER).stdout.strip() == "masked"
    assert not node.service(CLUSTER).is_running
    control = node.check_output(
        "/usr/lib/postgresql/15/bin/pg_controldata /var/lib/postgresql/15/main"
    )
    assert re.search(r"Database cluster state:\s+shut down\n", control), control
    checkpoint = re.search(r"Latest checkpoint location:\s+(\S+)", control)
    assert checkpoint
    assert facts.groups() == ("True", checkpoint.group(1), "True")
