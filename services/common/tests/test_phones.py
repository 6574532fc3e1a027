"""Phone numbers: classification with libphonenumber (CN), the 123xx table, SMS eligibility and
masking. A bad number is kept and flagged, never an exception."""
from __future__ import annotations

import dataclasses
import re

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.config import ROOT
from services.common.phones import (FLAGS, KINDS, PhoneNumber, can_receive_sms, mask_phone,
                                    parse_phone, service_numbers)


@pytest.mark.parametrize("raw, e164, kind", [
    # Foshan's complaint line from the articles (000): +86 757 8333 1814.
    ("0757-83331814", "+8675783331814", "fixed_line"),
    ("(0757)83331814", "+8675783331814", "fixed_line"),
    ("075783331814", "+8675783331814", "fixed_line"),
    ("+86 757 8333 1814", "+8675783331814", "fixed_line"),
    ("０７５７－８３３３１８１４", "+8675783331814", "fixed_line"),  # full-width, as IMEs type it
    ("0757-83331814转123", "+8675783331814", "fixed_line"),  # extension 转 is dropped
    ("13800138000", "+8613800138000", "mobile"),
    ("138-0013-8000", "+8613800138000", "mobile"),
    ("+86 138 0013 8000", "+8613800138000", "mobile"),
    ("008613800138000", "+8613800138000", "mobile"),
    ("19912345678", "+8619912345678", "mobile"),
    ("400-810-8888", "+864008108888", "shared_cost"),
    ("800-810-8888", "+868008108888", "toll_free"),
])
def test_valid_numbers(raw, e164, kind):
    number = parse_phone(raw)
    assert (number.e164, number.kind, number.valid, number.flag) == (e164, kind, True, None)
    assert number.raw == raw


def test_local_number_without_area_code_is_kept_and_flagged():
    number = parse_phone("83331814")
    assert number == PhoneNumber("83331814", None, "unknown", False, "possible_only")


def test_a_mobile_missing_a_digit_is_possible_only():
    number = parse_phone("1380013800")
    assert (number.valid, number.flag, number.e164) == (False, "possible_only", None)


def test_impossible_digits_are_not_valid():
    number = parse_phone("123456789012345678")
    assert (number.kind, number.valid, number.flag) == ("unknown", False, "not_valid")


@pytest.mark.parametrize("raw", ["", "   ", "abc", "电话", "-", "+", "号码不详"])
def test_garbage_is_kept_as_unparseable(raw):
    number = parse_phone(raw)
    assert (number.e164, number.kind, number.valid, number.flag) == (
        None, "unknown", False, "unparseable")
    assert number.raw == raw.strip()


@pytest.mark.parametrize("raw", [None, 13800138000, 3.5, object()])
def test_other_types_do_not_raise(raw):
    assert parse_phone(raw).kind in KINDS


def test_an_integer_is_read_as_its_digits():
    assert parse_phone(13800138000).e164 == "+8613800138000"


def test_raw_is_stripped_and_bounded_to_the_column_size():
    number = parse_phone("  " + "9" * 100 + "  ")
    assert number.raw == "9" * 40 and number.flag in FLAGS


def test_number_inside_text_is_found():
    number = parse_phone("13800138000（王先生）")
    assert (number.e164, number.kind) == ("+8613800138000", "mobile")
    assert number.raw == "13800138000（王先生）"


def test_first_of_two_numbers_wins():
    assert parse_phone("13800138000 / 13900139000").e164 == "+8613800138000"


# --- the 123xx table ------------------------------------------------------------------------------
def test_table_is_read_from_config_and_has_the_hotlines():
    table = yaml.safe_load((ROOT / "infra/config/service_numbers.yaml").read_text("utf-8"))
    assert service_numbers() == {str(k): v for k, v in table.items()}
    assert service_numbers()["12369"] == "环保举报热线"
    assert {"12345", "12315", "12320", "12333", "12348", "12351", "12366", "12388"} \
        <= service_numbers().keys()
    assert all(re.fullmatch(r"123\d\d", n) for n in service_numbers())


@pytest.mark.parametrize("raw", ["12369", " 12369 ", "+86 12369", "0086 12369"])
def test_12369_is_a_named_service_number(raw):
    number = parse_phone(raw)
    assert (number.kind, number.valid, number.flag, number.e164) == (
        "service_short_number", True, None, None)
    assert number.service == "环保举报热线"


def test_every_number_in_the_table_is_a_service_number():
    for digits, name in service_numbers().items():
        number = parse_phone(digits)
        assert (number.kind, number.service, number.valid) == (
            "service_short_number", name, True), digits


@pytest.mark.parametrize("raw", ["110", "95588", "10086"])
def test_other_known_short_codes_are_service_numbers_without_a_name(raw):
    number = parse_phone(raw)
    assert (number.kind, number.valid, number.service) == ("service_short_number", True, None)


def test_a_foreign_12369_is_not_ours():
    assert parse_phone("+1 12369").kind != "service_short_number"


def test_phone_number_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        parse_phone("13800138000").kind = "fixed_line"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_never_raises_on_any_text(raw):
    number = parse_phone(raw)
    assert number.kind in KINDS and (number.flag is None or number.flag in FLAGS)
    assert number.valid == (number.flag is None)
    assert number.e164 is None or (number.valid and re.fullmatch(r"\+\d{6,15}", number.e164))


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_shaped_like_a_mobile_is_mobile_or_flagged(raw):
    number = parse_phone(raw)
    assert (number.kind == "mobile" and number.e164 == "+86" + raw) or not number.valid


# --- SMS ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    ("13800138000", True),
    ("+86 138 0013 8000", True),
    ("0757-83331814", False),
    ("400-810-8888", False),
    ("12369", False),
    ("83331814", False),
    ("1380013800", False),
    ("abc", False),
])
def test_only_valid_mobiles_receive_sms(raw, expected):
    assert can_receive_sms(parse_phone(raw)) is expected


def test_an_invalid_number_marked_mobile_still_gets_no_sms():
    assert not can_receive_sms(PhoneNumber("x", None, "mobile", False, "not_valid"))


# --- masking --------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, masked", [
    ("13800138000", "138****8000"),
    ("138-0013-8000", "138****8000"),
    ("+8613800138000", "138****8000"),
    ("+86 138 0013 8000", "138****8000"),
    ("008613800138000", "138****8000"),
    ("0757-83331814", "********1814"),
    ("+8675783331814", "*********1814"),
    ("400-810-8888", "******8888"),
    ("83331814", "****1814"),
    ("12369", "*2369"),
    ("1234", "****"),
    ("", ""),
    (None, ""),
    ("abc", ""),
])
def test_mask_phone(value, masked):
    assert mask_phone(value) == masked


@given(st.from_regex(r"[02-9][0-9]{4,14}", fullmatch=True))
def test_mask_keeps_only_the_last_four_digits_of_non_mobiles(digits):
    masked = mask_phone(digits)
    assert masked == "*" * (len(digits) - 4) + digits[-4:]


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_mask_of_a_mobile_hides_the_middle_four(digits):
    masked = mask_phone(digits)
    assert masked == digits[:3] + "****" + digits[-4:] and digits[3:7] not in masked[3:7]
