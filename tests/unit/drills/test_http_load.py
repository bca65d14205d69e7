"""The load driver against a real HTTP server on 127.0.0.1: counts, windows, headers,
what counts as a failure; and the harness's one percentile."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import http_load
from harness.benchmarks import page_latency
from harness.http_load import LoadResult, percentile, run_load
from harness.lab import BackgroundLoad, counts, markdown_table


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the app servers answer

    def do_GET(self) -> None:
        status = 500 if self.path.startswith("/broken") else 200
        if self.path.startswith("/redirect"):
            status = 302
        if self.path.startswith("/slow"):
            time.sleep(0.4)
        body = self.path.encode()
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/one")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", "one" if "one" in self.path else "two")
        self.send_header("X-Release", "r1")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_urls_are_taken_in_turn_and_counted(server: str) -> None:
    result = run_load([f"{server}/one", f"{server}/two"], requests=40, concurrency=4)
    assert (result.requests, result.failed) == (40, 0)
    assert result.served_by == {"one": 20, "two": 20}
    assert result.releases == {"r1": 40}
    assert result.window(0)["requests"] == 40


def test_a_500_is_a_failure_with_its_time(server: str) -> None:
    result = run_load([f"{server}/ok", f"{server}/broken"], requests=10, concurrency=1)
    assert (result.failed, result.statuses) == (5, {"200": 5, "500": 5})
    assert len(result.failures_at) == 5 and result.window(0)["failed"] == 5
    # Each failure sampled with what names the tier that answered it.
    assert len(result.failure_samples) == 5
    assert all(": 500 " in s and "X-Served-By='two'" in s for s in result.failure_samples)
    assert all("body='/broken" in s for s in result.failure_samples)


def test_a_redirect_is_a_failure(server: str) -> None:
    result = run_load([f"{server}/one", f"{server}/redirect"], requests=6, concurrency=1)
    assert (result.failed, result.statuses) == (3, {"200": 3, "302": 3})
    assert all(": 302 " in s for s in result.failure_samples)


def test_an_answer_slower_than_slow_seconds_is_a_failure(server: str) -> None:
    """Each /slow answer takes 0.4 s: a 200, in time for the socket's timeout, yet slow."""
    result = run_load(
        [f"{server}/one", f"{server}/slow"], requests=4, concurrency=1, seconds=10,
        slow_seconds=0.2,
    )  # fmt: skip
    assert (result.failed, result.errors, result.statuses) == (2, {"Slow": 2}, {"200": 4})
    assert all("/slow: Slow " in s for s in result.failure_samples), result.failure_samples


def test_a_body_without_the_expected_text_is_a_failure(server: str) -> None:
    for expect in ("/one", b"/one"):
        result = run_load([f"{server}/one", f"{server}/two"], requests=4, concurrency=1,
                          expect=expect)  # fmt: skip
        assert (result.failed, result.errors) == (2, {"UnexpectedBody": 2})
        assert result.statuses == {"200": 4}  # their statuses still counted
        assert all("/two: UnexpectedBody '/one'" in s for s in result.failure_samples)


def test_the_cli_takes_slow_seconds_and_expect(server: str) -> None:
    """The file alone, as the edge scenarios' containers run it (`http-load`)."""
    out = subprocess.run(
        [sys.executable, "-I", http_load.__file__, f"{server}/one", f"{server}/two",
         "--requests=4", "--concurrency=1", "--slow-seconds=5", "--expect=/one"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    summary = json.loads(out)
    assert (summary["failed"], summary["errors"]) == (2, {"UnexpectedBody": 2})


def test_one_percentile_for_every_caller() -> None:
    samples = [float(n) for n in range(1, 101)]
    random.Random(7).shuffle(samples)
    assert [percentile(samples, s) for s in (0.0, 0.5, 0.95, 0.99, 1.0)] == [1, 51, 96, 100, 100]
    assert percentile([10.0, 20.0, 30.0, 40.0], 0.5) == 30.0
    assert (percentile([], 0.95), percentile([7.0], 0.99)) == (0.0, 7.0)
    # LoadResult's (rounded to 0.1 ms) and the page latency benchmark's are this one.
    result = LoadResult(latencies_ms=[s + 0.04 for s in samples], started_at=[0.0] * 100)
    assert (result.percentile(0.50), result.percentile(0.95)) == (51.0, 96.0)
    assert page_latency.percentile is percentile


def test_a_refused_connection_is_a_failure() -> None:
    result = run_load("http://127.0.0.1:9/", requests=3, concurrency=1, timeout=1)
    assert result.failed == 3 and result.errors == {"ConnectionRefusedError": 3}
    assert result.failure_samples[0].endswith(": ConnectionRefusedError")


def test_a_background_load_stops_with_its_block(server: str) -> None:
    with BackgroundLoad(server + "/", requests=10**9, seconds=60, concurrency=2) as load:
        time.sleep(0.3)
        split = load.elapsed()
        time.sleep(0.3)
    result = load.result
    assert 0 < result.seconds < 5 and result.failed == 0
    before, after = result.window(0, split), result.window(split)
    assert before["requests"] > 0 and after["requests"] > 0
    assert before["requests"] + after["requests"] == result.requests


def test_the_figures_table_is_markdown() -> None:
    table = markdown_table(["run", "served by"], [(1, counts({"web2": 2330, "web1": 43}))])
    assert table.splitlines() == [
        "| run | served by |",
        "| --- | --- |",
        "| 1 | web1 43, web2 2,330 |",
    ]
