#!/usr/bin/env python3
"""The stack's capacity with a C load generator (wrk), so that the limit measured is the
stack's and not locust's.

    python -m harness.loadtest.capacity  # each tier once: web1 uncached, lb static, front cached
    python -m harness.loadtest.capacity --variant before=django_app_database_conn_max_age=0 \\
        --variant after= --rounds 2      # settings side by side, interleaved, on web1
    make capacity

Each measurement is `wrk --latency -t THREADS -c CONNECTIONS -d SECONDS URL`, on
127.0.0.1 only, bounded in time. The three targets are the limits that decide the stack:
one app server rendering a page (every miss, write and signed-in page pays it), nginx
sending a static file, and the front door (hitch's TLS, then Varnish) answering from its
cache over HTTPS keep-alive, its name sent to 127.0.0.1 (harness.wrk.command).

With --variant NAME=EXTRA_VARS (tune.py's form), site.yml converges the lab with each
variant in turn and wrk measures web1; the variants alternate --rounds times, so the
machine's drift lands on all of them, and the table gives each run's ratio to the first
variant's mean. At the end site.yml converges with the defaults again. Writes
reports/capacity/<time>/capacity.md. Exit status 1 when a request failed.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import sys
import time
from pathlib import Path

from harness import wrk as harness_wrk
from harness.lab import urlopen
from harness.loadtest import report
from harness.loadtest.run import default_folder
from harness.loadtest.site import TARGETS
from harness.loadtest.tune import converge, variant
from harness.wrk import WrkResult


def wrk(url: str, seconds: int, connections: int, threads: int) -> WrkResult:
    try:
        return harness_wrk.run(harness_wrk.Load(url, seconds, connections, threads))
    except (RuntimeError, ValueError) as error:
        raise SystemExit(str(error)) from error


def static_file_url() -> str:
    """A static file the pages really link to (its name carries the manifest's hash)."""
    with urlopen(TARGETS["lb"] + "/", timeout=10) as response:
        page = response.read().decode()
    match = re.search(r"""["'](/static/[^"']+)["']""", page)
    if not match:
        raise SystemExit(f"{TARGETS['lb']}/ links to no /static/ file")
    return TARGETS["lb"] + match.group(1)


def measure_tiers(
    seconds: int = 10, connections: int = 20, threads: int = 2
) -> dict[str, WrkResult]:
    """Each tier's figure, one after the other."""
    results = {}
    for name, url in tier_urls().items():
        print(f"{name}: wrk -t{threads} -c{connections} -d{seconds}s {url}", flush=True)
        results[name] = wrk(url, seconds, connections, threads)
        time.sleep(2)  # the previous target's connections close before the next run
    return results


def tier_urls() -> dict[str, str]:
    """What each target's figure means: web1 renders, lb sends a file, Varnish hits."""
    cached = TARGETS["front"] + "/"
    with urlopen(cached, timeout=10) as response:  # the first request fills the cache
        response.read()
    return {
        "web1, uncached page": TARGETS["web1"] + "/",
        "lb, static file": static_file_url(),
        "front, cached page": cached,
    }


COLUMNS = ["run", "URL", "requests", "req/s", "mean ms", "p50 ms", "p99 ms", "failed"]
WRK_DEFAULT = "wrk --latency -t2 -c20 -d10s"


def row(name: str, c: WrkResult) -> list[str]:
    return [
        name,
        c.url,
        f"{c.requests:,}",
        f"{c.rps:,.1f}",
        f"{c.mean_ms:,.1f}",
        f"{c.p50_ms:,.1f}",
        f"{c.p99_ms:,.1f}",
        str(c.failed),
    ]


def table(results: dict[str, WrkResult]) -> str:
    return report.markdown_table(COLUMNS, [row(name, c) for name, c in results.items()])


def compare_variants(
    variants: list[tuple[str, str]], rounds: int, seconds: int, connections: int, threads: int
) -> tuple[list[list[str]], list[str], list[WrkResult]]:
    """Converge each variant in turn, `rounds` times, and measure web1 after each."""
    results: dict[str, list[WrkResult]] = {name: [] for name, _ in variants}
    rows: list[list[str]] = []
    url = TARGETS["web1"] + "/"
    try:
        for number in range(1, rounds + 1):
            for name, extra_vars in variants:
                print(f"round {number}, {name}: site.yml {extra_vars or '(defaults)'}", flush=True)
                converge(extra_vars)
                time.sleep(5)  # the reloaded daemons settle
                wrk(url, 3, connections, threads)  # each daemon loads the app: not measured
                measured = wrk(url, seconds, connections, threads)
                results[name].append(measured)
                rows.append(row(f"{name} #{number}", measured))
                print(" | ".join(rows[-1]), flush=True)
    finally:
        print("site.yml with the defaults again", flush=True)
        converge("")
    first = variants[0][0]
    baseline = sum(c.rps for c in results[first]) / len(results[first])
    verdict = [
        f"- {name}: mean {sum(c.rps for c in runs) / len(runs):,.1f} req/s over {len(runs)} runs, "
        f"**{sum(c.rps for c in runs) / len(runs) / baseline:.2f}x** {first} "
        f"(each run: {', '.join(f'{c.rps / baseline:.2f}x' for c in runs)})"
        for name, runs in results.items()
    ]
    return rows, verdict, [c for runs in results.values() for c in runs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variant", type=variant, action="append", default=[])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if (
        not 1 <= args.seconds <= 120
        or not 1 <= args.connections <= 400
        or not 1 <= args.rounds <= 5
    ):
        parser.error("--seconds 1-120, --connections 1-400, --rounds 1-5: a bounded load")
    if not 1 <= args.threads <= args.connections:
        parser.error("--threads from 1 to --connections (wrk needs a connection per thread)")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: `make setup` installs Debian's package")
    out = args.out or default_folder("capacity", "variants" if args.variant else "tiers")
    load = f"wrk --latency -t{args.threads} -c{args.connections} -d{args.seconds}s"
    if args.variant:
        rows, verdict, runs = compare_variants(
            args.variant, args.rounds, args.seconds, args.connections, args.threads
        )
        title = f"web1's uncached page under each variant, {load}"
    else:
        tiers = measure_tiers(args.seconds, args.connections, args.threads)
        runs = list(tiers.values())
        rows = [row(name, c) for name, c in tiers.items()]
        verdict = []
        title = f"Each tier's capacity, {load}"
    command = " ".join(
        [
            "python -m harness.loadtest.capacity",
            f"--seconds {args.seconds} --connections {args.connections}",
        ]
        + [f"--threads {args.threads}"]
        + ([f"--rounds {args.rounds}"] if args.variant else [])
        + [shlex.quote(f"--variant={n}={e}") for n, e in args.variant]
    )
    sections = [report.markdown_table(COLUMNS, rows)] + (["\n".join(verdict)] if verdict else [])
    text = report.page(title, sections, command)
    out.mkdir(parents=True, exist_ok=True)
    (out / "capacity.md").write_text(text)
    print(text)
    return 1 if any(c.failed for c in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
