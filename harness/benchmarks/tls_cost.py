#!/usr/bin/env python3
"""What TLS costs at the front door: keep-alive requests per second for one page in
Varnish's cache, over HTTPS through hitch and over plain HTTP, with the same generator
from the same place, alternating, in one run.

    python -m harness.benchmarks.tls_cost                  # 3 rounds of 10 s each way
    python -m harness.benchmarks.tls_cost --rounds 5 --seconds 15

wrk (2 threads, 50 keep-alive connections) runs in varnish1's own network namespace
(nsenter: root), where both doors are: hitch on the edge address, port 443, and Varnish's
plain listener for the host itself, 127.0.0.1:6081 (varnish_local_port). Neither path then
goes through Docker's published-port proxy, and the difference is hitch's TLS and its PROXY
hop to Varnish. Both ask for the same page by the site's name; the first request of each
round puts it in the cache. The goal is HTTPS at no less than 80% of plain HTTP's rate:
the verdict compares the medians of the rounds. Bounded: rounds x seconds each way, to the
lab's own container only.

On this machine the generator shares the CPU with the stack, and wrk decrypts what hitch
encrypts, so the rate ratio charges TLS twice. The table also gives the stack's own cost:
CPU time of varnish1's container (its cgroup's cpuacct: hitch and Varnish, not wrk) per
request, the figure that sizes a front door whose clients are elsewhere.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from harness import wrk
from harness.lab import FRONT_DOOR_NAME, docker, markdown_table, on_host

GOAL = 0.80
CONNECTIONS = 50
THREADS = 2


def doors(path: str) -> dict[str, str]:
    """Each door's URL for `path`, as seen inside varnish1."""
    edge = on_host("varnish1", "hostname", "-I").split()[0]
    return {"http": f"http://127.0.0.1:6081{path}", "https": f"https://{edge}:443{path}"}


def cpu_seconds(cgroup: Path) -> float:
    """CPU time the container's processes have used, in seconds (cgroup v1's cpuacct)."""
    return int((cgroup / "cpuacct.usage").read_text()) / 1e9


def measure(path: str, rounds: int, seconds: float) -> dict[str, list[tuple[wrk.WrkResult, float]]]:
    """Each door's wrk results, each with the container's CPU microseconds per request."""
    pid, container = docker(
        "inspect", "-f", "{{.State.Pid}} {{.Id}}", "djangostack-varnish1"
    ).split()
    cgroup = Path("/sys/fs/cgroup/cpuacct/docker") / container
    inside = ("nsenter", "-t", pid, "-n")
    host = {"Host": FRONT_DOOR_NAME}
    results: dict[str, list[tuple[wrk.WrkResult, float]]] = {"http": [], "https": []}
    for _ in range(rounds):
        for door, url in doors(path).items():
            wrk.run(wrk.Load(url, 1, 1, 1, inside, host))  # the page into the cache
            before = cpu_seconds(cgroup)
            result = wrk.run(wrk.Load(url, seconds, CONNECTIONS, THREADS, inside, host))
            used = cpu_seconds(cgroup) - before
            if result.failed:
                raise SystemExit(f"{url}: {result.failed} of {result.requests} failed")
            results[door].append((result, used / result.requests * 1e6))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each door once per round")
    parser.add_argument("--seconds", type=float, default=10, help="seconds per measurement")
    parser.add_argument("--path", default="/standings/", help="the cached page")
    args = parser.parse_args()
    results = measure(args.path, args.rounds, args.seconds)
    median = {door: statistics.median(r.rps for r, _ in runs) for door, runs in results.items()}
    cost = {door: statistics.median(us for _, us in runs) for door, runs in results.items()}
    ratio = median["https"] / median["http"]
    rows = [
        (
            door,
            " / ".join(f"{r.rps:,.0f}" for r, _ in runs),
            f"{median[door]:,.0f}",
            f"{statistics.median(r.p99_ms for r, _ in runs):.1f}",
            f"{cost[door]:.0f}",
        )
        for door, runs in results.items()
    ]
    columns = ("door", "req/s, each round", "median req/s", "p99 ms", "stack CPU µs/request")
    print(markdown_table(columns, rows))
    verdict = "PASS" if ratio >= GOAL else "MISS"
    print(f"\nHTTPS / HTTP requests per second = {ratio:.2f} (goal >= {GOAL:.2f}): {verdict}")
    print(f"the stack's CPU per request, HTTP / HTTPS = {cost['http'] / cost['https']:.2f}")
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
