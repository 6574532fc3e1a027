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


@pytest.mark.parametrize("value", ["2027-02-30", "tomorrow", "2027/01/01", 20270101, "2027-1-1x",
                                   datetime(2027, 1, 1, tzinfo=timezone.utc), "x" * 500])
def test_anything_else_is_bad_date_naming_the_field(value):
    with pytest.raises(ValidationError) as caught:
        parse_date(value, "left")
    assert (caught.value.status, caught.value.code, caught.value.field) == (422, "bad_date", "left")
    assert len(caught.value.message) < 100   # the value is quoted, cut short
