from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from league.generator import LeagueSize
from league.models import Game

pytestmark = pytest.mark.django_db

URL = "/api/results/"
RESULT = {
    "season": 2001,
    "home_team": "AVA",
    "away_team": "BRB",
    "home_score": 101,
    "away_score": 99,
    "played_at": "2002-04-01T19:30:00Z",
}


def _post(client: Client, body: Any, token: str | None = "test-api-token") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(URL, json.dumps(body), content_type="application/json", headers=headers)


def test_result_recorded_and_id_returned(client: Client, league: LeagueSize) -> None:
    response = _post(client, RESULT)
    assert response.status_code == 201
    game_id = response.json()["id"]
    game = Game.objects.select_related("home_team", "away_team").get(pk=game_id)
    assert (game.home_team.abbreviation, game.away_team.abbreviation) == ("AVA", "BRB")
    assert (game.home_score, game.away_score) == (101, 99)
    assert game.played_at.isoformat() == "2002-04-01T19:30:00+00:00"
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db(transaction=True)
def test_id_is_returned_only_after_commit(league: LeagueSize) -> None:
    # A real transaction (no test wrapping): the response comes after the commit, so a
    # fresh connection already sees the row.
    from django.db import connections

    response = _post(Client(), RESULT)
    game_id = response.json()["id"]
    connections.close_all()
    assert Game.objects.filter(pk=game_id).exists()


@pytest.mark.parametrize("token", [None, "", "wrong-token", "test-api-token-longer"])
def test_403_without_the_right_token(client: Client, league: LeagueSize, token: str | None) -> None:
    before = Game.objects.count()
    response = _post(client, RESULT, token=token)
    assert response.status_code == 403
    assert Game.objects.count() == before


def test_basic_scheme_is_not_a_bearer_token(client: Client, league: LeagueSize) -> None:
    response = client.post(
        URL,
        json.dumps(RESULT),
        content_type="application/json",
        headers={"Authorization": "Basic test-api-token"},
    )
    assert response.status_code == 403


def test_no_configured_token_refuses_everyone(
    client: Client, league: LeagueSize, settings: Any
) -> None:
    settings.API_TOKEN = ""
    assert _post(client, RESULT, token="").status_code == 403


def test_csrf_is_not_what_stops_a_tokenless_browser(league: LeagueSize) -> None:
    # With CSRF checks on, the token is still what decides: 403 without it, 201 with it.
    client = Client(enforce_csrf_checks=True)
    assert _post(client, RESULT, token=None).status_code == 403
    assert _post(client, RESULT).status_code == 201


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"home_score": "ten"}, "scores must be integers"),
        ({"away_team": "AVA"}, "cannot play itself"),
        ({"home_team": "XYZ"}, "unknown team XYZ"),
        ({"season": 1900}, "unknown season 1900"),
        ({"played_at": "yesterday"}, "ISO 8601"),
        # Seen: a season as text reached the database and came back as a 500.
        ({"season": "abc"}, "field 'season' must be a year"),
        ({"season": True}, "field 'season' must be a year"),
        ({"home_team": 7}, "field 'home_team' must be a team's abbreviation"),
        ({"away_team": ["AVA"]}, "field 'away_team' must be a team's abbreviation"),
    ],
)
def test_bad_results_are_400(
    client: Client, league: LeagueSize, change: dict[str, Any], message: str
) -> None:
    before = Game.objects.count()
    response = _post(client, {**RESULT, **change})
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert Game.objects.count() == before


def test_missing_field_and_bad_json_are_400(client: Client, league: LeagueSize) -> None:
    body = {k: v for k, v in RESULT.items() if k != "home_score"}
    assert "home_score" in _post(client, body).json()["error"]
    response = client.post(
        URL,
        "{not json",
        content_type="application/json",
        headers={"Authorization": "Bearer test-api-token"},
    )
    assert response.status_code == 400


def test_a_write_that_reaches_a_standby_is_503_with_retry_after(
    client: Client, league: LeagueSize, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pgpool cut off from the primary sends the INSERT to the standby, which refuses
    it (SQLSTATE 25006): no primary for now, so 503 and when to retry, not a 500."""
    from django.db import InternalError

    class ReadOnlySqlTransaction(Exception):
        """What psycopg raises for SQLSTATE 25006 (the tests run on SQLite), and Django
        wraps in InternalError."""

        sqlstate = "25006"

    def on_a_standby(**_: Any) -> None:
        cause = ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction")
        raise InternalError(str(cause)) from cause

    monkeypatch.setattr(Game.objects, "create", on_a_standby)
    response = _post(client, RESULT)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"


def test_any_other_database_error_is_still_a_server_error(
    client: Client, league: LeagueSize, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import IntegrityError

    def broken(**_: Any) -> None:
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(Game.objects, "create", broken)
    with pytest.raises(IntegrityError):
        _post(client, RESULT)


def test_get_is_not_allowed(client: Client) -> None:
    assert client.get(URL).status_code == 405


def test_a_write_while_no_primary_answers_is_503_with_retry_after(
    client: Client, league: LeagueSize, monkeypatch: pytest.MonkeyPatch
) -> None:
    """During a failover pgpool has no primary to send the INSERT to: the client gets 503
    and when to retry, not a 500. (The failover drills count the statuses the real
    outage gives.)"""
    from django.db import OperationalError

    def no_primary(**_: Any) -> None:
        raise OperationalError("connection to server at 127.0.0.1 failed")

    monkeypatch.setattr(Game.objects, "create", no_primary)
    response = _post(client, RESULT)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "retry" in response.json()["error"]
