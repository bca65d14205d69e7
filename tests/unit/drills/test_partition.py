"""The partition drill's verdict: one primary at every sample and after, no write lost."""

from __future__ import annotations

from harness.drills.partition import Figures, Sample

ONE = {"db1": "primary", "db2": "standby"}
TWO = {"db1": "primary", "db2": "primary"}


def figures(samples: list[Sample], after: list[str], lost: int = 0, healed: int = 60) -> Figures:
    return Figures(
        cut_off="web2",
        primary="db1",
        samples=samples,
        primaries_after=after,
        acknowledged={"web1": 100, "web2": 40},
        lost={"web1": lost, "web2": 0},
        writes_after_heal=healed,
    )


def test_one_primary_throughout_and_nothing_lost_passes() -> None:
    calm = figures([Sample(0.5, ONE), Sample(1.0, ONE)], ["db1"])
    assert calm.passed
    assert calm.most_primaries == 1
    assert calm.first_second_primary is None


def test_a_single_sample_with_two_primaries_fails() -> None:
    split = figures([Sample(0.5, ONE), Sample(4.6, TWO), Sample(5.0, ONE)], ["db1"])
    assert not split.passed
    assert split.first_second_primary == 4.6


def test_two_primaries_left_after_healing_fail() -> None:
    assert not figures([Sample(0.5, ONE)], ["db1", "db2"]).passed


def test_a_lost_write_fails() -> None:
    assert not figures([Sample(0.5, ONE)], ["db2"], lost=24).passed


def test_no_write_through_the_cut_off_app_server_after_the_repair_fails() -> None:
    assert not figures([Sample(0.5, ONE)], ["db1"], healed=0).passed


def test_an_app_server_that_wrote_nothing_at_all_fails() -> None:
    """It could not write before the cut either: the drill proved nothing about it."""
    broken = figures([Sample(0.5, ONE)], ["db1"])
    broken.acknowledged["web2"] = 0
    assert not broken.passed
