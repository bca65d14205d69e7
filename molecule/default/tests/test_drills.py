"""The drills' short versions, run after every check of the healthy stack (conftest.py
orders them last): each breaks something under load and must cost no request. Their full
versions: `make drills` (docs/drills.md). Losing the primary under writes, with rejoin,
runs in the pgpool scenario (roles/pgpool/molecule/default), on the database tier alone."""

from __future__ import annotations

import time

import cache_node_loss
import rolling_deploy
import web_server_loss
from conftest import FRONT_DOOR, fetch


def test_stopping_web1_under_load_costs_no_request() -> None:
    """Every request a cache miss, so all of them reach the app servers; web1's container
    stopped 3 s in."""
    figures = web_server_loss.run_drill(how="stop", host="web1", requests=1200, seconds=45)
    assert figures.failed == 0, figures
    assert figures.requests == 1200, figures
    assert set(figures.served_by) == {"web1", "web2"}, figures


def test_killing_cache1_under_load_costs_no_request_and_the_hits_come_back() -> None:
    figures = cache_node_loss.run_drill(how="kill", host="cache1", before=8, after=20)
    assert figures.before.failed == 0 and figures.after.failed == 0, figures
    assert figures.before.requests > 50 and figures.after.requests > 50, figures
    # Ten seasons' standings in memcached: nearly every lookup hits before the loss, and
    # the keys cache1 held move to cache2 within the window after it.
    assert figures.before.hit_rate >= 90, figures
    assert figures.after.hit_rate >= 50, figures


def test_a_rolling_deploy_and_its_rollback_under_load_cost_no_request() -> None:
    # The home page is cached before the deploy...
    home = f"{FRONT_DOOR}/?drill={time.time():.0f}"
    fetch(home)
    cached = fetch(home)[1]
    assert cached["X-Cache"] == "HIT"

    deploy, rollback = rolling_deploy.run_drill(concurrency=4)  # the full drill: 8
    for figures in (deploy, rollback):
        assert figures.landed and figures.failed == 0, figures
        assert set(figures.served_by) == {"web1", "web2"}, figures
    # During the deploy both releases answered: the hosts switched one at a time.
    assert len(deploy.releases) == 2, deploy
    # The migrations are checked once per deploy, on one host, not on each.
    check = deploy.output.split("Look for unapplied migrations")[1].split("TASK [")[0]
    assert check.count("ok: [") == 1, check
    # ...and is gone from Varnish after it: deploy.yml banned the old release's pages.
    # (The rollback's ban spares pages of the release it brings back, as this one is.)
    again = fetch(home)[1]
    assert (again["X-Cache"], again["X-Release"]) == ("MISS", cached["X-Release"])
