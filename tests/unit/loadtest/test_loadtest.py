"""The load test's whole pipeline, real locust (a master and a worker process) against a
small site on 127.0.0.1 that speaks the sample app's protocol: its links for the crawl,
the sign-in form with a CSRF token, the bearer-token API, X-Cache on pages. Like the lab's
tiers behind the TLS terminator, it sets Secure cookies and checks the sign-in as Django
does over HTTPS (X-Forwarded-Proto, an HTTPS Referer). The lab's own run is in the
whole-stack scenario (molecule/default/tests/test_loadtest.py)."""

from __future__ import annotations

import argparse
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs

import pytest

from harness.loadtest.report import table
from harness.loadtest.run import run_loadtest
from harness.loadtest.site import MEMBER, crawl, zipf_weights
from harness.loadtest.tune import typed_vars, variant

PASSWORD = "the member's password"
TOKEN = "the API token"
CSRF = "csrf-token-value"
SEASONS = (2025, 2024)
TEAMS = ("AAA", "BBB", "CCC")


class Site(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[Counter[str]] = Counter()  # what the site saw, by kind of request

    def answer(self, status: int, body: str = "", headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        signed_in = "sessionid=s1" in self.headers.get("Cookie", "")
        if path == "/accounts/login/":
            form = f'<input type="hidden" name="csrfmiddlewaretoken" value="{CSRF}">'
            return self.answer(200, form, {"Set-Cookie": f"csrftoken={CSRF}; Path=/; Secure"})
        if path == "/standings/":
            body = "".join(f'<a href="/standings/{y}/">{y}</a>' for y in SEASONS)
        elif match := re.fullmatch(r"/standings/(\d+)/", path):
            body = "".join(f'<a href="/teams/{t}/{match[1]}/">{t}</a>' for t in TEAMS)
        elif match := re.fullmatch(r"/teams/(\w+)/(\d+)/", path):
            first = TEAMS.index(match[1]) * 10 + int(match[2]) % 10 * 100
            body = "".join(f'<a href="/games/{first + n}/">box score</a>' for n in range(3))
        else:
            body = "page"
        self.seen["member page" if signed_in else "page"] += 1
        # One in two anonymous pages "from the cache": a hit rate of 50%.
        x_cache = "PASS" if signed_in else ("HIT" if self.seen["page"] % 2 else "MISS")
        self.answer(200, body, {"X-Cache": x_cache})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/accounts/login/":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            ok = form == {"username": MEMBER, "password": PASSWORD, "csrfmiddlewaretoken": CSRF}
            ok = ok and f"csrftoken={CSRF}" in self.headers.get("Cookie", "")
            # Django's CSRF check on a request it takes for HTTPS: the form's page as Referer.
            host = self.headers.get("Host")
            ok = ok and self.headers.get("X-Forwarded-Proto") == "https"
            ok = ok and self.headers.get("Referer") == f"https://{host}/accounts/login/"
            self.seen["sign in" if ok else "refused sign in"] += 1
            if ok:
                session = {"Location": "/", "Set-Cookie": "sessionid=s1; Path=/; Secure"}
                return self.answer(302, headers=session)
            return self.answer(200, "the form again")
        if self.path == "/api/results/":
            authorised = self.headers.get("Authorization") == f"Bearer {TOKEN}"
            result = json.loads(body)
            assert result["season"] == SEASONS[0] and result["home_team"] != result["away_team"]
            self.seen["write" if authorised else "refused write"] += 1
            return self.answer(201 if authorised else 403, '{"id": 1}')
        self.answer(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_the_crawl_follows_the_sites_links(site: str) -> None:
    catalogue = crawl(site)
    assert catalogue.seasons == [2025, 2024]
    assert sorted(catalogue.teams) == sorted(TEAMS)
    assert len(catalogue.team_seasons) == 6 and len(catalogue.games) == 18
    # The newest season's pages first: they are the most popular.
    assert all("/2025/" in u for u in catalogue.team_seasons[:3])
    assert catalogue.games[0] == "/games/522/"  # the highest id: the newest game


def test_popularity_falls_with_rank() -> None:
    weights = zipf_weights(100)
    assert weights == sorted(weights, reverse=True) and weights[0] > 50 * weights[-1]


def test_a_load_test_run_writes_its_report(site: str, tmp_path: Path) -> None:
    Site.seen.clear()
    run = run_loadtest(
        "local",
        users=50,
        seconds=4,
        out=tmp_path,
        workers=1,
        catalogue=crawl(site),
        url=site,
        credentials={"LOADTEST_MEMBER_PASSWORD": PASSWORD, "LOADTEST_API_TOKEN": TOKEN},
    )
    # The three kinds of user: visitors, members signed in with the form, scorekeepers.
    assert Site.seen["page"] > 100 and Site.seen["member page"] > 0, Site.seen
    assert Site.seen["sign in"] >= 1 and Site.seen["write"] > 0, Site.seen
    assert not Site.seen["refused sign in"] and not Site.seen["refused write"], Site.seen
    assert run.all["failures"] == 0 and run.all["requests"] > 100
    assert 0 < run.visitors["requests"] < run.all["requests"]
    assert run.visitors["p95_ms"] >= run.visitors["p50_ms"] > 0
    assert run.x_cache.keys() <= {"HIT", "MISS"} and run.hit_rate is not None
    assert 40 <= run.hit_rate <= 60
    assert 0 < run.generator_cpu["machine_percent"] <= 100
    assert run.generator_cpu["workers_cpu_seconds"] > 0
    for name in ("plot.png", "locust.html", "locust_stats.csv", "summary.md", "catalogue.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| local (" in table([run])


def test_tuning_variants_carry_typed_values() -> None:
    assert variant("4x8=apache_modwsgi_processes=4 apache_modwsgi_threads=8") == (
        "4x8",
        "apache_modwsgi_processes=4 apache_modwsgi_threads=8",
    )
    assert variant("defaults=") == ("defaults", "")
    assert typed_vars("a=4 b=true c='two words' d=1m") == {
        "a": 4,
        "b": True,
        "c": "two words",
        "d": "1m",
    }
    assert typed_vars("") == {}
    with pytest.raises(argparse.ArgumentTypeError):
        variant("no-name-or-equals")
