#!/usr/bin/env python3
"""Drill: lose a memcached node under load, count the failed requests and the cache hits.

    python -m harness.drills.cache_node_loss --runs 3
    python -m harness.drills.cache_node_loss --how stop --host cache2

The load is the standings page of every season through the front door, each request a
Varnish miss (a unique query string), so each one reaches an app server, whose Django
asks memcached for that season's standings (one lookup per request, keys spread over
cache1 and cache2 by pymemcache's client-side hashing). Each run:
  1. warms the cache (one request per season), then loads for `--before` + `--after`
     seconds, killing (or stopping) the cache node `--before` seconds in;
  2. counts the failed requests (an error or a status outside 200-399) and, for each
     window, the hit rate: memcached's get_hits on the nodes that answer, over the
     requests the app served in it;
  3. starts the node again (empty, as memcached restarts) and waits until it answers.
A lookup on the dead node is a miss to the app (ignore_exc), never an error; after
retry_attempts failures a client takes the node out of its ring for dead_timeout seconds
and its keys move to the live node, so the hit rate comes back within the window.

Varnish's health probe (every 2 s) adds one /healthz/ cache round trip per probe, a hit
that is not a page: under 1% of the hits at this load. Prints a table of figures. Traffic
goes only to 127.0.0.1 and the lab's own containers.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import urllib.request
from dataclasses import dataclass

from harness.http_load import LoadResult, run_load
from harness.lab import (
    FRONT_DOOR,
    PREFIX,
    BackgroundLoad,
    docker,
    markdown_table,
    on_host,
    seconds_until,
)

CACHE_HOSTS = ("cache1", "cache2")


@dataclass(frozen=True)
class Window:
    requests: int
    failed: int
    hits: int
    p50_ms: float
    p95_ms: float

    @property
    def hit_rate(self) -> float:
        served = self.requests - self.failed
        return round(100 * self.hits / served, 1) if served else 0.0


@dataclass(frozen=True)
class Figures:
    how: str
    host: str
    before: Window
    after: Window
    back_after: float  # seconds from the node's start to answering memcached again


def season_urls() -> list[str]:
    """Every season's standings page, as the standings page links them."""
    with urllib.request.urlopen(f"{FRONT_DOOR}standings/", timeout=10) as response:
        page = response.read().decode()
    paths = sorted(set(re.findall(r'href="(/standings/\d{4}/)"', page)))
    if not paths:
        raise RuntimeError("the standings page links no season")
    return [FRONT_DOOR.rstrip("/") + path for path in paths]


def memcached_stats(host: str) -> dict[str, int] | None:
    """The node's `stats` counters, asked on its own listening address; None when it is
    down."""
    script = (
        'address=$(ss -Htln "sport = :11211" | awk "{print \\$4}" | head -n1); '
        'exec 3<>"/dev/tcp/${address%:*}/11211" && printf "stats\\r\\nquit\\r\\n" >&3 '
        "&& timeout 5 cat <&3"
    )
    answer = on_host(host, "bash", "-c", script, check=False)
    stats = dict(re.findall(r"^STAT (\w+) (\d+)\r?$", answer, re.MULTILINE))
    return {name: int(value) for name, value in stats.items()} or None


def hits_by_node() -> dict[str, int]:
    """get_hits of each cache node that answers."""
    return {host: s["get_hits"] for host in CACHE_HOSTS if (s := memcached_stats(host))}


def window(result: LoadResult, since: float, until: float, hits: int) -> Window:
    counted = result.window(since, until)
    return Window(
        counted["requests"], counted["failed"], hits, counted["p50_ms"], counted["p95_ms"]
    )


def wait_until_answering(host: str, seconds: float = 60) -> float:
    return seconds_until(
        lambda: memcached_stats(host) is not None,
        seconds,
        0.5,
        f"memcached on {host} does not answer",
    )


def run_drill(
    how: str = "kill",
    host: str = "cache1",
    before: float = 15,
    after: float = 30,
    concurrency: int = 8,
    requests: int = 20000,
) -> Figures:
    """One run; the node is back (and empty) when it returns."""
    urls = season_urls()
    run_load(urls, requests=len(urls), concurrency=1, unique=True)  # every season cached
    load = BackgroundLoad(
        urls, requests=requests, concurrency=concurrency, seconds=before + after, unique=True
    )
    with load:
        at_start = hits_by_node()
        time.sleep(before)
        at_loss, lost_at = hits_by_node(), load.elapsed()
        docker(how, PREFIX + host)
        load.finish()  # the load runs to its own bound, the node down
    # The lost node's counters died with it: the window after counts the survivors' hits.
    at_end = hits_by_node()
    docker("start", PREFIX + host)
    back_after = wait_until_answering(host)
    return Figures(
        how=how,
        host=host,
        before=window(load.result, 0, lost_at, sum(at_loss[h] - at_start[h] for h in at_start)),
        after=window(
            load.result, lost_at, float("inf"), sum(at_end[h] - at_loss[h] for h in at_end)
        ),
        back_after=back_after,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--how", choices=["kill", "stop"], default="kill")
    parser.add_argument("--host", choices=CACHE_HOSTS, default="cache1")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--before", type=float, default=15, help="seconds of load before")
    parser.add_argument("--after", type=float, default=30, help="seconds of load after")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    figures = []
    for number in range(1, args.runs + 1):
        print(f"run {number}/{args.runs} (docker {args.how} {args.host})...", flush=True)
        figures.append(run_drill(args.how, args.host, args.before, args.after, args.concurrency))
    columns = ["run", "loss", "requests", "failed", "hit rate before %", "hit rate after %"]
    columns += ["p50 ms before", "p50 ms after", "p95 ms before", "p95 ms after"]
    columns += ["node answering again after (s)"]
    rows = [
        (n, f"docker {f.how} {f.host}", f"{f.before.requests + f.after.requests:,}",
         f.before.failed + f.after.failed, f.before.hit_rate, f.after.hit_rate,
         f.before.p50_ms, f.after.p50_ms, f.before.p95_ms, f.after.p95_ms, f.back_after)
        for n, f in enumerate(figures, 1)
    ]  # fmt: skip
    print()
    print(markdown_table(columns, rows))
    return 1 if any(f.before.failed or f.after.failed for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
