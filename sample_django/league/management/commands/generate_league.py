"""manage.py generate_league --seed 1 --seasons 10: the data set the load tests read."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from league.generator import LeagueExistsError, generate_league


class Command(BaseCommand):
    help = (
        "Create a deterministic league (same seed, same rows). Refuses when league data "
        "exists; --replace deletes it first."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--seasons", type=int, default=10)
        parser.add_argument("--teams", type=int, default=20)
        parser.add_argument(
            "--replace", action="store_true", help="delete the existing league data first"
        )
        parser.add_argument(
            "--skip-if-exists",
            action="store_true",
            help="exit 0 without changes when league data exists (for deploys that run it always)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        try:
            size = generate_league(
                seed=options["seed"],
                seasons=options["seasons"],
                teams=options["teams"],
                replace=options["replace"],
            )
        except LeagueExistsError as exc:
            if options["skip_if_exists"]:
                self.stdout.write(f"{exc}: skipped")
                return
            # A distinct message and exit code 1: a deploy can run this every time and
            # read "exists" as nothing to do.
            raise CommandError(f"{exc}: nothing changed; use --replace to regenerate") from exc
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"league generated (seed {options['seed']}): {size.teams} teams, "
            f"{size.players} players, {size.seasons} seasons, {size.games} games, "
            f"{size.stat_lines} stat lines in {time.monotonic() - started:.1f} s"
        )
