"""The queries behind the pages, kept apart from the views so tests can count them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Avg, Case, Count, F, IntegerField, Max, Q, Sum, When

from league.models import Game, Player, Season, Team

TOTALS_KEY = "league:totals"


# Each cached figure lives under a key that names its generation, which a committed result
# bumps (the season's standings and the totals, the figures a result changes). Deleting
# the keys instead left a race: a request that computed the figures just before a commit
# stored them just after the commit's delete, and that stale copy was served until it
# expired (the stack scenario saw the home page one game short of the database). Under a
# new generation such a late copy goes to a key no one reads again.
def _generation_key(key: str) -> str:
    return f"generation:{key}"


@dataclass
class StandingRow:
    team_id: int
    team: str
    abbreviation: str
    conference: str
    wins: int = 0
    losses: int = 0
    points_for: int = 0
    points_against: int = 0
    games: int = field(init=False, default=0)

    @property
    def win_pct(self) -> float:
        return self.wins / self.games if self.games else 0.0

    @property
    def point_diff(self) -> int:
        return self.points_for - self.points_against


def _won(score: str, other: str) -> Sum:
    return Sum(
        Case(When(**{f"{score}__gt": F(other)}, then=1), default=0, output_field=IntegerField())
    )


def compute_standings(season: Season) -> list[StandingRow]:
    """Wins, losses and points per team: one grouped query per side of the court."""
    rows = {
        t.pk: StandingRow(t.pk, str(t), t.abbreviation, t.conference.name)
        for t in Team.objects.select_related("conference")
    }
    games = Game.objects.filter(season=season)
    home = games.values("home_team").annotate(
        n=Count("id"),
        w=_won("home_score", "away_score"),
        pf=Sum("home_score"),
        pa=Sum("away_score"),
    )
    away = games.values("away_team").annotate(
        n=Count("id"),
        w=_won("away_score", "home_score"),
        pf=Sum("away_score"),
        pa=Sum("home_score"),
    )
    for side, key in ((home, "home_team"), (away, "away_team")):
        for agg in side:
            row = rows[agg[key]]
            row.games += agg["n"]
            row.wins += agg["w"]
            row.losses += agg["n"] - agg["w"]
            row.points_for += agg["pf"]
            row.points_against += agg["pa"]
    return sorted(rows.values(), key=lambda r: (r.conference, -r.win_pct, -r.point_diff, r.team))


def generation(key: str) -> int:
    """A cached figure's generation (0 when memcached has none: a lost node only costs
    the queries, and expiry still bounds what an older copy can serve)."""
    found = cache.get(_generation_key(key))
    if found is None:
        cache.add(_generation_key(key), 0, None)
        found = cache.get(_generation_key(key), 0)
    return int(found)


def _cached(key: str, compute: Callable[[], Any]) -> Any:
    """compute() through memcached, under the generation read before computing it."""
    key = f"{key}:{generation(key)}"
    cached = cache.get(key)
    if cached is None:
        cached = compute()
        cache.set(key, cached, settings.STANDINGS_CACHE_SECONDS)
    return cached


def standings(season: Season) -> list[StandingRow]:
    """compute_standings through memcached: a lost cache node only costs the queries."""
    return _cached(f"standings:{season.pk}", lambda: compute_standings(season))


def compute_totals() -> dict[str, Any]:
    """The home page's figures: an aggregate over every game, and two counts."""
    games = Game.objects.aggregate(
        games=Count("id"),
        average_total=Avg(F("home_score") + F("away_score")),
        highest_total=Max(F("home_score") + F("away_score")),
        home_wins=Count("id", filter=Q(home_score__gt=F("away_score"))),
    )
    return {**games, "teams": Team.objects.count(), "players": Player.objects.count()}


def totals() -> dict[str, Any]:
    """compute_totals through memcached: three of the home page's five queries, and the
    costliest (a scan of every game), measured at a third of an uncached page's time."""
    return _cached(TOTALS_KEY, compute_totals)


def forget_results(season_id: int) -> None:
    """After a result is committed: the figures it changes are computed again."""
    for key in (f"standings:{season_id}", TOTALS_KEY):
        try:
            cache.incr(_generation_key(key))
        except ValueError:  # no generation yet (or its node is lost): start one above 0
            cache.add(_generation_key(key), 1, None)
