"""The CACHES entry for the memcached tier (settings.py builds it from CACHE_URL)."""

from __future__ import annotations

from typing import Any


def memcached_cache(servers: list[str]) -> dict[str, Any]:
    """The CACHES entry for the memcached tier: a lost node is a miss, never an error.

    pymemcache's HashClient spreads keys over the nodes (client-side hashing). With
    ignore_exc a failing node answers like an empty cache; after retry_attempts failures
    it leaves the ring for dead_timeout seconds, so its keys move to the live nodes
    instead of each request waiting on a dead one.
    """
    return {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": servers,
        "TIMEOUT": 300,
        "KEY_PREFIX": "djangostack",
        "OPTIONS": {
            "ignore_exc": True,
            # Short: a request waits at most this long on a node that stopped answering.
            "connect_timeout": 0.25,
            "timeout": 0.5,
            "retry_attempts": 2,
            "retry_timeout": 1,
            "dead_timeout": 30,
            "no_delay": True,
        },
    }
