#!/usr/bin/env python3
"""Latency of the sample app's pages on one app server, one request at a time.

    python -m harness.benchmarks.page_latency  # web1 on the lab: 127.0.0.1:8082
    python -m harness.benchmarks.page_latency --requests 500 --base http://127.0.0.1:8082
    python -m harness.benchmarks.page_latency --base https://www.djangostack.test:8443  # cached

Sequential requests (no concurrency: this is the latency a single visitor sees, not a
load test) on one keep-alive connection, as a browser's, to the home page, the standings
and a team's season page (found by following the pages' own links), measured by the
harness's one HTTP engine (harness/http_load.py). One unmeasured request per page comes
first, on the same connection. Every answer must be a 2xx page of the sample app (its
<title> ends in "djangostack"): anything else stops the benchmark, saying what came back.
Nothing sits in front of the app server: every request runs Django and its queries (the
standings table comes from memcached for 60 s at a time, as in production). Bounded:
loopback only (the front door's name pinned there, harness.lab), at most --requests per
page.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import urllib.parse

from harness.http_load import LoadResult, percentile, run_load
from harness.lab import is_front_door, load_options, urlopen

# In every page of the sample app, from its base template
# (sample_django/league/templates/league/base.html: "<title>... · djangostack</title>").
PAGE_MARK = "djangostack</title>"
TIMEOUT = 30.0  # seconds: the socket's, and the slowest answer measured (not judged)


def measure(url: str, requests: int) -> LoadResult:
    """`requests` sequential GETs of `url` on one keep-alive connection; exits, saying what
    came back, unless every one was a 2xx page of the app."""
    result = run_load(
        url,
        requests=requests,
        concurrency=1,
        seconds=requests * TIMEOUT,
        timeout=TIMEOUT,
        slow_seconds=TIMEOUT,
        expect=PAGE_MARK,
        **load_options(url),
    )
    if result.failed or result.requests != requests:
        raise SystemExit(
            f"{url}: {result.failed} of {result.requests} requests failed "
            f"(statuses {dict(result.statuses)}, errors {dict(result.errors)}): "
            + "; ".join(result.failure_samples)
        )
    return result


def pages(base: str) -> dict[str, str]:
    """The three pages, the team season page found through the standings' links."""
    with urlopen(f"{base}/standings/", timeout=TIMEOUT) as response:
        standings = response.read().decode()
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
    loopback = urllib.parse.urlsplit(base).hostname in {"127.0.0.1", "localhost"}
    if not loopback and not is_front_door(base):
        parser.error("--base must be a loopback address or the front door: the lab's ports only")
    if not 1 <= args.requests <= 1000:
        parser.error("--requests must be 1-1000")

    print(f"{base}, {args.requests} sequential requests per page, milliseconds")
    print(f"{'page':<12} {'path':<18} {'min':>7} {'p50':>7} {'p95':>7} "
          f"{'p99':>7} {'max':>7} {'mean':>7}  server")  # fmt: skip
    for name, path in pages(base).items():
        result = measure(base + path, 1 + args.requests)
        ms = result.latencies_ms[1:]  # in order (one at a time): the first one unmeasured
        served_by = ",".join(sorted(result.served_by)) or "?"
        print(
            f"{name:<12} {path:<18} {min(ms):7.1f} "
            f"{percentile(ms, 0.5):7.1f} {percentile(ms, 0.95):7.1f} {percentile(ms, 0.99):7.1f} "
            f"{max(ms):7.1f} {statistics.fmean(ms):7.1f}  {served_by}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
