"""wrk, Debian's C load generator: the harness's saturating load, for figures where the
limit must be the stack's and not the generator's (capacity, the busy-primary drill, the
app's profile). harness.http_load, in Python, measures request by request instead: the
success rule, the windows, who served each one. wrk's text report is its only interface:
this is the one place that runs it and reads it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.lab import pinned

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
SOCKET_ERRORS = ("connect", "read", "write", "timeout")


@dataclass(frozen=True)
class WrkResult:
    url: str
    requests: int
    rps: float
    mean_ms: float
    p50_ms: float  # 0.0 unless wrk ran with --latency
    p99_ms: float
    non_2xx: int  # wrk counts 3xx with them: "Non-2xx or 3xx responses"
    socket_errors: dict[str, int]  # connect, read, write, timeout

    @property
    def failed(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * UNITS_MS[match.group(2)]


def parse(url: str, output: str) -> WrkResult:
    """wrk's report as figures. Requests/sec must be there; the rest defaults to none."""

    def find(pattern: str, default: str) -> str:
        match = re.search(pattern, output)
        return match.group(1) if match else default

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not rate:
        raise ValueError(f"wrk's output has no Requests/sec:\n{output}")
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    counts = errors.groups() if errors else ()
    return WrkResult(
        url=url,
        requests=int(find(r"(\d+) requests in", "0")),
        rps=float(rate.group(1)),
        mean_ms=_ms(find(r"Latency\s+([\d.]+(?:us|ms|s))", "0ms")),
        p50_ms=_ms(find(r"\s50%\s+([\d.]+(?:us|ms|s))", "0ms")),
        p99_ms=_ms(find(r"\s99%\s+([\d.]+(?:us|ms|s))", "0ms")),
        non_2xx=int(find(r"Non-2xx or 3xx responses:\s+(\d+)", "0")),
        socket_errors={
            kind: int(count) for kind, count in zip(SOCKET_ERRORS, counts, strict=False)
        },
    )


@dataclass(frozen=True)
class Load:
    """One wrk run, bounded by `seconds`: the one statement of its parameters, which
    `command`, `start` and `run` all take. `prefix` runs wrk under another command
    (nsenter, to send from inside a container's network); `headers` are sent as well."""

    url: str
    seconds: float
    connections: int
    threads: int = 1
    prefix: Sequence[str] = ()
    headers: Mapping[str, str] | None = None


def command(load: Load) -> list[str]:
    """wrk with its latency distribution. A front door URL is sent to the front door's
    address with the site's name as Host (harness.lab.pinned): wrk has no --resolve, and
    checks no certificate."""
    target, pinned_headers = pinned(load.url)
    sent = {**pinned_headers, **(load.headers or {})}
    options = [part for name, value in sent.items() for part in ("-H", f"{name}: {value}")]
    bounds = [f"-t{load.threads}", f"-c{load.connections}", f"-d{int(load.seconds)}s"]
    return [*load.prefix, "wrk", "--latency", *bounds, *options, target]


def start(load: Load) -> subprocess.Popen[str]:
    """wrk in the background (several at once, or beside a profiler); `finish` reads it."""
    return subprocess.Popen(
        command(load), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(url: str, process: subprocess.Popen[str], timeout: float) -> WrkResult:
    output = process.communicate(timeout=timeout)[0]
    if process.returncode != 0:
        raise RuntimeError(f"{shlex.join(map(str, process.args))} failed:\n{output}")  # type: ignore[arg-type]
    return parse(url, output)


def run(load: Load) -> WrkResult:
    return finish(load.url, start(load), timeout=load.seconds + 30)
