"""The database playbooks' refusals, each triggered on purpose on the live lab: the
playbook must stop with its own message and leave the tier exactly as it found it (the
same primary and standby, the same timeline and cluster, nothing fenced, db2 streaming
synchronously, every committed row still there). conftest.py runs these after the checks
of the healthy stack and before the drills.

The role's own refusals (a foreign cluster, a fenced former primary, a promoted copy) are
tested in pg_standby's scenario.
"""

from __future__ import annotations

import uuid

import pytest
from conftest import INVENTORY, run_playbook

from harness.drills.partition import addresses, cut_off
from harness.lab import PREFIX, psql, wait_for

DATABASE_NODES = ("db1", "db2")


def tier_state() -> dict[str, object]:
    """What a refused playbook must not change: each node's role, timeline, cluster and
    unit state, and which node streams synchronously from the primary."""
    state: dict[str, object] = {}
    for node in DATABASE_NODES:
        container = PREFIX + node
        state[node] = {
            "in recovery": psql(container, "SELECT pg_is_in_recovery()", "postgres"),
            "timeline": psql(
                container, "SELECT timeline_id FROM pg_control_checkpoint()", "postgres"
            ),
            "cluster": psql(
                container, "SELECT system_identifier FROM pg_control_system()", "postgres"
            ),
        }
    state["synchronous"] = psql(
        PREFIX + "db1",
        "SELECT application_name FROM pg_stat_replication"
        " WHERE state = 'streaming' AND sync_state IN ('sync', 'quorum')",
        "postgres",
    )
    return state


@pytest.fixture
def marker() -> str:
    """A row committed on the primary before the refused playbook; it must survive."""
    mark = uuid.uuid4().hex
    psql(PREFIX + "db1", "CREATE TABLE IF NOT EXISTS refusal_probe (mark text)")
    psql(PREFIX + "db1", f"INSERT INTO refusal_probe VALUES ('{mark}')")
    return mark


def assert_unchanged(before: dict[str, object], mark: str) -> None:
    # The synchronous standby may take a moment to be named again after a cut: wait for it.
    assert wait_for(lambda: tier_state() == before, 30), (tier_state(), before)
    for node in DATABASE_NODES:
        found = psql(PREFIX + node, f"SELECT count(*) FROM refusal_probe WHERE mark = '{mark}'")
        assert found == "1", node


def test_failover_refuses_while_the_primary_still_answers(marker: str) -> None:
    before = tier_state()
    run = run_playbook("-i", INVENTORY, "playbooks/failover.yml", quiet=True)
    assert run.returncode != 0, run.output
    assert "db1 answers as the primary: this is not a lost primary" in run.output, run.output
    assert_unchanged(before, marker)


def test_switchover_refuses_a_target_that_does_not_stream(marker: str) -> None:
    """db2 cut off from db1 (its packets to db1 dropped) until it no longer streams: a
    lagging target. switchover.yml must refuse it before it fences anything."""
    before = tier_state()
    streaming = (
        "SELECT count(*) FROM pg_stat_replication"
        " WHERE application_name = 'db2' AND state = 'streaming'"
    )
    with cut_off(PREFIX + "db2", addresses(PREFIX + "db1")):
        assert wait_for(lambda: psql(PREFIX + "db1", streaming, "postgres") == "0", 60)
        run = run_playbook(
            "-i", INVENTORY, "playbooks/switchover.yml", "-e", "switchover_target=db2", quiet=True
        )
    assert run.returncode != 0, run.output
    assert "'db2' is not a standby streaming from db1" in run.output, run.output
    assert_unchanged(before, marker)


def test_rejoin_refuses_when_no_primary_answers(marker: str) -> None:
    """Limited to db2, rejoin.yml sees no primary: nothing to rejoin onto, so it stops."""
    before = tier_state()
    run = run_playbook("-i", INVENTORY, "playbooks/rejoin.yml", "--limit", "db2", quiet=True)
    assert run.returncode != 0, run.output
    assert "there is nothing to rejoin yet" in run.output, run.output
    assert_unchanged(before, marker)


# restore.yml overwrites every database node: each refusal must come before anything
# changes (ansible-playbook's -e key=value takes shell-like quotes).
@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ([], "give restore_target"),
        (["-e", "restore_target=latest"], "give restore_target"),
        (
            ["-e", "restore_target=latest", "-e", "restore_confirm=main"],
            "restore_confirm must be the stanza's name",
        ),
        (
            [
                "-e",
                "restore_target='2999-01-01 00:00:00+00:00'",
                "-e",
                "restore_confirm=djangostack",
            ],
            "is in the future",
        ),
        (
            [
                "-e",
                "restore_target='2000-01-01 00:00:00+00:00'",
                "-e",
                "restore_confirm=djangostack",
            ],
            "before the end of the oldest backup",
        ),
        (
            ["-e", "restore_target='2026-12-07 11:20:03'", "-e", "restore_confirm=djangostack"],
            "has no time zone",
        ),
        (
            ["-e", "restore_target=yesterday", "-e", "restore_confirm=djangostack"],
            "restore_target must be 'latest'",
        ),
    ],
)
def test_restore_refuses_a_missing_or_unreachable_target_before_anything_changes(
    marker: str, extra: list[str], says: str
) -> None:
    before = tier_state()
    run = run_playbook("-i", INVENTORY, "playbooks/restore.yml", *extra, quiet=True)
    assert run.returncode != 0
    assert says in " ".join(run.output.split()), run.output[-3000:]
    assert "Fence every database node" not in run.output
    assert_unchanged(before, marker)
