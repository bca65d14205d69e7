"""Behaviour of the varnish role in front of two tiny HTTP backends: what is cached and
what passes, cookies, grace while every backend is down, PURGE and BAN by address, the
ban entry point, a VCL change loaded hot with the cache kept, and a VCL the compiler
refuses never loaded."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest
from testinfra.host import Host

from harness.ansible_cli import run_scenario_playbook

# The edge scenarios' shared client code (harness/edge_client.py).
from harness.edge_client import address, host, request

BACKENDS = ("varnish-lb1", "varnish-lb2")


@pytest.fixture(scope="module")
def cache() -> Host:
    return host("varnish-cache")


@pytest.fixture(scope="module")
def app() -> Host:
    """A `web` host: in the default purge ACL."""
    return host("varnish-app")


@pytest.fixture(scope="module")
def stranger() -> Host:
    """A host outside the purge ACL."""
    return host("varnish-lb1")


@pytest.fixture(scope="module")
def url(cache: Host) -> str:
    return f"http://{address(cache)}"


def fetch(client: Host, url: str, *headers: str, method: str = "GET") -> dict[str, str]:
    """Response headers, plus which backend answered and its serial (a cached answer
    repeats both; a fresh one does not)."""
    headers_seen, body = request(client, url, *headers, method=method)
    if body.startswith("{"):
        answer = json.loads(body)
        headers_seen["origin"] = f"{answer['host']}#{answer['serial']}"
        headers_seen["backend_saw"] = json.dumps(answer["headers"])
    return headers_seen


def backend_health(cache: Host) -> list[str]:
    """Each load balancer's health as varnishadm reports it (not the director's, `lbs`)."""
    rows = [row.split() for row in cache.check_output("varnishadm backend.list").splitlines()[1:]]
    return [row[3] for row in rows if re.search(r"\.lb[0-9]+$", row[0])]


def probe_response_times(cache: Host) -> list[float]:
    """Each load balancer's average response time of its good probes, in seconds."""
    report = cache.check_output("varnishadm backend.list -p")
    return [
        float(seconds)
        for seconds in re.findall(
            r"\.lb[0-9]+ .*\n.*\n\s*Average response time of good probes: ([0-9.]+)", report
        )
    ]


def wait_for_health(cache: Host, state: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while backend_health(cache) != [state, state]:
        assert time.monotonic() < deadline, backend_health(cache)
        time.sleep(0.5)


@pytest.fixture
def backends_down(cache: Host) -> Iterator[None]:
    try:
        for name in BACKENDS:
            host(name).check_output("systemctl stop http-backend")
        wait_for_health(cache, "sick")
        yield
    finally:  # back up even when they never went sick: the next tests need them
        for name in BACKENDS:
            host(name).check_output("systemctl start http-backend")
        wait_for_health(cache, "healthy")


def test_the_second_anonymous_request_is_a_hit(app: Host, url: str) -> None:
    first = fetch(app, f"{url}/pages/hit")
    second = fetch(app, f"{url}/pages/hit")
    assert (first["x-cache"], second["x-cache"]) == ("MISS", "HIT")
    assert second["origin"] == first["origin"]
    assert "via" not in second  # the cache does not name its version


def test_uncached_requests_are_spread_across_the_backends(app: Host, url: str) -> None:
    served = {fetch(app, f"{url}/pages/spread-{n}")["x-served-by"] for n in range(6)}
    assert served == set(BACKENDS)


def test_anonymous_requests_lose_their_cookies_and_share_the_cache(app: Host, url: str) -> None:
    first = fetch(app, f"{url}/pages/cookies", "Cookie: _ga=GA1.2.3; csrftoken=abc")
    assert first["x-cache"] == "MISS"
    assert "cookie" not in json.loads(first["backend_saw"])
    other_visitor = fetch(app, f"{url}/pages/cookies", "Cookie: csrftoken=xyz")
    assert (other_visitor["x-cache"], other_visitor["origin"]) == ("HIT", first["origin"])


def test_a_session_cookie_passes_with_its_cookies(app: Host, url: str) -> None:
    answers = [fetch(app, f"{url}/pages/me", "Cookie: sessionid=s3cr3t; _ga=1") for _n in range(2)]
    assert [a["x-cache"] for a in answers] == ["PASS", "PASS"]
    assert answers[0]["origin"] != answers[1]["origin"]
    assert json.loads(answers[0]["backend_saw"])["cookie"] == "sessionid=s3cr3t; _ga=1"


def test_the_admin_and_posts_pass(app: Host, url: str) -> None:
    admin = [fetch(app, f"{url}/admin/login/", "Cookie: csrftoken=abc") for _n in range(2)]
    assert [a["x-cache"] for a in admin] == ["PASS", "PASS"]
    assert json.loads(admin[0]["backend_saw"])["cookie"] == "csrftoken=abc"
    posts = [fetch(app, f"{url}/pages/form", method="POST") for _n in range(2)]
    assert [p["x-cache"] for p in posts] == ["PASS", "PASS"]
    assert posts[0]["origin"] != posts[1]["origin"]


def test_private_responses_and_new_cookies_are_never_cached(app: Host, url: str) -> None:
    for query in ("private=1", "set_cookie=1"):
        answers = [fetch(app, f"{url}/pages/personal?{query}") for _n in range(2)]
        assert answers[1]["x-cache"] != "HIT", query
        assert answers[0]["origin"] != answers[1]["origin"], query


def test_max_age_is_the_ttl_and_a_stale_page_is_refreshed_in_the_background(
    app: Host, url: str
) -> None:
    """max-age=1: expired a second later, then served once more while a background fetch
    refreshes it (healthy grace), then the fresh copy."""
    first = fetch(app, f"{url}/pages/ttl?max_age=1")
    time.sleep(2.5)
    stale = fetch(app, f"{url}/pages/ttl?max_age=1")
    assert (stale["x-cache"], stale["origin"]) == ("HIT", first["origin"])
    time.sleep(1)
    fresh = fetch(app, f"{url}/pages/ttl?max_age=1")
    assert fresh["x-cache"] == "HIT" and fresh["origin"] != first["origin"]


def test_a_404_is_kept_briefly_whatever_the_backend_says(app: Host, url: str) -> None:
    """A day-long 404 on /media/x would hide a file uploaded a second later: the scenario's
    varnish_not_found_ttl is 1 s, the backend asks for an hour. Cached, then expired,
    served once more while refreshed in the background (grace), then fresh."""
    first = fetch(app, f"{url}/media/soon.png?status=404&max_age=3600")
    assert fetch(app, f"{url}/media/soon.png?status=404&max_age=3600")["x-cache"] == "HIT"
    time.sleep(2.5)
    fetch(app, f"{url}/media/soon.png?status=404&max_age=3600")
    time.sleep(1)
    fresh = fetch(app, f"{url}/media/soon.png?status=404&max_age=3600")
    assert fresh["origin"] != first["origin"]


def test_the_client_scheme_is_the_caches_own(app: Host, url: str) -> None:
    seen = json.loads(fetch(app, f"{url}/admin/scheme", "X-Forwarded-Proto: https")["backend_saw"])
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-for"].split(", ")[-1] == address(app)


def test_grace_serves_stale_pages_while_every_backend_is_down(
    app: Host, url: str, request: pytest.FixtureRequest
) -> None:
    primed = fetch(app, f"{url}/pages/grace?max_age=2")
    request.getfixturevalue("backends_down")  # only now: the page must be cached first
    stale = fetch(app, f"{url}/pages/grace?max_age=2")
    assert (stale["status"], stale["x-cache"], stale["origin"]) == ("200", "HIT", primed["origin"])
    assert int(stale["age"]) > 2
    # A page never cached has nothing to fall back on.
    assert fetch(app, f"{url}/pages/never-seen")["status"] == "503"


def test_a_slow_health_check_is_a_busy_backend_not_a_dead_one(
    cache: Host, app: Host, url: str
) -> None:
    """/healthz/ answering in 2 s, as the app's does at full load (it queues with the
    pages): both backends stay healthy through more probes than it takes to go sick,
    and a page not in the cache is still served."""
    try:
        for name in BACKENDS:
            host(name).check_output("echo 2 > /etc/http-backend-healthz-delay")
        # Until three slow probes of each backend have passed (Varnish's running average
        # moves a quarter of the way to each new time: from a few ms, three 2 s probes
        # take it past 1 s), its health read every half second. Four failures of the
        # last five would have made it sick.
        deadline = time.monotonic() + 40
        while min(times := probe_response_times(cache), default=0) <= 1:
            assert backend_health(cache) == ["healthy", "healthy"]
            assert time.monotonic() < deadline, cache.check_output("varnishadm backend.list -p")
            time.sleep(0.5)
        assert len(times) == 2, times
        assert backend_health(cache) == ["healthy", "healthy"]
        assert fetch(app, f"{url}/pages/slow-probes")["status"] == "200"
    finally:  # healthy again even when they went sick: the next tests need them
        for name in BACKENDS:
            host(name).check_output("rm -f /etc/http-backend-healthz-delay")
        wait_for_health(cache, "healthy")


def failed_probes_in_a_row(cache: Host) -> list[int]:
    """Each load balancer's latest probes that failed, in a row (the end of its Happy
    line in varnishadm's probe history, one character per probe)."""
    report = cache.check_output("varnishadm backend.list -p")
    happy = re.findall(r"\.lb[0-9]+ (?:.*\n)+?\s*([H-]+) Happy", report)
    return [len(line) - len(line.rstrip("-")) for line in happy]


def test_a_failovers_seconds_of_failed_health_checks_keep_the_backends_in_use(
    cache: Host, app: Host, url: str
) -> None:
    """/healthz/ answering 503, as the app's does while pgpool fails the database over
    (4-6 s): both backends stay healthy through three failed probes in a row each, so
    writes still reach the app (its own 503 with Retry-After, then its 201 as soon as
    the new primary answers) instead of Varnish's 503; at the fourth, they go sick."""
    try:
        for name in BACKENDS:
            host(name).check_output("touch /etc/http-backend-healthz-failing")
        deadline = time.monotonic() + 20
        while min(failed_probes_in_a_row(cache)) < 3:
            assert backend_health(cache) == ["healthy", "healthy"], failed_probes_in_a_row(cache)
            assert time.monotonic() < deadline, cache.check_output("varnishadm backend.list -p")
            time.sleep(0.2)
        # Three failed in a row, a probe due every 2 s: still healthy, and a write passes.
        assert backend_health(cache) == ["healthy", "healthy"], failed_probes_in_a_row(cache)
        post = fetch(app, f"{url}/pages/form", method="POST")
        assert (post["status"], post["x-cache"]) == ("200", "PASS"), post
        wait_for_health(cache, "sick", 15)
    finally:  # healthy again whatever happened: the next tests need them
        for name in BACKENDS:
            host(name).check_output("rm -f /etc/http-backend-healthz-failing")
        wait_for_health(cache, "healthy")


def test_purge_and_ban_from_an_allowed_host_only(app: Host, stranger: Host, url: str) -> None:
    for path in ("/ban/a", "/ban/b", "/purge/a"):
        fetch(app, url + path)
    refused = [
        fetch(stranger, f"{url}/ban/", "X-Ban-Url: ^/ban/", method="BAN")["status"],
        fetch(stranger, f"{url}/purge/a", method="PURGE")["status"],
    ]
    assert refused == ["403", "403"]
    assert {fetch(app, url + path)["x-cache"] for path in ("/ban/a", "/ban/b", "/purge/a")} == {
        "HIT"
    }

    assert fetch(app, f"{url}/ban/", "X-Ban-Url: ^/ban/", method="BAN")["status"] == "200"
    assert fetch(app, f"{url}/purge/a", method="PURGE")["status"] == "200"
    assert [fetch(app, url + path)["x-cache"] for path in ("/ban/a", "/ban/b", "/purge/a")] == [
        "MISS"
    ] * 3
    assert fetch(app, f"{url}/ban/", method="BAN")["status"] == "400"  # no X-Ban-Url


def test_the_ban_entry_point_drops_the_pages_of_other_releases(app: Host, url: str) -> None:
    """deploy.yml's ban: pages carry their release; objects without one (static files)
    must survive."""
    for name in BACKENDS:
        host(name).check_output("echo old > /etc/http-backend-release")
    fetch(app, f"{url}/release/page")
    for name in BACKENDS:
        host(name).check_output("rm /etc/http-backend-release")
    fetch(app, f"{url}/release/static")
    expression = 'obj.http.X-Release != "new" && obj.http.X-Release ~ "."'
    run = run_scenario_playbook("ban.yml", "-e", json.dumps({"varnish_ban_expression": expression}))
    assert run.returncode == 0, run.output
    time.sleep(1)
    assert fetch(app, f"{url}/release/page")["x-cache"] == "MISS"
    assert fetch(app, f"{url}/release/static")["x-cache"] == "HIT"


def test_the_admin_port_is_on_loopback_with_a_private_secret(cache: Host) -> None:
    listeners = {line.split()[3] for line in cache.check_output("ss -Htln").splitlines()}
    assert {a for a in listeners if not a.startswith("127.0.0.11:")} == {
        f"{address(cache)}:80",
        "127.0.0.1:6082",
    }
    secret = cache.file("/etc/varnish/secret")
    assert (secret.user, secret.group, secret.mode) == ("root", "root", 0o600)
    assert secret.size > 16
    # The cache size reached varnishd (64 MiB in this scenario).
    assert "-s malloc,64m" in cache.check_output("ps -o args= -C varnishd")


def test_a_vcl_change_is_loaded_hot_and_keeps_the_cache(cache: Host, app: Host, url: str) -> None:
    primed = fetch(app, f"{url}/pages/hot-reload")
    pids = cache.check_output("pgrep -d, varnishd")
    active_before = cache.check_output("varnishadm vcl.list | awk '$1 == \"active\" {print $NF}'")
    run = run_scenario_playbook("converge.yml", "-e", "varnish_grace=3600")
    assert run.returncode == 0, run.output
    assert "Load the new VCL" in run.output and "Restart Varnish" not in run.output
    assert cache.check_output("pgrep -d, varnishd") == pids  # neither process restarted
    active_after = cache.check_output("varnishadm vcl.list | awk '$1 == \"active\" {print $NF}'")
    assert active_after != active_before
    again = fetch(app, f"{url}/pages/hot-reload")
    assert (again["x-cache"], again["origin"]) == ("HIT", primed["origin"])


def test_a_vcl_the_compiler_refuses_is_never_loaded(cache: Host, app: Host, url: str) -> None:
    """An unbalanced parenthesis passes the role's own checks; only varnishd -C can tell."""
    vcl = cache.file("/etc/varnish/djangostack.vcl").content_string
    active = cache.check_output("varnishadm vcl.list | awk '$1 == \"active\" {print $NF}'")
    run = run_scenario_playbook("converge.yml", "-e", '{"varnish_pass_urls": ["^/admin/("]}')
    assert run.returncode != 0
    assert "Regexp compilation error" in run.output
    assert cache.file("/etc/varnish/djangostack.vcl").content_string == vcl
    assert cache.check_output("varnishadm vcl.list | awk '$1 == \"active\" {print $NF}'") == active
    assert fetch(app, f"{url}/pages/hit")["status"] == "200"
