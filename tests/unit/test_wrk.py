"""The one reading of wrk's report (harness.wrk), as capacity, the busy-primary drill and
the app's profile use it."""

from __future__ import annotations

import pytest

from harness.wrk import parse

# wrk 4.1 (Debian 12), --latency.
WITH_LATENCY = """Running 10s test @ http://127.0.0.1:8082/
  2 threads and 20 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    70.15ms   12.30ms 210.00ms   80.00%
    Req/Sec   142.50     20.10   190.00     70.00%
  Latency Distribution
     50%   67.00ms
     75%   75.00ms
     90%   85.00ms
     99%  120.00ms
  2850 requests in 10.01s, 20.00MB read
Requests/sec:    284.72
Transfer/sec:      2.00MB
"""
WITH_ERRORS = """Running 2m test @ http://127.0.0.1:8081/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   480.12ms  120.50ms   1.90s    70.00%
  12000 requests in 2.00m, 90.00MB read
  Socket errors: connect 0, read 0, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:    100.02
Transfer/sec:    768.00KB
"""


def test_the_latency_distribution_is_read_in_milliseconds() -> None:
    result = parse("http://127.0.0.1:8082/", WITH_LATENCY)
    assert (result.requests, result.rps) == (2850, 284.72)
    assert (result.mean_ms, result.p50_ms, result.p99_ms) == (70.15, 67.0, 120.0)
    assert result.failed == 0


def test_errors_and_non_2xx_answers_count_as_failed() -> None:
    result = parse("http://127.0.0.1:8081/", WITH_ERRORS)
    assert result.socket_errors == {"connect": 0, "read": 0, "write": 0, "timeout": 3}
    assert (result.non_2xx, result.failed) == (7, 10)
    assert result.mean_ms == 480.12


def test_a_report_without_a_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="Requests/sec"):
        parse("http://127.0.0.1:8080/", "unable to connect to 127.0.0.1:8080 Connection refused\n")
