#!/usr/bin/python3
"""pgpool-II failover_command: promote the standby pgpool chose, over SQL, exactly once.

pgpool runs it (as postgres) when it detaches a backend, with the arguments
    FAILED_NODE_ID FAILED_HOST OLD_PRIMARY_ID NEW_MAIN_ID NEW_MAIN_HOST NEW_MAIN_PORT
(`%d %h %P %m %H %r`). Promotion is SQL (`pg_promote()`, granted to pgpool's monitoring
role), so database hosts need no SSH keys between them.

Several pgpool hosts lose the same primary at the same moment and all run this. It must
promote one node once and never two nodes:
  - a lost standby needs nothing: the primary is still there;
  - if the "failed" primary still answers as primary from here (a blip pgpool saw, not a
    loss), promote nothing: two primaries are worse than a detached one;
  - if any backend other than the failed one already runs as primary (another pgpool got
    there first, or an operator ran failover.yml), promote nothing: pgpool's primary search
    finds that node;
  - if the node pgpool chose still hears from the primary (its WAL receiver had a message
    within HEARD_WITHIN seconds), promote nothing: the primary is alive, and it is this
    pgpool host that lost its path to it (a partial partition). Promoting would make two
    primaries while the other pgpool hosts still write to the first;
  - otherwise promote the node pgpool chose (its new main node, the lowest-numbered live
    node). Every pgpool reads the same backend list, so racing pgpools pick the same node,
    and a second pg_promote() on a node already promoting is harmless;
  - while a playbook holds failover (failover.yml, switchover.yml write HOLD with an
    expiry time), promote nothing: the playbook is moving the primary itself, and a
    promotion of pgpool's choosing would race it.
The decision is a pure function (decide), unit-tested; the rest reads the backends.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

CONFIG = "/etc/pgpool2/djangostack-failover.json"
# A standby streaming from a live primary hears from it at least every 1.5 s: its WAL
# receiver asks for a reply after half of wal_receiver_timeout (3 s, set on every node by
# roles/postgresql/vars/main.yml) without a message. pgpool declares a primary lost only
# after its health checks failed for 2 s or more (a 1 s timeout, then a retry), so a
# candidate that heard from the primary less than 2 s ago heard it after pgpool had begun
# to fail it: the primary is alive, and only this pgpool host's path to it is not.
HEARD_WITHIN = 2.0
HOLD = "/run/djangostack-pgpool-failover.hold"


@dataclass(frozen=True)
class Backend:
    host: str
    port: int
    # True: a standby; False: a primary; None: did not answer.
    in_recovery: bool | None


def decide(
    failed_id: int,
    old_primary_id: int,
    new_main_id: int,
    backends: list[Backend],
    held: bool = False,
    primary_heard_ago: float | None = None,
) -> tuple[str, str]:
    """("promote" or "nothing", why). backends are indexed by pgpool node id;
    primary_heard_ago: seconds since the candidate's WAL receiver last heard from its
    primary (None: it does not stream)."""
    if held:
        return "nothing", "a playbook holds failover while it moves the primary itself"
    if failed_id != old_primary_id:
        return (
            "nothing",
            f"node {failed_id} was a standby; the primary is still node {old_primary_id}",
        )
    if backends[failed_id].in_recovery is False:
        return "nothing", f"node {failed_id} still answers as primary: not making a second one"
    for node_id, backend in enumerate(backends):
        if node_id != failed_id and backend.in_recovery is False:
            return "nothing", f"node {node_id} ({backend.host}) already runs as primary"
    if new_main_id < 0 or new_main_id >= len(backends):
        return "nothing", "no live node is left to promote"
    candidate = backends[new_main_id]
    if candidate.in_recovery is None:
        return "nothing", f"node {new_main_id} ({candidate.host}) does not answer"
    if primary_heard_ago is not None and primary_heard_ago < HEARD_WITHIN:
        return (
            "nothing",
            f"node {new_main_id} ({candidate.host}) heard from the primary"
            f" {primary_heard_ago:.1f} s ago: the primary is alive and this pgpool host lost"
            " its path to it; not making a second primary",
        )
    return "promote", f"node {new_main_id} ({candidate.host}) is a standby and the primary is lost"


def connect(config: dict, host: str, port: int) -> Any:
    """A connection to the node's `postgres` database as pgpool's monitoring role."""
    import psycopg2

    conn = psycopg2.connect(
        host=host,
        port=port,
        dbname="postgres",
        user=config["user"],
        passfile=config["passfile"],
        connect_timeout=config.get("connect_timeout", 3),
    )
    conn.autocommit = True
    return conn


def reachable(host: str, port: int, seconds: float) -> bool:
    """A TCP connection within the health checks' own timeout. libpq waits at least 2 s
    (a connect_timeout of 1 counts as 2), which a lost primary made the longest step of
    the failover after the health checks themselves."""
    try:
        with socket.create_connection((host, port), timeout=seconds):
            return True
    except OSError:
        return False


def query_one(config: dict, host: str, port: int, sql: str) -> tuple | None:
    """The first row of one query on the node; None when it does not answer (or the query
    returns no row)."""
    import psycopg2

    if not reachable(host, port, config.get("connect_timeout", 3)):
        return None
    try:
        conn = connect(config, host, port)
    except psycopg2.Error:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()
    except psycopg2.Error:
        return None
    finally:
        conn.close()


def in_recovery(config: dict, host: str, port: int) -> bool | None:
    row = query_one(config, host, port, "SELECT pg_is_in_recovery()")
    return None if row is None else bool(row[0])


def primary_heard_ago(config: dict, host: str, port: int) -> float | None:
    """Seconds since the node's WAL receiver last heard from its primary, while it streams;
    None when it does not stream or does not answer."""
    row = query_one(
        config,
        host,
        port,
        "SELECT extract(epoch FROM clock_timestamp() - last_msg_receipt_time)"
        " FROM pg_stat_wal_receiver WHERE status = 'streaming'",
    )
    return None if row is None or row[0] is None else float(row[0])


def promote(config: dict, host: str, port: int) -> None:
    """pg_promote(wait => true): returns once the node accepts writes (or raises)."""
    import psycopg2

    conn = connect(config, host, port)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_promote(true, %s)", (config.get("promote_wait_seconds", 60),))
    except psycopg2.Error as error:
        # Another pgpool's promotion finished first: "recovery is not in progress".
        log(f"pg_promote on {host}: {str(error).strip()}")
    finally:
        conn.close()


def hold_active(path: str = HOLD, now: float | None = None) -> bool:
    """True while the hold file names an expiry time still ahead (a crashed playbook's
    hold lapses by itself)."""
    try:
        with open(path, encoding="utf-8") as handle:
            expiry = float(handle.read().strip() or 0)
    except (OSError, ValueError):
        return False
    return (time.time() if now is None else now) < expiry


def log(message: str) -> None:
    # pgpool passes the command's output to its own log (the journal under systemd).
    print(f"djangostack-pgpool-failover: {message}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    if len(argv) != 6:
        log(f"expected 6 arguments (%d %h %P %m %H %r), got {argv}")
        return 2
    failed_id, failed_host, old_primary_id, new_main_id = (
        int(argv[0]),
        argv[1],
        int(argv[2]),
        int(argv[3]),
    )
    with open(CONFIG, encoding="utf-8") as handle:
        config = json.load(handle)
    backends = [
        Backend(b["address"], int(b["port"]), in_recovery(config, b["address"], int(b["port"])))
        for b in config["backends"]
    ]
    candidate = backends[new_main_id] if 0 <= new_main_id < len(backends) else None
    heard = (
        primary_heard_ago(config, candidate.host, candidate.port)
        if candidate is not None and candidate.in_recovery
        else None
    )
    action, why = decide(
        failed_id,
        old_primary_id,
        new_main_id,
        backends,
        held=hold_active(),
        primary_heard_ago=heard,
    )
    log(f"node {failed_id} ({failed_host}) lost: {action}: {why}")
    if action != "promote":
        return 0
    target = backends[new_main_id]
    start = time.monotonic()
    promote(config, target.host, target.port)
    if in_recovery(config, target.host, target.port) is not False:
        log(f"node {new_main_id} ({target.host}) is still not a primary after pg_promote")
        return 1
    log(f"node {new_main_id} ({target.host}) promoted in {time.monotonic() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
