#!/usr/bin/env python3
"""Drill: lose the primary under a steady stream of committed writes, then rejoin it.

    python -m harness.drills.primary_loss --inventory inventory/lab --mode pgpool --runs 3
    python -m harness.drills.primary_loss --inventory inventory/lab --mode playbook --runs 3

Each run:
  1. finds the live primary (asking the databases, as the playbooks do);
  2. starts a stream of committed writes through the local pgpool of the first pgpool host
     (harness/drills/write_stream.py: one INSERT per transaction, acknowledged when COMMIT returns);
  3. kills the primary's container (docker kill: no clean shutdown, as a lost host);
  4. mode pgpool: waits, pgpool's health checks and failover command promote the standby;
     mode playbook: runs playbooks/failover.yml at once (pgpool must have
     pgpool_automatic_failover=false, which this script sets with site.yml --tags pgpool);
  5. when the stream ends, counts acknowledged writes missing on the new primary (must be
     0) and the seconds from the kill to the first write acknowledged after it;
  6. starts the killed container again and runs playbooks/rejoin.yml: both nodes stream.
At the end a switchover (playbooks/switchover.yml) puts the inventory's intended primary
back in place. Prints a table of figures. Traffic goes only to the project's own containers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.ansible_cli import REPO, adhoc, run_ansible, run_playbook
from harness.lab import docker, markdown_table, psql, seconds_until

WRITER = Path(__file__).resolve().parent / "write_stream.py"
WRITER_ON_HOST = "/usr/local/bin/djangostack-write-stream"


def playbook(inventory: Path, name: str, *args: str, timeout: int = 900) -> str:
    """Run one of the collection's playbooks; raise with its output when it fails."""
    run = run_playbook("-i", inventory, f"playbooks/{name}", *args, timeout=timeout, quiet=True)
    if run.returncode != 0:
        raise RuntimeError(f"playbooks/{name} failed:\n{run.output}")
    return run.output


def inventory_hosts(inventory: Path) -> dict[str, Any]:
    out = run_ansible("ansible-inventory", "-i", inventory, "--list", check=True).stdout
    data = json.loads(out)
    data["_containers"] = containers(inventory)
    return data


def containers(inventory: Path) -> dict[str, str]:
    """Each host's container: its ansible_host as Ansible renders it (the lab's is a
    template), or its name (Molecule's)."""
    debug = ["-m", "ansible.builtin.debug", "-a", "var=ansible_host"]
    results = adhoc("all", inventory, *debug, check=True)
    return {
        host: str(result["ansible_host"])
        if result.get("ansible_host") not in (None, "VARIABLE IS NOT DEFINED!")
        else host
        for host, result in results.items()
    }


def group(data: dict[str, Any], name: str) -> list[str]:
    """Hosts of a group, children included."""
    entry = data.get(name, {})
    hosts = list(entry.get("hosts", []))
    for child in entry.get("children", []):
        hosts += [h for h in group(data, child) if h not in hosts]
    return hosts


def container(data: dict[str, Any], host: str) -> str:
    return str(data["_containers"].get(host, host))


def live_roles(data: dict[str, Any]) -> dict[str, str]:
    """Each database node's role, asked of PostgreSQL itself ('down' when it does not answer)."""
    answers = {
        host: psql(container(data, host), "SELECT pg_is_in_recovery()", "postgres", check=False)
        for host in group(data, "postgres")
    }
    return {host: {"f": "primary", "t": "standby"}.get(a, "down") for host, a in answers.items()}


def start_writer(name: str, run: str, seconds: float) -> None:
    """The writer runs on the pgpool host, with the app's password from pgpool's pool_passwd."""
    docker("cp", str(WRITER), f"{name}:{WRITER_ON_HOST}")
    script = (
        'PGPASSWORD="$(sed -n "s/^django:TEXT//p" /etc/pgpool2/pool_passwd)" '
        f"python3 {WRITER_ON_HOST} --dsn 'host=127.0.0.1 dbname=django user=django'"
        f" --seconds {seconds} --run {run} > /tmp/drill-{run}.json 2>/tmp/drill-{run}.err"
    )
    docker("exec", "-d", name, "bash", "-c", script)


def writer_result(name: str, run: str, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds + 60
    while time.monotonic() < deadline:
        out = docker("exec", name, "cat", f"/tmp/drill-{run}.json", check=False).strip()
        if out:
            return json.loads(out)
        time.sleep(1)
    err = docker("exec", name, "cat", f"/tmp/drill-{run}.err", check=False)
    raise RuntimeError(f"the write stream on {name} gave no result: {err}")


@dataclass
class Figures:
    mode: str
    killed: str
    promoted: str
    acknowledged: int
    lost: int
    writes_back_after: float | None
    failover_playbook_seconds: float | None


def writes_back_after(acknowledged_at: list[float], killed_at: float) -> float | None:
    """Seconds from the kill to the first write acknowledged after the outage: the end of
    the longest pause between acknowledgements after the kill (writes already in flight
    when the kill was sent may still be acknowledged in the first milliseconds)."""
    times = [killed_at, *sorted(t for t in acknowledged_at if t > killed_at)]
    if len(times) < 2:
        return None
    end = max(range(1, len(times)), key=lambda i: times[i] - times[i - 1])
    return round(times[end] - killed_at, 2)


def set_automatic_failover(inventory: Path, automatic: bool | None) -> None:
    """Re-apply the pgpool tier with automatic failover on or off (None: as the inventory says)."""
    extra = [] if automatic is None else ["-e", f"pgpool_automatic_failover={automatic}"]
    playbook(inventory, "site.yml", "--tags", "pgpool", *extra)


def run_drill(inventory: Path, mode: str, seconds: float = 40, kill_after: float = 8) -> Figures:
    data = inventory_hosts(inventory)
    roles = live_roles(data)
    primaries = [h for h, r in roles.items() if r == "primary"]
    standbys = [h for h, r in roles.items() if r == "standby"]
    if len(primaries) != 1 or not standbys:
        raise RuntimeError(f"the tier is not a primary with a standby: {roles}")
    primary = primaries[0]
    writer_host = container(data, group(data, "pgpool")[0])
    run = f"{mode}{int(time.time())}"

    start_writer(writer_host, run, seconds)
    time.sleep(kill_after)
    killed_at = time.time()
    docker("kill", container(data, primary))
    playbook_seconds = None
    if mode == "playbook":
        started = time.monotonic()
        playbook(inventory, "failover.yml")
        playbook_seconds = round(time.monotonic() - started, 1)
    result = writer_result(writer_host, run, seconds)

    roles = live_roles(data)
    promoted = [h for h, r in roles.items() if r == "primary"]
    if len(promoted) != 1:
        raise RuntimeError(f"after the drill there is no single primary: {roles}")
    rows = psql(
        container(data, promoted[0]),
        f"SELECT id FROM djangostack_drill_writes WHERE run = '{run}'",
    ).split()
    lost = sorted(set(result["acknowledged"]) - {int(r) for r in rows})
    return_after = writes_back_after(result["acknowledged_at"], killed_at)
    return Figures(
        mode=mode,
        killed=primary,
        promoted=promoted[0],
        acknowledged=len(result["acknowledged"]),
        lost=len(lost),
        writes_back_after=return_after,
        failover_playbook_seconds=playbook_seconds,
    )


def start_again(data: dict[str, Any], host: str, seconds: float = 90) -> None:
    """Start a killed node's container and wait until its systemd has booted."""
    docker("start", container(data, host))
    seconds_until(
        lambda: (
            docker("exec", container(data, host), "systemctl", "is-system-running", check=False)
            .strip()
            .startswith(("running", "degraded"))
        ),
        seconds,
        1,
        f"{host} did not boot",
    )


def rejoin(inventory: Path, host: str) -> None:
    """Start the killed node's container again and make it a standby of the new primary."""
    start_again(inventory_hosts(inventory), host)
    playbook(inventory, "rejoin.yml")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, default=REPO / "inventory" / "lab")
    parser.add_argument("--mode", choices=["pgpool", "playbook"], required=True)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=40, help="length of the write stream")
    args = parser.parse_args()

    set_automatic_failover(args.inventory, args.mode == "pgpool")
    figures = []
    try:
        for number in range(1, args.runs + 1):
            print(f"run {number}/{args.runs} ({args.mode})...", flush=True)
            result = run_drill(args.inventory, args.mode, args.seconds)
            figures.append(result)
            rejoin(args.inventory, result.killed)
    finally:
        if args.mode == "playbook":
            set_automatic_failover(args.inventory, None)
        # Leave the tier as the inventory means it: the intended primary back in place.
        data = inventory_hosts(args.inventory)
        intended = group(data, "db_primary")[0]
        if live_roles(data).get(intended) == "standby":
            playbook(args.inventory, "switchover.yml", "-e", f"switchover_target={intended}")
    columns = ["run", "mode", "killed", "promoted", "acknowledged writes", "lost"]
    columns += ["writes back after (s)", "failover.yml (s)"]
    rows = [
        (n, f.mode, f.killed, f.promoted, f.acknowledged, f.lost, f.writes_back_after,
         f.failover_playbook_seconds or "-")
        for n, f in enumerate(figures, 1)
    ]  # fmt: skip
    print()
    print(markdown_table(columns, rows))
    return 1 if any(f.lost or f.writes_back_after is None for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
