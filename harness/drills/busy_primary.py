#!/usr/bin/env python3
"""Drill: saturating load on the front door and the load balancer at once must not fail
the primary over.

    python -m harness.drills.busy_primary --seconds 120     # make drills

pgpool declares the primary down after two health checks in a row fail to connect within
a second each (roles/pgpool/defaults/main.yml): fast enough to bring writes back within
6 s of a real loss, and so a busy primary that is slow to accept must not look lost.
For --seconds, two wrk load generators (Debian's) run at once:
  - the front door, https://www.djangostack.test:8443/ (hitch and Varnish, at 127.0.0.1;
    a cached page over HTTPS keep-alive, the edge's CPU);
  - the load balancer, 127.0.0.1:8081/ (nginx; every request renders the home page on
    an app server from PostgreSQL through its pgpool).
Then it counts failovers: health checks that declared a node down (pgpool's "degenerate
backend request", in the journal of every pgpool host), and whether the primary or its
timeline changed. Exits 1 on any. Traffic goes only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness import wrk
from harness.ansible_cli import REPO
from harness.drills.primary_loss import container, group, inventory_hosts, live_roles
from harness.lab import FRONT_DOOR, markdown_table, on_host, psql
from harness.wrk import WrkResult

# wrk reaches the front door's name at its address (harness.wrk.command).
TARGETS = {"front door": FRONT_DOOR, "load balancer": "http://127.0.0.1:8081/"}
TIMELINE = "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"


@dataclass(frozen=True)
class Figures:
    seconds: float
    loads: dict[str, WrkResult]  # by target name
    failovers: int  # nodes pgpool declared down, summed over the pgpool hosts
    primary: tuple[str, str]  # before, after
    timeline: tuple[str, str]

    @property
    def passed(self) -> bool:
        same = self.primary[0] == self.primary[1] and self.timeline[0] == self.timeline[1]
        return self.failovers == 0 and same


def failovers_since(hosts: list[str], since: str) -> int:
    """Nodes pgpool's health checks declared down since `since` (journalctl's syntax)."""
    found = 0
    for host in hosts:
        journal = on_host(host, "journalctl", "-u", "pgpool2", "--since", since, "--no-pager")
        found += journal.count("received degenerate backend request")
    return found


def run_drill(inventory: Path, seconds: float, connections: int) -> Figures:
    data = inventory_hosts(inventory)
    roles = live_roles(data)
    primary = next(host for host, role in roles.items() if role == "primary")
    timeline = psql(container(data, primary), TIMELINE, "postgres")
    since = on_host(group(data, "pgpool")[0], "date", "+%Y-%m-%d %H:%M:%S").strip()
    started = time.monotonic()
    generators = {
        name: wrk.start(wrk.Load(url, seconds, connections)) for name, url in TARGETS.items()
    }
    loads = {
        name: wrk.finish(TARGETS[name], process, timeout=seconds + 60)
        for name, process in generators.items()
    }
    elapsed = round(time.monotonic() - started, 1)
    roles = live_roles(data)
    primary_after = next((host for host, role in roles.items() if role == "primary"), "none")
    timeline_after = psql(container(data, primary_after), TIMELINE, "postgres")
    return Figures(
        seconds=elapsed,
        loads=loads,
        failovers=failovers_since(group(data, "pgpool"), since),
        primary=(primary, primary_after),
        timeline=(timeline, timeline_after),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, default=REPO / "inventory" / "lab")
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--connections", type=int, default=50, help="per generator")
    args = parser.parse_args()
    figures = run_drill(args.inventory, args.seconds, args.connections)
    columns = ["target", "req/s", "non-2xx", "socket errors"]
    rows = [
        (f"{name} ({load.url})", f"{load.rps:,.0f}", load.non_2xx,
         ", ".join(f"{kind} {count}" for kind, count in load.socket_errors.items()) or "none")
        for name, load in figures.loads.items()
    ]  # fmt: skip
    print(markdown_table(columns, rows))
    print(
        f"\n{figures.seconds} s of load: {figures.failovers} failovers; primary"
        f" {figures.primary[0]} -> {figures.primary[1]}, timeline"
        f" {figures.timeline[0]} -> {figures.timeline[1]}"
    )
    return 0 if figures.passed else 1


if __name__ == "__main__":
    sys.exit(main())
