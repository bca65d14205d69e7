"""The cache-node-loss drill's reading of memcached's own lookup log (`watch fetchers`):
only the standings keys count, found or not, never the health probes' keys."""

from __future__ import annotations

from harness.drills.cache_node_loss import Figures, Lookups, Window, standings_lookup

# Captured from cache2 on the lab (memcached 1.6.18, Debian 12), 2026-12-07.
FOUND = (
    "ts=1796608873.827170 gid=20396 type=item_get key=djangostack%3A1%3Astandings%3A10%3A10"
    " status=found clsid=14 cfd=24 size=1667"
)
NOT_FOUND = (
    "ts=1796608873.782226 gid=20394 type=item_get key=djangostack%3A1%3Astandings%3A10%3A10"
    " status=not_found clsid=0 cfd=24 size=0"
)
GENERATION = (
    "ts=1796608873.700000 gid=20390 type=item_get"
    " key=djangostack%3A1%3Ageneration%3Astandings%3A10 status=found clsid=1 cfd=24 size=1"
)
HEALTH_PROBE = (
    "ts=1796608873.900000 gid=20398 type=item_get"
    " key=djangostack%3A1%3Ahealthz%3Aweb1%3Aab12cd34 status=found clsid=1 cfd=22 size=16"
)


def test_a_standings_lookup_is_read_with_its_outcome() -> None:
    assert standings_lookup(FOUND) == ("djangostack:1:standings:10:10", True)
    assert standings_lookup(NOT_FOUND) == ("djangostack:1:standings:10:10", False)
    assert standings_lookup(GENERATION) == ("djangostack:1:generation:standings:10", True)


def test_health_probe_round_trips_and_other_lines_do_not_count() -> None:
    assert standings_lookup(HEALTH_PROBE) is None
    assert standings_lookup("OK") is None


def window(hits: int = 99, gets: int = 100) -> Window:
    return Window(requests=500, failed=0, lookups=Lookups(gets, hits), p50_ms=1.0, p95_ms=2.0)


def test_keys_never_looked_up_on_the_survivor_fail_the_drill() -> None:
    """A client that kept asking the dead node for its keys: the survivor never sees them,
    whatever the other hits say."""
    stuck = Figures("kill", "cache1", window(), window(), 13, Lookups(0, 0), 0.7)
    moved = Figures("kill", "cache1", window(), window(), 13, Lookups(600, 590), 0.7)
    assert not stuck.passed()
    assert moved.passed()
