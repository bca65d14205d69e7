"""Behaviour of apache_modwsgi: a WSGI application served from mod_wsgi daemons, over the
network, with only the needed modules, a graceful reload, the reload entry point (the
daemons replaced, no request lost), and a bad change rolled back."""

from __future__ import annotations

import threading

import pytest
import testinfra
from testinfra.host import Host

from harness.ansible_cli import run_scenario_playbook


@pytest.fixture(scope="module")
def web() -> Host:
    return testinfra.get_host("docker://wsgi-web")


@pytest.fixture(scope="module")
def client() -> Host:
    return testinfra.get_host("docker://wsgi-client")


# One status per line (or the error's name), then "done"; a new connection only when the
# server closes one (MaxKeepAliveRequests) or one fails.
KEEP_ALIVE_BURST = """
import http.client, sys, time
conn = None
for n in range(600):
    try:
        conn = conn or http.client.HTTPConnection(sys.argv[1], timeout=30)
        conn.request("GET", f"/?n={n}")
        response = conn.getresponse()
        response.read()
        print(response.status, flush=True)
        if response.will_close:
            conn = None
    except (OSError, http.client.HTTPException) as error:
        print(type(error).__name__, flush=True)
        conn = None
    time.sleep(0.02)
print("done", flush=True)
"""


def daemon_pids(web: Host) -> set[str]:
    """The mod_wsgi daemon processes, once they run (they restart after a reload)."""
    return set(
        web.check_output(
            "for i in $(seq 40); do pgrep -f '^\\(wsgi:app\\)' && break; sleep 0.25; done"
        ).split()
    )


def address(web: Host) -> str:
    return web.check_output("hostname -I").split()[0]


def status(client: Host, url: str, *curl: str) -> str:
    """The HTTP status code of one request from the client."""
    return client.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' {' '.join(curl)} '{url}'")


def test_the_application_answers_over_the_network(web: Host, client: Host) -> None:
    out = client.check_output(f"curl -si http://{address(web)}/")
    assert out.startswith("HTTP/1.1 200 OK")
    assert "hello from " in out
    # ServerTokens Prod: the product name only, no version, no OS.
    assert "\r\nServer: Apache\r\n" in out


def test_apache_listens_on_the_app_address_only(web: Host) -> None:
    listeners = [line.split()[3] for line in web.check_output("ss -Htln").splitlines()]
    assert [a for a in listeners if not a.startswith("127.0.0.11:")] == [f"{address(web)}:80"]


def test_requests_run_in_the_daemon_processes(web: Host, client: Host) -> None:
    """display-name=%{GROUP}: the daemons show as (wsgi:app), three of them as configured;
    the pid that answers is one of theirs, not an Apache worker's."""
    daemons = web.check_output("pgrep -f '^\\(wsgi:app\\)'").split()
    assert len(daemons) == 3
    pids = {client.check_output(f"curl -s http://{address(web)}/").split()[-1] for _n in range(20)}
    assert pids <= set(daemons)


def mpm_children(web: Host) -> list[str]:
    """The MPM's child processes (the mod_wsgi daemons are the parent's children too)."""
    parent = web.check_output("cat /var/run/apache2/apache2.pid")
    children = web.check_output("ps --ppid %s -o args=", parent).splitlines()
    return [child for child in children if child.startswith("/usr/sbin/apache2")]


def test_apache_keeps_its_whole_pool_of_children(web: Host) -> None:
    # MaxRequestWorkers 150 at 25 threads each: six children, all of them from the start
    # and none reaped on an idle server, since a reaped child closes keep-alive
    # connections that nginx may be sending a request on.
    assert len(mpm_children(web)) == 6


def test_only_the_needed_modules_are_loaded(web: Host) -> None:
    modules = web.check_output("apachectl -M 2>/dev/null")
    for needed in ("mpm_event_module", "wsgi_module", "reqtimeout_module", "authz_core_module"):
        assert needed in modules
    for unwanted in ("autoindex_module", "status_module", "negotiation_module", "alias_module"):
        assert unwanted not in modules


def test_no_directory_listing_or_files(web: Host, client: Host) -> None:
    """Every URL is the application's: nothing on disk is served, listed or traced."""
    trace = client.check_output(
        f"curl -s -o /dev/null -w '%{{http_code}}' -X TRACE http://{address(web)}/"
    )
    assert trace == "405"


def test_a_graceful_reload_lets_requests_in_flight_finish(web: Host, client: Host) -> None:
    result: dict[str, str] = {}

    def slow_request() -> None:
        result["out"] = status(client, f"http://{address(web)}/?sleep=3")

    request = threading.Thread(target=slow_request)
    request.start()
    web.check_output("sleep 1 && systemctl reload apache2")
    request.join(timeout=30)
    assert result.get("out") == "200"


def test_the_reload_entry_point_replaces_the_daemons_under_keep_alive_load(
    web: Host, client: Host
) -> None:
    """What a release switch does: the daemons restart, Apache does not. A keep-alive
    client (as nginx keeps its upstream connections) gets 200 for every request, the
    slow one in flight included, and new daemon processes serve afterwards."""
    before = daemon_pids(web)
    apache = web.check_output("cat /var/run/apache2/apache2.pid")
    result: dict[str, str] = {}

    def slow_request() -> None:
        result["slow"] = status(client, f"http://{address(web)}/?sleep=8")

    # 600 requests on keep-alive connections, 20 ms apart (over 12 s), in the background,
    # and one slow request: both span the reload (Ansible takes seconds to start).
    burst = client.run("nohup python3 -c %s %s > /tmp/burst 2>&1 &", KEEP_ALIVE_BURST, address(web))
    assert burst.rc == 0
    slow = threading.Thread(target=slow_request)
    slow.start()
    reload = run_scenario_playbook("reload.yml")
    assert reload.returncode == 0, reload.output
    slow.join(timeout=30)
    assert result.get("slow") == "200"
    client.run("for i in $(seq 60); do grep -q done /tmp/burst && break; sleep 0.5; done")
    codes = client.check_output("cat /tmp/burst").split()
    assert codes[-1] == "done" and len(codes) == 601 and set(codes[:-1]) == {"200"}, codes
    after = daemon_pids(web)
    assert after and not after & before
    assert web.check_output("cat /var/run/apache2/apache2.pid") == apache


def test_a_change_that_fails_configtest_is_rolled_back(web: Host, client: Host) -> None:
    """ServerName takes one word: the role must refuse this, put the old file back, and
    leave the running Apache serving."""
    site = "/etc/apache2/sites-available/djangostack-wsgi.conf"
    before = web.file(site).content_string
    run = run_scenario_playbook("converge.yml", "-e", "apache_modwsgi_server_name='two words'")
    assert run.returncode != 0
    assert "apachectl configtest refused the new configuration" in run.output
    assert web.file(site).content_string == before
    assert web.run("apachectl configtest").rc == 0
    assert (
        client.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' http://{address(web)}/")
        == "200"
    )
