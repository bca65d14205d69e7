"""Read pages (public, cacheable) and the write API (token): results, after commit, and
team logos."""

from __future__ import annotations

import datetime as dt
import hmac
import json
from typing import Any

from django import forms
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.db.models import Avg, Count, F, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.dateparse import parse_datetime
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from league import queries
from league.models import Game, PlayerGameStat, Season, Team

LATEST_GAMES = 10


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    context = {
        "totals": queries.totals(),
        "seasons": Season.objects.all(),
        "latest_games": Game.objects.select_related("home_team", "away_team", "season")[
            :LATEST_GAMES
        ],
    }
    return render(request, "league/home.html", context)


def _season_or_latest(year: int | None) -> Season:
    if year is not None:
        return get_object_or_404(Season, year=year)
    season = Season.objects.first()  # ordering is -year
    if season is None:
        raise Http404("no season yet: run manage.py generate_league")
    return season


@require_GET
def standings(request: HttpRequest, year: int | None = None) -> HttpResponse:
    season = _season_or_latest(year)
    return render(
        request,
        "league/standings.html",
        {"season": season, "rows": queries.standings(season), "seasons": Season.objects.all()},
    )


@require_GET
def team_season(request: HttpRequest, abbreviation: str, year: int) -> HttpResponse:
    team = get_object_or_404(Team.objects.select_related("conference"), abbreviation=abbreviation)
    season = get_object_or_404(Season, year=year)
    games = (
        Game.objects.filter(season=season)
        .filter(Q(home_team=team) | Q(away_team=team))
        .select_related("home_team", "away_team")
        .order_by("played_at")
    )
    record = games.aggregate(
        wins=Count("id", filter=Q(home_team=team, home_score__gt=F("away_score")))
        + Count("id", filter=Q(away_team=team, away_score__gt=F("home_score"))),
        played=Count("id"),
    )
    leaders = (
        PlayerGameStat.objects.filter(game__season=season, team=team)
        .values("player__first_name", "player__last_name", "player__number")
        .annotate(games=Count("id"), total_points=Sum("points"), avg_points=Avg("points"))
        .order_by("-total_points")[:5]
    )
    return render(
        request,
        "league/team_season.html",
        {"team": team, "season": season, "games": games, "record": record, "leaders": leaders},
    )


@require_GET
def game_detail(request: HttpRequest, pk: int) -> HttpResponse:
    game = get_object_or_404(Game.objects.select_related("home_team", "away_team", "season"), pk=pk)
    stats = list(game.stats.select_related("player").order_by("-points"))
    box = {
        "home": [s for s in stats if s.team_id == game.home_team_id],
        "away": [s for s in stats if s.team_id == game.away_team_id],
    }
    return render(request, "league/game.html", {"game": game, "box": box})


def _bearer_token_ok(request: HttpRequest) -> bool:
    expected = settings.API_TOKEN
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not expected or scheme.lower() != "bearer" or not token:
        return False
    # Constant time: the comparison must not tell an attacker how much of it matched.
    return hmac.compare_digest(token.strip().encode(), expected.encode())


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


# While no primary answers (a failover takes seconds), a write cannot succeed now but
# will soon: 503 with Retry-After tells the client to try again, where a 500 says the
# request itself broke something.
RETRY_AFTER_SECONDS = 5


# SQLSTATE 25006: the INSERT reached a standby. A pgpool that knows no primary sends it
# there (one whose path to the primary is cut, while its failover command refuses to
# promote the standby, since that standby still hears the primary): no primary, for now.
READ_ONLY_TRANSACTION = "25006"


def _no_primary_for_now(exc: DatabaseError) -> bool:
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return getattr(exc.__cause__, "sqlstate", None) == READ_ONLY_TRANSACTION


def _database_unavailable(exc: DatabaseError) -> JsonResponse:
    response = _error(
        503, f"the database is unavailable for writes ({exc.__class__.__name__}): retry"
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _parse_result(body: bytes) -> dict[str, Any]:
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    for key in ("season", "home_team", "away_team", "home_score", "away_score"):
        if key not in data:
            raise ValueError(f"missing field '{key}'")
    # Each field's type checked here, naming the field: a wrong type must be the caller's
    # 400, never a database error's 500.
    if not isinstance(data["season"], int) or isinstance(data["season"], bool):
        raise ValueError("field 'season' must be a year, as an integer")
    for key in ("home_team", "away_team"):
        if not isinstance(data[key], str):
            raise ValueError(f"field '{key}' must be a team's abbreviation, as a string")
    scores = (data["home_score"], data["away_score"])
    if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 1000 for s in scores):
        raise ValueError("scores must be integers between 0 and 999")
    if data["home_team"] == data["away_team"]:
        raise ValueError("a team cannot play itself")
    played_at = data.get("played_at")
    if played_at is None:
        data["played_at"] = dt.datetime.now(dt.UTC)
    else:
        parsed = parse_datetime(str(played_at))
        if parsed is None:
            raise ValueError("played_at must be an ISO 8601 date and time")
        data["played_at"] = parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return data


# Exempt from CSRF because the bearer token, not a cookie, authenticates the caller:
# a browser cannot be tricked into sending it. Without the token every request gets 403.
@csrf_exempt
@never_cache
@require_POST
def record_result(request: HttpRequest) -> JsonResponse:
    if not _bearer_token_ok(request):
        return _error(403, "a valid 'Authorization: Bearer <api_token>' header is required")
    try:
        data = _parse_result(request.body)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        return _error(400, str(exc))
    try:
        with transaction.atomic():
            season = Season.objects.filter(year=data["season"]).first()
            teams = {
                t.abbreviation: t
                for t in Team.objects.filter(
                    abbreviation__in=[data["home_team"], data["away_team"]]
                )
            }
            if season is None:
                return _error(400, f"unknown season {data['season']}")
            missing = [a for a in (data["home_team"], data["away_team"]) if a not in teams]
            if missing:
                return _error(400, f"unknown team {missing[0]}")
            game = Game.objects.create(
                season=season,
                played_at=data["played_at"],
                home_team=teams[data["home_team"]],
                away_team=teams[data["away_team"]],
                home_score=data["home_score"],
                away_score=data["away_score"],
            )
            transaction.on_commit(lambda: queries.forget_results(season.pk))
    except DatabaseError as exc:
        if not _no_primary_for_now(exc):
            raise
        return _database_unavailable(exc)
    # Outside the atomic block: the id goes out only once the row is committed, so a
    # client that reads it back (through pgpool, possibly from the standby) finds it.
    return JsonResponse({"id": game.pk}, status=201)


class LogoForm(forms.Form):
    # Django's ImageField opens the file with Pillow: what is not an image is refused, and
    # so is an image whose name ends in an extension Pillow does not know (say .html).
    logo = forms.ImageField()


@csrf_exempt
@never_cache
@require_POST
def upload_logo(request: HttpRequest, abbreviation: str) -> JsonResponse:
    """A team's logo, from the multipart field `logo`, stored as a new file every time."""
    if not _bearer_token_ok(request):
        return _error(403, "a valid 'Authorization: Bearer <api_token>' header is required")
    team = Team.objects.filter(abbreviation=abbreviation).first()
    if team is None:
        return _error(404, f"unknown team {abbreviation}")
    form = LogoForm(files=request.FILES)
    if not form.is_valid():
        return _error(400, f"field 'logo': {' '.join(form.errors['logo'])}")
    upload = form.cleaned_data["logo"]
    # The file first (the storage picks a name no other file has), then the row: the
    # old logo's file is kept, cached pages may still show it.
    team.logo.save(upload.name, upload, save=False)
    try:
        team.save(update_fields=["logo"])
    except DatabaseError as exc:
        # No row names the new file: remove it rather than leave it behind.
        team.logo.storage.delete(team.logo.name)
        if not _no_primary_for_now(exc):
            raise
        return _database_unavailable(exc)
    return JsonResponse(
        {"team": team.abbreviation, "logo": team.logo.name, "url": team.logo.url}, status=201
    )
