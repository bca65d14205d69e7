"""The drill's figure: seconds from the kill until writes are acknowledged again."""

from __future__ import annotations

from harness.drills.primary_loss import writes_back_after


def test_writes_in_flight_at_the_kill_do_not_count_as_back() -> None:
    """Two commits acknowledged just after the kill was sent, then 8 s of refusals."""
    acks = [99.95, 100.01, 100.03, 108.03, 108.08]
    assert writes_back_after(acks, killed_at=100.0) == 8.03


def test_writes_back_at_once() -> None:
    assert writes_back_after([100.5, 100.55], killed_at=100.0) == 0.5


def test_no_write_after_the_kill_is_no_figure() -> None:
    assert writes_back_after([98.0, 99.0], killed_at=100.0) is None
