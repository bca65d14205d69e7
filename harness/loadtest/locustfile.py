"""Realistic traffic for the sample site: what `make loadtest` sends (through run.py).

Three kinds of user, in the shares a league site sees:
  - visitors (most users): anonymous pages with a popularity skew, every one of them
    cacheable by Varnish: the home page, standings, team season pages, box scores;
  - members (a few): signed in, so every page they see is private and passes the cache;
  - scorekeepers (fewer): record game results through the token-protected API, writes
    that go through pgpool to the primary.
Requests are named "<kind>: <page>"; the report sums the "visitor:" ones as the anonymous
traffic, and counts their X-Cache answers for the hit rate.

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

from locust import TaskSet, between, constant, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.runners import WorkerRunner
from locust.stats import StatsEntry

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


class Visitor(FastHttpUser):
    weight = 90
    wait_time = WAIT
    tasks: ClassVar = [Pages]
    kind = "visitor"


class Member(FastHttpUser):
    """Signs in first, as a browser does: the form (its CSRF cookie and token), then the
    POST; the session cookie then rides on every request."""

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
            name="member: sign in",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"sign-in answered {response.status_code}, not a redirect")


class Scorekeeper(FastHttpUser):
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
