"""A load test's report: its figures, the summary table and the plots.

Reads what a run leaves in its folder: figures.json (the locust master's, at the end),
locust_stats_history.csv (one row a second) and run.json (the runner's: target, users,
the load generator's own CPU use).
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt


@dataclass(frozen=True)
class Run:
    """One load test's figures."""

    target: str
    url: str
    users: int
    seconds: int
    workers: int
    think_seconds: float
    all: dict[str, float]  # every request: requests, failures, rps, p50/p95/p99/max ms
    visitors: dict[str, float]  # the anonymous pages alone
    x_cache: dict[str, int]  # what visitors' responses said in X-Cache
    generator_cpu: dict[str, float]  # percent of the machine's CPUs, and each worker's peak

    @property
    def failure_rate(self) -> float:
        return 100 * self.all["failures"] / self.all["requests"] if self.all["requests"] else 0.0

    @property
    def hit_rate(self) -> float | None:
        """Percent of visitor responses Varnish answered from its cache; None without it."""
        looked_up = self.x_cache.get("HIT", 0) + self.x_cache.get("MISS", 0)
        return 100 * self.x_cache.get("HIT", 0) / looked_up if looked_up else None

    @classmethod
    def load(cls, folder: Path) -> Run:
        run = json.loads((folder / "run.json").read_text())
        figures = json.loads((folder / "figures.json").read_text())
        return cls(**run, **figures)


RATE_WINDOW = 6  # seconds: workers report every 3 s; a multiple of it, or the rate saw-tooths


def history(folder: Path) -> list[dict[str, float]]:
    """The run second by second (locust's aggregated rows): users, requests and failures
    per second over the last RATE_WINDOW seconds (from the running totals: the master's
    own per-second rate stays 0 in short runs), latency percentiles of the last 10 s."""
    rows = []
    with (folder / "locust_stats_history.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["Name"] != "Aggregated":
                continue
            rows.append(
                {
                    "time": float(row["Timestamp"]),
                    "users": float(row["User Count"]),
                    "total": float(row["Total Request Count"]),
                    "total_fails": float(row["Total Failure Count"]),
                    **{p: _number(row[f"{p}%"]) for p in ("50", "95", "99")},
                }
            )
    for n, row in enumerate(rows):
        earlier = rows[max(0, n - RATE_WINDOW)]
        span = row["time"] - earlier["time"] or 1.0
        row["rps"] = (row["total"] - earlier["total"]) / span
        row["fails"] = (row["total_fails"] - earlier["total_fails"]) / span
    start = rows[0]["time"] if rows else 0.0
    for row in rows:
        row["time"] -= start
    return rows


def _number(text: str) -> float:
    return float(text) if text not in ("", "N/A") else float("nan")


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


COLUMNS = [
    "target", "users", "requests", "req/s", "visitor req/s", "p50 ms", "p95 ms", "p99 ms",
    "visitor p95 ms", "failed", "Varnish hit rate", "generator CPU",
]  # fmt: skip


def row(run: Run) -> list[str]:
    cpu = run.generator_cpu
    return [
        f"{run.target} ({run.url})",
        str(run.users),
        _fmt(run.all["requests"]),
        _fmt(run.all["rps"], 1),
        _fmt(run.visitors["rps"], 1),
        _fmt(run.all["p50_ms"]),
        _fmt(run.all["p95_ms"]),
        _fmt(run.all["p99_ms"]),
        _fmt(run.visitors["p95_ms"]),
        f"{_fmt(run.all['failures'])} ({run.failure_rate:.2f}%)",
        "-" if run.hit_rate is None else f"{run.hit_rate:.1f}%",
        f"{cpu['machine_percent']:.0f}% (worker peak {cpu['worker_peak_percent']:.0f}%)",
    ]


def markdown_table(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def table(runs: list[Run]) -> str:
    return markdown_table(COLUMNS, [row(r) for r in runs])


def page(title: str, sections: list[str], command: str) -> str:
    """A report page (comparison.md, tuning.md): the title with the time of writing, the
    sections, and the command that reproduces it."""
    written = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    reproduce = f"Reproduce: `{command}` after `make up`."
    return "\n\n".join([f"# {title} ({written})", *sections, reproduce]) + "\n"


def plot_run(folder: Path, run: Run) -> Path:
    """Throughput and latency percentiles over time, one PNG."""
    rows = history(folder)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    times = [r["time"] for r in rows]
    top.plot(times, [r["rps"] for r in rows], label="requests/s", color="tab:blue")
    top.plot(times, [r["fails"] for r in rows], label="failures/s", color="tab:red")
    top.set_ylabel("requests per second")
    top.legend(loc="upper left")
    users = top.twinx()
    users.plot(times, [r["users"] for r in rows], color="grey", linestyle=":", label="users")
    users.set_ylabel("users")
    for p, color in (("50", "tab:green"), ("95", "tab:orange"), ("99", "tab:purple")):
        bottom.plot(times, [r[p] for r in rows], label=f"p{p}", color=color)
    bottom.set_yscale("log")
    bottom.set_ylabel("latency, ms (last 10 s, log scale)")
    bottom.set_xlabel("seconds since the start")
    bottom.legend(loc="upper left")
    hit = "" if run.hit_rate is None else f", hit rate {run.hit_rate:.1f}%"
    figure.suptitle(
        f"{run.target}: {run.all['rps']:,.0f} req/s, p95 {run.all['p95_ms']:,.0f} ms, "
        f"{run.all['failures']:,.0f} failed{hit} ({run.users} users, {run.seconds} s)"
    )
    figure.tight_layout()
    path = folder / "plot.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_comparison(folders: dict[str, Path], runs: list[Run], path: Path) -> Path:
    """The targets side by side: throughput and p95 over time, and the totals as bars."""
    figure, axes = plt.subplots(2, 2, figsize=(13, 8))
    (rps_time, rps_bars), (p95_time, p95_bars) = axes
    for run in runs:
        rows = history(folders[run.target])
        times = [r["time"] for r in rows]
        rps_time.plot(times, [r["rps"] for r in rows], label=run.target)
        p95_time.plot(times, [r["95"] for r in rows], label=run.target)
    rps_time.set_ylabel("requests per second")
    rps_time.legend()
    p95_time.set_yscale("log")
    p95_time.set_ylabel("p95 latency, ms (last 10 s, log)")
    p95_time.set_xlabel("seconds since the start")
    p95_time.legend()
    names = [r.target for r in runs]
    bars = rps_bars.bar(names, [r.visitors["rps"] for r in runs], color="tab:blue")
    rps_bars.bar_label(bars, fmt="%.0f")
    rps_bars.set_title("anonymous pages per second (whole run)")
    bars = p95_bars.bar(names, [r.visitors["p95_ms"] for r in runs], color="tab:orange")
    p95_bars.bar_label(bars, fmt="%.0f")
    p95_bars.set_title("anonymous pages: p95 ms (whole run)")
    figure.suptitle(f"The same scenario against each target ({runs[0].users} users)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def summary(run: Run) -> str:
    """summary.md: the table and what a reader checks first."""
    notes = []
    if run.generator_cpu["worker_peak_percent"] >= 90:
        notes.append(
            "A locust worker reached 90% of a CPU: the load generator may have been the "
            "bottleneck; add workers or read the figures as a lower bound."
        )
    return "\n\n".join([f"# Load test: {run.target}", table([run]), *notes]) + "\n"


def as_dict(run: Run) -> dict[str, Any]:
    return {**run.__dict__, "failure_rate": run.failure_rate, "hit_rate": run.hit_rate}
