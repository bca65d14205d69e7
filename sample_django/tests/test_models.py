from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError
from django.db.models import Sum

from league.generator import LeagueSize
from league.models import Game, PlayerGameStat, Season, Team
from league.queries import compute_standings

pytestmark = pytest.mark.django_db


def test_game_winner_and_text(league: LeagueSize) -> None:
    game = Game.objects.select_related("home_team", "away_team").first()
    assert game is not None
    expected = game.home_team if game.home_score > game.away_score else game.away_team
    assert game.winner == expected
    assert str(game.home_team) in str(game)


def test_a_team_cannot_play_itself(league: LeagueSize) -> None:
    team = Team.objects.first()
    with pytest.raises(IntegrityError):
        Game.objects.create(
            season=Season.objects.first(),
            played_at=dt.datetime(2001, 1, 1, tzinfo=dt.UTC),
            home_team=team,
            away_team=team,
            home_score=1,
            away_score=0,
        )


def test_box_scores_add_up_to_the_final_score(league: LeagueSize) -> None:
    for game in Game.objects.all()[:20]:
        for team_id, score in (
            (game.home_team_id, game.home_score),
            (game.away_team_id, game.away_score),
        ):
            total = PlayerGameStat.objects.filter(game=game, team_id=team_id).aggregate(
                s=Sum("points")
            )["s"]
            assert total == score


def test_standings_balance_wins_and_losses(league: LeagueSize) -> None:
    season = Season.objects.first()
    assert season is not None
    rows = compute_standings(season)
    games = Game.objects.filter(season=season).count()
    assert len(rows) == 6
    assert sum(r.wins for r in rows) == games
    assert sum(r.losses for r in rows) == games
    # Double round robin: every team plays every other team home and away.
    assert {r.wins + r.losses for r in rows} == {10}
    assert sum(r.points_for for r in rows) == sum(r.points_against for r in rows)
