#!/usr/bin/env python3
"""Drill: a partial partition must never make two primaries, nor lose an acknowledged write.

    python -m harness.drills.partition --hold 20                 # web2 loses the primary for 20 s
    python -m harness.drills.partition --hold 20 --standby-too   # and so does the standby

One app server (the last pgpool host, web2 in the lab) loses its path to the primary while
the other (web1) and pgpool's watchdog witness still reach it; with --standby-too the
standby loses it as well. The packets each cut-off host sends to the primary's addresses
are dropped by its own packet filter (iptables in its network namespace, entered from the
host, so the container needs no extra capability). Meanwhile a write stream runs through
each app server's own pgpool, and every database node is asked `pg_is_in_recovery()` twice
a second. After --hold seconds the rules go.

It passes when no sample saw two primaries, one primary is left once the partition has
healed, every write acknowledged through either app server is on it, and writes through
the cut-off app server are acknowledged again once it has healed, with no playbook run.
Exits 1 otherwise.

The cut-off app server's pgpool asks the watchdog for a failover, which only a majority of
its members (two of web1, web2 and the witness) may grant: it is refused, so that pgpool
only quarantines the primary (writes through it get 503) and attaches it again when its
health checks pass. Before the watchdog, its pgpool promoted the standby on its own view:
two primaries, and the old one's writes after the fork discarded by `playbooks/rejoin.yml`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.ansible_cli import REPO
from harness.drills.primary_loss import (
    container,
    group,
    inventory_hosts,
    live_roles,
    start_writer,
    writer_result,
)
from harness.lab import docker, psql


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
    writes_after_heal: int  # acknowledged through the cut-off app server once healed

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
            and self.writes_after_heal > 0
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


# Seconds of writes through the cut-off app server once the partition has healed (and
# --settle seconds have passed).
HEALED_WRITE_SECONDS = 3


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


def run_drill(inventory: Path, hold: float, settle: float, standby_too: bool = False) -> Figures:
    data = inventory_hosts(inventory)
    roles = live_roles(data)
    primaries = [host for host, role in roles.items() if role == "primary"]
    if len(primaries) != 1 or "standby" not in roles.values():
        raise RuntimeError(f"the tier is not one primary with a standby: {roles}")
    primary = primaries[0]
    writers = {host: container(data, host) for host in group(data, "pgpool")}
    victim = group(data, "pgpool")[-1]
    cut = [writers[victim]]
    if standby_too:
        cut += [container(data, host) for host, role in roles.items() if role == "standby"]
    run = f"partition{int(time.time())}"
    seconds = settle + hold + settle + 5
    for host, name in writers.items():
        start_writer(name, f"{run}{host}", seconds)

    time.sleep(settle)
    cut_at = time.monotonic()
    with ExitStack() as partition:
        for name in cut:
            partition.enter_context(cut_off(name, addresses(container(data, primary))))
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
    # The cut-off app server's pgpool quarantined the primary it could not reach, and
    # attaches it again by itself once its health checks pass: no playbook runs.
    start_writer(writers[victim], f"{run}healed", HEALED_WRITE_SECONDS)
    healed = writer_result(writers[victim], f"{run}healed", HEALED_WRITE_SECONDS)
    return Figures(
        cut_off=victim,
        primary=primary,
        samples=samples,
        primaries_after=after,
        acknowledged={host: len(result["acknowledged"]) for host, result in results.items()},
        lost={
            host: len(set(result["acknowledged"]) - on_survivor) for host, result in results.items()
        },
        writes_after_heal=len(healed["acknowledged"]),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, default=REPO / "inventory" / "lab")
    parser.add_argument("--hold", type=float, default=20, help="seconds the partition lasts")
    parser.add_argument("--settle", type=float, default=5, help="seconds before and after")
    parser.add_argument(
        "--standby-too", action="store_true", help="cut the standby off from the primary too"
    )
    args = parser.parse_args()
    figures = run_drill(args.inventory, args.hold, args.settle, args.standby_too)
    second = figures.first_second_primary
    print(
        f"{figures.cut_off}{' and the standby' if args.standby_too else ''}"
        f" cut off from {figures.primary} for {args.hold:.0f} s:"
        f" at most {figures.most_primaries} primaries in {len(figures.samples)} samples"
        + (f" (two from {second} s after the cut)" if second is not None else "")
        + f"; after healing: {', '.join(figures.primaries_after) or 'none'}"
    )
    for host, count in figures.acknowledged.items():
        print(f"writes through {host}: {count} acknowledged, {figures.lost[host]} lost")
    print(
        f"{args.settle:.0f} s after healing, no playbook run: {figures.writes_after_heal} writes"
        f" acknowledged through {figures.cut_off} in {HEALED_WRITE_SECONDS} s"
    )
    if len(figures.primaries_after) > 1:
        print("two primaries remain: playbooks/rejoin.yml makes the former one a standby")
    return 0 if figures.passed else 1


if __name__ == "__main__":
    sys.exit(main())
