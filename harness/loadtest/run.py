#!/usr/bin/env python3
"""One load test on the lab: locust, headless and distributed, then a report folder.

    python -m harness.loadtest.run --target front  # the whole stack, HTTPS through Varnish
    python -m harness.loadtest.run --target web1 --users 50 --seconds 60
    make loadtest TARGET=lb USERS=50 DURATION=60

Targets (127.0.0.1 only): front (the front door: HTTPS, hitch and Varnish; its name pinned
to 127.0.0.1), lb (nginx, no Varnish), web1 (one app server alone: the workshop's initial
state). The scenario is locustfile.py's; over lb and web1 its users play the TLS
terminator's part (harness.lab.TERMINATOR_HEADERS).
Bounded twice: --users users for --seconds seconds.

The load generator must not silently be the bottleneck: one locust worker per CPU
(--workers), and the report gives the generator's own CPU use (its processes' CPU time
over the run, as a share of the machine) and each worker's peak.

The folder (reports/loadtest/<time>-<target>/ unless --out): locust's CSV files and HTML
report, figures.json, run.json, summary.md, plot.png (throughput and latency percentiles
over time), catalogue.json (the pages the crawl found).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from harness import REPO
from harness.lab import lab_secret, urlopen
from harness.loadtest import report
from harness.loadtest.site import TARGETS, Catalogue, crawl

HERE = Path(__file__).resolve().parent
LOCUST = Path(sys.executable).parent / "locust"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check_target(url: str) -> None:
    try:
        with urlopen(url + "/healthz/", timeout=10) as response:
            response.read()
    except OSError as exc:
        raise SystemExit(f"{url} does not answer ({exc}): run `make up` first") from exc


class CpuWatch:
    """Samples each locust worker's CPU use every second: the peak says whether one of
    them ran out of CPU."""

    def __init__(self, processes: list[subprocess.Popen[bytes]]) -> None:
        self._watched = [psutil.Process(p.pid) for p in processes]
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        for process in self._watched:
            process.cpu_percent()  # the first call starts the interval
        while not self._stop.wait(1.0):
            for process in self._watched:
                with contextlib.suppress(psutil.Error):  # it has exited
                    self.peak = max(self.peak, process.cpu_percent())

    def __enter__(self) -> CpuWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def wait_with_cpu(process: subprocess.Popen[bytes]) -> float:
    """Wait for a child; the CPU seconds (user + system) it used in all."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def lab_credentials() -> dict[str, str]:
    """The member's password and the API token, as the lab generated them."""
    return {
        "LOADTEST_MEMBER_PASSWORD": lab_secret("django_member_password"),
        "LOADTEST_API_TOKEN": lab_secret("django_api_token"),
    }


def run_loadtest(
    target: str,
    users: int,
    seconds: int,
    out: Path,
    workers: int = os.cpu_count() or 1,
    think: float = 0.0,
    catalogue: Catalogue | None = None,
    url: str | None = None,
    credentials: dict[str, str] | None = None,
) -> report.Run:
    """`target` names one of TARGETS, or labels `url` when that is given."""
    url = url or TARGETS[target]
    check_target(url)
    out.mkdir(parents=True, exist_ok=True)
    (catalogue or crawl()).save(out / "catalogue.json")
    environment = {
        **os.environ,
        "LOADTEST_CATALOGUE": str(out / "catalogue.json"),
        "LOADTEST_FIGURES_FILE": str(out / "figures.json"),
        "LOADTEST_THINK_SECONDS": str(think),
        **(credentials or lab_credentials()),
    }
    port = free_port()
    common = [str(LOCUST), "-f", str(HERE / "locustfile.py"), "--loglevel", "WARNING"]
    master_command = [
        *common, "--master", "--headless", "--master-bind-host", "127.0.0.1",
        "--master-bind-port", str(port), "--expect-workers", str(workers),
        "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{seconds}s",
        "--stop-timeout", "5", "--host", url, "--exit-code-on-error", "0",
        "--csv", str(out / "locust"), "--csv-full-history", "--html", str(out / "locust.html"),
    ]  # fmt: skip
    worker_command = [*common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    log = (out / "locust.log").open("wb")
    started = time.monotonic()
    master = subprocess.Popen(master_command, env=environment, stdout=log, stderr=log)
    processes = [
        subprocess.Popen(worker_command, env=environment, stdout=log, stderr=log)
        for _ in range(workers)
    ]
    with CpuWatch(processes) as watch:
        master_cpu = wait_with_cpu(master)
        worker_cpu = sum(wait_with_cpu(p) for p in processes)
    wall = time.monotonic() - started
    log.close()
    if master.returncode != 0 or not (out / "figures.json").exists():
        raise SystemExit(f"locust failed (exit {master.returncode}): read {out / 'locust.log'}")
    cores = os.cpu_count() or 1
    (out / "run.json").write_text(
        json.dumps(
            {
                "target": target,
                "url": url,
                "users": users,
                "seconds": seconds,
                "workers": workers,
                "think_seconds": think,
                "generator_cpu": {
                    "machine_percent": round(100 * (master_cpu + worker_cpu) / (wall * cores), 1),
                    "master_cpu_seconds": round(master_cpu, 1),
                    "workers_cpu_seconds": round(worker_cpu, 1),
                    "worker_peak_percent": round(watch.peak, 1),
                    "cores": cores,
                },
            },
            indent=1,
        )
    )
    run = report.Run.load(out)
    report.plot_run(out, run)
    (out / "summary.md").write_text(report.summary(run))
    return run


def default_folder(kind: str, name: str) -> Path:
    return REPO / "reports" / kind / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=sorted(TARGETS), default="front")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="one per CPU")
    parser.add_argument("--think", type=float, default=0.0, help="mean pause per user, seconds")
    parser.add_argument("--out", type=Path, help="the report folder")
    args = parser.parse_args()
    if not 1 <= args.users <= 1000 or not 1 <= args.seconds <= 1800:
        parser.error("--users 1-1000 and --seconds 1-1800: a bounded load")
    out = args.out or default_folder("loadtest", args.target)
    run = run_loadtest(args.target, args.users, args.seconds, out, args.workers, args.think)
    print(report.summary(run))
    print(f"report: {out}/ (summary.md, plot.png, locust.html, locust_*.csv)")
    return 1 if run.all["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
