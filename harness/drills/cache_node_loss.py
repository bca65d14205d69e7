#!/usr/bin/env python3
"""Drill: lose a memcached node under load, count the failed requests and the cache hits
on the keys that lived on it.

    python -m harness.drills.cache_node_loss --runs 3
    python -m harness.drills.cache_node_loss --how stop --host cache2

The load is the standings page of every season through the front door, each request a
Varnish miss (a unique query string), so each one reaches an app server, whose Django
asks memcached for that season's standings (a generation key and the figures' key, spread
over cache1 and cache2 by pymemcache's client-side hashing). Each run:
  1. warms the cache (one request per season), then loads for `--before` + `--after`
     seconds, killing (or stopping) the cache node `--before` seconds in;
  2. reads each node's own log of its lookups the whole time (memcached's `watch
     fetchers`: one line per get, with its key and found / not found), so the hits are
     counted per key, on the standings keys only (not Varnish's /healthz/ probes);
  3. counts the failed requests (an error, a status outside 2xx, an answer after 5 s or
     one without the standings page's heading), the hit rate before the loss, and the hit
     rate after it **on the keys the lost node held**: their lookups on the surviving
     node. A client that kept asking the dead node for them shows no such lookup at all;
  4. starts the node again (empty, as memcached restarts) and waits until it answers.
A lookup on the dead node is a miss to the app (ignore_exc), never an error; after
retry_attempts failures a client takes the node out of its ring for dead_timeout seconds
and its keys move to the live node, so their hits come back within the window. Prints a
table of figures. Traffic goes only to 127.0.0.1 and the lab's own containers.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass

from harness.http_load import LoadResult, run_load
from harness.lab import (
    FRONT_DOOR,
    PREFIX,
    BackgroundLoad,
    docker,
    load_options,
    markdown_table,
    on_host,
    seconds_until,
    urlopen,
)

CACHE_HOSTS = ("cache1", "cache2")
# In every season's standings page (sample_django/league/templates/league/standings.html:
# "<h1>Standings {{ season.year }}</h1>").
STANDINGS_PAGE = "<h1>Standings "
# The standings' keys, as Django writes them (KEY_PREFIX "djangostack", version 1):
# "djangostack:1:standings:<season>:<generation>" and "djangostack:1:generation:standings:<season>".
STANDINGS_KEY = re.compile(r"^djangostack:\d+:(?:generation:)?standings:")
# One line of `watch fetchers`: "ts=... gid=... type=item_get key=<key> status=found ...".
FETCH_LINE = re.compile(r"\btype=item_get key=(?P<key>\S+) status=(?P<status>\w+)")


@dataclass(frozen=True)
class Lookups:
    """Gets of standings keys: how many, and how many found."""

    gets: int = 0
    hits: int = 0

    @property
    def hit_rate(self) -> float:
        return round(100 * self.hits / self.gets, 1) if self.gets else 0.0


@dataclass(frozen=True)
class Window:
    requests: int
    failed: int
    lookups: Lookups
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True)
class Figures:
    how: str
    host: str
    before: Window
    after: Window
    moved_keys: int  # standings keys the lost node served before the loss
    moved: Lookups  # their lookups on the surviving node after the loss
    back_after: float  # seconds from the node's start to answering memcached again

    def passed(self, min_moved_gets: int = 20, moved_hit_rate: float = 50) -> bool:
        """No failed request, and the lost node's keys looked up on the survivor, enough
        times, mostly hits: they moved, and were cached again there."""
        return (
            self.before.failed + self.after.failed == 0
            and self.moved.gets >= min_moved_gets
            and self.moved.hit_rate >= moved_hit_rate
        )


def memcached_session(commands: str, seconds: int) -> str:
    """A bash script for a node's own container: send `commands` (printf's escapes) to
    memcached on the address it listens on (the app network's, not loopback), then print
    what it answers for at most `seconds`."""
    return (
        'address=$(ss -Htln "sport = :11211" | awk "{print \\$4}" | head -n1); '
        f'exec 3<>"/dev/tcp/${{address%:*}}/11211" && printf "{commands}" >&3 '
        f"&& exec timeout {seconds} cat <&3"
    )


def standings_lookup(line: str) -> tuple[str, bool] | None:
    """A `watch fetchers` line's key and whether it was found, for a standings key only."""
    match = FETCH_LINE.search(line)
    if not match:
        return None
    key = urllib.parse.unquote(match["key"])
    return (key, match["status"] == "found") if STANDINGS_KEY.match(key) else None


class FetchLog:
    """`watch fetchers` on one node, read from the controller for the length of a `with`
    block (or `seconds`): (controller time, key, found) per get of a standings key."""

    def __init__(self, host: str, seconds: float) -> None:
        script = memcached_session("watch fetchers\\r\\n", int(seconds) + 5)
        self.host = host
        self.lines: list[tuple[float, str, bool]] = []
        self._process = subprocess.Popen(
            ["docker", "exec", PREFIX + host, "bash", "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            lookup = standings_lookup(line)
            if lookup:
                self.lines.append((time.monotonic(), *lookup))

    def __enter__(self) -> FetchLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self._process.terminate()
        self._process.wait(10)
        self._reader.join(10)

    def keys(self, since: float, until: float) -> set[str]:
        return {key for at, key, _ in self.lines if since <= at < until}

    def lookups(self, since: float, until: float, keys: set[str] | None = None) -> Lookups:
        chosen = [
            found
            for at, key, found in self.lines
            if since <= at < until and (keys is None or key in keys)
        ]
        return Lookups(len(chosen), sum(chosen))


def combined(*parts: Lookups) -> Lookups:
    return Lookups(sum(p.gets for p in parts), sum(p.hits for p in parts))


def season_urls() -> list[str]:
    """Every season's standings page, as the standings page links them."""
    with urlopen(f"{FRONT_DOOR}standings/", timeout=10) as response:
        page = response.read().decode()
    paths = sorted(set(re.findall(r'href="(/standings/\d{4}/)"', page)))
    if not paths:
        raise RuntimeError("the standings page links no season")
    return [FRONT_DOOR.rstrip("/") + path for path in paths]


def memcached_stats(host: str) -> dict[str, int] | None:
    """The node's `stats` counters, asked on its own listening address; None when it is
    down."""
    script = memcached_session("stats\\r\\nquit\\r\\n", 5)
    answer = on_host(host, "bash", "-c", script, check=False)
    stats = dict(re.findall(r"^STAT (\w+) (\d+)\r?$", answer, re.MULTILINE))
    return {name: int(value) for name, value in stats.items()} or None


def window(result: LoadResult, since: float, until: float, lookups: Lookups) -> Window:
    counted = result.window(since, until)
    return Window(
        counted["requests"], counted["failed"], lookups, counted["p50_ms"], counted["p95_ms"]
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
    survivor = next(h for h in CACHE_HOSTS if h != host)
    urls = season_urls()
    # Every season cached.
    warm = {"requests": len(urls), "concurrency": 1, "unique": True, "expect": STANDINGS_PAGE}
    run_load(urls, **warm, **load_options(urls))
    load = BackgroundLoad(
        urls,
        requests=requests,
        concurrency=concurrency,
        seconds=before + after,
        unique=True,
        expect=STANDINGS_PAGE,
    )
    with FetchLog(host, before + after) as lost, FetchLog(survivor, before + after) as kept:
        time.sleep(1)  # both watches attached before the first request
        with load:
            started = time.monotonic()
            time.sleep(before)
            lost_at, lost_at_load = time.monotonic(), load.elapsed()
            docker(how, PREFIX + host)
            load.finish()  # the load runs to its own bound, the node down
        ended = time.monotonic()
    docker("start", PREFIX + host)
    back_after = wait_until_answering(host)
    moved_keys = lost.keys(started, lost_at)
    result = load.result
    return Figures(
        how=how,
        host=host,
        before=window(
            result,
            0,
            lost_at_load,
            combined(lost.lookups(started, lost_at), kept.lookups(started, lost_at)),
        ),
        after=window(result, lost_at_load, float("inf"), kept.lookups(lost_at, ended)),
        moved_keys=len(moved_keys),
        moved=kept.lookups(lost_at, ended, moved_keys),
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
    columns += ["lost node's keys", "their gets after", "their hit rate after %"]
    columns += ["p50 ms before", "p50 ms after", "p95 ms before", "p95 ms after"]
    columns += ["node answering again after (s)"]
    rows = [
        (n, f"docker {f.how} {f.host}", f"{f.before.requests + f.after.requests:,}",
         f.before.failed + f.after.failed, f.before.lookups.hit_rate, f.after.lookups.hit_rate,
         f.moved_keys, f.moved.gets, f.moved.hit_rate,
         f.before.p50_ms, f.after.p50_ms, f.before.p95_ms, f.after.p95_ms, f.back_after)
        for n, f in enumerate(figures, 1)
    ]  # fmt: skip
    print()
    print(markdown_table(columns, rows))
    return 0 if all(f.passed() for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
