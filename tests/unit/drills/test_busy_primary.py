"""The no-false-failover drill's reading of wrk and its verdict."""

from __future__ import annotations

from harness.drills.busy_primary import Figures, Load, parse_wrk

WRK = """Running 2m test @ http://127.0.0.1:8081/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   480.12ms  120.50ms   1.90s    70.00%
  12000 requests in 2.00m, 90.00MB read
  Socket errors: connect 0, read 0, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:    100.02
Transfer/sec:    768.00KB
"""


def test_wrk_figures_are_read_with_their_errors() -> None:
    assert parse_wrk("lb", WRK) == Load("lb", 100.02, 7, "connect 0, read 0, write 0, timeout 3")


def test_a_clean_wrk_run_has_no_errors() -> None:
    clean = "Requests/sec:  15000.5\n"
    assert parse_wrk("front", clean) == Load("front", 15000.5, 0, "none")


def test_any_failover_or_new_timeline_fails_the_drill() -> None:
    calm = Figures(120, [], 0, ("db1", "db1"), ("00000003", "00000003"))
    assert calm.passed
    assert not Figures(120, [], 1, ("db1", "db1"), ("00000003", "00000003")).passed
    assert not Figures(120, [], 0, ("db1", "db2"), ("00000003", "00000004")).passed
    assert not Figures(120, [], 0, ("db1", "db1"), ("00000003", "00000004")).passed
