#!/usr/bin/python3
"""A steady stream of committed writes through pgpool, for failover drills.

Runs on a pgpool host (python3-psycopg2 is there) against the local pgpool, as the
application's role. Each row is INSERTed in its own transaction; a row counts as
acknowledged only when COMMIT returned. On any error the writer reconnects and goes on,
so the output tells how long writes were refused and which rows were acknowledged: a
drill then checks that every acknowledged row is on the new primary.

Bounded: it stops after --seconds, or earlier when --stop-file appears or (with
--until-acknowledged N) once N writes were acknowledged. Prints one JSON object:
acknowledged ids and when each was acknowledged (wall clock, so a drill can measure from
the moment it broke something), errors, and the longest gap between two acknowledged
commits.

With --commit-times (the point-in-time recovery drill) each row also carries, in column
`written_at`, the database's clock_timestamp() when its INSERT ran, and the output adds
`sent_at`: the wall clock just before each acknowledged row's INSERT was sent. A row's
commit happened after both and before its acknowledgement, so a drill can tell the rows
committed before a moment T (acknowledged before it) from those committed after it (sent
after it); times are then not rounded.

    write_stream.py --dsn "host=127.0.0.1 dbname=django user=django" --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import psycopg2

TABLE = "djangostack_drill_writes"


def connect(dsn: str) -> Any:
    conn = psycopg2.connect(dsn, connect_timeout=2)
    conn.autocommit = False
    return conn


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="libpq DSN; the password from PGPASSWORD")
    parser.add_argument("--seconds", type=float, default=60, help="stop after this long")
    parser.add_argument("--interval", type=float, default=0.05, help="pause between writes")
    parser.add_argument("--stop-file", default="", help="stop early when this file exists")
    parser.add_argument("--run", default=str(int(time.time())), help="label stored with rows")
    parser.add_argument(
        "--until-acknowledged", type=int, default=0, help="stop after this many (0: no limit)"
    )
    parser.add_argument(
        "--commit-times",
        action="store_true",
        help="stamp each row with the database's clock and report when each was sent",
    )
    args = parser.parse_args()

    started = time.monotonic()
    deadline = started + args.seconds
    acknowledged: list[int] = []
    acknowledged_at: list[float] = []  # wall-clock time of each acknowledgement
    sent_at: list[float] = []  # --commit-times: wall clock just before each one's INSERT
    errors: list[str] = []
    last_ack = started
    longest_gap = 0.0
    gap_started_at = 0.0  # seconds after start of the commit before the longest gap
    attempts = 0
    conn = None
    setup = (
        f"CREATE TABLE IF NOT EXISTS {TABLE}"
        " (id bigserial PRIMARY KEY, run text, at timestamptz DEFAULT now())"
    )
    insert = f"INSERT INTO {TABLE} (run) VALUES (%s) RETURNING id"
    if args.commit_times:
        # A column of its own, added to a table the other drills keep using as it was.
        stamp = f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS written_at timestamptz"
        setup = f"{setup}; {stamp}"
        insert = (
            f"INSERT INTO {TABLE} (run, written_at) VALUES (%s, clock_timestamp()) RETURNING id"
        )
    while time.monotonic() < deadline:
        if args.stop_file and os.path.exists(args.stop_file):
            break
        attempts += 1
        try:
            if conn is None or conn.closed:
                conn = connect(args.dsn)
                with conn.cursor() as cur:
                    cur.execute(setup)
                conn.commit()
            sent = time.time()
            with conn.cursor() as cur:
                cur.execute(insert, (args.run,))
                row_id = cur.fetchone()[0]
            conn.commit()  # acknowledged from here on
            now = time.monotonic()
            if now - last_ack > longest_gap:
                longest_gap, gap_started_at = now - last_ack, last_ack - started
            last_ack = now
            acknowledged.append(row_id)
            # Unrounded with --commit-times: the drill compares them with a microsecond T.
            acked = time.time()
            acknowledged_at.append(acked if args.commit_times else round(acked, 3))
            if args.commit_times:
                sent_at.append(sent)
            if args.until_acknowledged and len(acknowledged) >= args.until_acknowledged:
                break
        except psycopg2.Error as error:
            text = str(error).strip()
            message = text.splitlines()[0] if text else type(error).__name__
            if not errors or errors[-1] != message:
                errors.append(message)
            try:
                if conn is not None:
                    conn.close()
            except psycopg2.Error:
                pass
            conn = None
            time.sleep(0.2)
            continue
        time.sleep(args.interval)
    result = {
        "run": args.run,
        "seconds": round(time.monotonic() - started, 2),
        "attempts": attempts,
        "acknowledged": acknowledged,
        "acknowledged_at": acknowledged_at,
        "errors": errors,
        "longest_gap_seconds": round(longest_gap, 2),
        "longest_gap_started_at": round(gap_started_at, 2),
    }
    if args.commit_times:
        result["sent_at"] = sent_at
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
