#!/usr/bin/env python3
"""A bounded burst of HTTP requests, counted: the load behind the edge tier's tests and drills.

Standard library only, so the same file runs on the controller (drills, the lab tests,
against 127.0.0.1) and inside the Molecule scenarios' containers (copied there by the
shared prepare step). Bounded twice: it stops after --requests requests or --seconds
seconds, whichever comes first.

A request succeeds only when it answers a 2xx status (a 3xx is a failure), within
--slow-seconds (5; a slower answer is a failure, error "Slow"), with --expect in its body
when given (else error "UnexpectedBody"); raising (refused, reset, timed out after
--timeout) is a failure too. Each worker keeps one keep-alive connection, as a browser does,
and opens a new one after an error. Prints one JSON object: counts of statuses, errors,
X-Served-By, X-Release and X-Cache values, latency percentiles, and when each failure happened.

    http_load.py http://127.0.0.1:8081/ --requests 2000 --concurrency 8 --seconds 60
    http_load.py http://127.0.0.1:8081/standings/ --unique   # a new query string each time
    http_load.py http://127.0.0.1:8081/ --expect '<h1>The league</h1>' --slow-seconds 2
    http_load.py https://www.djangostack.test:8443/ --resolve 127.0.0.1 --cafile root.pem
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


def percentile(samples: Sequence[float], share: float) -> float:
    """Nearest rank: the first of the sorted samples with more than share * n samples up
    to and including it (index floor(share * n)); 0.0 for none. The harness's one
    percentile: LoadResult's and the benchmarks'."""
    ordered = sorted(samples)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass
class LoadResult:
    requests: int = 0
    failed: int = 0
    seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    served_by: Counter[str] = field(default_factory=Counter)
    x_cache: Counter[str] = field(default_factory=Counter)
    releases: Counter[str] = field(default_factory=Counter)  # X-Release: the app's release
    latencies_ms: list[float] = field(default_factory=list)
    started_at: list[float] = field(default_factory=list)  # seconds after the start, per request
    # Per request, in the order of started_at: who answered (X-Served-By; "" for none).
    answered_by: list[str] = field(default_factory=list)
    failures_at: list[float] = field(default_factory=list)  # seconds after the start
    # The first few failures as they came: which tier answered an error status shows in
    # its headers and body (Varnish's, nginx's and Apache's error pages differ).
    failure_samples: list[str] = field(default_factory=list)

    def percentile(self, share: float, since: float = 0.0, until: float = float("inf")) -> float:
        """Latency percentile of the requests started in [since, until) seconds."""
        window = [
            ms
            for ms, at in zip(self.latencies_ms, self.started_at, strict=True)
            if since <= at < until
        ]
        return round(percentile(window, share), 1)

    def window(self, since: float, until: float = float("inf")) -> dict[str, Any]:
        """Counts and latencies of the requests started in [since, until) seconds."""
        return {
            "requests": sum(since <= at < until for at in self.started_at),
            "failed": sum(since <= at < until for at in self.failures_at),
            "served_by": dict(
                Counter(
                    name
                    for name, at in zip(self.answered_by, self.started_at, strict=True)
                    if name and since <= at < until
                )
            ),
            "p50_ms": self.percentile(0.50, since, until),
            "p95_ms": self.percentile(0.95, since, until),
        }

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failed": self.failed,
            "seconds": round(self.seconds, 2),
            "requests_per_second": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
            "served_by": dict(self.served_by),
            "x_cache": dict(self.x_cache),
            "releases": dict(self.releases),
            "p50_ms": self.percentile(0.50),
            "p95_ms": self.percentile(0.95),
            "p99_ms": self.percentile(0.99),
            "max_ms": round(max(self.latencies_ms, default=0.0), 1),
            "failures_at": [round(at, 2) for at in self.failures_at],
            "failure_samples": self.failure_samples,
        }


FAILURE_SAMPLES = 5


def describe_failure(response: http.client.HTTPResponse, body: bytes) -> str:
    """An error response in one line: status, the headers that name a tier, the body's start."""
    names = ("Server", "Via", "X-Varnish", "X-Served-By", "X-Release")
    headers = " ".join(f"{n}={response.getheader(n)!r}" for n in names if response.getheader(n))
    text = " ".join(body[:300].decode("utf-8", "replace").split())
    return f"{response.status} {headers} body={text!r}"


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the URL's name (SNI, the certificate's check, the Host header) at a given
    address, as curl's --resolve does: the lab's names are in no DNS the controller uses."""

    def __init__(self, host: str, port: int | None, address: str, **options: Any) -> None:
        super().__init__(host, port, **options)
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def connection(
    scheme: str, host: str, port: int, timeout: float, cafile: str | None, resolve: str | None
) -> http.client.HTTPConnection:
    """A connection for one worker: plain HTTP, or HTTPS verified against cafile (the
    system's CAs without it), at the address `resolve` when given."""
    if scheme == "http":
        return http.client.HTTPConnection(resolve or host, port, timeout=timeout)
    context = ssl.create_default_context(cafile=cafile)
    return PinnedHTTPSConnection(host, port, resolve or host, timeout=timeout, context=context)


def run_load(
    url: str | Sequence[str],
    requests: int = 500,
    concurrency: int = 8,
    seconds: float = 60.0,
    timeout: float = 30.0,
    headers: dict[str, str] | None = None,
    unique: bool = False,
    stop: threading.Event | None = None,
    slow_seconds: float = 5.0,
    expect: bytes | str | None = None,
    cafile: str | None = None,
    resolve: str | None = None,
) -> LoadResult:
    """Send up to `requests` GETs to `url` from `concurrency` threads, for at most `seconds`
    or until `stop` is set.

    Several URLs (one host and port) are taken in turn. `unique` adds a different query
    string to each request (a cache miss each time). A request succeeds only on a 2xx
    status, answered within `slow_seconds` (else error "Slow"), with `expect` in its body
    when given (else error "UnexpectedBody"); `timeout` is the socket's, per operation.
    HTTPS is verified against `cafile`; `resolve` is the address to connect to instead of
    the URL's host."""
    expected = expect.encode() if isinstance(expect, str) else expect
    urls = [url] if isinstance(url, str) else list(url)
    splits = [urlsplit(u) for u in urls]
    if any(p.scheme not in ("http", "https") or not p.hostname for p in splits):
        raise ValueError(f"{urls}: only http:// and https:// URLs")
    if len({(p.scheme, p.hostname, p.port) for p in splits}) != 1:
        raise ValueError(f"{urls}: one scheme, host and port")
    scheme, host = splits[0].scheme, splits[0].hostname or ""
    port = splits[0].port or (443 if scheme == "https" else 80)
    paths = [(p.path or "/") + (f"?{p.query}" if p.query else "") for p in splits]
    numbers = itertools.count()
    lock = threading.Lock()
    result = LoadResult()
    started = time.monotonic()
    deadline = started + seconds

    def worker() -> None:
        conn: http.client.HTTPConnection | None = None
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            number = next(numbers)
            if number >= requests:
                break
            target = paths[number % len(paths)]
            if unique:
                target += ("&" if "?" in target else "?") + f"load={started:.0f}-{number}"
            begun = time.monotonic()
            status = error = served_by = x_cache = release = detail = ""
            try:
                if conn is None:
                    conn = connection(scheme, host, port, timeout, cafile, resolve)
                conn.request("GET", target, headers=headers or {})
                response = conn.getresponse()
                body = response.read()
                status = str(response.status)
                answered = time.monotonic() - begun
                if not 200 <= response.status < 300:
                    detail = describe_failure(response, body)
                elif answered > slow_seconds:
                    error, detail = "Slow", f"Slow {answered:.2f} s > {slow_seconds} s"
                elif expected is not None and expected not in body:
                    error = "UnexpectedBody"
                    missing = expected.decode("utf-8", "replace")
                    detail = f"{error} {missing!r}: {describe_failure(response, body)}"
                served_by = response.getheader("X-Served-By", "")
                x_cache = response.getheader("X-Cache", "")
                release = response.getheader("X-Release", "")
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                error = detail = type(exc).__name__
                if conn is not None:
                    conn.close()
                conn = None
            elapsed_ms = (time.monotonic() - begun) * 1000
            with lock:
                result.requests += 1
                result.latencies_ms.append(elapsed_ms)
                result.started_at.append(begun - started)
                result.answered_by.append(served_by)
                if error:
                    result.errors[error] += 1
                if status:  # a Slow or UnexpectedBody answer still counts its status
                    result.statuses[status] += 1
                if served_by:
                    result.served_by[served_by] += 1
                if x_cache:
                    result.x_cache[x_cache] += 1
                if release:
                    result.releases[release] += 1
                if error or not 200 <= int(status) < 300:
                    result.failed += 1
                    result.failures_at.append(begun - started)
                    if len(result.failure_samples) < FAILURE_SAMPLES:
                        result.failure_samples.append(f"{begun - started:.2f} s {target}: {detail}")
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - started
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="+", help="taken in turn; one host and port")
    parser.add_argument("--requests", type=int, default=500, help="at most this many requests")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel connections")
    parser.add_argument("--seconds", type=float, default=60, help="stop after this long")
    parser.add_argument("--timeout", type=float, default=30, help="seconds per request")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--unique", action="store_true", help="a different query string each time")
    parser.add_argument(
        "--slow-seconds", type=float, default=5, help="a slower answer is a failure"
    )
    parser.add_argument("--expect", help="text every body must contain (else a failure)")
    parser.add_argument("--cafile", help="HTTPS: the CA certificates to verify against")
    parser.add_argument("--resolve", help="connect to this address instead of the URL's host")
    args = parser.parse_args()
    headers = dict(h.split(":", 1) for h in args.header)
    result = run_load(
        args.url,
        requests=args.requests,
        concurrency=args.concurrency,
        seconds=args.seconds,
        timeout=args.timeout,
        headers={k.strip(): v.strip() for k, v in headers.items()},
        unique=args.unique,
        slow_seconds=args.slow_seconds,
        expect=args.expect,
        cafile=args.cafile,
        resolve=args.resolve,
    )
    print(json.dumps(result.summary()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
