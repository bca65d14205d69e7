#!/usr/bin/env python3
"""The workshop's "initial vs final": the same scenario against each target, one table.

    python -m harness.loadtest.compare                      # 50 users, 60 s each: web1, lb, front
    make compare USERS=50 DURATION=60

Runs run.py's load test against web1 (one app server: the initial state), lb (nginx over
both app servers, no cache) and front (the whole stack through Varnish), in that order,
with one crawl for all three. Then wrk measures each tier's capacity (capacity.py), so
that the table also says where the stack's limit is, apart from locust's. Writes
reports/compare/<time>/: a folder per target, comparison.md (the tables, the ratios the
workshop asked about, the command) and comparison.png. Exit status 1 when a request failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from harness.loadtest import capacity, report
from harness.loadtest.run import default_folder, run_loadtest
from harness.loadtest.site import crawl

ORDER = ("web1", "lb", "front")  # initial, intermediate, final


def verdict(runs: dict[str, report.Run]) -> list[str]:
    initial, final = runs["web1"], runs["front"]
    ratio = final.visitors["rps"] / initial.visitors["rps"] if initial.visitors["rps"] else 0.0
    hit = final.hit_rate or 0.0
    return [
        f"- anonymous pages per second, whole stack / one app server: **{ratio:.1f}x** "
        f"({final.visitors['rps']:,.1f} / {initial.visitors['rps']:,.1f})",
        f"- anonymous p95: {final.visitors['p95_ms']:,.0f} ms on the whole stack, "
        f"{initial.visitors['p95_ms']:,.0f} ms on one app server",
        f"- Varnish hit rate on anonymous pages: {hit:.1f}%",
        "- failed requests: " + ", ".join(f"{t} {r.all['failures']:,.0f}" for t, r in runs.items()),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--think", type=float, default=0.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out or default_folder("compare", "all")
    catalogue = crawl()
    runs: dict[str, report.Run] = {}
    for target in ORDER:
        print(f"{target}: {args.users} users for {args.seconds} s...", flush=True)
        runs[target] = run_loadtest(
            target, args.users, args.seconds, out / target, args.workers, args.think, catalogue
        )
        time.sleep(5)  # the previous target's connections drain before the next run
    report.plot_comparison({t: out / t for t in runs}, list(runs.values()), out / "comparison.png")
    print("each tier's capacity with wrk...", flush=True)
    tiers = capacity.measure_tiers()
    command = (
        f"python -m harness.loadtest.compare --users {args.users} --seconds {args.seconds} "
        f"--workers {args.workers} --think {args.think}"
    )
    text = report.page(
        "Initial vs final",
        [
            report.table(list(runs.values())),
            "\n".join(verdict(runs)),
            f"Each tier's capacity, `{capacity.WRK_DEFAULT}` (locust is Python: its rates "
            "above are the generator's limit on the cached pages, these are the stack's):",
            capacity.table(tiers),
        ],
        command,
    )
    (out / "comparison.md").write_text(text)
    print(text)
    print(f"\nreport: {out}/ (comparison.md, comparison.png, one folder per target)")
    failed = any(r.all["failures"] for r in runs.values()) or any(c.failed for c in tiers.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
