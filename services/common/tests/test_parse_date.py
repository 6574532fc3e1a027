"""Every date a client sends is read by one function, so a bad one gets one answer: 422
``bad_date`` naming the field."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from services.common.errors import ValidationError, parse_date


def test_dates_and_absent_values():
    assert parse_date("2027-01-01", "start") == date(2027, 1, 1)
    assert parse_date(date(2027, 1, 1), "start") == date(2027, 1, 1)
    assert parse_date(None, "start") is None
    assert parse_date("", "end", date(2027, 12, 31)) == date(2027, 12, 31)


def test_blank_without_a_default_is_a_bad_date():
    with pytest.raises(ValidationError) as caught:
        parse_date("", "left")
    assert (caught.value.code, caught.value.field) == ("bad_date", "left")


@pytest.mark.parametrize("value", ["2027-02-30", "tomorrow", "2027/01/01", 20270101, "2027-1-1x",
                                   datetime(2027, 1, 1, tzinfo=timezone.utc), "x" * 500])
def test_anything_else_is_bad_date_naming_the_field(value):
    with pytest.raises(ValidationError) as caught:
        parse_date(value, "left")
    assert (caught.value.status, caught.value.code, caught.value.field) == (422, "bad_date", "left")
    assert len(caught.value.message) < 100   # the value is quoted, cut short


def test_a_required_date_is_never_absent():
    assert parse_date("2027-01-01", "date", required=True) == date(2027, 1, 1)
    with pytest.raises(ValidationError) as missing:
        parse_date(None, "date", required=True)
    assert (missing.value.code, missing.value.field) == ("missing_field", "date")
    with pytest.raises(ValidationError) as empty:
        parse_date("", "date", required=True)
    assert (empty.value.code, empty.value.field) == ("bad_date", "date")
