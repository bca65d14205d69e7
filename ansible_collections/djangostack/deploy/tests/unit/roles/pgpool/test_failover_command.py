"""pgpool's failover_command: promote one standby once, never a second primary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.djangostack.deploy.tests.unit.role_scripts import load_role_script

failover = load_role_script("pgpool", "djangostack-pgpool-failover.py", "pgpool_failover")


def backends(*states: bool | None) -> list[object]:
    """Backends db1, db2, ... (pgpool node ids 0, 1, ...) in the given recovery states."""
    return [failover.Backend(f"db{i + 1}", 5432, state) for i, state in enumerate(states)]


PRIMARY, STANDBY, SILENT = False, True, None


def test_a_lost_standby_promotes_nothing() -> None:
    """The primary is still node 0: losing node 1 needs no promotion."""
    assert failover.decide(1, 0, 0, backends(PRIMARY, SILENT, STANDBY)) == (
        "nothing",
        "node 1 was a standby; the primary is still node 0",
    )


def test_a_primary_that_still_answers_as_primary_is_not_replaced() -> None:
    """pgpool saw a blip: promoting node 1 would make two primaries."""
    assert failover.decide(0, 0, 1, backends(PRIMARY, STANDBY)) == (
        "nothing",
        "node 0 still answers as primary: not making a second one",
    )


def test_the_second_racing_pgpool_sees_the_first_ones_promotion() -> None:
    """Node 1 already runs as primary: a second pgpool must not promote anything."""
    assert failover.decide(0, 0, 1, backends(SILENT, PRIMARY, STANDBY)) == (
        "nothing",
        "node 1 (db2) already runs as primary",
    )


def test_a_primary_elsewhere_wins_over_pgpools_choice() -> None:
    """Node 2 was promoted (by failover.yml, say) while pgpool chose node 1: leave both."""
    assert failover.decide(0, 0, 1, backends(SILENT, STANDBY, PRIMARY)) == (
        "nothing",
        "node 2 (db3) already runs as primary",
    )


@pytest.mark.parametrize("new_main_id", [-1, 3, 4])
def test_no_live_node_left_promotes_nothing(new_main_id: int) -> None:
    """-1 (pgpool found no live node) or an id outside the backend list."""
    assert failover.decide(0, 0, new_main_id, backends(SILENT, STANDBY, STANDBY)) == (
        "nothing",
        "no live node is left to promote",
    )


def test_a_candidate_that_does_not_answer_is_not_promoted() -> None:
    assert failover.decide(0, 0, 1, backends(SILENT, SILENT, STANDBY)) == (
        "nothing",
        "node 1 (db2) does not answer",
    )


def test_the_standby_pgpool_chose_is_promoted() -> None:
    assert failover.decide(0, 0, 1, backends(SILENT, STANDBY, STANDBY)) == (
        "promote",
        "node 1 (db2) is a standby and the primary is lost",
    )


def test_a_candidate_that_still_hears_the_primary_is_not_promoted() -> None:
    assert failover.decide(0, 0, 1, backends(SILENT, STANDBY), primary_heard_ago=1.9) == (
        "nothing",
        "node 1 (db2) heard from the primary 1.9 s ago: the primary is alive and this pgpool"
        " host lost its path to it; not making a second primary",
    )


def test_a_candidate_that_stopped_hearing_the_primary_is_promoted() -> None:
    """Silent for longer than the receiver's ping interval allows: the primary is gone."""
    action, _reason = failover.decide(0, 0, 1, backends(SILENT, STANDBY), primary_heard_ago=2.0)
    assert action == "promote"


def test_the_promoted_node_is_the_one_pgpool_chose_not_the_first_standby() -> None:
    assert failover.decide(1, 1, 2, backends(STANDBY, SILENT, STANDBY)) == (
        "promote",
        "node 2 (db3) is a standby and the primary is lost",
    )


# main(): argument handling and the promotion around decide().


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A failover config with three backends, where main() reads it."""
    path = tmp_path / "djangostack-failover.json"
    path.write_text(
        json.dumps(
            {
                "user": "pgpool",
                "passfile": "/nonexistent",
                "backends": [{"address": f"db{i}", "port": 5432} for i in (1, 2, 3)],
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(failover, "CONFIG", str(path))
    return path


def fake_cluster(
    monkeypatch: pytest.MonkeyPatch,
    states: dict[str, list[bool | None]],
    heard_ago: dict[str, float] | None = None,
) -> list[str]:
    """Each host answers its states in turn, and how long ago it heard from its primary
    (not streaming when absent); returns the hosts pg_promote() was run on."""
    promoted: list[str] = []

    def in_recovery(config: dict, host: str, port: int) -> bool | None:
        return states[host].pop(0)

    def primary_heard_ago(config: dict, host: str, port: int) -> float | None:
        return (heard_ago or {}).get(host)

    def promote(config: dict, host: str, port: int) -> None:
        promoted.append(host)

    monkeypatch.setattr(failover, "in_recovery", in_recovery)
    monkeypatch.setattr(failover, "primary_heard_ago", primary_heard_ago)
    monkeypatch.setattr(failover, "promote", promote)
    return promoted


@pytest.mark.parametrize(
    "argv",
    [[], ["0", "db1", "0", "1", "db2"], ["0", "db1", "0", "1", "db2", "5432", "extra"]],
)
def test_a_wrong_argument_count_exits_2_without_reading_the_config(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Reading the absent config would raise FileNotFoundError.
    monkeypatch.setattr(failover, "CONFIG", str(tmp_path / "absent.json"))
    assert failover.main(argv) == 2
    assert "expected 6 arguments" in capsys.readouterr().err


def test_main_promotes_pgpools_choice_and_checks_it(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    promoted = fake_cluster(
        monkeypatch, {"db1": [SILENT], "db2": [STANDBY, PRIMARY], "db3": [STANDBY]}
    )
    assert failover.main(["0", "db1", "0", "1", "db2", "5432"]) == 0
    assert promoted == ["db2"]


def test_main_fails_when_the_node_is_still_a_standby_after_pg_promote(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    promoted = fake_cluster(
        monkeypatch, {"db1": [SILENT], "db2": [STANDBY, STANDBY], "db3": [STANDBY]}
    )
    assert failover.main(["0", "db1", "0", "1", "db2", "5432"]) == 1
    assert promoted == ["db2"]
    assert "node 1 (db2) is still not a primary after pg_promote" in capsys.readouterr().err


def test_main_promotes_nothing_while_the_candidate_still_hears_the_primary(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A partial partition: this pgpool host lost db1, db2 still streams from it."""
    promoted = fake_cluster(
        monkeypatch, {"db1": [SILENT], "db2": [STANDBY], "db3": [STANDBY]}, {"db2": 0.4}
    )
    assert failover.main(["0", "db1", "0", "1", "db2", "5432"]) == 0
    assert promoted == []
    assert "node 1 (db2) heard from the primary 0.4 s ago" in capsys.readouterr().err


def test_main_promotes_nothing_when_decide_says_so(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    promoted = fake_cluster(monkeypatch, {"db1": [PRIMARY], "db2": [SILENT], "db3": [STANDBY]})
    assert failover.main(["1", "db2", "0", "2", "db3", "5432"]) == 0
    assert promoted == []


def test_a_hold_promotes_nothing() -> None:
    """failover.yml or switchover.yml is moving the primary: pgpool must not race it."""
    assert failover.decide(0, 0, 1, backends(SILENT, STANDBY), held=True) == (
        "nothing",
        "a playbook holds failover while it moves the primary itself",
    )


def test_a_hold_lasts_until_its_expiry(tmp_path: Path) -> None:
    hold = tmp_path / "hold"
    assert failover.hold_active(str(hold), now=100.0) is False  # no hold file
    hold.write_text("200.5\n")
    assert failover.hold_active(str(hold), now=100.0) is True
    assert failover.hold_active(str(hold), now=200.5) is False  # lapsed by itself
    hold.write_text("not a time\n")
    assert failover.hold_active(str(hold), now=100.0) is False


def test_a_node_is_reachable_only_while_something_accepts_on_its_port() -> None:
    """The TCP check before libpq's (which waits at least 2 s): a listening port answers,
    a closed one does not."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert failover.reachable("127.0.0.1", port, 1)
    assert not failover.reachable("127.0.0.1", port, 1)
