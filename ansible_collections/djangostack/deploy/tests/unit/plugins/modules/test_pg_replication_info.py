from __future__ import annotations

from ansible_collections.djangostack.deploy.plugins.modules.pg_replication_info import (
    primary_info,
    standby_info,
    timeline_from_walfile,
)


def test_timeline_comes_from_the_wal_file_name() -> None:
    assert timeline_from_walfile("000000010000000000000003") == 1
    assert timeline_from_walfile("0000000A0000000000000003") == 10


def test_primary_reports_its_standbys_and_no_lag() -> None:
    info = primary_info(
        {
            "walfile": "000000020000000000000005",
            "current_lsn": "0/5000060",
            "synchronous_standby_names": 'ANY 1 ("db2")',
        },
        [
            {
                "application_name": "db2",
                "client_addr": "172.30.30.52",
                "state": "streaming",
                "sync_state": "quorum",
                "replay_lsn": "0/5000060",
                "lag_bytes": 0,
                "lag_seconds": None,
            }
        ],
    )
    assert info["role"] == "primary"
    assert info["timeline"] == 2
    assert info["lag_bytes"] == 0
    assert info["standbys"][0]["sync_state"] == "quorum"
    assert info["standbys"][0]["lag_seconds"] == 0.0


def standby_row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "received_lsn": "0/5000060",
        "replayed_lsn": "0/5000060",
        "lag_bytes": 0,
        "since_last_replay": 3600.0,
        "received_tli": 2,
        "checkpoint_tli": 1,
        "receiver_status": "streaming",
        "upstream_host": "172.30.30.51",
    }
    row.update(changes)
    return row


def test_an_idle_standby_is_not_lagging() -> None:
    info = standby_info(standby_row())
    assert info["role"] == "standby"
    assert info["timeline"] == 2
    assert info["lag_bytes"] == 0
    assert info["lag_seconds"] == 0.0


def test_a_standby_behind_in_replay_reports_bytes_and_seconds() -> None:
    info = standby_info(standby_row(lag_bytes=8192, since_last_replay=4.5))
    assert info["lag_bytes"] == 8192
    assert info["lag_seconds"] == 4.5


def test_a_standby_without_receiver_falls_back_to_the_checkpoint_timeline() -> None:
    info = standby_info(
        standby_row(received_tli=None, receiver_status=None, upstream_host=None, lag_bytes=None)
    )
    assert info["timeline"] == 1
    assert info["receiver_status"] is None
    assert info["lag_bytes"] == 0
