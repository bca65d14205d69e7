#!/usr/bin/env python3
"""A tiny HTTP backend for the edge tier's Molecule scenarios (nginx_lb, varnish).

It stands in for the app servers (or the load balancers) with just enough behaviour to
test a proxy or a cache: every answer names the host (X-Served-By, as the sample app
does), carries a per-process serial number (a cached answer repeats it, a fresh one does
not), echoes the request's method, path and headers as JSON, and sends the cache headers
the query string asks for:

  /healthz/                 200 "ok", no-store (what probes and health checks ask for),
                            after the seconds in /etc/http-backend-healthz-delay when it
                            exists (a busy app, slow to answer but alive); 503 while
                            /etc/http-backend-healthz-failing exists (the app's answer
                            while its database does not answer)
  ?max_age=N                Cache-Control: public, max-age=N (default 300)
  ?private=1                Cache-Control: private, no-cache
  ?set_cookie=1             a Set-Cookie header (Django's CSRF form pages send one)
  ?sleep=S                  answer after S seconds
  ?status=N                 answer with that status

X-Release comes from /etc/http-backend-release when it exists (the sample app's header,
which deploy.yml bans by). Standard library only: the lab's hosts have no PyPI.
"""

from __future__ import annotations

import itertools
import json
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HOSTNAME = socket.gethostname()
RELEASE_FILE = Path("/etc/http-backend-release")
HEALTHZ_DELAY_FILE = Path("/etc/http-backend-healthz-delay")
HEALTHZ_FAILING_FILE = Path("/etc/http-backend-healthz-failing")
SERIAL = itertools.count(1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the proxies' upstream connections use
    # The headers and the body leave in one write (handle_one_request flushes after each
    # answer). Unbuffered, they left in two, and a backend killed between them sent a
    # response begun but cut short, which no proxy may retry: one request in 600 failed
    # where the scenarios test that a dead backend's requests go to another.
    wbufsize = 1 << 16

    def answer(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(length) if length else b""
        time.sleep(float(query.get("sleep", 0)))

        if url.path == "/healthz/":
            if HEALTHZ_DELAY_FILE.exists():
                time.sleep(float(HEALTHZ_DELAY_FILE.read_text()))
            if HEALTHZ_FAILING_FILE.exists():
                status, cache_control, body = 503, "no-store", b"failed\n"
            else:
                status, cache_control, body = 200, "no-store", b"ok\n"
        else:
            status = int(query.get("status", 200))
            if "private" in query:
                cache_control = "private, no-cache"
            else:
                cache_control = f"public, max-age={int(query.get('max_age', 300))}"
            body = json.dumps(
                {
                    "host": HOSTNAME,
                    "serial": next(SERIAL),
                    "method": self.command,
                    "path": self.path,
                    "received_bytes": len(body_in),
                    "headers": {key.lower(): value for key, value in self.headers.items()},
                }
            ).encode()

        self.send_response(status)
        self.send_header("Content-Type", "application/json" if body[:1] == b"{" else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache_control)
        self.send_header("X-Served-By", HOSTNAME)
        if RELEASE_FILE.exists():
            self.send_header("X-Release", RELEASE_FILE.read_text().strip())
        if "set_cookie" in query:
            self.send_header("Set-Cookie", "csrftoken=fresh; Path=/; SameSite=Lax")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = answer

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def main() -> None:
    address, port = sys.argv[1], int(sys.argv[2])
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer((address, port), Handler).serve_forever()


if __name__ == "__main__":
    main()
