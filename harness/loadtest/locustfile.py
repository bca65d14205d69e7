"""Realistic traffic for the sample site: what `make loadtest` sends (through run.py).

Three kinds of user, in the shares a league site sees:
  - visitors (most users): anonymous pages with a popularity skew, every one of them
    cacheable by Varnish: the home page, standings, team season pages, box scores;
  - members (a few): signed in, so every page they see is private and passes the cache;
  - scorekeepers (fewer): record game results through the token-protected API, writes
    that go through pgpool to the primary.
Requests are named "<kind>: <page>"; the report sums the "visitor:" ones as the anonymous
traffic, and counts their X-Cache answers for the hit rate. Every user reaches its target
(--host) as harness.lab says (LabUser): the front door's name at its address, verified
against the lab's ACME roots; lb and web1 directly, playing the TLS terminator's part.

run.py passes what this file needs in the environment, never on a command line:
LOADTEST_CATALOGUE (the crawl's JSON), LOADTEST_MEMBER_PASSWORD, LOADTEST_API_TOKEN,
LOADTEST_THINK_SECONDS (mean pause between a user's requests; 0: none), and
LOADTEST_FIGURES_FILE, where the master writes the run's figures when it quits.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import gevent.ssl
from geventhttpclient.client import HTTPClientPool
from locust import TaskSet, between, constant, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.runners import WorkerRunner
from locust.stats import StatsEntry

from harness.lab import (
    ACME_ROOTS,
    FRONT_DOOR_NAME,
    TERMINATOR_HEADERS,
    TerminatorCookiePolicy,
    behind_terminator,
    is_front_door,
    pinned,
)
from harness.loadtest.site import MEMBER, Catalogue, zipf_weights

CATALOGUE = Catalogue.load(Path(os.environ["LOADTEST_CATALOGUE"]))
THINK = float(os.environ.get("LOADTEST_THINK_SECONDS", "0"))
WAIT = between(0, 2 * THINK) if THINK else constant(0)

TEAM_SEASON_WEIGHTS = zipf_weights(len(CATALOGUE.team_seasons))
GAME_WEIGHTS = zipf_weights(len(CATALOGUE.games))
SEASON_WEIGHTS = zipf_weights(len(CATALOGUE.seasons), exponent=2.0)


def pick(urls: list[str], weights: list[float]) -> str:
    return random.choices(urls, weights)[0]


class Pages(TaskSet):
    """The site's pages in the proportions readers ask for them, for visitors and
    members alike (named by the user's kind)."""

    def get(self, name: str, url: str) -> None:
        self.client.get(url, name=f"{self.user.kind}: {name}")

    @task(30)
    def home(self) -> None:
        self.get("home", "/")

    @task(20)
    def standings(self) -> None:
        season = pick([str(s) for s in CATALOGUE.seasons], SEASON_WEIGHTS)
        self.get("standings", f"/standings/{season}/")

    @task(30)
    def team_season(self) -> None:
        self.get("team season", pick(CATALOGUE.team_seasons, TEAM_SEASON_WEIGHTS))

    @task(20)
    def game(self) -> None:
        self.get("game", pick(CATALOGUE.games, GAME_WEIGHTS))


def front_door_pool(cafile: str, **client: Any) -> HTTPClientPool:
    """geventhttpclient's connections for the front door: to the URL's address (pinned()
    puts FRONT_DOOR_ADDRESS there, as geventhttpclient resolves the URL's host and has no
    --resolve), with FRONT_DOOR_NAME as SNI and as the certificate's name, verified
    against `cafile`."""
    return HTTPClientPool(
        ssl_context_factory=gevent.ssl.create_default_context,
        ssl_options={"ca_certs": cafile, "server_hostname": FRONT_DOOR_NAME},
        **client,
    )


class LabUser(FastHttpUser):
    """A user of one of the lab's targets (--host). The front door: its name at its
    address, its certificate checked (front_door_pool). A tier behind the TLS terminator
    (lb, web1): the terminator's header, and Secure cookies back over HTTP
    (harness.lab.TERMINATOR_HEADERS says why)."""

    abstract = True

    def __init__(self, environment: Any) -> None:
        self.site = self.host or ""  # the target as visitors see it (pinned: as reached)
        self.host, headers = pinned(self.site)
        if is_front_door(self.site):
            # One pool per user, as FastHttpUser makes by default, with its settings.
            self.client_pool = front_door_pool(
                str(ACME_ROOTS),
                concurrency=self.concurrency,
                network_timeout=self.network_timeout,
                connection_timeout=self.connection_timeout,
            )
        if behind_terminator(self.site):
            headers = TERMINATOR_HEADERS
        self.default_headers = {**(self.default_headers or {}), **headers}
        super().__init__(environment)
        self.client.cookiejar.set_policy(TerminatorCookiePolicy())

    def page(self, path: str) -> str:
        """`path`'s address as a browser shows it: HTTPS, the only way visitors reach the
        site (the terminator's, for lb and web1)."""
        return urlunsplit(("https", urlsplit(self.site).netloc, path, "", ""))


class Visitor(LabUser):
    weight = 90
    wait_time = WAIT
    tasks: ClassVar = [Pages]
    kind = "visitor"


class Member(LabUser):
    """Signs in first, as a browser does: the form (its CSRF cookie and token), then the
    POST; the session cookie then rides on every request. Over HTTPS Django's CSRF check
    also wants the form's page as Referer (an Origin header would have to match the host
    as each tier rewrites it: a Referer is what it checks when none is sent)."""

    weight = 8
    wait_time = WAIT
    tasks: ClassVar = [Pages]
    kind = "member"

    def on_start(self) -> None:
        form = self.client.get("/accounts/login/", name="member: sign-in form")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text or "")
        with self.client.post(
            "/accounts/login/",
            data={
                "username": MEMBER,
                "password": os.environ["LOADTEST_MEMBER_PASSWORD"],
                "csrfmiddlewaretoken": token[1] if token else "",
            },
            headers={"Referer": self.page("/accounts/login/")},
            name="member: sign in",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"sign-in answered {response.status_code}, not a redirect")


class Scorekeeper(LabUser):
    weight = 2
    wait_time = WAIT

    @task
    def record_result(self) -> None:
        home, away = random.sample(CATALOGUE.teams, 2)
        self.client.post(
            "/api/results/",
            json={
                "season": CATALOGUE.seasons[0],
                "home_team": home,
                "away_team": away,
                "home_score": random.randint(50, 120),
                "away_score": random.randint(50, 120),
            },
            headers={"Authorization": f"Bearer {os.environ['LOADTEST_API_TOKEN']}"},
            name="scorekeeper: record a result",
        )


# The hit rate as visitors saw it: each worker counts the X-Cache of its visitor
# responses and sends the counts with its statistics; the master adds them up.
x_cache: Counter[str] = Counter()


@events.request.add_listener
def count_x_cache(name: str, response: Any, exception: Any, **_: Any) -> None:
    if name.startswith("visitor:") and exception is None and response is not None:
        x_cache[response.headers.get("X-Cache") or "none"] += 1


@events.report_to_master.add_listener
def send_x_cache(client_id: str, data: dict[str, Any]) -> None:
    data["x_cache"] = dict(x_cache)
    x_cache.clear()


@events.worker_report.add_listener
def add_x_cache(client_id: str, data: dict[str, Any]) -> None:
    x_cache.update(data.get("x_cache", {}))


def figures(entry: StatsEntry) -> dict[str, float]:
    return {
        "requests": entry.num_requests,
        "failures": entry.num_failures,
        "rps": round(entry.total_rps, 1),
        "p50_ms": entry.get_response_time_percentile(0.50),
        "p95_ms": entry.get_response_time_percentile(0.95),
        "p99_ms": entry.get_response_time_percentile(0.99),
        "max_ms": round(entry.max_response_time or 0, 1),
    }


@events.quitting.add_listener
def write_figures(environment: Any, **_: Any) -> None:
    """On the master, once every worker's last report is in: the figures of all
    requests, of the visitors' pages alone (their percentiles from the merged
    response-time counts, not averaged), and the X-Cache counts."""
    if isinstance(environment.runner, WorkerRunner) or "LOADTEST_FIGURES_FILE" not in os.environ:
        return
    stats = environment.runner.stats
    visitors = StatsEntry(stats, "visitor pages", None)
    for (name, _method), entry in stats.entries.items():
        if name.startswith("visitor:"):
            visitors.extend(entry)
    # A visitor entry's clock is the run's: its rate is per second of the whole run.
    visitors.start_time = stats.total.start_time
    visitors.last_request_timestamp = stats.total.last_request_timestamp
    Path(os.environ["LOADTEST_FIGURES_FILE"]).write_text(
        json.dumps(
            {"all": figures(stats.total), "visitors": figures(visitors), "x_cache": dict(x_cache)},
            indent=1,
        )
    )
