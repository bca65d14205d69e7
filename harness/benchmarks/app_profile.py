#!/usr/bin/env python3
"""Where one uncached request's time goes on an app server: py-spy samples web1's
mod_wsgi daemons while wrk loads its home page.

    python -m harness.benchmarks.app_profile              # 20 s, the lab as it is
    python -m harness.benchmarks.app_profile --seconds 30 --connections 20

py-spy (pyproject's dev group) attaches from the host to the daemons of the lab's web1
container (`docker top` gives their host PIDs), which needs root. Every thread is sampled,
idle ones too, so that time spent waiting on pgpool, PostgreSQL or memcached counts as
much as time spent computing; only the samples of threads serving a request (Django's
WSGIHandler on the stack) are kept. Each sample goes to the first category whose files
or functions are on its stack, in the order of CATEGORIES. The table gives each
category's share of the request time and its milliseconds per request (thread time over
the requests wrk completed meanwhile). Load: 127.0.0.1 only, bounded by --seconds.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import wrk

CONTAINER = "djangostack-web1"
URL = "http://127.0.0.1:8082/"  # web1 alone, published by lab/lab.yml
PY_SPY = Path(sys.executable).parent / "py-spy"
RATE = 100  # samples per second and thread

# (category, what on a stack puts a sample in it), first match wins: a query run while a
# template renders is a query.
CATEGORIES: list[tuple[str, re.Pattern[str]]] = [
    (
        "connecting to pgpool (SCRAM authentication)",
        re.compile(r"get_new_connection|psycopg/connection\.py:\d+\)?;?[^;]*connect"),
    ),
    ("the connection's health check (SELECT 1)", re.compile(r"close_if_health_check_failed")),
    ("queries: waiting on pgpool and PostgreSQL", re.compile(r"/psycopg/")),
    ("memcached", re.compile(r"/pymemcache/")),
    ("building queries and models (the ORM)", re.compile(r"/django/db/")),
    ("rendering templates", re.compile(r"/django/template/")),
    ("the rest: URL routing, middleware, views", re.compile(r".")),
]


def daemon_pids(container: str) -> list[int]:
    """The host PIDs of the container's mod_wsgi daemons ((wsgi:app), display-name)."""
    listing = subprocess.run(
        ["docker", "top", container, "-eo", "pid,args"], capture_output=True, text=True, check=True
    ).stdout
    pids = [int(line.split()[0]) for line in listing.splitlines() if "(wsgi:app)" in line]
    if not pids:
        raise SystemExit(f"no mod_wsgi daemon runs in {container}: is the lab up (make up)?")
    return pids


def classify(raw_files: list[Path]) -> collections.Counter[str]:
    """Samples per category, from py-spy's raw (collapsed) stacks: 'frame;frame;... count'."""
    samples: collections.Counter[str] = collections.Counter()
    for raw in raw_files:
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if "WSGIHandler.__call__" not in stack:
                continue  # a thread waiting for a request, or mod_wsgi's own
            name = next(name for name, pattern in CATEGORIES if pattern.search(stack))
            samples[name] += int(count)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=20)
    args = parser.parse_args()
    if not 5 <= args.seconds <= 120 or not 1 <= args.connections <= 200:
        parser.error("--seconds 5-120 and --connections 1-200: a bounded load")
    if not PY_SPY.exists():
        raise SystemExit(f"{PY_SPY} is missing: `make setup` installs py-spy into .venv")
    pids = daemon_pids(CONTAINER)
    load_seconds = args.seconds + 4
    load = wrk.start(wrk.Load(URL, load_seconds, args.connections, threads=2))
    time.sleep(2)  # the load is steady before sampling starts
    with tempfile.TemporaryDirectory() as folder:
        raws = [Path(folder) / f"{pid}.raw" for pid in pids]
        spies = [
            subprocess.Popen(
                [
                    str(PY_SPY),
                    "record",
                    "--format=raw",
                    "--full-filenames",
                    "--idle",
                    "--nonblocking",
                    f"--rate={RATE}",
                    f"--duration={args.seconds}",
                    f"--pid={pid}",
                    f"--output={raw}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for pid, raw in zip(pids, raws, strict=True)
        ]
        if any(spy.wait() != 0 for spy in spies):
            raise SystemExit("py-spy failed: it needs root (ptrace) on the daemons' PIDs")
        samples = classify(raws)
    rps = wrk.finish(URL, load, timeout=60).rps
    total = sum(samples.values())
    if not total:
        raise SystemExit("no sample of a request being served: is web1 answering?")
    requests = rps * args.seconds
    print(
        f"web1's home page under wrk -t2 -c{args.connections}: {rps:,.1f} req/s; "
        f"{len(pids)} daemons sampled for {args.seconds} s at {RATE}/s, "
        f"{total:,} samples of threads serving a request\n"
    )
    print("| where the time goes | share | ms per request |")
    print("| --- | --- | --- |")
    for name, _ in CATEGORIES:
        share = samples[name] / total
        per_request = samples[name] / RATE / requests * 1000
        print(f"| {name} | {share:.0%} | {per_request:,.1f} |")
    print(f"| all | 100% | {total / RATE / requests * 1000:,.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
