from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.cache import caches
from django.db import DatabaseError
from django.test import Client

from sample_site.config import memcached_cache
from sample_site.middleware import HOSTNAME

pytestmark = pytest.mark.django_db

# Nothing listens on port 1: connections are refused at once, like a dead cache node.
DEAD_NODE = "127.0.0.1:1"


@pytest.fixture
def dead_memcached(settings: Any) -> Any:
    """The default cache is the production memcached configuration, on a dead node."""
    settings.CACHES = {"default": memcached_cache([DEAD_NODE])}
    yield caches["default"]
    caches["default"].close()


def test_healthz_ok(client: Client) -> None:
    response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "host": HOSTNAME,
        "release": "development",
        "checks": {"database": "ok", "cache": "ok"},
        "failed": [],
    }
    assert "no-store" in response["Cache-Control"]
    assert "public" not in response["Cache-Control"]


def test_dead_memcached_node_is_a_miss_not_an_error(dead_memcached: Any) -> None:
    started = time.monotonic()
    dead_memcached.set("k", "v")  # no exception: the write is simply lost
    assert dead_memcached.get("k") is None
    assert dead_memcached.get("k", "default") == "default"
    assert dead_memcached.get_many(["a", "b"]) == {}
    dead_memcached.delete("k")
    dead_memcached.set_many({"a": 1, "b": 2})
    assert dead_memcached.get_or_set("k", "computed") == "computed"
    # Refused connections must not cost the request the full timeout each.
    assert time.monotonic() - started < 2


def test_pages_work_with_a_dead_cache(client: Client, league: Any, dead_memcached: Any) -> None:
    assert client.get("/standings/").status_code == 200
    assert client.get("/standings/").status_code == 200


def test_healthz_with_a_dead_cache_is_degraded_not_503(client: Client, dead_memcached: Any) -> None:
    # By design: the app serves every page without memcached, and a 503 here would make
    # the load balancer drop every web host because one cache node died.
    response = client.get("/healthz/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["failed"] == ["cache"]
    assert body["checks"]["cache"].startswith("failed")
    assert body["checks"]["database"] == "ok"


def test_healthz_503_names_the_database(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db.backends.utils import CursorWrapper

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise DatabaseError("connection to pgpool refused")

    monkeypatch.setattr(CursorWrapper, "execute", refuse)
    response = client.get("/healthz/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failed"
    assert body["failed"] == ["database"]
    assert body["checks"]["database"] == "failed: DatabaseError"
    assert "no-store" in response["Cache-Control"]


def test_healthz_503_when_both_fail(
    client: Client, dead_memcached: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db.backends.utils import CursorWrapper

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise DatabaseError("down")

    monkeypatch.setattr(CursorWrapper, "execute", refuse)
    response = client.get("/healthz/")
    assert response.status_code == 503
    assert response.json()["failed"] == ["database", "cache"]


def test_concurrent_health_checks_each_read_their_own_value(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two checks at once on one host (a fresh daemon releases the requests it held while
    # loading Django together): the second writes between the first's set and get. Each
    # must still read back the value it wrote.
    from league import views

    real_get = views.cache.get
    interleaved: list[str] = []

    def get_after_another_check(key: str, *args: Any, **kwargs: Any) -> Any:
        if not interleaved:
            interleaved.append(key)
            assert client.get("/healthz/").json()["checks"]["cache"] == "ok"
        return real_get(key, *args, **kwargs)

    monkeypatch.setattr(views.cache, "get", get_after_another_check)
    response = client.get("/healthz/")
    assert interleaved, "the second check did not run inside the first"
    assert response.json()["checks"] == {"database": "ok", "cache": "ok"}


def test_health_checks_leave_no_keys_behind(client: Client) -> None:
    from league import views

    for _ in range(3):
        assert client.get("/healthz/").json()["status"] == "ok"
    assert not [k for k in views.cache._cache if "healthz" in k]  # type: ignore[attr-defined]
