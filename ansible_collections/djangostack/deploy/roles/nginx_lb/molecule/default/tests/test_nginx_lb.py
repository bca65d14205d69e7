"""Behaviour of nginx_lb in front of two tiny HTTP backends: balancing, no client error
when a backend dies, the client's address believed from the proxy tier only, static and
media files from disk, limits, and a configuration nginx -t refuses never applied."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from testinfra.host import Host

from harness.ansible_cli import run_scenario_playbook

# The edge scenarios' shared client code (harness/edge_client.py).
from harness.edge_client import address, burst, host, request

BACKENDS = ("nginx-web1", "nginx-web2")


@pytest.fixture(scope="module")
def lb() -> Host:
    return host("nginx-lb")


@pytest.fixture(scope="module")
def proxy() -> Host:
    return host("nginx-proxy")


@pytest.fixture(scope="module")
def url(lb: Host) -> str:
    return f"http://{address(lb)}"


@pytest.fixture
def backends_restored() -> Iterator[None]:
    yield
    for name in BACKENDS:
        host(name).check_output("systemctl start http-backend")


def test_requests_alternate_between_the_backends(proxy: Host, url: str) -> None:
    served = [request(proxy, f"{url}/?n={n}")[0]["x-served-by"] for n in range(10)]
    # One round robin shared by every worker (the upstream's zone).
    assert sorted(served) == sorted(BACKENDS * 5), served
    assert all(a != b for a, b in itertools.pairwise(served)), served


def test_a_backend_that_dies_costs_no_failed_request(
    proxy: Host, url: str, backends_restored: None
) -> None:
    """A bounded burst (each request held 20 ms, so some are in flight on the backend when
    it dies); one backend is killed in the middle of it."""
    result: dict[str, Any] = {}

    def load() -> None:
        result.update(burst(proxy, f"{url}/?sleep=0.02", requests=600, concurrency=8, seconds=60))

    thread = threading.Thread(target=load)
    thread.start()
    host("nginx-web1").check_output("sleep 1 && systemctl kill --signal=SIGKILL http-backend")
    thread.join(timeout=90)
    assert result["requests"] == 600, result
    assert result["failed"] == 0, result
    assert set(result["served_by"]) == set(BACKENDS), result
    # nginx-web2 alone answers now.
    assert {request(proxy, f"{url}/")[0]["x-served-by"] for _n in range(4)} == {"nginx-web2"}


def test_an_app_servers_503_is_its_answer_not_a_dead_backend(proxy: Host, url: str) -> None:
    """While the database fails over, every app server answers 503 at once: to writes, and
    to Varnish's probes of /healthz/ (GETs, which nginx counts as failed attempts when
    proxy_next_upstream lists http_503; POSTs it never retries, nor counts). Counted, they
    left both backends out for fail_timeout: every request, writes included, got nginx's
    502 ("no live upstreams") long after the database was back."""
    # Both backends in the rotation first: the test before left one out for fail_timeout.
    deadline = time.monotonic() + 15
    while {request(proxy, f"{url}/?n={n}")[0]["x-served-by"] for n in range(2)} != set(BACKENDS):
        assert time.monotonic() < deadline, "a backend stayed out of the rotation"
        time.sleep(0.5)
    refused = [request(proxy, f"{url}/healthz?status=503&n={n}")[0] for n in range(4)]
    assert [r["status"] for r in refused] == ["503"] * 4
    assert {r["x-served-by"] for r in refused} == set(BACKENDS)
    after = [request(proxy, f"{url}/?n={n}")[0] for n in range(4)]
    assert [a["status"] for a in after] == ["200"] * 4
    assert {a["x-served-by"] for a in after} == set(BACKENDS)


def test_the_client_address_is_believed_from_the_proxy_tier_only(
    lb: Host, proxy: Host, url: str
) -> None:
    spoof = ("X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https")
    # From the trusted proxy: the client it names, and the scheme it says.
    seen = json.loads(request(proxy, f"{url}/", *spoof)[1])["headers"]
    assert (seen["x-forwarded-for"], seen["x-forwarded-proto"]) == ("203.0.113.7", "https")
    # From anyone else (here the load balancer host itself): its own address, plain http.
    seen = json.loads(request(lb, f"{url}/", *spoof)[1])["headers"]
    assert (seen["x-forwarded-for"], seen["x-forwarded-proto"]) == (address(lb), "http")
    # Keep-alive to the backends: HTTP/1.1 without "Connection: close".
    assert seen.get("connection", "").lower() != "close"


def test_static_files_are_served_from_disk_compressed_with_long_cache_headers(
    proxy: Host, url: str
) -> None:
    headers, _body = request(
        proxy, f"{url}/static/app/site.0123abcd.css", "Accept-Encoding: gzip", body=False
    )
    assert headers["status"] == "200"
    assert headers["content-encoding"] == "gzip"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "x-served-by" not in headers  # never proxied to an app server
    # A missing file is nginx's own 404, not a request to the app.
    headers, _body = request(proxy, f"{url}/static/app/missing.css")
    assert headers["status"] == "404" and "x-served-by" not in headers


def test_media_files_are_served_from_disk_as_data(proxy: Host, url: str) -> None:
    headers, body = request(proxy, f"{url}/media/upload.txt")
    assert (headers["status"], body) == ("200", "an uploaded file\n")
    assert headers["cache-control"] == "public, max-age=86400"
    assert "sandbox" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


def test_nginx_says_nothing_about_its_version(proxy: Host, url: str) -> None:
    assert request(proxy, f"{url}/")[0]["server"] == "nginx"


def test_a_request_body_over_the_limit_is_refused(proxy: Host, url: str) -> None:
    """nginx_lb_client_max_body_size is 1m in this scenario."""
    post = "head -c %s /dev/zero | curl -s -o /dev/null -w '%%{http_code}' --data-binary @- %s"
    assert proxy.check_output(post, str(512 * 1024), f"{url}/") == "200"
    assert proxy.check_output(post, str(2 * 1024 * 1024), f"{url}/") == "413"


def test_nginx_listens_on_the_configured_address_only(lb: Host) -> None:
    listeners = {line.split()[3] for line in lb.check_output("ss -Htln").splitlines()}
    assert {a for a in listeners if not a.startswith("127.0.0.11:")} == {f"{address(lb)}:80"}


def test_a_reload_lets_requests_in_flight_finish(lb: Host, proxy: Host, url: str) -> None:
    result: dict[str, str] = {}

    def slow() -> None:
        result.update(request(proxy, f"{url}/?sleep=3")[0])

    thread = threading.Thread(target=slow)
    thread.start()
    lb.check_output("sleep 1 && systemctl reload nginx")
    thread.join(timeout=30)
    assert result.get("status") == "200"


def test_a_configuration_nginx_refuses_is_never_applied(lb: Host, proxy: Host, url: str) -> None:
    """A backend name that does not resolve passes the role's own checks; only nginx -t
    can tell. The live file stays, and nginx keeps serving."""
    before = lb.file("/etc/nginx/nginx.conf").content_string
    run = run_scenario_playbook(
        "converge.yml", "-e", '{"nginx_lb_backends": ["no-such-host.invalid:80"]}'
    )
    assert run.returncode != 0
    assert "host not found in upstream" in run.output
    assert lb.file("/etc/nginx/nginx.conf").content_string == before
    assert request(proxy, f"{url}/")[0]["status"] == "200"
