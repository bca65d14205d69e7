from __future__ import annotations

import time

import pytest
from django.core.management import CommandError, call_command

from league.generator import LeagueExistsError, generate_league
from league.models import Game, Player, PlayerGameStat

pytestmark = pytest.mark.django_db


def _snapshot() -> list[tuple[object, ...]]:
    """The league's content without primary keys (they depend on the database's sequences)."""
    games = list(
        Game.objects.order_by("played_at", "home_team__abbreviation").values_list(
            "season__year",
            "played_at",
            "home_team__abbreviation",
            "away_team__abbreviation",
            "home_score",
            "away_score",
        )
    )
    players = list(
        Player.objects.order_by("team__abbreviation", "number").values_list(
            "team__abbreviation", "number", "first_name", "last_name", "position"
        )
    )
    stats = list(
        PlayerGameStat.objects.order_by(
            "game__played_at", "team__abbreviation", "player__number"
        ).values_list("player__number", "points", "rebounds", "assists", "minutes")
    )
    return [tuple(games), tuple(players), tuple(stats)]


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    generate_league(seed=1, seasons=1, teams=8)
    first = _snapshot()
    generate_league(seed=1, seasons=1, teams=8, replace=True)
    assert _snapshot() == first
    generate_league(seed=2, seasons=1, teams=8, replace=True)
    assert _snapshot() != first


def test_size_thousands_of_games_in_seconds() -> None:
    started = time.monotonic()
    size = generate_league(seed=1, seasons=10)
    elapsed = time.monotonic() - started
    # 20 teams, each plays the 19 others home and away: 380 games a season.
    assert size.games == 3800 == Game.objects.count()
    assert size.stat_lines == 3800 * 2 * 9 == PlayerGameStat.objects.count()
    assert size.players == 240
    assert elapsed < 30, f"generating took {elapsed:.1f} s"


def test_refuses_when_data_exists_and_replace_does_not_double() -> None:
    generate_league(seed=1, seasons=1, teams=4)
    with pytest.raises(LeagueExistsError, match="league data exists"):
        generate_league(seed=1, seasons=1, teams=4)
    generate_league(seed=1, seasons=1, teams=4, replace=True)
    assert Game.objects.count() == 12


def test_command_output_refusal_and_skip(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("generate_league", "--seed", "1", "--seasons", "1", "--teams", "4")
    assert "12 games" in capsys.readouterr().out
    with pytest.raises(CommandError, match="use --replace"):
        call_command("generate_league", "--seed", "1", "--seasons", "1", "--teams", "4")
    call_command("generate_league", "--seasons", "1", "--teams", "4", "--skip-if-exists")
    assert "skipped" in capsys.readouterr().out
    assert Game.objects.count() == 12


def test_command_rejects_bad_sizes() -> None:
    with pytest.raises(CommandError, match="teams"):
        call_command("generate_league", "--teams", "1")
