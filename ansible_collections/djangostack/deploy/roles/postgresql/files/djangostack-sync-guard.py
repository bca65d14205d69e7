#!/usr/bin/python3
"""Keep synchronous replication on while a standby can confirm commits, and off when none can.

Runs on every PostgreSQL node of the stack (a systemd service); it acts only while its node
is the primary, so after a failover the new primary's guard takes over by itself.

Modes (the roles' synchronous_mode):
  async        synchronous_standby_names stays empty.
  sync         commits wait for a standby ("ANY 1 (...)") while one is streaming. When none
               has been streaming for GRACE seconds, the guard empties the list: waiting
               commits return and writes go on asynchronously, rather than stopping until
               an operator acts. When a standby streams again, synchronous mode returns.
               This is Patroni's (non-strict) synchronous_mode.
  sync_strict  commits always wait for a standby: no acknowledged commit is ever only on
               the primary, and writes stop while no standby confirms them.

The decision is a pure function (desired_names), unit-tested; the loop around it reads
pg_stat_replication over the local socket and applies changes with ALTER SYSTEM and
pg_reload_conf(), which release or hold waiting commits at once.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass

MODES = ("async", "sync", "sync_strict")


def standby_list(candidates: list[str]) -> str:
    """synchronous_standby_names for a quorum of one among the candidates."""
    quoted = ", ".join('"' + name.replace('"', '""') + '"' for name in sorted(candidates))
    return f"ANY 1 ({quoted})"


@dataclass
class State:
    """What the guard remembers between two looks: since when no standby has streamed."""

    none_streaming_since: float | None = None
    # The node was a standby at an earlier look: the next look as a primary is its first
    # after a promotion.
    was_standby: bool = False


def desired_names(
    mode: str,
    candidates: list[str],
    streaming: set[str],
    current: str,
    state: State,
    now: float,
    grace: float,
) -> str:
    """The synchronous_standby_names the primary should have now.

    `streaming` holds the application names of the candidates whose WAL sender is in state
    'streaming' (caught up); a standby still catching up does not count, so that turning
    synchronous mode back on never stalls commits behind a replay backlog.
    """
    if mode not in MODES:
        raise ValueError(f"unknown synchronous mode {mode!r}: expected one of {MODES}")
    just_promoted, state.was_standby = state.was_standby, False
    if mode == "async" or not candidates:
        state.none_streaming_since = None
        return ""
    wanted = standby_list(candidates)
    if mode == "sync_strict":
        return wanted
    if streaming & set(candidates):
        state.none_streaming_since = None
        return wanted
    if current != wanted or just_promoted:
        # Asynchronous already, or a list this guard did not set (one copied with the data
        # directory by a clone, naming this node itself after a promotion): nobody in it
        # can confirm commits, so there is nothing to wait for. Nor on a node just
        # promoted: no standby streams from its new timeline yet, and the node that did
        # is the lost primary or the one switched over, which must rejoin first (tens of
        # seconds). Waiting out the grace held every write of a failover 5 s longer.
        state.none_streaming_since = None
        return ""
    if state.none_streaming_since is None:
        state.none_streaming_since = now
    if now - state.none_streaming_since >= grace:
        return ""
    return current


def run(
    mode: str, candidates: list[str], port: int, grace: float, interval: float
) -> None:  # pragma: no cover
    # Imported here: the decision above is unit-tested on machines without the driver.
    import psycopg2  # Debian's python3-psycopg2, installed on every database host

    log = logging.getLogger("sync-guard")
    state = State()
    connection = None
    while True:
        try:
            if connection is None or connection.closed:
                connection = psycopg2.connect(dbname="postgres", user="postgres", port=port)
                connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_is_in_recovery()")
                (in_recovery,) = cursor.fetchone()
                if in_recovery:
                    state.was_standby = True
                else:
                    cursor.execute(
                        "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'"
                    )
                    streaming = {row[0] for row in cursor.fetchall()}
                    cursor.execute("SHOW synchronous_standby_names")
                    (current,) = cursor.fetchone()
                    wanted = desired_names(
                        mode, candidates, streaming, current, state, time.monotonic(), grace
                    )
                    if wanted != current:
                        cursor.execute("ALTER SYSTEM SET synchronous_standby_names = %s", (wanted,))
                        cursor.execute("SELECT pg_reload_conf()")
                        log.warning(
                            "synchronous_standby_names %r -> %r (streaming: %s)",
                            current,
                            wanted,
                            ", ".join(sorted(streaming)) or "none",
                        )
        except psycopg2.Error as error:
            log.error("%s", str(error).strip())
            connection = None
        time.sleep(interval)


def main() -> None:  # pragma: no cover
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument(
        "--candidate", action="append", default=[], help="a standby's application_name"
    )
    parser.add_argument("--port", type=int, default=5432, help="the local server's port")
    parser.add_argument(
        "--grace", type=float, default=5.0, help="seconds without a standby before async"
    )
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between looks")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run(args.mode, args.candidate, args.port, args.grace, args.interval)


if __name__ == "__main__":
    main()
