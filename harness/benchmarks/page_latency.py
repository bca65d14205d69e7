#!/usr/bin/env python3
"""Latency of the sample app's pages on one app server, one request at a time.

    python -m harness.benchmarks.page_latency  # web1 on the lab: 127.0.0.1:8082
    python -m harness.benchmarks.page_latency --requests 500 --base http://127.0.0.1:8082

Sequential requests (no concurrency: this is the latency a single visitor sees, not a
load test), each on a new connection, to the home page, the standings and a team's
season page (found by following the pages' own links). One unmeasured request per page
comes first. Nothing sits in front of the app server: every request runs Django and its
queries (the standings table comes from memcached for 60 s at a time, as in production).
Bounded: loopback only, at most --requests per page.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
import urllib.parse
import urllib.request


def get(url: str) -> tuple[float, str, str]:
    """Seconds for one whole response, the app server that answered, and the body."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read().decode()
        served_by = response.headers.get("X-Served-By", "?")
    return time.perf_counter() - started, served_by, body


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def pages(base: str) -> dict[str, str]:
    """The three pages, the team season page found through the standings' links."""
    _, _, standings = get(f"{base}/standings/")
    team = re.search(r'href="(/teams/[^"]+/)"', standings)
    if team is None:
        raise SystemExit("no team link on /standings/: is the league loaded?")
    return {"home": "/", "standings": "/standings/", "team season": team.group(1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8082", help="loopback URL of the app")
    parser.add_argument("--requests", type=int, default=200, help="per page, at most 1000")
    args = parser.parse_args(argv)
    base = args.base.rstrip("/")
    if urllib.parse.urlsplit(base).hostname not in {"127.0.0.1", "localhost"}:
        parser.error("--base must be a loopback address: the lab's published ports only")
    if not 1 <= args.requests <= 1000:
        parser.error("--requests must be 1-1000")

    print(f"{base}, {args.requests} sequential requests per page, milliseconds")
    print(f"{'page':<12} {'path':<18} {'min':>7} {'p50':>7} {'p95':>7} "
          f"{'p99':>7} {'max':>7} {'mean':>7}  server")  # fmt: skip
    for name, path in pages(base).items():
        _, served_by, _ = get(base + path)
        samples = [get(base + path)[0] for _ in range(args.requests)]
        ms = [s * 1000 for s in samples]
        print(
            f"{name:<12} {path:<18} {min(ms):7.1f} "
            f"{percentile(ms, 0.5):7.1f} {percentile(ms, 0.95):7.1f} {percentile(ms, 0.99):7.1f} "
            f"{max(ms):7.1f} {statistics.fmean(ms):7.1f}  {served_by}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
