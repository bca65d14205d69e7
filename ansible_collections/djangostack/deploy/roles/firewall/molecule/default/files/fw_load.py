"""Load on one allowed flow while the firewall reloads: python3 fw_load.py SECONDS ADDRESS.

For SECONDS, one TCP connection to ADDRESS:80 (the echo server) held open and used every
10 ms, and a new connection every 20 ms. Any error, or a reply later than 1 s, is a
failure. Prints the counts, the failures and the slowest reply, as JSON.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from typing import Any

TIMEOUT = 1.0
stats: dict[str, Any] = {"held": 0, "new": 0, "failures": [], "slowest": 0.0}


def exchange(conn: socket.socket, number: int) -> None:
    """Send a line, wait for its echo."""
    start = time.monotonic()
    conn.sendall(b"%d\n" % number)
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = conn.recv(64)
        if not chunk:
            raise ConnectionError("closed by the server")
        reply += chunk
    if reply != b"%d\n" % number:
        raise ValueError(f"echo {reply!r} for {number}")
    stats["slowest"] = max(stats["slowest"], time.monotonic() - start)


def held(conn: socket.socket, end: float) -> None:
    while time.monotonic() < end:
        try:
            exchange(conn, stats["held"])
        except Exception as error:
            stats["failures"].append(f"held: {error!r}")
            return
        stats["held"] += 1
        time.sleep(0.01)


def new(target: tuple[str, int], end: float) -> None:
    while time.monotonic() < end:
        try:
            with socket.create_connection(target, timeout=TIMEOUT) as conn:
                conn.settimeout(TIMEOUT)
                exchange(conn, stats["new"])
        except Exception as error:
            stats["failures"].append(f"new: {error!r}")
        else:
            stats["new"] += 1
        time.sleep(0.02)


def main() -> None:
    seconds, target = float(sys.argv[1]), (sys.argv[2], 80)
    conn = socket.create_connection(target, timeout=TIMEOUT)
    conn.settimeout(TIMEOUT)
    end = time.monotonic() + seconds
    threads = [
        threading.Thread(target=held, args=(conn, end)),
        threading.Thread(target=new, args=(target, end)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        # The held connection still carries data after every reload.
        exchange(conn, -1)
    except Exception as error:
        stats["failures"].append(f"held, at the end: {error!r}")
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
