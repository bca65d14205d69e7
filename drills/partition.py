#!/usr/bin/env python3
"""Drill: a partial partition must never make two primaries, nor lose an acknowledged write.

    drills/partition.py --hold 20       # make drills: web2 loses the primary for 20 s

One app server (the second pgpool host, web2 in the lab) loses its path to the primary
while the other (web1) and the standby still reach it: the packets web2 sends to the
primary's addresses are dropped by web2's own packet filter (iptables in its network
namespace, entered from the host, so the container needs no extra capability). Meanwhile a
write stream runs through each app server's own pgpool, and every database node is asked
`pg_is_in_recovery()` twice a second. After --hold seconds the rule goes.

It passes when no sample saw two primaries, one primary is left once the partition has
healed, every write acknowledged through either app server is on it, and, once
`playbooks/site.yml --tags pgpool` has run, writes through the cut-off app server are
acknowledged again. Exits 1 otherwise.

The cut-off app server's pgpool detaches the primary it cannot reach, and its failover
command refuses to promote the standby, which still hears from that primary
(roles/pgpool/files/djangostack-pgpool-failover.py): writes through it get 503 until the
partition heals and site.yml attaches the primary again. Before that check, its pgpool
promoted the standby on its own view: two primaries, and the old one's writes after the
fork discarded by `playbooks/rejoin.yml`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ansible_cli import REPO
from lab_drill import docker
from primary_loss import (
    container,
    group,
    inventory_hosts,
    live_roles,
    playbook,
    psql,
    start_writer,
    writer_result,
)


@dataclass(frozen=True)
class Sample:
    seconds: float  # since the cut
    roles: dict[str, str]

    @property
    def primaries(self) -> list[str]:
        return sorted(host for host, role in self.roles.items() if role == "primary")


@dataclass(frozen=True)
class Figures:
    cut_off: str  # the app server that lost its path
    primary: str  # the primary it lost its path to
    samples: list[Sample]
    primaries_after: list[str]
    acknowledged: dict[str, int]  # per app server
    lost: dict[str, int]  # per app server: acknowledged, not on the primary left
    writes_after_repair: int  # acknowledged through the cut-off app server after site.yml

    @property
    def most_primaries(self) -> int:
        return max((len(sample.primaries) for sample in self.samples), default=0)

    @property
    def first_second_primary(self) -> float | None:
        """Seconds after the cut when a sample first saw two primaries."""
        return next((s.seconds for s in self.samples if len(s.primaries) > 1), None)

    @property
    def passed(self) -> bool:
        return (
            self.most_primaries <= 1
            and len(self.primaries_after) == 1
            and not any(self.lost.values())
            # Writes went through every app server (before the cut, at least): a drill
            # that started with one already unable to write proves nothing about it.
            and all(self.acknowledged.values())
            and self.writes_after_repair > 0
        )


def addresses(name: str) -> list[str]:
    return docker("exec", name, "hostname", "-I").split()


@contextmanager
def cut_off(name: str, targets: list[str]) -> Iterator[None]:
    """Drop what container `name` sends to `targets`, in its own network namespace."""
    pid = docker("inspect", "-f", "{{.State.Pid}}", name).strip()
    rules = [["-d", address, "-j", "DROP"] for address in targets]
    for rule in rules:
        run_in_namespace(pid, "-I", "OUTPUT", *rule)
    try:
        yield
    finally:
        for rule in rules:
            run_in_namespace(pid, "-D", "OUTPUT", *rule)


def run_in_namespace(pid: str, *iptables: str) -> None:
    subprocess.run(["nsenter", "-t", pid, "-n", "iptables", *iptables], check=True, timeout=30)


# Seconds of writes through the cut-off app server once site.yml has repaired its pgpool.
REPAIRED_WRITE_SECONDS = 3


def sample(data: dict[str, Any], since: float) -> Sample:
    return Sample(round(time.monotonic() - since, 1), live_roles(data))


def samples_until(data: dict[str, Any], since: float, seconds: float) -> list[Sample]:
    """The database nodes' roles twice a second, for `seconds` from now."""
    until = time.monotonic() + seconds
    taken = []
    while time.monotonic() < until:
        taken.append(sample(data, since))
        time.sleep(0.5)
    return taken


def run_drill(inventory: Path, hold: float, settle: float) -> Figures:
    data = inventory_hosts(inventory)
    roles = live_roles(data)
    primaries = [host for host, role in roles.items() if role == "primary"]
    if len(primaries) != 1 or "standby" not in roles.values():
        raise RuntimeError(f"the tier is not one primary with a standby: {roles}")
    primary = primaries[0]
    writers = {host: container(data, host) for host in group(data, "pgpool")}
    victim = group(data, "pgpool")[-1]
    run = f"partition{int(time.time())}"
    seconds = settle + hold + settle + 5
    for host, name in writers.items():
        start_writer(name, f"{run}{host}", seconds)

    time.sleep(settle)
    cut_at = time.monotonic()
    with cut_off(writers[victim], addresses(container(data, primary))):
        samples = samples_until(data, cut_at, hold)
    samples += samples_until(data, cut_at, settle)

    results = {host: writer_result(name, f"{run}{host}", seconds) for host, name in writers.items()}
    after = sample(data, cut_at).primaries
    # What counts is what the primary left holds: with two, the one pgpool's playbooks
    # keep (the newer timeline) is the promoted node, and the former primary's share of
    # the writes is what rejoin.yml would discard.
    survivor = next((host for host in after if host != primary), after[0] if after else "")
    on_survivor = set()
    if survivor:
        rows = psql(
            container(data, survivor),
            f"SELECT id FROM djangostack_drill_writes WHERE run LIKE '{run}%'",
        )
        on_survivor = {int(row) for row in rows.split()}
    # The cut-off app server's pgpool detached the primary it could not reach, and keeps it
    # detached: site.yml's pgpool role attaches the running primary again. Then a write
    # through that app server must be acknowledged.
    playbook(inventory, "site.yml", "--tags", "pgpool")
    start_writer(writers[victim], f"{run}repaired", REPAIRED_WRITE_SECONDS)
    repaired = writer_result(writers[victim], f"{run}repaired", REPAIRED_WRITE_SECONDS)
    return Figures(
        cut_off=victim,
        primary=primary,
        samples=samples,
        primaries_after=after,
        acknowledged={host: len(result["acknowledged"]) for host, result in results.items()},
        lost={
            host: len(set(result["acknowledged"]) - on_survivor) for host, result in results.items()
        },
        writes_after_repair=len(repaired["acknowledged"]),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, default=REPO / "inventory" / "lab")
    parser.add_argument("--hold", type=float, default=20, help="seconds the partition lasts")
    parser.add_argument("--settle", type=float, default=5, help="seconds before and after")
    args = parser.parse_args()
    figures = run_drill(args.inventory, args.hold, args.settle)
    second = figures.first_second_primary
    print(
        f"{figures.cut_off} cut off from {figures.primary} for {args.hold:.0f} s:"
        f" at most {figures.most_primaries} primaries in {len(figures.samples)} samples"
        + (f" (two from {second} s after the cut)" if second is not None else "")
        + f"; after healing: {', '.join(figures.primaries_after) or 'none'}"
    )
    for host, count in figures.acknowledged.items():
        print(f"writes through {host}: {count} acknowledged, {figures.lost[host]} lost")
    print(
        f"after site.yml --tags pgpool: {figures.writes_after_repair} writes acknowledged"
        f" through {figures.cut_off} in {REPAIRED_WRITE_SECONDS} s"
    )
    if len(figures.primaries_after) > 1:
        print("two primaries remain: playbooks/rejoin.yml makes the former one a standby")
    return 0 if figures.passed else 1


if __name__ == "__main__":
    sys.exit(main())
