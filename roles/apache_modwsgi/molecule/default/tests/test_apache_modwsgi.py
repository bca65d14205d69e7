"""Behaviour of apache_modwsgi: a WSGI application served from mod_wsgi daemons, over the
network, with only the needed modules, a graceful reload, and a bad change rolled back."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest
import testinfra
from testinfra.host import Host


@pytest.fixture(scope="module")
def web() -> Host:
    return testinfra.get_host("docker://wsgi-web")


@pytest.fixture(scope="module")
def client() -> Host:
    return testinfra.get_host("docker://wsgi-client")


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
    pids = {client.check_output(f"curl -s http://{address(web)}/").split()[-1] for _ in range(20)}
    assert pids <= set(daemons)


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


def test_a_change_that_fails_configtest_is_rolled_back(web: Host, client: Host) -> None:
    """ServerName takes one word: the role must refuse this, put the old file back, and
    leave the running Apache serving."""
    site = "/etc/apache2/sites-available/djangostack-wsgi.conf"
    before = web.file(site).content_string
    run = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            "-e",
            "apache_modwsgi_server_name='two words'",
            os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "converge.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert run.returncode != 0
    assert "apachectl configtest refused the new configuration" in run.stdout + run.stderr
    assert web.file(site).content_string == before
    assert web.run("apachectl configtest").rc == 0
    assert (
        client.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' http://{address(web)}/")
        == "200"
    )
