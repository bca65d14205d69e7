#!/usr/bin/env python3
"""Drill: lose an app server under load on the front door, count the failed requests.

    python -m harness.drills.web_server_loss --how stop --runs 3  # docker stop: an orderly shutdown
    python -m harness.drills.web_server_loss --how kill --runs 3  # docker kill: the host just dies

Each run:
  1. sends a bounded load to the front door, http://127.0.0.1:8080/ (Varnish, nginx,
     Apache): every request a cache miss (a unique query string), so all of it reaches
     the app servers, `--concurrency` at a time (harness/http_load.py);
  2. `--after` seconds in, stops or kills the container of the app server (web1);
  3. when the load ends (`--requests` or `--seconds`, whichever first), counts the failed
     requests (an error or a status outside 200-399) and who served the rest;
  4. starts the container again and waits until the front door serves from it again.
Prints a table of figures. Traffic goes only to 127.0.0.1 and the lab's own containers.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from harness.lab import (
    FRONT_DOOR,
    PREFIX,
    BackgroundLoad,
    counts,
    docker,
    markdown_table,
    wait_until_serving,
)


@dataclass(frozen=True)
class Figures:
    how: str
    host: str
    requests: int
    failed: int
    served_by: dict[str, int]
    p50_ms: float
    p95_ms: float
    max_ms: float
    seconds: float
    back_after: float  # seconds from the start of the container to serving again


def run_drill(
    how: str = "stop",
    host: str = "web1",
    requests: int = 3000,
    seconds: float = 60,
    concurrency: int = 8,
    after: float = 3,
) -> Figures:
    """One run; the host is serving again when it returns."""
    wait_until_serving(host)
    load = BackgroundLoad(
        FRONT_DOOR, requests=requests, concurrency=concurrency, seconds=seconds, unique=True
    )
    with load:
        time.sleep(after)
        docker(how, PREFIX + host)
        load_result = load.finish()  # the load runs to its own bound, the host down
    docker("start", PREFIX + host)
    back_after = wait_until_serving(host)
    summary = load_result.summary()
    return Figures(
        how=how,
        host=host,
        requests=load_result.requests,
        failed=load_result.failed,
        served_by=summary["served_by"],
        p50_ms=summary["p50_ms"],
        p95_ms=summary["p95_ms"],
        max_ms=summary["max_ms"],
        seconds=summary["seconds"],
        back_after=back_after,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--how", choices=["stop", "kill"], default="stop")
    parser.add_argument("--host", default="web1", help="the app server to lose")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--requests", type=int, default=3000, help="at most this many requests")
    parser.add_argument("--seconds", type=float, default=60, help="at most this long")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--after", type=float, default=3, help="seconds of load before the loss")
    args = parser.parse_args()

    figures = []
    for number in range(1, args.runs + 1):
        print(f"run {number}/{args.runs} (docker {args.how} {args.host})...", flush=True)
        drill = run_drill(
            args.how, args.host, args.requests, args.seconds, args.concurrency, args.after
        )
        figures.append(drill)
    columns = ["run", "loss", "requests", "failed", "served by", "p50 ms", "p95 ms", "max ms"]
    columns += ["load s", "serving again after (s)"]
    rows = [
        (n, f"docker {f.how} {f.host}", f"{f.requests:,}", f.failed, counts(f.served_by),
         f.p50_ms, f.p95_ms, f.max_ms, f.seconds, f.back_after)
        for n, f in enumerate(figures, 1)
    ]  # fmt: skip
    print()
    print(markdown_table(columns, rows))
    return 1 if any(f.failed for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
