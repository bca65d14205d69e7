"""Backups on the live lab (docs/backups.md): the WAL archive keeps up with the primary,
the repository is encrypted, backups come from the standby, a backup on demand and the
status report, and a restore of the newest backup that reads what the primary holds.
The point-in-time restore itself is the PITR drill (test_drills.py)."""

from __future__ import annotations

from conftest import INVENTORY, lab_host, run_playbook

from harness.lab import PREFIX, on_host, psql, wait_for

REPOSITORY = "/var/lib/pgbackrest"
STANZA = "djangostack"


def primary() -> str:
    """The database node that is primary now (the drills may have moved it)."""
    for node in ("db1", "db2"):
        if psql(PREFIX + node, "SELECT NOT pg_is_in_recovery()", "postgres") == "t":
            return node
    raise AssertionError("no primary answers")


def test_every_segment_the_primary_closes_reaches_the_repository() -> None:
    # A write, so that the switch has a segment to close; the position the switch returns
    # ends that segment, whose name pg_walfile_name gives.
    node = PREFIX + primary()
    psql(
        node,
        "CREATE TABLE IF NOT EXISTS archive_probe (at timestamptz);"
        " INSERT INTO archive_probe VALUES (now())",
    )
    segment = psql(node, "SELECT pg_walfile_name(pg_switch_wal())", "postgres")

    def archived() -> bool:
        found = on_host(
            "backup1", "find", f"{REPOSITORY}/archive/{STANZA}", "-name", f"{segment}-*"
        )
        return bool(found.strip())

    # archive_timeout is 60 s; a switched segment must not wait for it.
    assert wait_for(archived, 30), f"{segment} is not in the repository after 30 s"


def test_the_repository_holds_only_encrypted_files() -> None:
    """Every file pgBackRest wrote is OpenSSL's salted format, not zstd's or PostgreSQL's."""
    files = on_host("backup1", "find", REPOSITORY, "-type", "f").split()
    assert len(files) > 10, files
    heads = on_host(
        "backup1",
        "bash",
        "-c",
        f'for f in $(find {REPOSITORY} -type f); do head -c 8 "$f"; echo; done',
    ).splitlines()
    assert set(heads) == {"Salted__"}, sorted(set(heads))


def test_the_backup_timers_are_scheduled() -> None:
    host = lab_host("backup1")
    for kind in ("full", "diff"):
        timer = host.service(f"djangostack-backup-{kind}.timer")
        assert timer.is_enabled and timer.is_running, kind


def test_a_differential_backup_on_demand_comes_from_the_standby_and_status_shows_it() -> None:
    run = run_playbook(
        "-i", INVENTORY, "playbooks/backup.yml", "-e", "backup_type=diff", quiet=True
    )
    assert run.returncode == 0, run.output[-3000:]
    assert "(diff)" in run.output, run.output[-3000:]
    # pgBackRest waits for the standby to replay up to the backup's start, then copies from it.
    log = on_host("backup1", "cat", f"/var/log/pgbackrest/{STANZA}-backup.log")
    last = log.rsplit("backup command begin", 1)[-1]
    assert "replay on the standby reached" in last, last[-2000:]

    status = run_playbook("-i", INVENTORY, "playbooks/status.yml", quiet=True)
    assert status.returncode == 0, status.output[-3000:]
    text = " ".join(status.output.split())
    assert "last diff 0.0 h ago" in text, status.output[-3000:]
    assert "segments behind" in text, status.output[-3000:]


def test_the_newest_backup_restores_with_the_primarys_row_counts() -> None:
    run = run_playbook("-i", INVENTORY, "playbooks/verify_backup.yml", quiet=True)
    assert run.returncode == 0, run.output[-4000:]
    # (YAML output doubles the apostrophe of "primary's".)
    assert "every count equal to the primary" in " ".join(run.output.split()), run.output[-4000:]
    # The scratch server is gone.
    assert not lab_host("backup1").file("/var/lib/postgresql/djangostack-verify").exists
