#!/usr/bin/env python3
"""Drill: a bad migration under writes, undone by a point-in-time restore to just before it.

    python -m harness.drills.pitr --grow-to-mb 1024     # make drills: 1 GB, two minutes of writes
    python -m harness.drills.pitr --short               # make test's version: as it is, 15 s
    python -m harness.drills.pitr --no-backup           # from the latest backup: more WAL replayed

Steps:
  1. --grow-to-mb N: grows the database `django` to at least N MB with the sample app's
     league generator (manage.py generate_league --replace on the first web host, more
     seasons), unless it is that large already;
  2. starts a stream of writes through the first pgpool host's local pgpool, as the app
     (harness/drills/write_stream.py --commit-times: one INSERT per transaction; for each
     acknowledged row the wall clock before its INSERT was sent and when its COMMIT
     returned; the row itself carries the database's clock_timestamp() at its INSERT),
     and samples the primary's WAL archiver twice a second;
  3. takes a full backup now with playbooks/backup.yml (not with --no-backup);
  4. after --seconds more of writes, counts the rows of the box scores table (TRUNCATED),
     notes T, the primary's clock (now(), UTC, microseconds), keeps writing --after
     seconds, then "deploys a bad migration": TRUNCATE of that table through pgpool as
     the app's role; stops the writes;
  5. runs playbooks/restore.yml with restore_target=T, then writes through the same pgpool
     until one write is acknowledged;
  6. checks: every write acknowledged before T is on the primary; no write sent after T
     is; the box scores have as many rows as before T; the front door serves the home
     page; the primary counts a streaming synchronous standby; the primary's timeline
     moved on (a restored and promoted cluster starts a new one).
Prints a table of figures and PASS or FAIL with the reasons; exits 0 only on PASS.
Traffic goes only to 127.0.0.1 and the lab's own containers.

How each figure is measured:
  database MB     pg_database_size('django') on the primary; MB are 2**20 bytes.
  backup          backup.yml's wall time (Ansible included); throughput = database MB /
                  that. pgBackRest's own view (`pgbackrest info --output=json` on the
                  repository host): the latest backup's stop - start (whole seconds), its
                  size (the whole cluster, every database) and its size in the repository.
  archive lag     twice a second, on the primary, in one query on the database's clock:
                  clock_timestamp(), the segment being written
                  (pg_walfile_name(pg_current_wal_lsn() + 1)), pg_stat_archiver's
                  last_archived_wal and last_archived_time, and pg_wal/archive_status
                  (pg_ls_archive_statusdir(): a segment's .ready file appears when it
                  closes, and becomes .done, same mtime, once archived). A segment's close:
                  the later of that file's mtime (whole seconds, rounded down) and the
                  last sample still writing to it, both at or before the close. Its
                  archive: last_archived_time when last_archived_wal named it (exact), else
                  the first sample that no longer found it .ready. The lag, archive minus
                  close, is so an upper bound: too long by at most a sampling interval at
                  each end (psql's time included), or a second at the close for a segment
                  no sample saw written (over 16 MB of WAL in half a second). A segment
                  closed but not archived at the last sample counts with its lag so far;
                  segments archived before the first sample are left out. archive_timeout
                  (60 s in the pgbackrest role) closes a segment at least every minute
                  while writes flow; a backup closes one too.
  rows            T is a moment on the primary's clock; each row's commit happened after
                  its INSERT was sent and before its COMMIT returned. A row acknowledged
                  before T committed before it: it must be back. A row sent after T
                  committed after it: it must not be; nor any row whose written_at (the
                  database's clock at its INSERT) is after T. A row sent before T and
                  acknowledged after it was in flight: excluded from both checks. The lab's
                  containers share the machine's clock; elsewhere the hosts' clock offsets
                  would have to be smaller than the margins.
  restore         from restore.yml's start to the first write acknowledged through the
                  first pgpool host's pgpool after it returned (polled every 0.2 s).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import re
import shlex
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from harness import CommandFailed
from harness.ansible_cli import REPO
from harness.drills.busy_primary import TIMELINE
from harness.drills.failover_cycles import primary_of, synchronous_standby
from harness.drills.primary_loss import (
    WRITER,
    WRITER_ON_HOST,
    container,
    group,
    inventory_hosts,
    playbook,
    writer_result,
)
from harness.drills.web_server_loss import HOME_PAGE
from harness.lab import (
    FRONT_DOOR,
    MANAGE,
    TimedOut,
    docker,
    markdown_table,
    psql,
    seconds_until,
    urlopen,
)

STANZA = "djangostack"  # pgBackRest's stanza; restore.yml's restore_confirm must name it
TABLE = "djangostack_drill_writes"  # write_stream.py's
# The bad migration's victim: the box scores, the largest league table, that no other
# table references (a TRUNCATE needs no CASCADE).
TRUNCATED = "league_playergamestat"
DATABASE = "django"
APP_DSN = "host=127.0.0.1 dbname=django user=django"
# The app's password, read on the pgpool host from pgpool's pool_passwd: it never leaves it.
APP_PASSWORD = 'PGPASSWORD="$(sed -n "s/^django:TEXT//p" /etc/pgpool2/pool_passwd)"'
# The generator dates each season's games in its year, from 2001: Python's dates end in 9999.
MAX_SEASONS = 9999 - 2001 + 1
GROWTH_ROUNDS = 3
SAMPLE_SECONDS = 0.5
PROBE_SECONDS = 120  # at most this long for the first write after restore.yml
PLAYBOOK_SECONDS = 3600  # the generator, backup.yml and restore.yml, on a grown database
# --short, make test's version: the database as it is, 15 s of writes before T, 3 after.
SHORT = {"seconds": 15.0, "after": 3.0}
MB = 2**20
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
WAL_SEGMENT = re.compile(r"^[0-9A-F]{24}$")
# One sample of the archiver, on the primary's clock: the segment being written (the + 1:
# at a segment boundary pg_walfile_name names the segment before it, already closed),
# pg_stat_archiver, and pg_wal/archive_status ('name@mtime,...').
ARCHIVER = (
    "SELECT extract(epoch FROM clock_timestamp()), pg_walfile_name(pg_current_wal_lsn() + 1),"
    " coalesce(last_archived_wal, ''), coalesce(extract(epoch FROM last_archived_time), 0),"
    " failed_count, coalesce((SELECT string_agg(name || '@' ||"
    " extract(epoch FROM modification)::bigint, ',') FROM pg_ls_archive_statusdir()), '')"
    " FROM pg_stat_archiver"
)
NOW = """SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US"+00:00"')"""


def microseconds(moment: str) -> int:
    """A timestamp with a time zone ('2026-12-07 11:20:03.123456+00:00'), in microseconds
    since the epoch: exact, as the database compares it."""
    parsed = dt.datetime.fromisoformat(moment)
    if parsed.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone")
    return (parsed - EPOCH) // dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class Split:
    """The acknowledged rows of a write stream, by where their commit fell against T."""

    before: list[int]  # acknowledged before T: committed before it
    in_flight: list[int]  # sent before T, acknowledged after it: either side
    after: list[int]  # sent after T: committed after it


def split_at(
    ids: Sequence[int], sent_at: Sequence[float], acknowledged_at: Sequence[float], target: int
) -> Split:
    """Each row by its send and acknowledgement times (wall clock, seconds) against T
    (microseconds). A time equal to T could be either side: in flight."""
    split = Split([], [], [])
    for row, sent, acked in zip(ids, sent_at, acknowledged_at, strict=True):
        if acked * 1e6 < target:
            split.before.append(row)
        elif sent * 1e6 > target:
            split.after.append(row)
        else:
            split.in_flight.append(row)
    return split


@dataclass(frozen=True)
class RowCheck:
    before: int  # rows acknowledged before T, each looked for
    missing: list[int]  # of those, not on the restored primary
    in_flight: int  # rows in flight at T: not checked
    after: int  # rows sent after T, each looked for
    after_present: list[int]  # on the restored primary though committed after T


def check_rows(split: Split, present: Mapping[int, int | None], target: int) -> RowCheck:
    """The restored primary's rows of the stream (id: written_at in microseconds, None when
    unstamped) against the split. A present row whose INSERT ran after T (the database's
    own clock) committed after it too, whichever group the writer's clock put it in."""
    late = {row for row, written in present.items() if written is not None and written > target}
    return RowCheck(
        before=len(split.before),
        missing=sorted(row for row in split.before if row not in present),
        in_flight=len(split.in_flight),
        after=len(split.after),
        after_present=sorted((set(split.after) & set(present)) | late),
    )


def parse_present(output: str) -> dict[int, int | None]:
    """psql -XAt's 'id|written_at in microseconds' lines."""
    present: dict[int, int | None] = {}
    for line in output.splitlines():
        row, _, written = line.partition("|")
        present[int(row)] = int(written) if written else None
    return present


@dataclass(frozen=True)
class ArchiveSample:
    at: float  # the primary's clock_timestamp(), epoch seconds
    current: str  # the segment the next WAL byte goes to
    archived: str  # pg_stat_archiver.last_archived_wal ('' before any)
    archived_at: float  # its last_archived_time, epoch seconds
    failed: int  # pg_stat_archiver.failed_count
    # Closed segments in pg_wal/archive_status: waiting for the archiver (.ready) or archived
    # (.done), each with its file's mtime, the moment the segment closed (whole seconds).
    ready: dict[str, float] = field(default_factory=dict)
    done: dict[str, float] = field(default_factory=dict)


def parse_archive_sample(line: str) -> ArchiveSample | None:
    """One ARCHIVER answer (psql -XAt), or None when the primary did not answer. Only
    segments count in archive_status: a timeline's .history, a backup's .backup or a
    .partial segment closes nothing."""
    fields = line.strip().split("|")
    if len(fields) != 6:
        return None
    at, current, archived, archived_at, failed, status = fields
    ready: dict[str, float] = {}
    done: dict[str, float] = {}
    for entry in filter(None, status.split(",")):
        name, _, mtime = entry.rpartition("@")
        segment, _, kind = name.partition(".")
        if WAL_SEGMENT.match(segment) and kind in ("ready", "done"):
            (ready if kind == "ready" else done)[segment] = float(mtime)
    return ArchiveSample(float(at), current, archived, float(archived_at), int(failed), ready, done)


@dataclass(frozen=True)
class ArchiveLag:
    lags: dict[str, float]  # closed and archived: seconds from close to archive (upper bound)
    waiting: dict[str, float]  # closed, not archived at the last sample: seconds so far
    failures: int  # archive_command failures while sampling
    samples: int

    @property
    def worst(self) -> float | None:
        return max([*self.lags.values(), *self.waiting.values()], default=None)


def archive_lag(samples: Sequence[ArchiveSample]) -> ArchiveLag:
    """Each segment closed or waiting while sampling, from its close to its archive, from
    the archiver's samples (in time order).

    Its close: the later of its archive_status file's mtime (PostgreSQL creates the .ready
    file when the segment is complete; whole seconds, rounded down) and the last sample
    that still wrote to it; both are at or before the close. Its archive: when
    last_archived_wal named it, last_archived_time (exact); else the first sample that no
    longer found it .ready (at or after the archive). So each lag is an upper bound, too
    long by at most a sampling interval at each end. Segments already archived at the
    first sample are left out.
    """
    if not samples:
        return ArchiveLag({}, {}, 0, 0)
    last_written: dict[str, float] = {}
    closed_mtime: dict[str, float] = {}
    archived_at: dict[str, float] = {}  # the first sample that found it archived
    exact: dict[str, float] = {}  # last_archived_time, when last_archived_wal named it
    previous: ArchiveSample | None = None
    for sample in samples:
        last_written[sample.current] = sample.at
        for segment, mtime in (*sample.ready.items(), *sample.done.items()):
            closed_mtime.setdefault(segment, mtime)
        # .done, or gone from archive_status (a checkpoint removes .done files) since .ready.
        gone = set(previous.ready) - set(sample.ready) if previous else set()
        for segment in set(sample.done) | gone:
            archived_at.setdefault(segment, sample.at)
        if WAL_SEGMENT.match(sample.archived):
            exact.setdefault(sample.archived, sample.archived_at)
        previous = sample
    lags: dict[str, float] = {}
    waiting: dict[str, float] = {}
    for segment, mtime in sorted(closed_mtime.items()):
        if segment in samples[0].done:
            continue  # archived before the first sample
        closed = max(mtime, last_written.get(segment, mtime))
        archived = exact.get(segment, archived_at.get(segment))
        if archived is None:
            waiting[segment] = round(samples[-1].at - closed, 2)
        else:
            lags[segment] = round(max(0.0, archived - closed), 2)
    failures = samples[-1].failed - samples[0].failed
    return ArchiveLag(lags, waiting, failures, len(samples))


class ArchiveSampler:
    """The primary's archiver sampled every `interval` seconds in a thread, for a `with`
    block; `.lag()` once it is left."""

    def __init__(self, name: str, interval: float = SAMPLE_SECONDS) -> None:
        self.name = name
        self.interval = interval
        self.samples: list[ArchiveSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> ArchiveSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            answer = psql(self.name, ARCHIVER, "postgres", check=False, timeout=10)
            sample = parse_archive_sample(answer)
            if sample is not None:
                self.samples.append(sample)
            self._stop.wait(self.interval)

    def lag(self) -> ArchiveLag:
        return archive_lag(self.samples)


@dataclass(frozen=True)
class BackupInfo:
    label: str
    kind: str  # full, diff, incr
    seconds: int  # stop - start, pgBackRest's whole seconds
    stopped_at: int  # epoch seconds
    size_mb: float  # the cluster it backed up
    repository_mb: float | None  # what it takes in the repository (compressed)
    # The timeline its first WAL segment is on (0: unknown): a restore from a backup on an
    # older timeline than T's replays the archive across every failover in between.
    timeline: int = 0

    @property
    def mb_per_second(self) -> float | None:
        return round(self.size_mb / self.seconds, 1) if self.seconds > 0 else None


def latest_backup(info_json: str, stanza: str = STANZA) -> BackupInfo | None:
    """The stanza's latest backup in `pgbackrest info --output=json`, or None."""
    try:
        stanzas = json.loads(info_json)
    except ValueError:
        return None
    entry = next((s for s in stanzas if s.get("name") == stanza), None)
    if not entry or not entry.get("backup"):
        return None
    backup = entry["backup"][-1]
    info = backup.get("info", {})
    repository = info.get("repository", {}).get("size")
    return BackupInfo(
        label=backup["label"],
        kind=backup["type"],
        seconds=backup["timestamp"]["stop"] - backup["timestamp"]["start"],
        stopped_at=backup["timestamp"]["stop"],
        size_mb=round(info.get("size", 0) / MB, 1),
        repository_mb=round(repository / MB, 1) if repository is not None else None,
        timeline=int(backup.get("archive", {}).get("start", "0")[:8] or "0", 16),
    )


def backup_info(data: dict[str, Any]) -> BackupInfo | None:
    """pgBackRest's view of the latest backup, asked on the repository host (None when
    the inventory has none or it does not answer: a figure, not a check)."""
    hosts = group(data, "backup")
    if not hosts:
        return None
    command = ["runuser", "-u", "postgres", "--", "pgbackrest", f"--stanza={STANZA}"]
    out = docker("exec", container(data, hosts[0]), *command, "info", "--output=json", check=False)
    return latest_backup(out)


@dataclass(frozen=True)
class Growth:
    before_mb: float
    after_mb: float
    seasons: int  # the league's seasons after it (0: not grown, large enough already)
    seconds: float


GROWTH_MARGIN = 1.1


def seasons_for(size: int, target: int, league: int, seasons: int) -> int:
    """The league's seasons for a database of `size` bytes, `league` of them in its
    `seasons` seasons, to reach `target` bytes. generate_league --replace writes the whole
    league anew; the old rows' space may be reused, so the new league alone must make up
    the difference on top of the current one. GROWTH_MARGIN more: a round that falls
    short costs a whole second round (--replace writes every season again; seen: 942
    seasons made 969 MB of a 1,024 MB target, and the second round took 830 s)."""
    per_season = league / max(seasons, 1)
    if per_season <= 0:
        raise ValueError("no league data to measure a season by: run generate_league first")
    return seasons + max(1, math.ceil(GROWTH_MARGIN * (target - size) / per_season))


def database_bytes(name: str) -> int:
    return int(psql(name, f"SELECT pg_database_size('{DATABASE}')", "postgres"))


def grow(data: dict[str, Any], primary: str, target_mb: float) -> Growth:
    """manage.py generate_league --replace on the first web host, with as many seasons as
    the database needs to reach target_mb (measured again after each round). The
    generator holds every row in memory until it writes them, in one transaction."""
    started = time.monotonic()
    name = container(data, primary)
    web = container(data, group(data, "web")[0])
    before = size = database_bytes(name)
    seasons = 0
    for _ in range(GROWTH_ROUNDS):
        if size >= target_mb * MB:
            break
        league, current = map(
            int,
            psql(
                name,
                "SELECT (SELECT coalesce(sum(pg_total_relation_size(oid)), 0) FROM pg_class"
                " WHERE relkind = 'r' AND relname LIKE 'league\\_%'),"
                " (SELECT count(*) FROM league_season)",
            ).split("|"),
        )
        seasons = seasons_for(size, int(target_mb * MB), league, current)
        if seasons > MAX_SEASONS:
            raise RuntimeError(f"{target_mb} MB needs {seasons} seasons, over {MAX_SEASONS}")
        print(f"growing the database: {size / MB:,.0f} MB, {seasons} seasons...", flush=True)
        generate = ["generate_league", "--seed", "1", "--seasons", str(seasons), "--replace"]
        print(on_container(web, *MANAGE, *generate, timeout=PLAYBOOK_SECONDS).strip())
        size = database_bytes(name)
    if size < target_mb * MB:
        raise RuntimeError(f"the database is {size / MB:,.0f} MB after {GROWTH_ROUNDS} rounds")
    return Growth(
        round(before / MB, 1), round(size / MB, 1), seasons, round(time.monotonic() - started)
    )


def start_writer(name: str, run: str, seconds: float, *options: str) -> None:
    """primary_loss.start_writer, with more of the writer's options."""
    docker("cp", str(WRITER), f"{name}:{WRITER_ON_HOST}")
    script = (
        f"{APP_PASSWORD} python3 {WRITER_ON_HOST} --dsn '{APP_DSN}' --seconds {seconds}"
        f" --run {run} {shlex.join(options)} > /tmp/drill-{run}.json 2>/tmp/drill-{run}.err"
    )
    docker("exec", "-d", name, "bash", "-c", script)


def on_container(name: str, *argv: str, timeout: float = 120) -> str:
    """A command in a container (docker exec): its output; raises CommandFailed, with what
    it printed, when it fails."""
    command = ["docker", "exec", name, *argv]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise CommandFailed(proc.returncode, command, proc.stdout, proc.stderr)
    return proc.stdout


def as_app(name: str, sql: str) -> None:
    """One statement through the host's local pgpool as the app's role, with psycopg2
    (the writer's library, on every pgpool host)."""
    code = (
        f"import psycopg2; c = psycopg2.connect({APP_DSN!r}, connect_timeout=5);"
        f" c.autocommit = True; c.cursor().execute({sql!r})"
    )
    on_container(name, "bash", "-c", f"{APP_PASSWORD} python3 -c {shlex.quote(code)}")


@dataclass
class FrontDoor:
    serves: bool = False
    failed_tries: int = 0


def front_door(seconds: float = 30) -> FrontDoor:
    """Whether the front door serves the home page (200, its heading), each try a cache
    miss rendered from the database; the tries that failed before."""
    seen = FrontDoor()

    def serves() -> bool:
        url = f"{FRONT_DOOR}?pitr={time.time():.3f}"
        try:
            with urlopen(url, timeout=10) as response:
                ok = response.status == 200 and HOME_PAGE in response.read().decode()
        except (urllib.error.URLError, OSError):
            ok = False
        seen.failed_tries += not ok
        return ok

    try:
        seconds_until(serves, seconds, 1, "the front door does not serve the home page")
        seen.serves = True
    except TimedOut:
        pass
    return seen


@dataclass(frozen=True)
class Figures:
    primary: str
    database_mb: float
    growth: Growth | None
    backup_seconds: float | None  # backup.yml's wall time (None: --no-backup)
    backup: BackupInfo | None  # pgBackRest's latest backup, as restore.yml found it
    archive: ArchiveLag
    target: str  # T
    rows: RowCheck
    stream_errors: list[str]
    truncated: tuple[int, int]  # TRUNCATED's rows before T, after the restore
    restore_playbook_seconds: float
    restore_seconds: float | None  # restore.yml's start to the first write after it
    timeline: tuple[int, int]  # the primary's, before and after
    synchronous_standby: str
    site: FrontDoor = field(default_factory=FrontDoor)

    @property
    def backup_mb_per_second(self) -> float | None:
        if not self.backup_seconds:
            return None
        return round(self.database_mb / self.backup_seconds, 1)

    @property
    def failures(self) -> list[str]:
        """Why the drill fails (nothing: it passes)."""
        rows, (before, after), (old, new) = self.rows, self.truncated, self.timeline
        checks = [
            (rows.before > 0, "no write was acknowledged before T: nothing to check"),
            (not rows.missing, f"{len(rows.missing)} writes acknowledged before T are missing"),
            (rows.after > 0, "no write was sent after T: nothing to check"),
            (not rows.after_present, f"{len(rows.after_present)} writes after T are back"),
            (before > 0, f"{TRUNCATED} was empty before T"),
            (after == before, f"{TRUNCATED} has {after:,} rows, {before:,} before T"),
            (self.restore_seconds is not None, "no write through pgpool after restore.yml"),
            (new > old, f"the timeline did not move on ({old} before, {new} after)"),
            (bool(self.synchronous_standby), "no synchronous standby streams"),
            (self.site.serves, "the front door does not serve the home page"),
        ]
        return [why for ok, why in checks if not ok]

    @property
    def passed(self) -> bool:
        return not self.failures


def timeline(name: str) -> int:
    return int(psql(name, TIMELINE, "postgres"), 16)


def run_drill(
    inventory: Path,
    seconds: float = 120,
    after: float = 5,
    grow_to_mb: float = 0,
    backup: bool = True,
) -> Figures:
    data = inventory_hosts(inventory)
    primary = primary_of(data)
    name = container(data, primary)
    growth = grow(data, primary, grow_to_mb) if grow_to_mb else None
    database_mb = round(database_bytes(name) / MB, 1)
    timeline_before = timeline(name)
    writer = container(data, group(data, "pgpool")[0])
    run = f"pitr{int(time.time())}"
    stop_file = f"/tmp/drill-{run}.stop"
    bound = PLAYBOOK_SECONDS + seconds + after + 60  # the stream stops at the stop file
    backup_seconds = None

    start_writer(writer, run, bound, "--commit-times", "--stop-file", stop_file)
    try:
        with ArchiveSampler(name) as sampler:
            if backup:
                print("backup.yml (full)...", flush=True)
                started = time.monotonic()
                playbook(
                    inventory, "backup.yml", "-e", "backup_type=full", timeout=PLAYBOOK_SECONDS
                )
                backup_seconds = round(time.monotonic() - started, 1)
            time.sleep(seconds)
            rows_before = int(psql(name, f"SELECT count(*) FROM {TRUNCATED}"))
            target = psql(name, NOW, "postgres")
            print(f"T = {target}; {after:.0f} s more writes, then TRUNCATE {TRUNCATED}", flush=True)
            time.sleep(after)
            as_app(writer, f"TRUNCATE {TRUNCATED}")
    finally:
        docker("exec", writer, "touch", stop_file, check=False)
    stream = writer_result(writer, run, 0)
    info = backup_info(data)

    print(f"restore.yml to {target}...", flush=True)
    started_at = time.time()
    started = time.monotonic()
    extra = json.dumps({"restore_target": target, "restore_confirm": STANZA})
    playbook(inventory, "restore.yml", "-e", extra, timeout=PLAYBOOK_SECONDS)
    restore_playbook_seconds = round(time.monotonic() - started, 1)
    start_writer(writer, f"{run}probe", PROBE_SECONDS, "--until-acknowledged", "1")
    probe = writer_result(writer, f"{run}probe", PROBE_SECONDS)
    restore_seconds = (
        round(probe["acknowledged_at"][0] - started_at, 1) if probe["acknowledged"] else None
    )

    primary = primary_of(data)
    name = container(data, primary)
    query = (
        f"SELECT id, (extract(epoch FROM written_at) * 1000000)::bigint FROM {TABLE}"
        f" WHERE run = '{run}'"
    )
    present = parse_present(psql(name, query))
    moment = microseconds(target)
    split = split_at(stream["acknowledged"], stream["sent_at"], stream["acknowledged_at"], moment)
    return Figures(
        primary=primary,
        database_mb=database_mb,
        growth=growth,
        backup_seconds=backup_seconds,
        backup=info,
        archive=sampler.lag(),
        target=target,
        rows=check_rows(split, present, moment),
        stream_errors=stream["errors"],
        truncated=(rows_before, int(psql(name, f"SELECT count(*) FROM {TRUNCATED}"))),
        restore_playbook_seconds=restore_playbook_seconds,
        restore_seconds=restore_seconds,
        timeline=(timeline_before, timeline(name)),
        synchronous_standby=synchronous_standby(data, primary),
        site=front_door(),
    )


def table(figures: Figures) -> str:
    """The figures, one per row, in Markdown."""
    f, rows, lag = figures, figures.rows, figures.archive
    grown = "-"
    if f.growth and f.growth.seasons:
        grown = (
            f"{f.growth.before_mb:,.1f} -> {f.growth.after_mb:,.1f} MB,"
            f" {f.growth.seasons} seasons, {f.growth.seconds:,.0f} s"
        )
    elif f.growth:
        grown = f"no: {f.growth.before_mb:,.1f} MB already"
    took = "not taken (--no-backup)"
    if f.backup_seconds is not None:
        took = f"{f.backup_seconds} s, {f.backup_mb_per_second} MB/s"
    own = "-"
    if f.backup:
        b = f.backup
        repository = f", {b.repository_mb:,.1f} MB in the repository" if b.repository_mb else ""
        own = (
            f"{b.label} ({b.kind}): {b.seconds} s, {b.size_mb:,.1f} MB{repository},"
            f" {b.mb_per_second or '-'} MB/s"
        )
    worst = "-" if lag.worst is None else f"{lag.worst} s"
    segments = f"{len(lag.lags)} archived" + (
        f", {len(lag.waiting)} still waiting" if lag.waiting else ""
    )
    restore = "-" if f.restore_seconds is None else f.restore_seconds
    front = "200 with the home page" if f.site.serves else "NO"
    if f.site.failed_tries:
        front += f" ({f.site.failed_tries} failed tries first)"
    lines = [
        ("primary", f.primary),
        ("database (MB)", f"{f.database_mb:,.1f}"),
        ("grown", grown),
        ("backup.yml (full)", took),
        ("pgBackRest's latest backup", own),
        ("worst archive lag", f"{worst} ({segments}; {lag.samples} samples)"),
        ("archive failures while writing", lag.failures),
        ("T", f.target),
        ("rows acknowledged before T, checked", rows.before),
        ("of those, missing", len(rows.missing)),
        ("rows in flight at T (not checked)", rows.in_flight),
        ("rows sent after T, checked", rows.after),
        ("after T, present", len(rows.after_present)),
        ("write stream errors", "; ".join(f.stream_errors) or "none"),
        (f"{TRUNCATED} rows, before T -> after", f"{f.truncated[0]:,} -> {f.truncated[1]:,}"),
        ("restore.yml (s)", f.restore_playbook_seconds),
        ("restore: start to first write (s)", restore),
        ("timeline, before -> after", f"{f.timeline[0]} -> {f.timeline[1]}"),
        ("synchronous standby", f.synchronous_standby or "NONE"),
        ("front door", front),
    ]
    return markdown_table(["figure", "value"], lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, default=REPO / "inventory" / "lab")
    parser.add_argument("--seconds", type=float, default=120, help="writes after the backup")
    parser.add_argument("--after", type=float, default=5, help="writes after T")
    parser.add_argument(
        "--grow-to-mb", type=float, default=0, help="grow the database to this size first"
    )
    parser.add_argument(
        "--no-backup", action="store_true", help="restore from the latest backup taken"
    )
    parser.add_argument(
        "--short",
        action="store_true",
        help="make test's: 15 s of writes before T, 3 after, no growth (over the others)",
    )
    args = parser.parse_args()
    options: dict[str, Any] = {"seconds": args.seconds, "after": args.after}
    if args.short:
        options = dict(SHORT)
    grow_to_mb = 0 if args.short else args.grow_to_mb
    figures = run_drill(args.inventory, **options, grow_to_mb=grow_to_mb, backup=not args.no_backup)
    print()
    print(table(figures))
    print()
    print("PASS" if figures.passed else "FAIL: " + "; ".join(figures.failures))
    return 0 if figures.passed else 1


if __name__ == "__main__":
    sys.exit(main())
