"""What a one-off command prints reaches the operator's screen and logs without secrets."""

from __future__ import annotations

from ansible_collections.djangostack.deploy.plugins.filter.redact import (
    MASK,
    FilterModule,
    redact,
)


def test_the_filter_is_registered() -> None:
    assert FilterModule().filters() == {"redact": redact}


def test_each_secret_is_masked_wherever_it_appears() -> None:
    text = "key=s3cretKey and again s3cretKey; token abcd1234"
    assert redact(text, ["s3cretKey", "abcd1234"]) == f"key={MASK} and again {MASK}; token {MASK}"


def test_a_database_urls_password_is_masked_alone_too() -> None:
    url = "postgres://django:pa%2Fss@127.0.0.1:5432/django"
    text = f"DATABASE_URL={url}\npassword pa/ss, quoted pa%2Fss"
    out = redact(text, [url])
    assert "pa/ss" not in out and "pa%2Fss" not in out
    assert out.count(MASK) == 3


def test_a_secret_containing_another_is_masked_whole() -> None:
    assert redact("abcdefgh", ["abcd", "abcdefgh"]) == MASK


def test_short_and_empty_values_are_left_alone() -> None:
    # Masking "1" or "" would garble every line of the output.
    assert redact("migrated 1 of 1", ["", "1", None]) == "migrated 1 of 1"
