#!/usr/bin/env python3
"""Drill: cycles of losing or moving the primary under API writes through the front door;
every cycle must end with a streaming synchronous standby and no acknowledged write lost.

    python -m harness.drills.failover_cycles --cycles 5     # make drills

The cycles take turns among three kinds:
  pgpool      the primary's container is killed; pgpool's health checks and failover
              command promote the standby;
  playbook    the primary's container is killed; playbooks/failover.yml promotes the
              standby at once (pgpool's automatic failover is off for these cycles);
  switchover  no failure: playbooks/switchover.yml moves the primary to the standby.
Each cycle:
  1. starts a stream of API writes through the front door (POST /api/results/ on
     https://www.djangostack.test:8443 at 127.0.0.1, one at a time), a write
     acknowledged when the app answers 201 with the new row's id;
  2. fails or moves the primary as its kind says;
  3. after a failure, starts the killed container again and runs playbooks/rejoin.yml;
  4. switches back to the inventory's primary (playbooks/switchover.yml);
  5. stops the writes and checks: every acknowledged id is on the primary, the primary
     counts the other node as a streaming synchronous standby, and after a kill writes
     were acknowledged again within WRITES_BACK_WITHIN (6 s after pgpool's automatic
     failover, 8 s when failover.yml promotes).
Prints a table of figures; exits 1 when any cycle lost a write, ended without a
synchronous standby or was slower than that to take writes again after a kill. Traffic
goes only to 127.0.0.1 and the lab's own containers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.ansible_cli import REPO
from harness.drills.primary_loss import (
    container,
    group,
    inventory_hosts,
    live_roles,
    playbook,
    set_automatic_failover,
    start_again,
    writes_back_after,
)
from harness.lab import (
    FRONT_DOOR,
    TimedOut,
    docker,
    lab_secret,
    markdown_table,
    on_host,
    psql,
    seconds_until,
    urlopen,
)

KINDS = ("pgpool", "playbook", "switchover")
# After a kill, writes through the front door must be acknowledged again within this many
# seconds, by kind. Automatic failover: issue 21's target. failover.yml is an operator's
# command whose own start-up counts: held to 8 s (4.3-6.2 s measured with pgpool's
# watchdog, against 4.3-4.4 s before it). docs/drills.md has the figures.
WRITES_BACK_WITHIN = {"pgpool": 6.0, "playbook": 8.0}


@dataclass
class FrontDoorWrites:
    """API writes through the front door, one after the other, in a thread, for a `with`
    block (bounded at `seconds` in any case)."""

    token: str
    season: int
    teams: tuple[str, str]
    interval: float = 0.1
    seconds: float = 900
    acknowledged: list[int] = field(default_factory=list)
    acknowledged_at: list[float] = field(default_factory=list)  # wall clock
    refused_at: list[tuple[float, str]] = field(default_factory=list)  # wall clock, status

    def __enter__(self) -> FrontDoorWrites:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def refuse(self, why: str) -> None:
        self.refused_at.append((time.time(), why))

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        for n in itertools.count():
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            home, away = self.teams if n % 2 else reversed(self.teams)
            body = {
                "season": self.season,
                "home_team": home,
                "away_team": away,
                "home_score": n % 150,
                "away_score": (n * 7) % 150,
                "played_at": dt.datetime.now(dt.UTC).isoformat(),
            }
            request = urllib.request.Request(
                f"{FRONT_DOOR}api/results/",
                data=json.dumps(body).encode(),
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/json",
                },
            )
            try:
                with urlopen(request, timeout=10) as response:
                    answer = json.loads(response.read())
                self.acknowledged.append(int(answer["id"]))
                self.acknowledged_at.append(time.time())
            except urllib.error.HTTPError as error:
                self.refuse(str(error.code))
            except (OSError, ValueError) as error:
                self.refuse(type(error).__name__)
            time.sleep(self.interval)


@dataclass(frozen=True)
class Cycle:
    kind: str
    primary_before: str
    acknowledged: int
    lost: int
    refused: str
    writes_back_after: float | None  # seconds from the kill (failures only)
    rejoin_seconds: float | None
    switch_back_seconds: float | None  # None: the intended primary already was
    synchronous_standby: str
    # site.yml's database tier applied while the former primary was back on its old
    # timeline: whether it kept the promoted node as the primary and left the former one
    # alone (None: not checked, or no failure in this cycle).
    site_kept_primary: bool | None = None

    @property
    def healthy(self) -> bool:
        """Nothing lost, writes back, a synchronous standby: the next cycle may start."""
        back = self.kind == "switchover" or self.writes_back_after is not None
        site_ok = self.site_kept_primary is not False
        return self.lost == 0 and bool(self.synchronous_standby) and back and site_ok

    @property
    def passed(self) -> bool:
        """Healthy, and writes came back in time."""
        slow = (
            self.writes_back_after is not None
            and self.writes_back_after > WRITES_BACK_WITHIN[self.kind]
        )
        return self.healthy and not slow


def refusals_by_step(refused_at: list[tuple[float, str]], events: list[tuple[float, str]]) -> str:
    """'killed: 503 12; switch back: 503 30': the refused writes, by the step of the cycle
    during which they came."""
    steps: dict[str, Counter[str]] = {}
    for at, why in refused_at:
        step = [name for start, name in events if start <= at][-1]
        steps.setdefault(step, Counter())[why] += 1
    return (
        "; ".join(
            f"{step}: " + ", ".join(f"{why} {n}" for why, n in sorted(c.items()))
            for step, c in steps.items()
        )
        or "-"
    )


def primary_of(data: dict[str, Any]) -> str:
    roles = live_roles(data)
    primaries = [host for host, role in roles.items() if role == "primary"]
    if len(primaries) != 1:
        raise RuntimeError(f"not one primary: {roles}")
    return primaries[0]


def synchronous_standby(data: dict[str, Any], primary: str, seconds: float = 30) -> str:
    """The standby the primary streams to and counts as synchronous, waited for."""
    query = (
        "SELECT application_name FROM pg_stat_replication"
        " WHERE state = 'streaming' AND sync_state IN ('sync', 'quorum')"
    )
    found: list[str] = []

    def ready() -> bool:
        found[:] = psql(container(data, primary), query, "postgres", check=False).split()
        return bool(found)

    try:
        seconds_until(ready, seconds, 1, f"{primary} has no synchronous standby")
    except RuntimeError:
        return ""
    return found[0]


def lost_writes(data: dict[str, Any], primary: str, ids: list[int]) -> int:
    if not ids:
        return 0
    found = psql(
        container(data, primary),
        f"SELECT count(*) FROM league_game WHERE id IN ({','.join(map(str, ids))})",
    )
    return len(set(ids)) - int(found)


def timed_playbook(inventory: Path, name: str, *args: str) -> float:
    started = time.monotonic()
    playbook(inventory, name, *args)
    return round(time.monotonic() - started, 1)


def site_keeps_primary(inventory: Path, data: dict[str, Any], former: str, promoted: str) -> bool:
    """site.yml's database tier (`--tags database`) over a tier whose former primary is back
    on its old timeline (it answers as a primary too, until rejoin.yml): site.yml must say
    it leaves the former one alone, and the promoted node must still be a primary after it
    (site.yml never demotes, re-clones or overwrites the live primary)."""
    output = playbook(inventory, "site.yml", "--tags", "database")
    return f"{former} is a former primary" in output and live_roles(data)[promoted] == "primary"


def pgpool_diagnostics(data: dict[str, Any], lines: int = 40) -> str:
    """The last lines of every pgpool's journal (health checks, failover, the watchdog's
    votes), for a promotion that did not come."""
    hosts = sorted(set(group(data, "pgpool")) | set(group(data, "pgpool_witness")))
    return "\n".join(
        f"--- {host}: journalctl -u pgpool2\n"
        + on_host(host, "journalctl", "-u", "pgpool2", "-n", str(lines), "--no-pager", check=False)
        for host in hosts
    )


def run_cycle(
    inventory: Path, kind: str, writes: FrontDoorWrites, settle: float, check_site: bool = False
) -> Cycle:
    data = inventory_hosts(inventory)
    intended = group(data, "db_primary")[0]
    primary = primary_of(data)
    back_after = rejoin_seconds = site_kept_primary = None
    killed_at = 0.0
    events: list[tuple[float, str]] = [(time.time(), "start")]
    with writes:
        time.sleep(settle)
        standby = next(h for h in group(data, "postgres") if h != primary)
        if kind == "switchover":
            events.append((time.time(), "switchover"))
            timed_playbook(inventory, "switchover.yml", "-e", f"switchover_target={standby}")
        else:
            killed_at = time.time()
            events.append((killed_at, "killed"))
            docker("kill", container(data, primary))
            if kind == "playbook":
                playbook(inventory, "failover.yml")
            # The killed node stays down until another is promoted: started earlier, it
            # would be back before pgpool's health checks gave up on it.
            try:
                seconds_until(
                    lambda: live_roles(data).get(standby) == "primary",
                    60,
                    0.5,
                    f"{standby} was not promoted",
                )
            except TimedOut as timeout:
                # Seen once in CI (2026-12-07), right after the partition drill: say what
                # each pgpool saw, so that the next time tells why.
                raise TimedOut(f"{timeout}\n{pgpool_diagnostics(data)}") from None
            promoted_at = time.time()
            events.append((promoted_at, "promoted"))
            seconds_until(
                lambda: bool(writes.acknowledged_at) and writes.acknowledged_at[-1] > promoted_at,
                60,
                0.2,
                "no write was acknowledged after the promotion",
            )
            start_again(data, primary)
            if check_site:
                events.append((time.time(), "site.yml"))
                site_kept_primary = site_keeps_primary(inventory, data, primary, standby)
            events.append((time.time(), "rejoin"))
            rejoin_seconds = timed_playbook(inventory, "rejoin.yml")
        switch_back = None
        events.append((time.time(), "switch back"))
        if primary_of(data) != intended:
            switch_back = timed_playbook(
                inventory, "switchover.yml", "-e", f"switchover_target={intended}"
            )
        time.sleep(settle)
    if kind != "switchover":
        # The failure's own outage only: the switch back refuses writes for a while too.
        rejoined_at = next(at for at, name in events if name == "rejoin")
        acks = [at for at in writes.acknowledged_at if at < rejoined_at]
        back_after = writes_back_after(acks, killed_at)
    now_primary = primary_of(data)
    return Cycle(
        kind=kind,
        primary_before=primary,
        acknowledged=len(writes.acknowledged),
        lost=lost_writes(data, now_primary, writes.acknowledged),
        refused=refusals_by_step(writes.refused_at, events),
        writes_back_after=back_after,
        rejoin_seconds=rejoin_seconds,
        switch_back_seconds=switch_back,
        synchronous_standby=synchronous_standby(data, now_primary),
        site_kept_primary=site_kept_primary,
    )


def run_cycles(
    inventory: Path, cycles: int, settle: float = 3, check_site: bool = False
) -> list[Cycle]:
    """The cycles, kinds in turn; pgpool's automatic failover is off only while a
    'playbook' cycle runs. Stops at the first cycle that leaves the tier unhealthy (a
    slow one goes on: its figure fails the drill at the end)."""
    data = inventory_hosts(inventory)
    primary = primary_of(data)
    token = lab_secret("django_api_token")
    season = int(psql(container(data, primary), "SELECT max(year) FROM league_season"))
    teams = tuple(
        psql(
            container(data, primary), "SELECT abbreviation FROM league_team ORDER BY id LIMIT 2"
        ).split()
    )
    results: list[Cycle] = []
    for number, kind in zip(range(1, cycles + 1), itertools.cycle(KINDS), strict=False):
        print(f"cycle {number}/{cycles} ({kind})...", flush=True)
        writes = FrontDoorWrites(token, season, (teams[0], teams[1]))
        if kind == "playbook":
            set_automatic_failover(inventory, automatic=False)
        try:
            results.append(run_cycle(inventory, kind, writes, settle, check_site))
        finally:
            if kind == "playbook":
                set_automatic_failover(inventory, None)
        if not results[-1].healthy:
            break
    return results


def table(results: list[Cycle]) -> str:
    columns = ["cycle", "kind", "primary before", "acknowledged writes", "lost"]
    columns += ["refused (status: count)", "writes back after kill (s)", "rejoin.yml (s)"]
    columns += ["switchover back (s)", "synchronous standby after", "site.yml kept the primary"]
    rows = [
        (n, c.kind, c.primary_before, c.acknowledged, c.lost, c.refused,
         c.writes_back_after if c.writes_back_after is not None else "-",
         c.rejoin_seconds or "-", c.switch_back_seconds or "-", c.synchronous_standby or "NONE",
         {None: "-", True: "yes", False: "NO"}[c.site_kept_primary])
        for n, c in enumerate(results, 1)
    ]  # fmt: skip
    return markdown_table(columns, rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, default=REPO / "inventory" / "lab")
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument(
        "--check-site",
        action="store_true",
        help="after each failure, apply site.yml's database tier with the former primary back",
    )
    args = parser.parse_args()
    results = run_cycles(args.inventory, args.cycles, check_site=args.check_site)
    print()
    print(table(results))
    passed = len(results) == args.cycles and all(c.passed for c in results)
    print(f"\n{sum(c.passed for c in results)} of {args.cycles} cycles passed")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
