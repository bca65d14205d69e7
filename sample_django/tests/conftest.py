"""Fixtures for the sample app's tests (settings: sample_site.settings_test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache

from league.generator import LeagueSize, generate_league


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    # locmem outlives a test: a cached standings table would hide the queries.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def league(db: None) -> LeagueSize:
    """A small league: 6 teams, 2 seasons, 60 games."""
    return generate_league(seed=1, seasons=2, teams=6)
