"""The memcached tier's configuration: a dead node is a miss, never an error.

(The health check is the deploy's release runtime's, tested with the collection.)
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client

from sample_site.cache import memcached_cache

pytestmark = pytest.mark.django_db

# Nothing listens on port 1: connections are refused at once, like a dead cache node.
DEAD_NODE = "127.0.0.1:1"


@pytest.fixture
def dead_memcached(settings: Any) -> Any:
    """The default cache is the production memcached configuration, on a dead node."""
    settings.CACHES = {"default": memcached_cache([DEAD_NODE])}
    yield caches["default"]
    caches["default"].close()


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
