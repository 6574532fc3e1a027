"""Phone numbers (电话号码) with Google's libphonenumber (``phonenumbers``), region CN.

We keep the raw text, the E.164 form and the kind; an odd number is flagged, never a reason to
refuse a complaint (有报必接). 123xx government service numbers (政府公益服务号码) come from
``infra/config/service_numbers.yaml``: libphonenumber's short-number data accepts the whole
123xx range without naming any of them, so only our table says which ones are real hotlines.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
import yaml
from phonenumbers import PhoneNumberType, shortnumberinfo

from services.common.config import ROOT

REGION = "CN"
# ``complainants.phone_raw`` is String(40); longer text is not a phone number anyway.
RAW_LIMIT = 40

KINDS = ("mobile", "fixed_line", "shared_cost", "toll_free", "service_short_number", "unknown")
FLAGS = ("unparseable", "not_valid", "possible_only")

_KINDS = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "fixed_line",
    # Never "mobile": only a number known to be a mobile may be sent an SMS.
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line",
    PhoneNumberType.SHARED_COST: "shared_cost",  # 400 numbers
    PhoneNumberType.TOLL_FREE: "toll_free",  # 800 numbers
}
# "0757-83331814转123" / "分机 123": libphonenumber only knows Latin extension markers.
_EXTENSION = re.compile(r"\s*(?:转|分机|轉)\s*(?=\d)")


@dataclass(frozen=True)
class PhoneNumber:
    """One phone number as given, and what libphonenumber (or our table) makes of it.

    ``e164`` is set only when it means something: a valid number, never a guess completed from
    a number missing its area code, and never a short number (not diallable from abroad).
    ``service`` names a known 123xx hotline, e.g. ``"环保举报热线"`` for 12369.
    """

    raw: str
    e164: str | None
    kind: str  # one of KINDS
    valid: bool
    flag: str | None = None  # one of FLAGS, or None when nothing is odd
    service: str | None = None


@functools.lru_cache(maxsize=1)
def service_numbers() -> dict[str, str]:
    """The 123xx table: number → Chinese name of the service."""
    path = ROOT / "infra" / "config" / "service_numbers.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(number): str(name) for number, name in data.items()}


def _parse(text: str) -> phonenumbers.PhoneNumber | None:
    text = _EXTENSION.sub(" ext. ", text)
    try:
        return phonenumbers.parse(text, REGION)
    except phonenumbers.NumberParseException:
        pass
    # People type "13800138000（王先生）" or two numbers in one field: take the first valid one
    # found in the text (the raw text is kept, so nothing is lost).
    for match in phonenumbers.PhoneNumberMatcher(text, REGION, phonenumbers.Leniency.VALID):
        return match.number
    return None


def parse_phone(raw: object) -> PhoneNumber:
    """Classify ``raw`` (a string as typed; None or other types are tolerated). Never raises.

    >>> parse_phone("0757-83331814").e164
    '+8675783331814'
    """
    text = ("" if raw is None else str(raw)).strip()[:RAW_LIMIT]
    number = _parse(text)
    if number is None:
        return PhoneNumber(text, None, "unknown", False, "unparseable")
    national = str(number.national_number)
    known = service_numbers().get(national) if number.country_code == 86 else None
    if known is not None:
        return PhoneNumber(text, None, "service_short_number", True, service=known)
    if phonenumbers.is_valid_number(number):
        kind = _KINDS.get(phonenumbers.number_type(number), "unknown")
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return PhoneNumber(text, e164, kind, True)
    if number.country_code == 86 and shortnumberinfo.is_valid_short_number_for_region(
            number, REGION):
        # 110, 95588, 10086...: real short codes, but not in our table, so unnamed.
        return PhoneNumber(text, None, "service_short_number", True)
    if phonenumbers.is_possible_number(number):
        # e.g. a local number without its area code: keep it, a person can still call back.
        return PhoneNumber(text, None, "unknown", False, "possible_only")
    return PhoneNumber(text, None, "unknown", False, "not_valid")


def can_receive_sms(number: PhoneNumber) -> bool:
    """Only a valid mobile (手机) can be sent an SMS; a landline or a hotline cannot."""
    return number.valid and number.kind == "mobile"


def mask_phone(value: str | None) -> str:
    """Mask a phone for display or logs: ``138****8000`` for a Chinese mobile (with or without
    +86 / 0086), otherwise only the last four digits, e.g. ``********1814``."""
    digits = re.sub(r"\D", "", value or "")
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11 \
                and digits[len(prefix)] == "1":
            digits = digits[len(prefix):]
            break
    if len(digits) == 11 and digits.startswith("1"):
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) <= 4:
        # Too short to keep any digit and still hide something.
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]
