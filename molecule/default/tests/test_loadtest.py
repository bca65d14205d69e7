"""`make loadtest` on the whole stack, short: locust (a master, a worker per CPU) through
the front door (HTTPS), the three kinds of user, a report folder with its plot."""

from __future__ import annotations

from pathlib import Path

from harness.lab import tier_diagnostics
from harness.loadtest.run import run_loadtest
from harness.loadtest.site import TARGETS


def test_a_short_load_test_through_the_front_door(tmp_path: Path) -> None:
    # 50 users: the 2% share of scorekeepers is one user (with 20 it rounds to none).
    run = run_loadtest("front", users=50, seconds=15, out=tmp_path)
    # On failure: what failed (locust's failures, by error) and why (each tier's account).
    assert run.all["failures"] == 0, "\n".join(
        [str(run), (tmp_path / "locust_failures.csv").read_text(), tier_diagnostics()]
    )
    # Visitors, signed-in members and scorekeepers all reached the site...
    assert run.visitors["requests"] > 500, run
    stats = (tmp_path / "locust_stats.csv").read_text()
    for name in ("member: sign in", "member: home", "scorekeeper: record a result"):
        assert f",{name}," in stats, name
    # ...and Varnish answered most visitor pages from its cache (the popularity skew
    # makes a few pages most of the traffic), none of them PASS.
    assert run.hit_rate is not None and run.hit_rate >= 50, run.x_cache
    assert "PASS" not in run.x_cache, run.x_cache
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"
    assert f"| front ({TARGETS['front']})" in (tmp_path / "summary.md").read_text()
