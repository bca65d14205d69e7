#!/usr/bin/env python3
"""Drill: a rolling deploy, then a rollback, under load; count the failed requests.

    python -m harness.drills.rolling_deploy  # a copy of sample_django with one change
    python -m harness.drills.rolling_deploy --runs 3
    python -m harness.drills.rolling_deploy --failing-migration  # a deploy that must fail

Each run:
  1. copies sample_django/ and changes its base template (a new release: the release id
     is a hash of the code), or deploys `--source` as it is;
  2. sends a load to the front door, https://www.djangostack.test:8443/ at 127.0.0.1
     (the certificate verified), every request a cache miss (a unique query string) so
     that all of it reaches the app servers, for as long as
     `ansible-playbook playbooks/deploy.yml -e django_app_source=<copy>` runs;
  3. does the same for `deploy.yml -e django_app_rollback=true`, back to the release
     that ran before;
  4. counts, for each, the failed requests (an error, a status outside 2xx, an answer
     after 5 s or, unless `--source`, one without the home page's heading), who served
     the rest and which release (X-Release) they came from.

With --failing-migration, each run deploys instead a copy whose new migration fails
half-way (it creates a table, then raises), under the same load: deploy.yml must fail,
every web host must still run the release it ran, every request must have been served by
it, and the failed migration must have left nothing behind (PostgreSQL rolls the whole
migration back).
Prints a table of figures; exit status 1 when a request failed or a deploy did not land
(or, with --failing-migration, when it did).
Traffic goes only to 127.0.0.1 and the lab's own containers.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.ansible_cli import REPO, run_playbook
from harness.lab import (
    FRONT_DOOR,
    PREFIX,
    BackgroundLoad,
    counts,
    current_release,
    markdown_table,
    psql,
    tier_diagnostics,
)

# In every answer of sample_django's home page (league/templates/league/home.html); the
# drill's changed copy changes the base template only. Not asked of `--source`'s pages.
HOME_PAGE = "<h1>The league</h1>"


@dataclass(frozen=True)
class Figures:
    step: str
    requests: int
    failed: int
    served_by: dict[str, int]
    releases: dict[str, int]
    p50_ms: float
    p95_ms: float
    max_ms: float
    playbook_seconds: float
    landed: bool  # every web host runs the release the step meant
    failures: dict[str, int]  # what the failed requests got: a status, or an error's name
    # The first failed requests, each with the headers and body that name the tier that
    # answered it, and each tier's account after the step (tier_diagnostics): why they failed.
    failure_samples: list[str] = field(default_factory=list)
    diagnostics: str = ""
    output: str = field(repr=False, default="")  # deploy.yml's, for a closer look


def current_releases(hosts: tuple[str, ...] = ("web1", "web2")) -> dict[str, str]:
    return {host: current_release(host) for host in hosts}


def changed_copy(into: Path, mark: str) -> Path:
    """sample_django with one line added to its base template: a release of its own."""
    source = into / "sample_django"
    shutil.copytree(REPO / "sample_django", source, ignore=shutil.ignore_patterns("__pycache__"))
    base = source / "league/templates/league/base.html"
    base.write_text(base.read_text() + f"\n<!-- {mark} -->\n")
    return source


# The migration a failing release adds: a table, then an error, in one transaction.
FAILING_MIGRATION = """from django.db import migrations


def fail(apps, schema_editor):
    raise RuntimeError("this migration fails on purpose (the failed-deploy drill)")


class Migration(migrations.Migration):
    dependencies = [("league", "{previous}")]
    operations = [
        migrations.RunSQL("CREATE TABLE djangostack_drill_half_migrated (id int)"),
        migrations.RunPython(fail),
    ]
"""
HALF_MIGRATED = "djangostack_drill_half_migrated"


def failing_copy(into: Path) -> Path:
    """sample_django with one more migration, which fails after changing the schema."""
    source = changed_copy(into, f"failed deploy drill {time.time():.0f}")
    migrations = source / "league" / "migrations"
    previous = max(p.stem for p in migrations.glob("0*.py"))
    (migrations / "9999_drill_fails.py").write_text(FAILING_MIGRATION.format(previous=previous))
    return source


def deploy_under_load(
    step: str, concurrency: int, *deploy_args: str, expect: str | None = None
) -> Figures:
    with BackgroundLoad(
        FRONT_DOOR,
        requests=1_000_000,
        concurrency=concurrency,
        seconds=900,
        unique=True,
        expect=expect,
    ) as load:
        started = time.monotonic()
        run = run_playbook("playbooks/deploy.yml", *deploy_args, quiet=True)
        playbook_seconds = round(time.monotonic() - started, 1)
    if run.returncode != 0:
        print(run.output)
    summary = load.result.summary()
    return Figures(
        step=step,
        requests=load.result.requests,
        failed=load.result.failed,
        served_by=summary["served_by"],
        releases=summary["releases"],
        p50_ms=summary["p50_ms"],
        p95_ms=summary["p95_ms"],
        max_ms=summary["max_ms"],
        playbook_seconds=playbook_seconds,
        landed=run.returncode == 0,
        failures={
            **{s: n for s, n in summary["statuses"].items() if not 200 <= int(s) < 300},
            **summary["errors"],
        },
        failure_samples=summary["failure_samples"],
        diagnostics=tier_diagnostics() if load.result.failed else "",
        output=run.output,
    )


def run_drill(source: Path | None = None, concurrency: int = 8) -> list[Figures]:
    """A deploy and its rollback; every web host runs the release it ran before at the end."""
    before = current_releases()
    expect = HOME_PAGE if source is None else None
    with tempfile.TemporaryDirectory(prefix="djangostack-deploy-") as scratch:
        code = source or changed_copy(Path(scratch), f"rolling deploy drill {time.time():.0f}")
        deploy = deploy_under_load(
            "deploy", concurrency, "-e", f"django_app_source={code}", expect=expect
        )
    deployed = current_releases()
    moved = len(set(deployed.values())) == 1 and deployed != before
    rollback = deploy_under_load(
        "rollback", concurrency, "-e", "django_app_rollback=true", expect=expect
    )
    back = current_releases() == before
    return [
        replace(deploy, landed=deploy.landed and moved),
        replace(rollback, landed=rollback.landed and back),
    ]


def run_failed_deploy_drill(concurrency: int = 8) -> Figures:
    """A deploy whose migration fails, under load. `landed` here means it did not: the
    deploy failed, every host runs the release it ran before, and the schema is unchanged."""
    before = current_releases()
    with tempfile.TemporaryDirectory(prefix="djangostack-deploy-") as scratch:
        code = failing_copy(Path(scratch))
        figures = deploy_under_load(
            "failed deploy", concurrency, "-e", f"django_app_source={code}", expect=HOME_PAGE
        )
    left = psql(PREFIX + "db1", f"SELECT to_regclass('{HALF_MIGRATED}') IS NULL")
    kept = (
        not figures.landed
        and "this migration fails on purpose" in figures.output
        and current_releases() == before
        and left.strip() == "t"
        and set(figures.releases) == set(before.values())
    )
    return replace(figures, landed=kept)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="the code to deploy (default: a changed copy)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--failing-migration", action="store_true", help="deploy a release whose migration fails"
    )
    args = parser.parse_args()

    figures = []
    for number in range(1, args.runs + 1):
        if args.failing_migration:
            print(f"run {number}/{args.runs} (a deploy that must fail)...", flush=True)
            figures.append((number, run_failed_deploy_drill(args.concurrency)))
            continue
        print(f"run {number}/{args.runs} (deploy, then rollback)...", flush=True)
        figures += [(number, f) for f in run_drill(args.source, args.concurrency)]
    columns = ["run", "step", "requests", "failed", "served by", "releases served"]
    columns += ["p50 ms", "p95 ms", "max ms", "deploy.yml (s)", "as meant", "failures"]
    rows = [
        (n, f.step, f"{f.requests:,}", f.failed, counts(f.served_by), counts(f.releases),
         f.p50_ms, f.p95_ms, f.max_ms, f.playbook_seconds, "yes" if f.landed else "NO",
         counts(f.failures))
        for n, f in figures
    ]  # fmt: skip
    print()
    print(markdown_table(columns, rows))
    for n, f in figures:
        if f.failed:
            print(f"\nrun {n} {f.step}: the first failed requests, then each tier's account")
            print("\n".join(f.failure_samples))
            print(f.diagnostics)
    return 1 if any(f.failed or not f.landed for _, f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
