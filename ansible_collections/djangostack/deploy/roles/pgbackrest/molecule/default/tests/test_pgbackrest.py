"""Behaviour of the pgbackrest role: the stanza and its first full backup, the WAL archive,
the encrypted repository, the TLS server's refusals, a differential backup with no standby
(the backup script's fallback to the primary), a point-in-time restore and the restore
check of verify_backup.yml. The tests run in file order: the restore moves the primary to
a new timeline, which the restore check then replays through."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
import testinfra
from testinfra.host import Host

from harness.ansible_cli import PlaybookRun, run_scenario_playbook
from harness.lab import docker, psql, wait_for

DB = "pgbr-db"
REPO = "pgbr-repo"
STANZA = "djangostack"
REPOSITORY = "/var/lib/pgbackrest"
CLUSTER = "postgresql@15-main"
TLS = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "secrets" / "pgbackrest"


@pytest.fixture(scope="module")
def db() -> Host:
    return testinfra.get_host(f"docker://{DB}")


@pytest.fixture(scope="module")
def repo() -> Host:
    return testinfra.get_host(f"docker://{REPO}")


def sql(statement: str, database: str = "postgres") -> str:
    """One statement as the postgres superuser over the primary's local socket."""
    return psql(DB, statement, database)


def pgbackrest(repo: Host, *args: str) -> Any:
    """pgBackRest as postgres on the repository host."""
    return repo.run(
        "runuser -u postgres -- pgbackrest --stanza=%s " + " ".join(["%s"] * len(args)),
        STANZA,
        *args,
    )


def info(repo: Host) -> dict[str, Any]:
    """The repository's own account of the stanza (`pgbackrest info --output=json`)."""
    result = pgbackrest(repo, "info", "--output=json")
    assert result.rc == 0, result.stderr
    (stanza,) = json.loads(result.stdout)
    return stanza


ENTRY_POINT = """
- name: The pgbackrest role's {tasks_from} entry point
  hosts: {hosts}
  gather_facts: false
  tasks:
    - name: Run it
      ansible.builtin.include_role:
        name: djangostack.deploy.pgbackrest
        tasks_from: {tasks_from}
    - name: Print what it reports
      ansible.builtin.debug:
        msg: "{{{{ {report} }}}}"
"""


def entry_point(
    tmp_path: Path,
    hosts: str,
    tasks_from: str,
    variables: dict[str, Any] | None = None,
    report: str = "''",
) -> PlaybookRun:
    """One of the role's entry points on the scenario's hosts, as the playbooks include it,
    with extra variables; `report` (an expression) is printed after it."""
    playbook = tmp_path / f"{tasks_from}.yml"
    playbook.write_text(ENTRY_POINT.format(hosts=hosts, tasks_from=tasks_from, report=report))
    extra = ("-e", json.dumps(variables)) if variables else ()
    return run_scenario_playbook(playbook, *extra)


def failed_task(run: PlaybookRun) -> str:
    """The name of the task whose failure stopped a playbook: ansible-core's error names
    the task's origin and quotes its `- name:` line."""
    quoted = re.search(
        r"^Origin: .*\n(?:.*\n)*?\s*\d+\s+- name: (.+)\n\s*\^ column", run.output, re.M
    )
    return quoted.group(1).strip() if quoted else ""


def test_the_stanza_is_ok_and_holds_the_first_full_backup(repo: Host) -> None:
    stanza = info(repo)
    assert stanza["status"]["message"] == "ok", stanza["status"]
    assert stanza["cipher"] == "aes-256-cbc"
    backups = stanza["backup"]
    assert [backup["type"] for backup in backups] == ["full"], backups
    assert not backups[0]["error"]
    assert stanza["archive"][0]["min"], stanza["archive"]
    for kind in ("full", "diff"):
        timer = repo.service(f"djangostack-backup-{kind}.timer")
        assert timer.is_enabled and timer.is_running, kind


def test_a_segment_switched_on_the_primary_reaches_the_repository(repo: Host) -> None:
    sql("CREATE TABLE IF NOT EXISTS archive_probe (at timestamptz)")
    sql("INSERT INTO archive_probe VALUES (now())")
    # The segment just closed (pg_switch_wal returns the end of it): it holds the insert.
    segment = sql("SELECT pg_walfile_name(pg_switch_wal())")

    def archived() -> bool:
        found = repo.check_output(
            "find %s -name %s", f"{REPOSITORY}/archive/{STANZA}", f"{segment}-*"
        )
        return bool(found.strip())

    # archive_timeout is 60 s; a switched segment must not wait for it.
    assert wait_for(archived, 30), f"{segment} is not in the repository after 30 s"


def test_the_repository_holds_only_encrypted_files(db: Host, repo: Host) -> None:
    """Every file pgBackRest wrote is OpenSSL's salted format, not zstd's or PostgreSQL's;
    the passphrase is on the repository host alone, readable by postgres alone."""
    files = repo.check_output("find %s -type f", REPOSITORY).split()
    assert len(files) > 10, files
    heads = repo.check_output(
        "bash -c %s", f'for f in $(find {REPOSITORY} -type f); do head -c 8 "$f"; echo; done'
    ).splitlines()
    assert set(heads) == {"Salted__"}, sorted(set(heads))
    conf = repo.file("/etc/pgbackrest.conf")
    assert (conf.user, conf.mode) == ("postgres", 0o600)
    assert "repo1-cipher-pass=" in conf.content_string
    assert "cipher" not in db.file("/etc/pgbackrest.conf").content_string


def test_the_tls_server_admits_only_the_repository_host(db: Host, repo: Host) -> None:
    """pgBackRest's TLS server on the database node listens on the node's address alone,
    and serves the repository host's certificate, not a self-signed one with the same name,
    nor one of the same authority for a name its tls-server-auth does not admit."""
    address = db.check_output("hostname -I").split()[0]
    listeners = db.check_output("ss -Htln 'sport = :8432'").splitlines()
    assert [line.split()[3] for line in listeners] == [f"{address}:8432"]

    # The repository host's own certificate: the check goes through.
    assert pgbackrest(repo, "check").rc == 0

    # A self-signed certificate naming the repository host: the handshake fails.
    repo.check_output(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
        " -subj /CN=%s -keyout /tmp/self.key -out /tmp/self.crt",
        REPO,
    )
    # The authority's certificate for the database node itself, which its server does not admit.
    for suffix in ("crt", "key"):
        docker("cp", str(TLS / f"{DB}.{suffix}"), f"{REPO}:/tmp/other.{suffix}")
    repo.check_output("chown postgres /tmp/self.crt /tmp/self.key /tmp/other.crt /tmp/other.key")
    try:
        for name, refusal in (("self", "alert unknown ca"), ("other", "access denied")):
            refused = pgbackrest(
                repo,
                f"--pg1-host-cert-file=/tmp/{name}.crt",
                f"--pg1-host-key-file=/tmp/{name}.key",
                "check",
            )
            assert refused.rc != 0, name
            assert refusal in refused.stderr, (name, refused.stderr)
    finally:
        repo.check_output("rm -f /tmp/self.crt /tmp/self.key /tmp/other.crt /tmp/other.key")


def test_a_differential_backup_falls_back_to_the_primary(repo: Host, tmp_path: Path) -> None:
    """No standby streams: pgBackRest refuses backup-standby, and the backup script takes
    the backup from the primary instead."""
    run = entry_point(
        tmp_path,
        "backup",
        "backup",
        {"pgbackrest_backup_type": "diff"},
        report="pgbackrest_backup.stderr",
    )
    assert run.returncode == 0, run.output[-3000:]
    assert "no standby online, backing up from the primary" in run.output, run.output[-3000:]
    backups = info(repo)["backup"]
    assert [backup["type"] for backup in backups] == ["full", "diff"], backups
    assert backups[1]["prior"] == backups[0]["label"]
    log = repo.check_output("cat /var/log/pgbackrest/%s-backup.log", STANZA)
    last = log.rsplit("backup command begin", 2)
    assert "unable to find standby cluster" in last[1], last[1][-2000:]
    assert "--no-backup-standby" in last[2] and "completed successfully" in last[2], last[2][-2000:]


def test_a_restore_to_a_time_keeps_what_was_committed_before_it(
    db: Host, repo: Host, tmp_path: Path
) -> None:
    sql("DROP TABLE IF EXISTS restore_probe; CREATE TABLE restore_probe (n int)", "django")
    sql("INSERT INTO restore_probe VALUES (1)", "django")
    # T, on the database's clock, in UTC: after the first row's commit, before the second's.
    target = sql(
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'"
    )
    time.sleep(0.2)
    sql("INSERT INTO restore_probe VALUES (2)", "django")
    rows = "SELECT string_agg(n::text, ',' ORDER BY n) FROM restore_probe"
    assert sql(rows, "django") == "1,2"
    timeline = int(sql("SELECT timeline_id FROM pg_control_checkpoint()"))
    # The WAL that holds T (and the second row's commit after it) must be in the repository
    # before the primary stops: the check entry point switches WAL and waits for it.
    check = entry_point(tmp_path, "backup", "check")
    assert check.returncode == 0, check.output[-3000:]

    restore = {"pgbackrest_restore_type": "time", "pgbackrest_restore_target": target}
    report = "pgbackrest_restored_timeline | default('none')"
    # Over a running server: refused, before anything changes.
    refused = entry_point(tmp_path, "db_primary", "restore", restore, report=report)
    assert refused.returncode != 0, refused.output[-3000:]
    assert failed_task(refused) == "Refuse to restore over a running server", refused.output[-3000:]
    assert refused.recap[DB]["changed"] == 0
    assert sql(rows, "django") == "1,2"

    # Stopped and masked, as restore.yml fences every node first.
    fence = tmp_path / "fence.yml"
    fence.write_text(
        """
- name: Fence the primary, as restore.yml does
  hosts: db_primary
  gather_facts: false
  tasks:
    - name: Stop and mask PostgreSQL
      ansible.builtin.include_role:
        name: djangostack.deploy.postgresql
        tasks_from: fence
"""
    )
    fenced = run_scenario_playbook(fence)
    assert fenced.returncode == 0, fenced.output[-3000:]
    assert db.run("systemctl is-enabled %s", CLUSTER).stdout.strip() == "masked"

    run = entry_point(tmp_path, "db_primary", "restore", restore, report=report)
    assert run.returncode == 0, run.output[-4000:]
    assert sql(rows, "django") == "1"
    assert sql("SELECT pg_is_in_recovery()") == "f"
    new_timeline = int(sql("SELECT timeline_id FROM pg_control_checkpoint()"))
    assert new_timeline > timeline
    assert re.search(rf"^\s*msg: '?{new_timeline}'?$", run.output, re.MULTILINE), run.output[-2000:]
    assert db.service(CLUSTER).is_running
    assert db.run("systemctl is-enabled %s", CLUSTER).stdout.strip() != "masked"
    # Nothing waits for a restart, and the recovery settings pgBackRest wrote (in
    # postgresql.auto.conf) are gone.
    assert sql("SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL") == "0"
    assert sql("SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"
    leftovers = sql(
        "SELECT coalesce(string_agg(name, ','), '') FROM pg_file_settings"
        " WHERE sourcefile LIKE '%/postgresql.auto.conf'"
        " AND (name = 'restore_command' OR name LIKE 'recovery_target%')"
    )
    assert leftovers == ""
    assert sql("SHOW restore_command") == ""
    assert sql("SHOW recovery_target_time") == ""
    # The new primary writes, and archives on its new timeline.
    sql("INSERT INTO restore_probe VALUES (3)", "django")
    assert pgbackrest(repo, "check").rc == 0


VERIFY = """
- name: Count the primary's rows and mark a restore point
  hosts: db_primary
  gather_facts: false
  tasks:
    - name: Count and mark
      ansible.builtin.include_role:
        name: djangostack.deploy.pgbackrest
        tasks_from: restore_point

- name: Restore the newest backup to the restore point on the repository host, and compare
  hosts: backup
  gather_facts: false
  tasks:
    - name: Restore, replay, start, compare, clean up
      ansible.builtin.include_role:
        name: djangostack.deploy.pgbackrest
        tasks_from: verify
      vars:
        _primary: "{{ hostvars[groups['db_primary'][0]] }}"
        pgbackrest_verify_restore_point: "{{ _primary.pgbackrest_restore_point }}"
        # `tamper` (extra variables) changes the primary's counts the restore must match.
        pgbackrest_verify_counts: >-
          {{ _primary.pgbackrest_table_counts | combine(tamper | default({}), recursive=true) }}
"""


def verify(tmp_path: Path, *args: str) -> PlaybookRun:
    """verify_backup.yml's two entry points: restore_point on the primary, verify on the
    repository host."""
    playbook = tmp_path / "verify.yml"
    playbook.write_text(VERIFY)
    return run_scenario_playbook(playbook, *args)


def test_the_newest_backup_restores_with_the_primarys_row_counts(
    repo: Host, tmp_path: Path
) -> None:
    """The diff backup, taken on the old timeline, replays through the restore's new one
    to a restore point marked after it."""
    run = verify(tmp_path)
    assert run.returncode == 0, run.output[-4000:]
    # (The YAML callback doubles the apostrophe of "primary's".)
    assert "every count equal to the primary" in " ".join(run.output.split()), run.output[-3000:]
    assert not repo.file("/var/lib/postgresql/djangostack-verify").exists


def test_the_restore_check_fails_on_a_count_that_differs(repo: Host, tmp_path: Path) -> None:
    """The comparison is not vacuous: a primary's count off by one fails it, naming the table."""
    tamper = {"tamper": {"django": {"public.restore_probe": 99}}}
    run = verify(tmp_path, "-e", json.dumps(tamper))
    assert run.returncode != 0, run.output[-4000:]
    assert failed_task(run) == "Compare them with the live primary's", run.output[-3000:]
    text = " ".join(run.output.split())
    assert "differs from the primary" in text, run.output[-3000:]
    assert "django:public.restore_probe" in text, run.output[-3000:]
    assert not repo.file("/var/lib/postgresql/djangostack-verify").exists
