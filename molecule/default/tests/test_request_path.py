"""The request path, tier by tier: hitch and Varnish on varnish1 (HTTPS, 127.0.0.1:8443),
nginx on lb1, Apache and Django on web1 and web2, memcached on cache1 and cache2, pgpool on
each web host, the PostgreSQL primary db1 and its synchronous standby db2."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from contextlib import ExitStack

import pytest
from conftest import (
    FRONT_DOOR,
    address,
    app_health,
    current_release,
    fetch,
    lab_host,
    run_playbook,
)

from harness.drills import cache_node_loss
from harness.lab import PREFIX, lab_secret, on_host, psql


def test_the_front_door_serves_the_app_through_every_tier() -> None:
    """Varnish asks nginx on lb1, which asks Apache on web1 or web2, whose Django reads
    PostgreSQL through pgpool. A repeated anonymous page is a HIT."""
    url = f"{FRONT_DOOR}/standings/"
    status, headers, body = fetch(url)
    assert status == 200 and "Standings" in body
    assert headers["X-Served-By"] in ("web1", "web2")
    assert "Via" not in headers and headers["Server"] == "nginx"
    again = fetch(url)[1]
    assert (again["X-Cache"], again["X-Served-By"]) == ("HIT", headers["X-Served-By"])
    # A logged-in visitor (a session cookie) passes the cache.
    assert fetch(url, ("Cookie", "sessionid=nobody"))[1]["X-Cache"] == "PASS"


def test_uncached_pages_alternate_between_web1_and_web2() -> None:
    run = time.time()
    served = Counter(
        fetch(f"{FRONT_DOOR}/?alternate={run}-{n}")[1]["X-Served-By"] for n in range(20)
    )
    # nginx's round robin; Varnish's health probes take turns too, so not strictly one
    # then the other, but never far from half each.
    assert set(served) == {"web1", "web2"} and min(served.values()) >= 7, served


def test_static_files_come_from_nginx_on_lb1_only() -> None:
    home = fetch(f"{FRONT_DOOR}/")[2]
    (css,) = re.findall(r'href="(/static/league/site\.[0-9a-f]{12}\.css)"', home)
    status, headers, _ = fetch(f"{FRONT_DOOR}{css}", ("Accept-Encoding", "gzip"))
    assert status == 200
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "X-Served-By" not in headers  # nginx's own file, no app server involved
    assert lab_host("lb1").file(f"/var/www/djangostack{css}").is_file
    # Shipped to the lb hosts only (a delegated task once wrote them to web1 instead).
    for web in ("web1", "web2"):
        assert not lab_host(web).file("/var/www/djangostack").exists


def test_web1_serves_the_home_page_from_postgresql_on_8082() -> None:
    games = psql(PREFIX + "db1", "SELECT count(*) FROM league_game")
    assert int(games) >= 3800  # ten seasons, plus whatever the write API recorded
    status, headers, body = fetch("http://127.0.0.1:8082/")
    assert (status, headers["X-Served-By"]) == (200, "web1")
    assert f"{games} games." in body


@pytest.mark.parametrize("web", ["web1", "web2"])
def test_every_app_server_is_healthy_on_the_current_release(web: str) -> None:
    health = app_health(web)
    assert (health["status"], health["host"]) == ("ok", web)
    assert health["release"] == current_release(web)


def test_a_write_through_the_front_door_reaches_the_primary_and_the_standby() -> None:
    """POST passes Varnish; the id comes back only after COMMIT, which waited for db2."""
    year = psql(PREFIX + "db1", "SELECT max(year) FROM league_season")
    teams = psql(PREFIX + "db1", "SELECT abbreviation FROM league_team ORDER BY id LIMIT 2")
    home, away = teams.split()
    body = {"season": int(year), "home_team": home, "away_team": away}
    body |= {"home_score": 17, "away_score": 14}
    status, headers, answer = fetch(
        f"{FRONT_DOOR}/api/results/",
        ("Authorization", f"Bearer {lab_secret('django_api_token')}"),
        ("Content-Type", "application/json"),
        data=json.dumps(body).encode(),
    )
    assert (status, headers["X-Cache"]) == (201, "PASS"), answer
    game = json.loads(answer)["id"]
    assert psql(PREFIX + "db1", f"SELECT home_score FROM league_game WHERE id = {game}") == "17"
    # Synchronous replication: the row was on db2 before the API answered (replayed at
    # once in practice; a few tries cover replay being a step behind the flush).
    for _ in range(20):
        if psql(PREFIX + "db2", f"SELECT home_score FROM league_game WHERE id = {game}") == "17":
            break
        time.sleep(0.1)
    assert psql(PREFIX + "db2", f"SELECT home_score FROM league_game WHERE id = {game}") == "17"
    assert psql(PREFIX + "db2", "SELECT pg_is_in_recovery()") == "t"


CACHES = ("cache1", "cache2")


def test_standings_come_from_memcached() -> None:
    """The standings of a season are computed once and then read from memcached: cache
    misses in Varnish (unique query strings) still hit memcached. Counted from memcached's
    own log of each lookup, on the standings keys only (not the health probes' keys)."""
    run = uuid.uuid4().hex
    with ExitStack() as logs:
        watched = [
            logs.enter_context(cache_node_loss.FetchLog(h, 30)) for h in ("cache1", "cache2")
        ]
        time.sleep(1)  # both watches attached
        started = time.monotonic()
        for n in range(10):
            assert fetch(f"{FRONT_DOOR}/standings/?memcached={run}-{n}")[0] == 200
        time.sleep(1)  # the last lines read
        ended = time.monotonic()
    found = cache_node_loss.combined(*(log.lookups(started, ended) for log in watched))
    # Nine of the ten at least (the first may compute them).
    assert found.hits >= 9, found


@pytest.mark.parametrize("web", ["web1", "web2"])
def test_app_servers_write_through_their_local_pgpool(web: str) -> None:
    """The app's path to the database: its own pgpool on loopback, scram, to the primary."""
    listeners = lab_host(web).check_output("ss -Htln | awk '{print $4}'").split()
    # 127.0.0.11 is Docker's embedded DNS resolver, not ours. Apache: the app network only.
    # pgpool-II 4.3's watchdog binds every address, with no setting to narrow it: its
    # messages carry pgpool_watchdog_authkey, and only the members may reach it through the
    # EC2 security groups (the lab's host firewall is issue 24's).
    assert sorted(a for a in listeners if not a.startswith("127.0.0.11:")) == [
        "0.0.0.0:9000",
        "127.0.0.1:5432",
        "127.0.0.1:9898",
        f"{address(web, 'app')}:80",
    ]
    # As the app connects: its own password, from pgpool's pool_passwd.
    password = on_host(web, "sed", "-n", "s/^django:TEXT//p", "/etc/pgpool2/pool_passwd").strip()
    write = psql(
        PREFIX + web,
        "CREATE TEMP TABLE lab_probe AS SELECT pg_current_xact_id() AS xid; "
        "SELECT host(inet_server_addr()) FROM lab_probe",
        "host=127.0.0.1 user=django dbname=django",
        user=None,
        env={"PGPASSWORD": password},
    )
    # psql prints the temporary table's command tag (SELECT 1), then the server's address.
    assert write.split()[-1] == address("db1", "data")


def test_db1_streams_to_db2_synchronously() -> None:
    replication = psql(
        PREFIX + "db1",
        "SELECT application_name || ' ' || state || ' ' || sync_state FROM pg_stat_replication",
    )
    # quorum: db2 is the one standby of "ANY 1 (db2)", so every commit waits for it.
    assert replication.splitlines() == ["db2 streaming quorum"]


def test_primary_is_sized_for_both_pgpool_hosts() -> None:
    # web1 and web2 run pgpool: 2 x 32 children x 4 pools + 10 reserve + 3 superuser slots.
    assert psql(PREFIX + "db1", "SHOW max_connections", "postgres") == str(2 * 32 * 4 + 10 + 3)


def test_status_playbook_tables_the_live_stack() -> None:
    run = run_playbook("playbooks/status.yml")
    assert run.returncode == 0 and run.changed_hosts() == {}
    table = run.output.split("TASK [Show the live stack]")[1]
    assert re.search(r"HOST +GROUPS +STATE +STATUS", table), table
    assert re.search(
        r"db1 +db_primary +up +postgres: primary, timeline \d+, standbys: db2 streaming quorum",
        table,
    ), table
    assert re.search(
        r"db2 +db_standby +up +postgres: standby of 172\.30\.30\.51, receiver streaming", table
    ), table
    release = current_release("web1")
    assert table.count(f"app: release {release}") == 2, table  # web1 and web2
    # "waiting": up, but no pooled connection to it yet (pgpool's word for it).
    pgpool = r"pgpool: 172\.30\.30\.51 (up|waiting) primary, 172\.30\.30\.52 (up|waiting) standby"
    assert len(re.findall(pgpool, table)) == 3, table  # web1, web2 and the witness
    watchdog = r"watchdog: quorum exist, 3 of 3 members, leader \w+, this one (leader|standby)"
    assert len(re.findall(watchdog, table)) == 3, table
    assert re.search(r"witness1 +pgpool_witness +up +pgpool: ", table), table
    for cache in ("cache1", "cache2"):
        assert re.search(rf"{cache} +cache +up +memcached: hit rate \d+\.\d%", table), table
    assert re.search(r"varnish1 +varnish +up +varnish: hit rate \d+\.\d%", table), table
    assert re.search(r"lb1 +lb +up", table), table
