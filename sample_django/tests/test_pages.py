from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from league.generator import LeagueSize
from league.models import Game, Season, Team

pytestmark = pytest.mark.django_db


def _pages() -> list[str]:
    game = Game.objects.first()
    team = Team.objects.first()
    season = Season.objects.first()
    assert game is not None and team is not None and season is not None
    return [
        "/",
        "/standings/",
        f"/standings/{season.year}/",
        f"/teams/{team.abbreviation}/{season.year}/",
        f"/games/{game.pk}/",
    ]


def _html_ok(body: bytes) -> None:
    text = body.decode()
    assert text.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in text and text.rstrip().endswith("</html>")


@pytest.mark.usefixtures("league")
def test_every_page_answers_with_html(client: Client) -> None:
    for url in _pages():
        response = client.get(url)
        assert response.status_code == 200, url
        _html_ok(response.content)


# Query budgets: a page that grows one query per row (N+1) fails here.
@pytest.mark.parametrize(
    ("page", "budget"),
    [("home", 6), ("standings", 5), ("team", 5), ("game", 2)],
)
@pytest.mark.usefixtures("league")
def test_pages_stay_within_their_query_budget(
    client: Client, django_assert_max_num_queries: DjangoAssertNumQueries, page: str, budget: int
) -> None:
    urls = dict(zip(["home", "standings", "standings-year", "team", "game"], _pages(), strict=True))
    with django_assert_max_num_queries(budget):
        assert client.get(urls[page]).status_code == 200


def test_home_shows_aggregates_and_latest_games(client: Client, league: LeagueSize) -> None:
    body = client.get("/").content.decode()
    assert f"{league.teams} teams, {league.players} players, {league.games} games." in body
    latest = Game.objects.select_related("home_team").first()
    assert latest is not None and f"/games/{latest.pk}/" in body


# The second time, the costliest figures come from the cache: the standings table, and the
# home page's totals over every game. What remains: the season lookup and list, or the
# season list and the latest games.
@pytest.mark.parametrize("url", ["/standings/", "/"])
def test_the_costly_figures_come_from_the_cache_the_second_time(
    client: Client,
    league: LeagueSize,
    django_assert_max_num_queries: DjangoAssertNumQueries,
    url: str,
) -> None:
    client.get(url)
    with django_assert_max_num_queries(2):
        client.get(url)


def test_a_recorded_result_shows_in_the_home_totals_at_once(
    client: Client, league: LeagueSize, django_capture_on_commit_callbacks: Any
) -> None:
    client.get("/")  # the totals are cached
    result = {
        "season": Season.objects.first().year,  # type: ignore[union-attr]
        "home_team": "AVA",
        "away_team": "BRB",
        "home_score": 101,
        "away_score": 99,
        "played_at": "2002-04-01T19:30:00Z",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/results/",
            json.dumps(result),
            content_type="application/json",
            headers={"Authorization": "Bearer test-api-token"},
        )
    assert response.status_code == 201
    assert f"{league.games + 1} games." in client.get("/").content.decode()


def test_figures_computed_before_a_result_never_outlive_it(
    client: Client, league: LeagueSize
) -> None:
    """A page computes the totals, a result commits, then the page stores what it
    computed: the next page must still count the new game."""
    from django.core.cache import cache

    from league import queries

    read_under = queries.generation(queries.TOTALS_KEY)  # the page, before the commit
    stale = queries.compute_totals()
    season = Season.objects.first()
    home, away = Team.objects.all()[:2]
    Game.objects.create(
        season=season, home_team=home, away_team=away, home_score=1, away_score=0,
        played_at="2002-04-01T19:30:00Z",
    )  # fmt: skip
    queries.forget_results(season.pk)  # type: ignore[union-attr]  # the result's commit
    cache.set(f"{queries.TOTALS_KEY}:{read_under}", stale, 300)  # the page, late
    assert queries.totals()["games"] == league.games + 1
    assert f"{league.games + 1} games." in client.get("/").content.decode()


def test_team_season_page_shows_the_record(client: Client, league: LeagueSize) -> None:
    team = Team.objects.get(abbreviation="AVA")
    body = client.get("/teams/AVA/2001/").content.decode()
    assert str(team) in body and "in 10 games" in body


def test_missing_things_are_404(client: Client, league: LeagueSize) -> None:
    assert client.get("/games/999999/").status_code == 404
    assert client.get("/teams/NOPE/2001/").status_code == 404
    assert client.get("/standings/1900/").status_code == 404


def test_standings_without_data_is_404(client: Client) -> None:
    assert client.get("/standings/").status_code == 404


@pytest.mark.usefixtures("league")
def test_anonymous_pages_are_public_and_vary_on_cookie(client: Client) -> None:
    for url in _pages():
        response = client.get(url)
        assert response["Cache-Control"] == "public, max-age=300", url
        assert "Cookie" in response["Vary"], url
        assert not response.cookies, url  # a Set-Cookie would poison the shared cache


@pytest.mark.usefixtures("league")
def test_logged_in_pages_are_private(client: Client) -> None:
    client.force_login(User.objects.create_user("fan", password="x"))
    for url in _pages():
        response = client.get(url)
        cache_control = response["Cache-Control"]
        assert "private" in cache_control and "no-cache" in cache_control, url
        assert "public" not in cache_control
        assert "Cookie" in response["Vary"]


def test_admin_is_never_cached(admin_client: Client) -> None:
    for url in ("/admin/", "/admin/league/game/", "/admin/league/team/add/"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert "private" in response["Cache-Control"] and "no-cache" in response["Cache-Control"]


def test_anonymous_admin_redirect_is_not_public(client: Client) -> None:
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "public" not in response["Cache-Control"]
