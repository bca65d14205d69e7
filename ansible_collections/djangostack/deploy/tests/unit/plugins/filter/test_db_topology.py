"""The live topology: what the nodes answer decides, the inventory only when none answers."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.djangostack.deploy.plugins.filter.db_topology import (
    FilterModule,
    db_topology,
)

PRIMARIES = ["db1"]
STANDBYS = ["db2", "db3"]


def primary(timeline: int = 1) -> dict[str, Any]:
    return {"role": "primary", "timeline": timeline}


def standby(timeline: int = 1) -> dict[str, Any]:
    return {"role": "standby", "timeline": timeline}


# What a registered pg_replication_info result looks like when the node gave no answer.
UNREACHABLE: dict[str, Any] = {"unreachable": True, "changed": False, "msg": "timed out"}
FAILED: dict[str, Any] = {"failed": True, "msg": "connection refused"}
NO_ANSWERS = [UNREACHABLE, FAILED, {"skipped": True}, {}]


def topology(**fields: Any) -> dict[str, Any]:
    """The filter's full answer: an established tier with nothing wrong, plus fields."""
    return {
        "primary": "",
        "standbys": [],
        "stale": [],
        "down": [],
        "broken": {},
        "fresh": False,
        "lost_primary": False,
        "problem": "",
    } | fields


def test_the_filter_is_registered() -> None:
    assert FilterModule().filters() == {"db_topology": db_topology}


def test_a_fresh_tier_follows_the_inventory() -> None:
    """No node answers: the first db_primary host is the primary, db_standby its standbys."""
    nodes = {"db1": UNREACHABLE, "db2": FAILED, "db3": {}}
    assert db_topology(nodes, PRIMARIES, STANDBYS) == topology(
        primary="db1", standbys=["db2", "db3"], fresh=True
    )


def test_a_fresh_tier_keeps_only_standbys_in_the_play() -> None:
    nodes = {"db1": FAILED, "db3": FAILED}
    assert db_topology(nodes, PRIMARIES, STANDBYS) == topology(
        primary="db1", standbys=["db3"], fresh=True
    )


def test_a_fresh_tier_without_a_primary_host_is_a_problem() -> None:
    assert db_topology({"db2": FAILED}, [], ["db2"]) == topology(
        standbys=["db2"], fresh=True, problem="no host in db_primary and no node answers"
    )


def test_a_running_tier_is_read_as_it_answers() -> None:
    nodes = {"db1": primary(), "db2": standby()}
    assert db_topology(nodes, PRIMARIES, ["db2"]) == topology(primary="db1", standbys=["db2"])


@pytest.mark.parametrize("silent", NO_ANSWERS)
def test_after_a_failover_the_promoted_standby_is_the_primary(silent: dict[str, Any]) -> None:
    """The inventory's primary is down (for rejoin.yml), the promoted standby leads."""
    nodes = {"db1": silent, "db2": primary(2), "db3": standby(2)}
    assert db_topology(nodes, PRIMARIES, STANDBYS) == topology(
        primary="db2", standbys=["db3"], down=["db1"]
    )


def test_a_lost_primary_points_at_failover_yml() -> None:
    nodes = {"db1": UNREACHABLE, "db2": standby(), "db3": standby()}
    assert db_topology(nodes, PRIMARIES, STANDBYS) == topology(
        standbys=["db2", "db3"],
        down=["db1"],
        lost_primary=True,
        problem="no primary answers (standbys: db2, db3; down: db1): run playbooks/failover.yml",
    )


def test_a_lost_primary_outside_the_play_says_none_is_down() -> None:
    nodes = {"db2": standby(), "db3": standby()}
    assert db_topology(nodes, PRIMARIES, STANDBYS) == topology(
        standbys=["db2", "db3"],
        lost_primary=True,
        problem="no primary answers (standbys: db2, db3; down: none): run playbooks/failover.yml",
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [("db1", "db2"), ("db2", "db1")],
    ids=["newest-sorts-last-by-name", "newest-sorts-first-by-name"],
)
def test_a_former_primary_on_an_older_timeline_is_stale(old: str, new: str) -> None:
    """The newest timeline wins, whatever the host names' order."""
    nodes = {old: primary(1), new: primary(2), "db3": standby(2)}
    assert db_topology(nodes, PRIMARIES, STANDBYS) == topology(
        primary=new, standbys=["db3"], stale=[old]
    )


def test_timelines_compare_as_numbers() -> None:
    nodes = {"db1": primary(9), "db2": primary(10)}
    assert db_topology(nodes, PRIMARIES, STANDBYS) == topology(primary="db2", stale=["db1"])


def test_two_primaries_on_the_same_timeline_are_a_problem() -> None:
    nodes = {"db1": primary(2), "db2": primary(2), "db3": standby(2)}
    answer = db_topology(nodes, PRIMARIES, STANDBYS)
    assert answer["primary"] == ""
    assert answer["problem"] == (
        "db1 and db2 all answer as primary on the same timeline: stop all but one,"
        " then rejoin the others with playbooks/rejoin.yml"
    )
    assert (answer["fresh"], answer["lost_primary"]) == (False, False)


def test_a_tie_below_the_newest_timeline_is_no_problem() -> None:
    nodes = {"db1": primary(1), "db2": primary(1), "db3": primary(2)}
    assert db_topology(nodes, PRIMARIES, STANDBYS) == topology(primary="db3", stale=["db1", "db2"])


def test_a_tie_on_the_newest_timeline_among_three_is_a_problem() -> None:
    nodes = {"db1": primary(1), "db2": primary(2), "db3": primary(2)}
    answer = db_topology(nodes, PRIMARIES, STANDBYS)
    assert answer["primary"] == ""
    assert answer["problem"].startswith("db2 and db3 and db1 all answer as primary")


@pytest.mark.parametrize("silent", NO_ANSWERS)
def test_a_new_standby_not_yet_installed_is_a_standby(silent: dict[str, Any]) -> None:
    """An intended standby that does not answer is for pg_standby to build, not down."""
    nodes = {"db1": primary(), "db2": standby(), "db3": silent}
    assert db_topology(nodes, PRIMARIES, STANDBYS) == topology(
        primary="db1", standbys=["db2", "db3"]
    )


@pytest.mark.parametrize("silent", NO_ANSWERS)
def test_an_installed_standby_that_does_not_answer_is_broken(silent: dict[str, Any]) -> None:
    """Seen: rejoin.yml said "nothing to rejoin" while db2's PostgreSQL could not start.
    Still a standby for site.yml to repair, and broken, for rejoin.yml to pick."""
    nodes = {"db1": primary(), "db2": standby(), "db3": silent | {"installed": True}}
    assert db_topology(nodes, PRIMARIES, STANDBYS) == topology(
        primary="db1",
        standbys=["db2", "db3"],
        broken={"db3": "PostgreSQL is installed but does not answer"},
    )


def test_a_standby_the_primary_does_not_stream_to_is_broken() -> None:
    streaming = {"application_name": "db2", "state": "streaming"}
    catching_up = {"application_name": "db3", "state": "catchup"}
    nodes = {
        "db1": primary() | {"standbys": [streaming, catching_up]},
        "db2": standby(),
        "db3": standby(),
    }
    assert db_topology(nodes, PRIMARIES, STANDBYS) == topology(
        primary="db1",
        standbys=["db2", "db3"],
        broken={"db3": "answers as a standby but does not stream from db1"},
    )


def test_a_silent_node_outside_both_groups_is_down() -> None:
    nodes = {"db1": primary(), "db2": standby(), "db9": UNREACHABLE}
    assert db_topology(nodes, PRIMARIES, STANDBYS) == topology(
        primary="db1", standbys=["db2"], down=["db9"]
    )


FENCED: dict[str, Any] = {"role": "fenced", "failed": True, "msg": "connection refused"}


def test_a_fenced_standby_host_is_one_to_rejoin_not_to_build() -> None:
    """After a failover to db2 and a switchover back to db1, db2 (an inventory standby) is
    fenced: rejoin.yml must pick it, and site.yml must not build it as a new standby."""
    answer = db_topology({"db1": primary(3), "db2": FENCED}, ["db1"], ["db2"])
    assert answer == topology(primary="db1", down=["db2"])


def test_a_fenced_tier_is_never_fresh() -> None:
    """Nothing answers, but a node is fenced: this is a tier after a failover, not a new one."""
    answer = db_topology({"db1": FENCED, "db2": UNREACHABLE}, ["db1"], ["db2"])
    assert answer["fresh"] is False
    assert answer["lost_primary"] is True
    assert answer["down"] == ["db1"]
    assert "failover.yml" in answer["problem"]
