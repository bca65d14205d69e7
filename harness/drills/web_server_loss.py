#!/usr/bin/env python3
"""Drill: lose an app server under load on the front door, count the failed requests.

    python -m harness.drills.web_server_loss --how stop --runs 3  # docker stop: an orderly shutdown
    python -m harness.drills.web_server_loss --how kill --runs 3  # docker kill: the host just dies

Each run:
  1. sends a bounded load to the front door, https://www.djangostack.test:8443/ at
     127.0.0.1 (hitch, Varnish, nginx, Apache; the certificate verified): every request
     a cache miss (a unique query string), so all of it reaches the app servers,
     `--concurrency` at a time (harness/http_load.py);
  2. `--after` seconds in, stops or kills the container of the app server (web1), and
     notes when `docker` returned: from then on the host is down;
  3. keeps the load on for `--hold` seconds with the host down (or until `--requests` or
     `--seconds`), then counts the failed requests (an error, a status outside 2xx, an
     answer after 5 s or one without the home page's heading), the requests sent after
     the host was down, and who served them. The drill passes only when none failed
     and at least `--min-after` requests were sent after the loss, all served by
     the other hosts: requests served before the stop cannot meet it;
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

# In every answer of the home page (sample_django/league/templates/league/home.html).
HOME_PAGE = "<h1>The league</h1>"


@dataclass(frozen=True)
class Figures:
    how: str
    host: str
    requests: int
    failed: int
    served_by: dict[str, int]
    down_at: float  # seconds into the load when docker stop/kill returned
    requests_after: int  # sent once the host was down
    failed_after: int
    served_by_after: dict[str, int]
    min_after: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    seconds: float
    back_after: float  # seconds from the start of the container to serving again

    @property
    def passed(self) -> bool:
        """No request failed, and enough were sent with the host down, none served by it."""
        return (
            self.failed == 0
            and self.requests_after >= self.min_after
            and self.failed_after == 0
            and self.host not in self.served_by_after
        )


def run_drill(
    how: str = "stop",
    host: str = "web1",
    requests: int = 100_000,
    seconds: float = 60,
    concurrency: int = 8,
    after: float = 3,
    hold: float = 10,
    min_after: int = 200,
) -> Figures:
    """One run; the host is serving again when it returns."""
    wait_until_serving(host)
    load = BackgroundLoad(
        FRONT_DOOR,
        requests=requests,
        concurrency=concurrency,
        seconds=seconds,
        unique=True,
        expect=HOME_PAGE,
    )
    with load:
        time.sleep(after)
        docker(how, PREFIX + host)
        down_at = load.elapsed()
        time.sleep(hold)  # the load goes on with the host down (or to its own bounds)
    load_result = load.result
    after_loss = load_result.window(down_at)
    docker("start", PREFIX + host)
    back_after = wait_until_serving(host)
    summary = load_result.summary()
    return Figures(
        how=how,
        host=host,
        requests=load_result.requests,
        failed=load_result.failed,
        served_by=summary["served_by"],
        down_at=round(down_at, 2),
        requests_after=after_loss["requests"],
        failed_after=after_loss["failed"],
        served_by_after=after_loss["served_by"],
        min_after=min_after,
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
    parser.add_argument("--requests", type=int, default=100_000, help="at most this many")
    parser.add_argument("--seconds", type=float, default=60, help="at most this long")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--after", type=float, default=3, help="seconds of load before the loss")
    parser.add_argument("--hold", type=float, default=10, help="seconds of load after the loss")
    parser.add_argument(
        "--min-after", type=int, default=200, help="fewest requests to send after the loss"
    )
    args = parser.parse_args()

    figures = []
    for number in range(1, args.runs + 1):
        print(f"run {number}/{args.runs} (docker {args.how} {args.host})...", flush=True)
        drill = run_drill(
            args.how,
            args.host,
            args.requests,
            args.seconds,
            args.concurrency,
            args.after,
            args.hold,
            args.min_after,
        )
        figures.append(drill)
    columns = ["run", "loss", "requests", "failed", "served by", "down at (s)"]
    columns += ["sent after (failed)", "served after", "p50 ms", "p95 ms", "max ms"]
    columns += ["load s", "serving again after (s)"]
    rows = [
        (n, f"docker {f.how} {f.host}", f"{f.requests:,}", f.failed, counts(f.served_by),
         f.down_at, f"{f.requests_after:,} ({f.failed_after})", counts(f.served_by_after),
         f.p50_ms, f.p95_ms, f.max_ms, f.seconds, f.back_after)
        for n, f in enumerate(figures, 1)
    ]  # fmt: skip
    print()
    print(markdown_table(columns, rows))
    return 0 if all(f.passed for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
