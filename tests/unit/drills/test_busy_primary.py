"""The no-false-failover drill's verdict (its wrk figures: tests/unit/test_wrk.py)."""

from __future__ import annotations

from harness.drills.busy_primary import Figures


def test_any_failover_or_new_timeline_fails_the_drill() -> None:
    calm = Figures(120, {}, 0, ("db1", "db1"), ("00000003", "00000003"))
    assert calm.passed
    assert not Figures(120, {}, 1, ("db1", "db1"), ("00000003", "00000003")).passed
    assert not Figures(120, {}, 0, ("db1", "db2"), ("00000003", "00000004")).passed
    assert not Figures(120, {}, 0, ("db1", "db1"), ("00000003", "00000004")).passed
