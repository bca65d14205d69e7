"""The point-in-time restore drill's logic: which rows must be back and which must not, the
archive lag from the archiver's samples, pgBackRest's figures and the verdict."""

from __future__ import annotations

import dataclasses
import json

import pytest

from harness.drills.pitr import (
    ArchiveLag,
    ArchiveSample,
    BackupInfo,
    Figures,
    FrontDoor,
    RowCheck,
    Split,
    archive_lag,
    check_rows,
    latest_backup,
    microseconds,
    parse_archive_sample,
    parse_present,
    seasons_for,
    split_at,
)

T_TEXT = "2026-12-07 11:20:03.500000+00:00"
T = microseconds(T_TEXT)  # 1796642403500000
t = T / 1e6  # the same moment on the writer's wall clock, seconds (exact: .5)


def test_t_is_read_to_the_microsecond_in_any_time_zone() -> None:
    assert T == 1_796_642_403_500_000
    assert microseconds("2026-12-07 11:20:03.123456+00:00") == 1_796_642_403_123_456
    assert microseconds("2026-12-07 12:20:03.5+01:00") == T
    with pytest.raises(ValueError, match="no time zone"):
        microseconds("2026-12-07 11:20:03.5")


def test_rows_acknowledged_before_t_are_before_rows_sent_after_t_are_after() -> None:
    split = split_at(
        [1, 2, 3, 4],
        sent_at=[t - 2.0, t - 1.0, t + 0.001, t + 1.0],
        acknowledged_at=[t - 1.99, t - 0.0001, t + 0.002, t + 1.01],
        target=T,
    )
    assert split == Split(before=[1, 2], in_flight=[], after=[3, 4])


def test_a_row_in_flight_at_t_is_on_neither_side() -> None:
    """Sent before T, acknowledged after it: its commit may be on either side of T."""
    split = split_at([1, 2, 3], [t - 1.0, t - 0.003, t + 1.0], [t - 0.9, t + 0.002, t + 1.1], T)
    assert split == Split(before=[1], in_flight=[2], after=[3])


def test_times_equal_to_t_are_in_flight() -> None:
    """Acknowledged exactly at T, or sent exactly at T: the commit could be at T itself."""
    split = split_at([1, 2], [t - 0.01, t], [t, t + 0.01], T)
    assert split == Split(before=[], in_flight=[1, 2], after=[])


def test_split_needs_one_send_and_one_acknowledgement_per_row() -> None:
    with pytest.raises(ValueError):
        split_at([1, 2], [t], [t, t], T)  # zip's strict: a writer's output cut short


def test_a_missing_row_from_before_t_and_a_present_row_from_after_t_are_counted() -> None:
    split = Split(before=[1, 2, 3], in_flight=[4, 5], after=[6, 7])
    present = {1: T - 3_000_000, 3: T - 1_000_000, 4: T - 100, 7: T + 900_000}
    check = check_rows(split, present, T)
    assert check == RowCheck(before=3, missing=[2], in_flight=2, after=2, after_present=[7])


def test_in_flight_rows_are_not_checked_either_way() -> None:
    split = Split(before=[1], in_flight=[2, 3], after=[4])
    check = check_rows(split, {1: T - 1_000_000, 2: T - 500}, T)  # 2 back, 3 not: both fine
    assert check == RowCheck(before=1, missing=[], in_flight=2, after=1, after_present=[])


def test_a_row_the_database_stamped_after_t_must_not_be_back_whatever_the_writer_saw() -> None:
    """In flight by the writer's clock, but its INSERT ran after T on the database's own
    clock: its commit came after T. Unstamped rows (other drills') are not judged."""
    split = Split(before=[1], in_flight=[2], after=[])
    check = check_rows(split, {1: T - 10, 2: T + 1, 9: None}, T)
    assert check.after_present == [2]
    assert check_rows(split, {1: T - 10, 2: T}, T).after_present == []


def test_present_rows_are_read_from_psql() -> None:
    assert parse_present("40|1796642312292083\n41|\n") == {40: 1796642312292083, 41: None}
    assert parse_present("") == {}


S1, S2, S3 = (f"0000000100000000000000{n:02X}" for n in (1, 2, 3))


def sample(
    at: float,
    current: str,
    archived: str = "",
    archived_at: float = 0.0,
    ready: dict[str, float] | None = None,
    done: dict[str, float] | None = None,
) -> ArchiveSample:
    return ArchiveSample(at, current, archived, archived_at, 0, ready or {}, done or {})


def test_a_segment_lags_from_its_close_to_its_archive() -> None:
    samples = [
        sample(10.2, S1),
        sample(11.2, S1),  # still writing to S1: it closed after this
        sample(12.2, S2, ready={S1: 11.0}),  # .ready's mtime: whole seconds, rounded down
        sample(13.2, S2, S1, 12.9, done={S1: 11.0}),  # archived at 12.9 exactly
        sample(14.2, S2, S1, 12.9, done={S1: 11.0}),
    ]
    lag = archive_lag(samples)
    assert lag.lags == {S1: 1.7}  # from 11.2, the later of the two bounds; S2 is open
    assert lag.waiting == {}
    assert (lag.worst, lag.samples, lag.failures) == (1.7, 5, 0)


def test_the_file_mtime_bounds_the_close_when_no_sample_saw_the_segment_written() -> None:
    """S2 opened and closed between two samples; its .ready file says when."""
    samples = [sample(0.5, S1), sample(3.5, S3, S2, 3.3, done={S1: 1.0, S2: 2.0})]
    assert archive_lag(samples).lags == {S2: 1.3, S1: 2.5}


def test_without_its_own_archive_time_the_first_sample_finding_it_done_bounds_it() -> None:
    """The archiver went past S1 to S2 between two samples: S1's archive time was never
    last_archived_time."""
    samples = [
        sample(0, S1),
        sample(1, S2, ready={S1: 0}),
        sample(2, S3, S2, 1.9, done={S1: 0, S2: 1}),
    ]
    assert archive_lag(samples).lags == {S1: 2.0, S2: 0.9}


def test_a_backup_label_archived_after_its_segment_does_not_hide_it() -> None:
    """last_archived_wal names the backup's .backup file, archived just after S1."""
    samples = [
        sample(0, S1),
        sample(1, S2, f"{S1}.00000028.backup", 0.4, done={S1: 0}),
        sample(60, S3, S2, 59.5, done={S1: 0, S2: 59}),
    ]
    assert archive_lag(samples).lags == {S1: 1.0, S2: 0.5}


def test_a_segment_removed_by_a_checkpoint_before_a_sample_saw_it_done_was_archived() -> None:
    samples = [sample(0, S1), sample(1, S2, ready={S1: 0}), sample(2, S2)]
    assert archive_lag(samples).lags == {S1: 2.0}


def test_a_closed_segment_not_yet_archived_counts_with_its_lag_so_far() -> None:
    samples = [sample(0, S1), sample(1, S2, ready={S1: 0}), sample(10, S2, ready={S1: 0})]
    lag = archive_lag(samples)
    assert lag.lags == {}
    assert lag.waiting == {S1: 10.0}
    assert lag.worst == 10.0


def test_segments_waiting_before_the_first_sample_count_from_their_close() -> None:
    """A stuck archiver: S1 and S2 closed long before sampling began."""
    samples = [
        sample(100, S3, ready={S1: 40.0, S2: 70.0}),
        sample(101, S3, S1, 100.5, ready={S2: 70.0}, done={S1: 40.0}),
    ]
    lag = archive_lag(samples)
    assert lag.lags == {S1: 60.5}
    assert lag.waiting == {S2: 31.0}


def test_segments_archived_before_the_first_sample_are_left_out() -> None:
    samples = [sample(0, S2, S1, -5.0, done={S1: -20.0}), sample(1, S2, S1, -5.0, done={S1: -20.0})]
    assert archive_lag(samples) == ArchiveLag({}, {}, 0, 2)


def test_archive_failures_are_counted_over_the_samples() -> None:
    samples = [ArchiveSample(0, S1, "", 0, 3), ArchiveSample(1, S1, "", 0, 5)]
    assert archive_lag(samples).failures == 2


def test_no_closed_segment_is_no_lag() -> None:
    assert archive_lag([sample(0, S1), sample(1, S1)]).worst is None
    assert archive_lag([]) == ArchiveLag({}, {}, 0, 0)


def test_the_archiver_is_read_from_psql() -> None:
    status = ",".join(
        [
            f"{S1}.done@1796642737",
            "00000002.history.done@1796642737",  # a timeline's history: no segment
            f"{S2}.ready@1796642740",
            f"{S1}.00000028.backup.done@1796642738",  # a backup's label file
            f"{S2}.partial.ready@1796642739",  # a promoted standby's last segment
        ]
    )
    line = f"1796642749.130636|{S3}|{S1}|1796642737.279289|0|{status}\n"
    assert parse_archive_sample(line) == ArchiveSample(
        1796642749.130636,
        S3,
        S1,
        1796642737.279289,
        0,
        ready={S2: 1796642740.0},
        done={S1: 1796642737.0},
    )
    assert parse_archive_sample(f"1796642449.1|{S2}||0|0|") == sample(1796642449.1, S2)
    assert parse_archive_sample("") is None  # the primary did not answer


def info_json(*backups: dict[str, object], stanza: str = "djangostack") -> str:
    return json.dumps([{"name": stanza, "backup": list(backups), "status": {"code": 0}}])


def backup(
    label: str, start: int, stop: int, size: int, repository: int | None
) -> dict[str, object]:
    info: dict[str, object] = {"delta": size, "size": size, "repository": {"delta": 1}}
    if repository is not None:
        info["repository"] = {"delta": repository, "size": repository}
    return {
        "label": label,
        "type": "full",
        "timestamp": {"start": start, "stop": stop},
        "info": info,
    }


def test_the_latest_backup_is_read_from_pgbackrest_info() -> None:
    out = info_json(
        backup("20261207-100000F", 100, 110, 50 * 2**20, 10 * 2**20),
        backup("20261207-112003F", 1000, 1050, 1100 * 2**20, 220 * 2**20),
    )
    found = latest_backup(out)
    assert found == BackupInfo("20261207-112003F", "full", 50, 1050, 1100.0, 220.0)
    assert found.mb_per_second == 22.0


def test_a_block_incremental_repository_has_no_size() -> None:
    found = latest_backup(info_json(backup("20261207-112003F", 0, 0, 2**20, None)))
    assert found is not None
    assert found.repository_mb is None
    assert found.mb_per_second is None  # under a second: no throughput


def test_no_backup_of_the_stanza_is_none() -> None:
    assert latest_backup(info_json()) is None
    assert latest_backup(info_json(backup("x", 0, 1, 1, 1), stanza="other")) is None
    assert latest_backup("") is None  # pgbackrest did not answer


def test_the_league_grows_by_the_seasons_the_missing_megabytes_need() -> None:
    mb = 2**20
    # 31 MB now, 30 of them in 10 seasons (3 MB each): 331 more seasons reach 1 GB.
    assert seasons_for(31 * mb, 1024 * mb, 30 * mb, 10) == 375  # 331 and 10% more
    assert seasons_for(1023 * mb, 1024 * mb, 30 * mb, 10) == 11  # at least one more
    with pytest.raises(ValueError, match="no league data"):
        seasons_for(8 * mb, 1024 * mb, 0, 0)


PASSING = Figures(
    primary="db1",
    database_mb=1050.0,
    growth=None,
    backup_seconds=60.0,
    backup=None,
    archive=ArchiveLag({S1: 0.8}, {}, 0, 130),
    target=T_TEXT,
    rows=RowCheck(before=2400, missing=[], in_flight=1, after=95, after_present=[]),
    stream_errors=[],
    truncated=(1_234_560, 1_234_560),
    restore_playbook_seconds=95.0,
    restore_seconds=97.2,
    timeline=(1, 2),
    synchronous_standby="db2",
    site=FrontDoor(serves=True),
)


def test_a_clean_restore_passes() -> None:
    assert PASSING.passed, PASSING.failures
    assert PASSING.backup_mb_per_second == 17.5


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"rows": dataclasses.replace(PASSING.rows, missing=[7])}, "1 writes acknowledged"),
        ({"rows": dataclasses.replace(PASSING.rows, after_present=[8, 9])}, "2 writes after T"),
        ({"rows": dataclasses.replace(PASSING.rows, before=0)}, "nothing to check"),
        ({"rows": dataclasses.replace(PASSING.rows, after=0)}, "nothing to check"),
        ({"truncated": (1_234_560, 0)}, "0 rows, 1,234,560 before T"),
        ({"truncated": (0, 0)}, "was empty before T"),
        ({"restore_seconds": None}, "no write through pgpool"),
        ({"timeline": (2, 2)}, "the timeline did not move on"),
        ({"synchronous_standby": ""}, "no synchronous standby"),
        ({"site": FrontDoor(serves=False, failed_tries=30)}, "the front door"),
    ],
)
def test_each_broken_promise_fails_the_drill(change: dict[str, object], reason: str) -> None:
    broken = dataclasses.replace(PASSING, **change)
    assert not broken.passed
    assert any(reason in why for why in broken.failures), broken.failures


def test_a_slow_archive_or_a_stream_error_is_a_figure_not_a_failure() -> None:
    """The drill's promise is the restore; the archive lag is reported (the rows missing
    from a lagging archive fail it through the row check)."""
    slow = dataclasses.replace(
        PASSING, archive=ArchiveLag({}, {S1: 75.0}, 2, 130), stream_errors=["timeout"]
    )
    assert slow.passed
