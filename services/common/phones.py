"""Phone numbers with Google's libphonenumber (``phonenumbers``), region CN.

We keep the raw text, the E.164 form and the kind; an odd number is flagged, never a reason to
refuse a complaint. 123xx government service numbers come from ``service_numbers.yaml``, since
libphonenumber's short-number data does not have them.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
import yaml
from phonenumbers import PhoneNumberType

from services.common.config import ROOT

_KINDS = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.TOLL_FREE: "toll_free",
}


@dataclass(frozen=True)
class PhoneNumber:
    raw: str
    e164: str | None
    kind: str  # mobile, fixed_line, shared_cost, toll_free, service_short_number, unknown
    valid: bool
    flag: str | None = None  # unparseable, not_valid, possible_only


@functools.lru_cache(maxsize=1)
def service_numbers() -> dict[str, str]:
    path = ROOT / "infra" / "config" / "service_numbers.yaml"
    return {str(k): v for k, v in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items()}


def parse_phone(raw: str | None) -> PhoneNumber:
    text = (raw or "").strip()[:40]
    digits = re.sub(r"\D", "", text)
    if digits in service_numbers():
        return PhoneNumber(text, None, "service_short_number", True)
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return PhoneNumber(text, None, "unknown", False, "unparseable")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if phonenumbers.is_valid_number(number):
        kind = _KINDS.get(phonenumbers.number_type(number), "unknown")
        return PhoneNumber(text, e164, kind, True)
    if phonenumbers.is_possible_number(number):
        # e.g. a local number without its area code: keep it, let a person call back.
        return PhoneNumber(text, None, "unknown", False, "possible_only")
    return PhoneNumber(text, None, "unknown", False, "not_valid")


def can_receive_sms(number: PhoneNumber) -> bool:
    return number.valid and number.kind == "mobile"


def mask_phone(value: str | None) -> str:
    """138****8000 for a mobile; only the last four digits of anything else."""
    digits = re.sub(r"\D", "", value or "")
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) == 11 and digits.startswith("1"):
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]
