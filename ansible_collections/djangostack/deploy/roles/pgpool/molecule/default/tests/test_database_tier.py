"""pgpool in front of a primary and a streaming standby, converged with the least pgpool
needs (converge.yml): the database roles, then the pgpool role.

The tests run in file order: writes through pgpool, a primary that pgpool detached given
back by applying the role again, then the primary lost under committed writes: pgpool's
own failover command (a file of this role) promotes the standby, and no acknowledged
write is lost. What the playbooks do around a failover (site.yml keeping the new primary,
failover.yml, rejoin.yml, switchover.yml) is tested on the whole stack, through the front
door: the stack scenario's failover cycles (molecule/default/tests/test_drills.py).
"""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest
import testinfra
from testinfra.host import Host

from harness import CommandFailed
from harness.ansible_cli import run_scenario_playbook
from harness.lab import psql, wait_for

# The app's password, as pgpool holds it: read, or in a shell script.
READ_APP_PASSWORD = "sed -n 's/^django:TEXT//p' /etc/pgpool2/pool_passwd"
APP_PASSWORD = f"$({READ_APP_PASSWORD})"
# Where pgpool sends writes: the comment keeps this read off the load-balanced standbys.
PRIMARY_ADDRESS = "/*NO LOAD BALANCE*/ SELECT host(inet_server_addr())"


def host(name: str) -> Host:
    return testinfra.get_host(f"docker://pgpool-{name}")


@pytest.fixture(scope="module")
def app() -> Host:
    return host("app")


def sql(node: Host, statement: str, database: str = "django") -> str:
    """One statement as the postgres superuser over a database node's local socket."""
    return psql(node.backend.name, statement, database)


def role_of(name: str) -> str:
    """'f' for a primary, 't' for a standby, '' while PostgreSQL does not answer."""
    return psql(f"pgpool-{name}", "SELECT pg_is_in_recovery()", "postgres", check=False)


def through_pgpool(app: Host, statement: str, user: str = "django", password: str = "") -> str:
    """One statement through the app host's pgpool, as the application connects."""
    secret = password or app.check_output(READ_APP_PASSWORD)
    conninfo = f"host=127.0.0.1 user={user} dbname=django"
    return psql(app.backend.name, statement, conninfo, user=None, env={"PGPASSWORD": secret})


def node_states(app: Host) -> list[list[str]]:
    """pgpool's view, per node: address, status, role, replication state."""
    out = app.check_output("runuser -u postgres -- pcp_node_info -h 127.0.0.1 -U pcpadmin -w -a")
    return [[f[0], f[4], f[6], f[9]] for f in (line.split() for line in out.splitlines())]


def address(name: str) -> str:
    return host(name).check_output("hostname -I").split()[0]


def streaming_standbys(primary: str) -> list[str]:
    return sql(
        host(primary), "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'"
    ).split()


def test_pgpool_listens_on_loopback_only(app: Host) -> None:
    listeners = [line.split()[3] for line in app.check_output("ss -Htln").splitlines()]
    # 127.0.0.11 is Docker's embedded DNS resolver, not ours.
    assert sorted(a for a in listeners if not a.startswith("127.0.0.11:")) == [
        "127.0.0.1:5432",
        "127.0.0.1:9898",
    ]


def test_pgpool_secrets_are_private(app: Host) -> None:
    for path in ("/etc/pgpool2/pool_passwd", "/var/lib/postgresql/.pcppass"):
        secret = app.file(path)
        assert (secret.user, secret.mode) == ("postgres", 0o600), path
    # PCP keeps only the md5 of its password.
    user, hashed = app.file("/etc/pgpool2/pcp.conf").content_string.splitlines()[-1].split(":")
    assert user == "pcpadmin" and len(hashed) == 32


def test_pgpool_sees_the_primary_and_a_streaming_standby(app: Host) -> None:
    """pgpool learns the standby's replication state at its next streaming-replication
    check (pgpool_sr_check_period): a test run straight after the converge can come
    before it (seen once: the standby 'none'), so wait a few periods."""
    expected = [
        [address("db1"), "up", "primary", "none"],
        [address("db2"), "up", "standby", "streaming"],
    ]
    assert wait_for(lambda: node_states(app) == expected, 30), node_states(app)


def test_health_checks_are_on(app: Host) -> None:
    shown = through_pgpool(app, "PGPOOL SHOW health_check_period").splitlines()
    # The global setting, then one line per backend: health checks every second on each.
    assert [line.split("|")[:2] for line in shown] == [
        ["health_check_period", "1"],
        ["health_check_period0", "1"],
        ["health_check_period1", "1"],
    ]


def test_a_write_through_pgpool_reaches_the_standby(app: Host) -> None:
    marker = uuid.uuid4().hex
    through_pgpool(app, "CREATE TABLE IF NOT EXISTS pgpool_probe (marker text)")
    through_pgpool(app, f"INSERT INTO pgpool_probe VALUES ('{marker}')")
    assert wait_for(
        lambda: (
            sql(host("db2"), f"SELECT count(*) FROM pgpool_probe WHERE marker = '{marker}'") == "1"
        ),
        10,
    )


def test_reads_on_the_standby_never_miss_a_committed_write(app: Host) -> None:
    """Load balancing is on in this scenario: each read below is a new connection that
    pgpool may send to the standby, right after a commit on another connection. With reads
    on standbys the database roles commit with remote_apply, so none may miss its row."""
    assert sql(host("db1"), "SHOW synchronous_commit", "postgres") == "remote_apply"
    through_pgpool(app, "CREATE TABLE IF NOT EXISTS read_after_write (id int)")
    script = (
        f'export PGPASSWORD="{APP_PASSWORD}"; q="psql -XAt -h 127.0.0.1 -U django -d django -c"; '
        'for i in $(seq 1 60); do $q "INSERT INTO read_after_write VALUES ($i)" >/dev/null; '
        '[ "$($q "SELECT count(*) FROM read_after_write WHERE id = $i")" = 1 ] '
        '|| echo "missed $i"; '
        "done"
    )
    assert app.check_output(script) == ""
    # And the standby did take reads (select_cnt of node 1 in SHOW pool_nodes).
    nodes = [line.split("|") for line in through_pgpool(app, "SHOW pool_nodes").splitlines()]
    assert int(nodes[1][8]) > 0, nodes


def test_pool_hba_lets_in_only_the_application_role(app: Host) -> None:
    with pytest.raises(CommandFailed) as superuser:
        through_pgpool(app, "SELECT 1", user="postgres", password="x")
    error = superuser.value.stderr
    assert "pool_hba" in error or "authentication failed" in error
    with pytest.raises(CommandFailed) as wrong:
        through_pgpool(app, "SELECT 1", password="wrong")
    assert "authentication failed" in wrong.value.stderr


def test_applying_the_role_again_gives_pgpool_back_a_running_primary_it_detached(
    app: Host,
) -> None:
    """pgpool detached the primary while it kept running (failed health checks during a
    password change, say; the failover command refuses to make a second primary). pgpool
    then has no primary; applying the pgpool role again attaches it."""
    app.check_output("runuser -u postgres -- pcp_detach_node -h 127.0.0.1 -U pcpadmin -w -n 0")
    assert wait_for(lambda: node_states(app)[0][1] == "down", 10)
    run = run_scenario_playbook("converge.yml", "--tags", "pgpool")
    assert run.returncode == 0, run.output
    assert node_states(app)[0][1:3] in (["up", "primary"], ["waiting", "primary"])
    assert through_pgpool(app, PRIMARY_ADDRESS).strip() == address("db1")


def test_pgpool_promotes_the_standby_when_the_primary_dies_and_loses_no_write(
    app: Host,
) -> None:
    """Rows committed through pgpool (synchronous replication: each commit waited for the
    standby), then the primary's container killed: pgpool's health checks find it gone,
    its failover command promotes db2, and writes through pgpool work again with every
    committed row on the new primary."""
    through_pgpool(app, "CREATE TABLE IF NOT EXISTS before_the_loss (id int)")
    committed = 20
    script = (
        f'export PGPASSWORD="{APP_PASSWORD}"; '
        f"for i in $(seq 1 {committed}); do "
        "psql -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -U django -d django "
        '-c "INSERT INTO before_the_loss VALUES ($i)" || exit 1; done'
    )
    app.check_output(script)
    subprocess.run(["docker", "kill", "pgpool-db1"], check=True, capture_output=True)
    killed_at = time.monotonic()
    assert wait_for(lambda: role_of("db2") == "f", 60), "pgpool did not promote db2"

    def writes_again() -> bool:
        try:
            through_pgpool(app, "INSERT INTO before_the_loss VALUES (0)")
        except CommandFailed:
            return False
        return True

    assert wait_for(writes_again, 60), "no write through pgpool after the promotion"
    print(f"writes through pgpool again {time.monotonic() - killed_at:.1f} s after the kill")
    assert through_pgpool(app, PRIMARY_ADDRESS).strip() == address("db2")
    kept = sql(host("db2"), "SELECT count(DISTINCT id) FROM before_the_loss WHERE id > 0")
    assert int(kept) == committed
