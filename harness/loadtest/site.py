"""What the load tests know of the lab and the sample site: the targets, the member's
credentials, and the catalogue of pages with their popularity.

Standard library only: the runner (run.py) uses it before any locust process starts, and
the locustfile reads the catalogue it writes. Traffic goes to 127.0.0.1 only (the front
door's name too: harness.lab pins it there). The member's password is one of the lab's
secrets (harness.lab.lab_secret).
"""

from __future__ import annotations

import json
import random
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.lab import FRONT_DOOR, urlopen

# The three ways into the lab, published on loopback by lab/lab.yml: the
# workshop's "final" state, the same without the cache, and its "initial" state.
TARGETS = {
    # hitch and Varnish on varnish1, the whole stack: HTTPS, pinned to 127.0.0.1:8443
    "front": FRONT_DOOR.rstrip("/"),
    "lb": "http://127.0.0.1:8081",  # nginx on lb1 balancing web1 and web2, no Varnish
    "web1": "http://127.0.0.1:8082",  # one Apache/mod_wsgi app server alone
}
# The crawl reads the site from one app server, so no target's cache is warmed by it.
CRAWL_FROM = TARGETS["web1"]
# The member the lab creates (inventory/lab/group_vars/web.yml, ensure_member).
MEMBER = "member"


@dataclass(frozen=True)
class Catalogue:
    """The site's pages as a crawl found them, most popular first in each list."""

    seasons: list[int]  # newest first
    teams: list[str]  # abbreviations, in a fixed order of popularity
    team_seasons: list[str]  # /teams/<abbr>/<year>/
    games: list[str]  # /games/<id>/, newest first

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> Catalogue:
        return cls(**json.loads(path.read_text()))


def _get(url: str) -> str:
    with urlopen(url, timeout=30) as response:
        return response.read().decode()


def crawl(base: str = CRAWL_FROM, threads: int = 4) -> Catalogue:
    """Follow the site's own links: the standings of each season, each team's season
    page, the games those list. About 210 pages, a few seconds."""
    seasons = sorted(
        {int(y) for y in re.findall(r'href="/standings/(\d+)/"', _get(base + "/standings/"))},
        reverse=True,
    )
    if not seasons:
        raise SystemExit(f"{base}/standings/ lists no season: is the sample data loaded?")
    with ThreadPoolExecutor(threads) as pool:
        standings = list(pool.map(_get, [f"{base}/standings/{y}/" for y in seasons]))
        team_seasons = sorted(
            {u for page in standings for u in re.findall(r'href="(/teams/[^"/]+/\d+/)"', page)}
        )
        pages = list(pool.map(_get, [base + u for u in team_seasons]))
    game_ids = {int(i) for page in pages for i in re.findall(r'href="/games/(\d+)/"', page)}
    teams = sorted({u.split("/")[2] for u in team_seasons})
    # A fixed order of popularity: the same teams are the favourites in every run.
    random.Random(1).shuffle(teams)
    rank = {team: n for n, team in enumerate(teams)}
    newest = {year: n for n, year in enumerate(seasons)}
    team_seasons.sort(key=lambda u: (newest[int(u.split("/")[3])], rank[u.split("/")[2]]))
    return Catalogue(
        seasons=seasons,
        teams=teams,
        team_seasons=team_seasons,
        games=[f"/games/{i}/" for i in sorted(game_ids, reverse=True)],
    )


def zipf_weights(count: int, exponent: float = 1.1) -> list[float]:
    """Popularity by rank: the first item is asked for most, a long tail rarely. Real
    sites' page views follow such a law (a few pages get most of the traffic)."""
    return [1 / (rank**exponent) for rank in range(1, count + 1)]
