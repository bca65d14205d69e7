"""Behaviour of nginx_lb in front of two tiny HTTP backends: balancing, no client error
when a backend dies, the client's address believed from the proxy tier only, static and
media files from disk or from an origin, limits, the sign-in rate limit and the admin's
allow-list, and a configuration nginx -t refuses never applied."""

from __future__ import annotations

import itertools
import json
import random
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
# The role's defaults, which the scenario keeps: 10 sign-in POSTs a minute per client
# address, and 10 more at once.
LOGIN, ADMIN = "/accounts/login/", "/admin/"
BURST = 10


@pytest.fixture(scope="module")
def lb() -> Host:
    return host("nginx-lb")


@pytest.fixture(scope="module")
def proxy() -> Host:
    return host("nginx-proxy")


@pytest.fixture(scope="module")
def url(lb: Host) -> str:
    return f"http://{address(lb)}"


def fresh_client() -> str:
    """A client address for the proxy to name in X-Forwarded-For, new to nginx's budget: a
    spent one refills only in a minute, and verify may run again sooner. In 10.0.0.0/8,
    the admin's allow-list in converge.yml."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def statuses(
    client: Host, url: str, count: int, forwarded_for: str = "", method: str = "POST"
) -> list[str]:
    """count requests in a row from client, in one shell loop (a few ms each: the budget
    refills one every 6 s, so nothing in between), and their statuses. forwarded_for is
    sent as X-Forwarded-For; $n in it is the request's number (1 to count)."""
    header = f'-H "X-Forwarded-For: {forwarded_for}"' if forwarded_for else ""
    data = "-d user=guess" if method == "POST" else ""
    return client.check_output(
        f"for n in $(seq {count}); do curl -s -o /dev/null -w '%%{{http_code}} ' "
        f"-X {method} {data} {header} %s; done",
        url,
    ).split()


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


def test_a_missing_media_file_is_cached_briefly(proxy: Host, url: str) -> None:
    """A 404 kept a day would hide a file uploaded a second after someone asked for it."""
    headers, _body = request(proxy, f"{url}/media/not-uploaded-yet.png")
    assert headers["status"] == "404"
    assert headers["cache-control"] == "public, max-age=10"


def test_media_files_cannot_be_written_through_the_load_balancer(proxy: Host, url: str) -> None:
    put = "curl -s -o /dev/null -w '%%{http_code}' -X PUT --data-binary x %s"
    assert proxy.check_output(put, f"{url}/media/upload.txt") == "403"


def test_a_media_origin_by_name_is_asked_again_and_its_path_takes_the_media_urls_place(
    lb: Host, proxy: Host, url: str
) -> None:
    """The EC2 shape of the origin (the bucket's name and its media prefix, the VPC's
    resolver), here a backend by name and Docker's resolver: nginx resolves the name at
    request time, passes /media/<name> as <path>/<name>, escaped again, with the origin's
    Host, and sets the caching itself."""
    origin = {
        "nginx_lb_media_origin": f"http://{BACKENDS[0]}/bucket/media",
        "nginx_lb_media_resolvers": ["127.0.0.11"],
    }
    try:
        run = run_scenario_playbook("converge.yml", "-e", json.dumps(origin))
        assert run.returncode == 0, run.output
        assert "resolver 127.0.0.11 valid=60s" in lb.file("/etc/nginx/nginx.conf").content_string
        headers, body = request(proxy, f"{url}/media/logos/%C3%A9quipe%20one.png")
        assert headers["status"] == "200"
        echoed = json.loads(body)
        assert echoed["path"] == "/bucket/media/logos/%C3%A9quipe%20one.png"
        assert echoed["headers"]["host"] == BACKENDS[0]
        assert headers["cache-control"] == "public, max-age=86400"
        headers, _body = request(proxy, f"{url}/media/logos/gone.png?status=404")
        assert (headers["status"], headers["cache-control"]) == ("404", "public, max-age=10")
    finally:
        assert run_scenario_playbook("converge.yml").returncode == 0


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


def test_sign_in_and_admin_posts_beyond_the_burst_get_429_never_5xx(proxy: Host, url: str) -> None:
    """One client (named by the trusted proxy): BURST + 1 POSTs pass at once, then 429,
    with a short body saying when to try again; the admin's POSTs share the budget."""
    client = fresh_client()
    assert statuses(proxy, url + LOGIN, BURST + 5, client) == ["200"] * (BURST + 1) + ["429"] * 4
    headers, body = request(proxy, url + ADMIN, f"X-Forwarded-For: {client}", method="POST")
    assert (headers["status"], headers["retry-after"]) == ("429", "6"), headers
    assert body == "Too many attempts from your address: wait a few seconds and try again.\n"
    assert "x-served-by" not in headers  # nginx's answer; the app never saw it


def test_gets_are_never_limited(proxy: Host, url: str) -> None:
    """The forms and the admin's pages, even from a client whose POSTs are spent."""
    client = fresh_client()
    assert statuses(proxy, url + LOGIN, BURST + 2, client)[-1] == "429"
    for path in (LOGIN, ADMIN):
        assert statuses(proxy, url + path, BURST + 5, client, method="GET") == ["200"] * (
            BURST + 5
        ), path


def test_each_client_address_has_its_own_budget(proxy: Host, url: str) -> None:
    """Behind Varnish every request comes from the proxy: the budget is the client's it
    names, not the proxy's."""
    spent = fresh_client()
    assert statuses(proxy, url + LOGIN, BURST + 2, spent)[-1] == "429"
    assert statuses(proxy, url + LOGIN, BURST + 1, fresh_client()) == ["200"] * (BURST + 1)


def test_a_made_up_x_forwarded_for_from_an_untrusted_host_does_not_escape_the_limit(
    lb: Host, url: str
) -> None:
    """From a host nginx does not trust (the load balancer itself), a new address in each
    request's X-Forwarded-For changes nothing: the budget is the connection's address.
    Not an exact count: this host's one budget may be partly spent by an earlier run."""
    seen = statuses(lb, url + LOGIN, BURST + 5, "203.0.113.$n")
    assert set(seen) <= {"200", "429"}, seen
    assert seen.count("200") <= BURST + 1 and seen[-4:] == ["429"] * 4, seen


def test_the_admin_answers_403_outside_its_allow_list(lb: Host, proxy: Host, url: str) -> None:
    """nginx_lb_admin_allowed_networks is 10.0.0.0/8 in this scenario."""
    inside = request(proxy, url + ADMIN, "X-Forwarded-For: 10.1.2.3")[0]
    assert (inside["status"], inside.get("x-served-by")) in {("200", b) for b in BACKENDS}
    outside = request(proxy, url + ADMIN + "login/", "X-Forwarded-For: 198.51.100.7")[0]
    assert outside["status"] == "403" and "x-served-by" not in outside, outside
    # An untrusted host cannot name an address inside the list.
    spoofed = request(lb, url + ADMIN, "X-Forwarded-For: 10.1.2.3")[0]
    assert spoofed["status"] == "403", spoofed
    # The rest of the site stays open to everyone.
    assert request(proxy, url + "/", "X-Forwarded-For: 198.51.100.7")[0]["status"] == "200"
