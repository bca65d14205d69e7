"""The lab and site.yml end to end: what `make up` builds, checked from the outside.

Uses the lab of inventory/lab (creating it when absent, keeping it when `make up` already
made it), so these tests are also the proof that `make up` converges and then stays put.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
import web_server_loss
import yaml
from conftest import REPO, PlaybookRun, run_playbook

INVENTORY = REPO / "inventory" / "lab"
HOSTS = ["varnish1", "lb1", "web1", "web2", "cache1", "cache2", "db1", "db2"]
PREFIX = "djangostack-"


def docker_exec(host: str, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "exec", PREFIX + host, *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def host_vars(host: str) -> dict:
    return yaml.safe_load((INVENTORY / "host_vars" / f"{host}.yml").read_text())


@pytest.fixture(scope="module")
def lab() -> PlaybookRun:
    run = run_playbook("playbooks/lab.yml")
    assert run.returncode == 0
    return run


@pytest.fixture(scope="module")
def site(lab: PlaybookRun) -> PlaybookRun:
    run = run_playbook("playbooks/site.yml")
    assert run.returncode == 0
    return run


def test_lab_playbook_is_idempotent(lab: PlaybookRun) -> None:
    again = run_playbook("playbooks/lab.yml")
    assert again.returncode == 0
    assert again.changed_hosts() == {}
    assert set(again.recap) == {"localhost"}


@pytest.mark.parametrize("host", HOSTS)
def test_every_host_runs_systemd(lab: PlaybookRun, host: str) -> None:
    state = docker_exec(host, "systemctl", "is-system-running")
    assert state.stdout.strip() == "running", state.stdout + state.stderr


def test_ports_published_on_loopback_only(lab: PlaybookRun) -> None:
    published = {}
    for host in HOSTS:
        ports = subprocess.run(
            ["docker", "port", PREFIX + host], capture_output=True, text=True, check=True
        ).stdout.split()
        published[host] = sorted(p for p in ports if ":" in p)
    assert published == {
        "varnish1": ["127.0.0.1:8080"],
        "lb1": ["127.0.0.1:8081"],
        "web1": ["127.0.0.1:8082"],
        **{host: [] for host in ["web2", "cache1", "cache2", "db1", "db2"]},
    }


@pytest.mark.parametrize(
    ("source", "target", "reachable"),
    [
        ("varnish1", "lb1", True),  # edge
        ("lb1", "web1", True),  # app
        ("web1", "db1", True),  # data
        ("varnish1", "db1", False),  # the edge never reaches the data tier
        ("varnish1", "web1", False),
        ("cache1", "db1", False),
    ],
)
def test_networks_segment_the_tiers(
    lab: PlaybookRun, source: str, target: str, reachable: bool
) -> None:
    # One ICMP-free probe: a TCP connect to port 9 (discard) is refused (reachable) or times
    # out (dropped by Docker's isolation between networks). Bounded at 3 s.
    addresses = host_vars(target)["lab_host_networks"].values()
    outcomes = []
    for address in addresses:
        probe = docker_exec(source, "timeout", "3", "bash", "-c", f"exec 3<>/dev/tcp/{address}/9")
        outcomes.append("Connection refused" in probe.stderr)
    assert any(outcomes) == reachable, (source, target, list(addresses))


def test_site_converges_then_changes_nothing(site: PlaybookRun) -> None:
    again = run_playbook("playbooks/site.yml")
    assert again.returncode == 0
    assert again.changed_hosts() == {}


def test_memcached_answers_every_app_server(site: PlaybookRun) -> None:
    for web in ("web1", "web2"):
        for cache in ("cache1", "cache2"):
            (address,) = host_vars(cache)["lab_host_networks"].values()
            session = docker_exec(
                web,
                "bash",
                "-c",
                f"exec 3<>/dev/tcp/{address}/11211 && "
                f"printf 'set lab:{web} 0 30 2\\r\\nok\\r\\nget lab:{web}\\r\\nquit\\r\\n' >&3 "
                "&& timeout 5 cat <&3",
            )
            assert session.stdout.splitlines() == ["STORED", f"VALUE lab:{web} 0 2", "ok", "END"]


def test_smoke_playbook_passes(site: PlaybookRun) -> None:
    assert run_playbook("playbooks/smoke.yml").returncode == 0


def test_primary_listens_on_the_data_network_only(site: PlaybookRun) -> None:
    (address,) = host_vars("db1")["lab_host_networks"].values()
    listeners = docker_exec("db1", "ss", "-Htln", "sport = :5432").stdout.splitlines()
    assert [line.split()[3] for line in listeners] == [f"{address}:5432"]


def test_primary_is_sized_for_both_pgpool_hosts(site: PlaybookRun) -> None:
    shown = docker_exec(
        "db1", "runuser", "-u", "postgres", "--", "psql", "-XAtc", "SHOW max_connections"
    )
    # web1 and web2 run pgpool: 2 x 32 children x 4 pools + 10 reserve + 3 superuser slots.
    assert shown.stdout.strip() == str(2 * 32 * 4 + 10 + 3)


def test_lab_secrets_stay_on_the_controller(site: PlaybookRun) -> None:
    secrets = REPO / ".secrets" / "lab"
    assert (secrets.stat().st_mode & 0o777) == 0o700
    for secret in secrets.iterdir():
        assert (secret.stat().st_mode & 0o777) == 0o600, secret
    tracked = subprocess.run(
        ["git", "ls-files", ".secrets"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert tracked.stdout == ""


def test_db1_streams_to_db2_synchronously(site: PlaybookRun) -> None:
    replication = docker_exec(
        "db1",
        "runuser",
        "-u",
        "postgres",
        "--",
        "psql",
        "-XAtc",
        "SELECT application_name || ' ' || state || ' ' || sync_state FROM pg_stat_replication",
    )
    # quorum: db2 is the one standby of "ANY 1 (db2)", so every commit waits for it.
    assert replication.stdout.split("\n")[0] == "db2 streaming quorum"
    recovery = docker_exec(
        "db2", "runuser", "-u", "postgres", "--", "psql", "-XAtc", "SELECT pg_is_in_recovery()"
    )
    assert recovery.stdout.strip() == "t"


@pytest.mark.parametrize("web", ["web1", "web2"])
def test_app_servers_write_through_their_local_pgpool(site: PlaybookRun, web: str) -> None:
    """The app's path to the database: its own pgpool on loopback, scram, to the primary."""
    listeners = [line.split()[3] for line in docker_exec(web, "ss", "-Htln").stdout.splitlines()]
    # 127.0.0.11 is Docker's embedded DNS resolver, not ours. Apache: the app network only.
    (app_address, _) = host_vars(web)["lab_host_networks"].values()
    assert sorted(a for a in listeners if not a.startswith("127.0.0.11:")) == [
        "127.0.0.1:5432",
        "127.0.0.1:9898",
        f"{app_address}:80",
    ]
    write = docker_exec(
        web,
        "bash",
        "-c",
        "PGPASSWORD=\"$(sed -n 's/^django:TEXT//p' /etc/pgpool2/pool_passwd)\" "
        "psql -XAt -h 127.0.0.1 -U django -d django -c "
        "'CREATE TEMP TABLE lab_probe AS SELECT pg_current_xact_id() AS xid; "
        "SELECT host(inet_server_addr()) FROM lab_probe'",
    )
    (db1,) = host_vars("db1")["lab_host_networks"].values()
    # psql prints the temporary table's command tag (SELECT 1), then the server's address.
    assert write.stdout.split()[-1] == db1


def fetch(url: str, *headers: tuple[str, str]) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=dict(headers))
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers), response.read().decode()


def app_health(web: str) -> dict:
    """/healthz/ of one app server, asked from lb1 as the load balancer will."""
    (app_address, _) = host_vars(web)["lab_host_networks"].values()
    answer = docker_exec(
        "lb1", "python3", "-c",
        f"import urllib.request; print(urllib.request.urlopen('http://{app_address}/healthz/').read().decode())",
    )  # fmt: skip
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)


def current_release(web: str) -> str:
    return Path(docker_exec(web, "readlink", "/srv/djangostack/current").stdout.strip()).name


def test_web1_serves_the_home_page_from_postgresql_on_8082(site: PlaybookRun) -> None:
    games = docker_exec(
        "db1", "runuser", "-u", "postgres", "--", "psql", "-XAtd", "django", "-c",
        "SELECT count(*) FROM league_game",
    ).stdout.strip()  # fmt: skip
    assert int(games) >= 3800  # ten seasons, plus whatever the write API recorded
    status, headers, body = fetch("http://127.0.0.1:8082/")
    assert (status, headers["X-Served-By"]) == (200, "web1")
    assert f"{games} games." in body


@pytest.mark.parametrize("web", ["web1", "web2"])
def test_every_app_server_is_healthy_on_the_current_release(site: PlaybookRun, web: str) -> None:
    health = app_health(web)
    assert (health["status"], health["host"]) == ("ok", web)
    assert health["release"] == current_release(web)


def test_static_files_are_served_from_lb1(site: PlaybookRun) -> None:
    listing = docker_exec("lb1", "ls", "/var/www/djangostack/static/admin/css/base.css")
    assert listing.returncode == 0, listing.stderr
    # Shipped to the lb hosts only (a delegated task once wrote them to web1 instead).
    for web in ("web1", "web2"):
        assert docker_exec(web, "test", "-e", "/var/www/djangostack").returncode == 1


def test_deploy_and_rollback_on_the_lab(site: PlaybookRun, tmp_path: Path) -> None:
    """deploy.yml rolls a new release over web1 and web2; a rollback brings the old one back."""
    first = {web: current_release(web) for web in ("web1", "web2")}
    assert len(set(first.values())) == 1
    source = tmp_path / "sample_django"
    shutil.copytree(REPO / "sample_django", source, ignore=shutil.ignore_patterns("__pycache__"))
    base = source / "league/templates/league/base.html"
    base.write_text(base.read_text() + "\n<!-- lab deploy test -->\n")

    # The front door has the page cached before the deploy...
    fetch("http://127.0.0.1:8080/")
    assert fetch("http://127.0.0.1:8080/")[1]["X-Cache"] == "HIT"

    deploy = run_playbook("playbooks/deploy.yml", "-e", f"django_app_source={source}")
    assert deploy.returncode == 0
    # The migrations are checked once per deploy, on one host, not on each.
    check = deploy.output.split("Look for unapplied migrations")[1].split("TASK [")[0]
    assert check.count("ok: [") == 1, check
    second = {web: current_release(web) for web in ("web1", "web2")}
    assert len(set(second.values())) == 1 and second != first
    assert all(app_health(web)["release"] == second[web] for web in second)
    assert "lab deploy test" in fetch("http://127.0.0.1:8082/")[2]
    # ...and serves the new release's page at once: deploy.yml banned the old one.
    _, headers, body = fetch("http://127.0.0.1:8080/")
    assert "lab deploy test" in body and headers["X-Release"] == second["web1"]

    rollback = run_playbook("playbooks/deploy.yml", "-e", "django_app_rollback=true")
    assert rollback.returncode == 0
    assert {web: current_release(web) for web in ("web1", "web2")} == first
    assert "lab deploy test" not in fetch("http://127.0.0.1:8082/")[2]
    assert "lab deploy test" not in fetch("http://127.0.0.1:8080/")[2]


def test_the_front_door_serves_the_app_through_every_tier(site: PlaybookRun) -> None:
    """127.0.0.1:8080 is Varnish, which asks nginx on lb1, which asks Apache on web1 or
    web2, whose Django reads PostgreSQL through pgpool. A repeated anonymous page is a HIT."""
    url = "http://127.0.0.1:8080/standings/"
    status, headers, body = fetch(url)
    assert status == 200 and "Standings" in body
    assert headers["X-Served-By"] in ("web1", "web2")
    assert "Via" not in headers and headers["Server"] == "nginx"
    again = fetch(url)[1]
    assert (again["X-Cache"], again["X-Served-By"]) == ("HIT", headers["X-Served-By"])
    # A logged-in visitor (a session cookie) passes the cache.
    assert fetch(url, ("Cookie", "sessionid=nobody"))[1]["X-Cache"] == "PASS"


def test_uncached_pages_alternate_between_web1_and_web2(site: PlaybookRun) -> None:
    run = time.time()
    misses = (f"http://127.0.0.1:8080/?alternate={run}-{n}" for n in range(20))
    served = Counter(fetch(url)[1]["X-Served-By"] for url in misses)
    # nginx's round robin; Varnish's health probes take turns too, so not strictly
    # one then the other, but never far from half each.
    assert set(served) == {"web1", "web2"} and min(served.values()) >= 7, served


def test_static_files_come_from_lb1_through_the_front_door(site: PlaybookRun) -> None:
    home = fetch("http://127.0.0.1:8080/")[2]
    (css,) = re.findall(r'href="(/static/league/site\.[0-9a-f]{12}\.css)"', home)
    status, headers, _ = fetch(f"http://127.0.0.1:8080{css}", ("Accept-Encoding", "gzip"))
    assert status == 200
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "X-Served-By" not in headers  # nginx's own file, no app server involved


def test_stopping_web1_under_load_costs_no_request(site: PlaybookRun) -> None:
    """The drill's short version: every request a cache miss, so all of them reach the app
    servers; web1's container stopped 3 s in."""
    figures = web_server_loss.run_drill(how="stop", host="web1", requests=1200, seconds=45)
    assert figures.failed == 0, figures
    assert figures.requests == 1200, figures
    assert set(figures.served_by) == {"web1", "web2"}, figures
