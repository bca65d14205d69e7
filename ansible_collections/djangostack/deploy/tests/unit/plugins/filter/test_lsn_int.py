"""WAL positions as integers that order like the positions themselves."""

from __future__ import annotations

import pytest

from ansible_collections.djangostack.deploy.plugins.filter.lsn_int import (
    FilterModule,
    lsn_int,
)


def test_the_filter_is_registered() -> None:
    assert FilterModule().filters() == {"lsn_int": lsn_int}


@pytest.mark.parametrize(
    ("lsn", "number"),
    [
        ("0/0", 0),
        ("0/3000000", 0x3000000),
        ("16/B374D848", 0x16_B374D848),
        ("16/b374d848", 0x16_B374D848),
        ("FFFFFFFF/FFFFFFFF", 2**64 - 1),
    ],
)
def test_a_position_is_high_then_low_32_bits(lsn: str, number: int) -> None:
    assert lsn_int(lsn) == number


def test_the_order_crosses_the_32_bit_boundary() -> None:
    """'1/0' comes after '0/FFFFFFFF', though it is shorter and sorts first as text."""
    assert lsn_int("0/FFFFFFFF") < lsn_int("1/0")
    assert lsn_int("1/0") - lsn_int("0/FFFFFFFF") == 1
    assert lsn_int("0/3000000") > lsn_int("0/2FFFFFF")
    assert lsn_int("2/0") > lsn_int("1/FFFFFFFF")


@pytest.mark.parametrize("lsn", [None, ""])
def test_no_position_is_zero(lsn: str | None) -> None:
    assert lsn_int(lsn) == 0


@pytest.mark.parametrize("lsn", ["16B374D848", "16/", "/B374D848", "/", "G/0", "1/xyz", "1/2/3"])
def test_a_malformed_position_is_refused(lsn: str) -> None:
    with pytest.raises(ValueError):
        lsn_int(lsn)


@pytest.mark.parametrize("value", ["-1/0", "0/100000000", "0x1/0", " 1/0", "1_0/0"])
def test_only_postgresql_spellings_are_positions(value: str) -> None:
    with pytest.raises(ValueError):
        lsn_int(value)
