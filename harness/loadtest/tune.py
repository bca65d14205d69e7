#!/usr/bin/env python3
"""Measure role settings against each other: the same load test under each variant.

    python -m harness.loadtest.tune --target web1 --seconds 40 \\
        --variant defaults= \\
        --variant 4x8="apache_modwsgi_processes=4 apache_modwsgi_threads=8"

Each variant is NAME=EXTRA_VARS: playbooks/site.yml converges the lab with those extra
variables (empty: the roles' defaults), then run.py's load test runs against --target.
At the end site.yml converges once more with the defaults, so the lab is left as
`make up` built it. Writes reports/tune/<time>-<target>/: a folder per variant and
tuning.md (one table, the commands). How the roles' defaults were chosen with it:
docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from harness.ansible_cli import run_playbook
from harness.loadtest import report
from harness.loadtest.run import default_folder, run_loadtest
from harness.loadtest.site import TARGETS, crawl

# report.row's first columns, the target and the user count, are the same in every
# variant's row: the page's title says them instead.
SAME_IN_EVERY_ROW = 2


def typed_vars(extra_vars: str) -> dict[str, Any]:
    """ "a=5 b=on" as {"a": 5, "b": True}: values typed as YAML reads them, since on a
    command line `-e a=5` would give the roles the text "5"."""
    return {
        name: yaml.safe_load(value)
        for name, _, value in (pair.partition("=") for pair in shlex.split(extra_vars))
    }


def converge(extra_vars: str) -> None:
    """site.yml on the lab with these extra variables, e.g. "pgpool_max_pool=2"."""
    result = run_playbook(
        "playbooks/site.yml", "-e", json.dumps(typed_vars(extra_vars)), quiet=True
    )
    if result.returncode != 0:
        raise SystemExit(f"site.yml {extra_vars!r} failed:\n{result.output[-3000:]}")


def variant(text: str) -> tuple[str, str]:
    name, sep, extra_vars = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: NAME=EXTRA_VARS (EXTRA_VARS may be empty)")
    return name, extra_vars


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=sorted(TARGETS), default="web1")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--variant", type=variant, action="append", required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not 1 <= args.users <= 1000 or not 1 <= args.seconds <= 600:
        parser.error("--users 1-1000 and --seconds 1-600: a bounded load")
    out = args.out or default_folder("tune", args.target)
    catalogue = crawl()
    rows: list[list[str]] = []
    try:
        for name, extra_vars in args.variant:
            print(
                f"{name}: site.yml {extra_vars or '(defaults)'}, then {args.seconds} s", flush=True
            )
            converge(extra_vars)
            time.sleep(5)  # the reloaded daemons settle
            run = run_loadtest(
                args.target, args.users, args.seconds, out / name, catalogue=catalogue
            )
            rows.append(
                [name, f"`{extra_vars or '(defaults)'}`", *report.row(run)[SAME_IN_EVERY_ROW:]]
            )
            print(" | ".join(rows[-1]), flush=True)
    finally:
        print("site.yml with the defaults again", flush=True)
        converge("")
    command = " ".join(
        [
            "python -m harness.loadtest.tune",
            f"--target {args.target} --users {args.users} --seconds {args.seconds}",
        ]
        + [shlex.quote(f"--variant={n}={e}") for n, e in args.variant]
    )
    title = f"Tuning on {args.target}, {args.users} users, {args.seconds} s each"
    columns = ["variant", "extra vars", *report.COLUMNS[SAME_IN_EVERY_ROW:]]
    text = report.page(title, [report.markdown_table(columns, rows)], command)
    (out / "tuning.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
