"""A deterministic league: the same seed always gives the same rows.

Everything random comes from one random.Random(seed), consumed in a fixed order, and
every date is computed from the season's year, never from the clock. Rows go in with
bulk_create in batches: tens of thousands of rows take seconds, not minutes.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.db import transaction

from league.models import Conference, Game, Player, PlayerGameStat, Season, Team

CONFERENCES = ["Eastern", "Western"]
CITIES = [
    "Avalon", "Brookfield", "Cedar Falls", "Dunmore", "Eastport", "Fairhaven", "Glenwood",
    "Harbor City", "Ironton", "Juniper", "Kingsbridge", "Lakeside", "Marlow", "Northgate",
    "Oakridge", "Pinecrest", "Queensbury", "Riverton", "Stonehill", "Twin Peaks",
]  # fmt: skip
NICKNAMES = [
    "Anchors", "Bison", "Comets", "Drakes", "Eagles", "Foxes", "Giants", "Hawks", "Ibex",
    "Jaguars", "Knights", "Lynx", "Mariners", "Nighthawks", "Otters", "Pilots", "Quakes",
    "Rangers", "Stallions", "Thunder",
]  # fmt: skip
FIRST_NAMES = [
    "Alex", "Ben", "Chris", "Dan", "Eli", "Finn", "Gabe", "Hugo", "Ian", "Jon", "Kai", "Leo",
    "Max", "Nico", "Omar", "Paul", "Quinn", "Ray", "Sam", "Theo", "Uri", "Vic", "Will", "Zane",
]  # fmt: skip
LAST_NAMES = [
    "Adams", "Baker", "Clark", "Diaz", "Evans", "Fisher", "Garcia", "Hill", "Irwin", "Jones",
    "King", "Lopez", "Moore", "Nash", "Owens", "Price", "Reed", "Scott", "Turner", "Vance",
    "Walsh", "Young",
]  # fmt: skip
POSITIONS = ["G", "G", "F", "F", "C"]

ROSTER_SIZE = 12
# Players who get a stat line per team and game; the rest stay on the bench.
PLAYERS_PER_GAME = 9
FIRST_YEAR = 2001
BATCH_SIZE = 2000


@dataclass(frozen=True)
class LeagueSize:
    teams: int
    seasons: int
    games: int
    players: int
    stat_lines: int


class LeagueExistsError(Exception):
    """The database already holds league data and the caller did not ask to replace it."""


def has_league_data() -> bool:
    return Team.objects.exists() or Game.objects.exists()


def delete_league_data() -> None:
    # Children first: Game and Team are protected against deletion while referenced.
    for model in (PlayerGameStat, Game, Player, Season, Team, Conference):
        model.objects.all().delete()


def _split_score(rng: random.Random, score: int, players: int) -> list[int]:
    """Share a team's score among its players so the box score adds up."""
    weights = [rng.random() + 0.2 for _ in range(players)]
    total = sum(weights)
    points = [int(score * w / total) for w in weights]
    points[0] += score - sum(points)  # rounding remainder to the first scorer
    return points


def generate_league(seed: int, seasons: int, teams: int = 20, replace: bool = False) -> LeagueSize:
    """Create conferences, teams, rosters and `seasons` double round-robin seasons.

    Refuses (LeagueExistsError) when league data exists, unless replace=True, which
    deletes it first: running twice never doubles the data.
    """
    if not 2 <= teams <= len(CITIES):
        raise ValueError(f"teams must be between 2 and {len(CITIES)}")
    if seasons < 1:
        raise ValueError("seasons must be at least 1")
    rng = random.Random(seed)
    with transaction.atomic():
        if has_league_data():
            if not replace:
                raise LeagueExistsError(
                    f"league data exists ({Team.objects.count()} teams, "
                    f"{Game.objects.count()} games)"
                )
            delete_league_data()

        conferences = Conference.objects.bulk_create(Conference(name=n) for n in CONFERENCES)
        team_rows = [
            Team(
                conference=conferences[i % len(conferences)],
                city=CITIES[i],
                name=NICKNAMES[i],
                abbreviation=(CITIES[i][:2] + NICKNAMES[i][:1]).upper(),
            )
            for i in range(teams)
        ]
        team_rows = Team.objects.bulk_create(team_rows)

        player_rows = [
            Player(
                team=team,
                first_name=rng.choice(FIRST_NAMES),
                last_name=rng.choice(LAST_NAMES),
                number=number,
                position=POSITIONS[number % len(POSITIONS)],
            )
            for team in team_rows
            for number in rng.sample(range(0, 100), ROSTER_SIZE)
        ]
        player_rows = Player.objects.bulk_create(player_rows, batch_size=BATCH_SIZE)
        roster: dict[int, list[Player]] = {}
        for player in player_rows:
            roster.setdefault(player.team_id, []).append(player)

        season_rows = Season.objects.bulk_create(
            Season(year=FIRST_YEAR + i) for i in range(seasons)
        )

        game_rows: list[Game] = []
        # Box scores wait until their game has a primary key.
        pending_stats: list[tuple[int, Team, Team, int, int]] = []
        for season in season_rows:
            start = dt.datetime(season.year, 10, 20, 19, 0, tzinfo=dt.UTC)
            pairings = [(h, a) for h in team_rows for a in team_rows if h is not a]
            rng.shuffle(pairings)
            for index, (home, away) in enumerate(pairings):
                # About 8 games a day, at staggered tip-off times.
                played_at = start + dt.timedelta(days=index // 8, minutes=30 * (index % 8))
                home_score = rng.randint(78, 128) + 3  # home court advantage
                away_score = rng.randint(78, 128)
                if home_score == away_score:  # no ties: overtime went to the home team
                    home_score += rng.randint(1, 9)
                game_rows.append(
                    Game(
                        season=season,
                        played_at=played_at,
                        home_team=home,
                        away_team=away,
                        home_score=home_score,
                        away_score=away_score,
                    )
                )
                pending_stats.append((len(game_rows) - 1, home, away, home_score, away_score))
        game_rows = Game.objects.bulk_create(game_rows, batch_size=BATCH_SIZE)

        stat_rows: list[PlayerGameStat] = []
        for game_index, home, away, home_score, away_score in pending_stats:
            game = game_rows[game_index]
            for team, score in ((home, home_score), (away, away_score)):
                players = rng.sample(roster[team.pk], PLAYERS_PER_GAME)
                for player, points in zip(
                    players, _split_score(rng, score, PLAYERS_PER_GAME), strict=True
                ):
                    stat_rows.append(
                        PlayerGameStat(
                            game=game,
                            player=player,
                            team=team,
                            minutes=rng.randint(8, 40),
                            points=points,
                            rebounds=rng.randint(0, 14),
                            assists=rng.randint(0, 11),
                        )
                    )
        PlayerGameStat.objects.bulk_create(stat_rows, batch_size=BATCH_SIZE)

    return LeagueSize(
        teams=len(team_rows),
        seasons=len(season_rows),
        games=len(game_rows),
        players=len(player_rows),
        stat_lines=len(stat_rows),
    )
