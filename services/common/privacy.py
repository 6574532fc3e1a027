"""Masking of personal data (举报人保密): names, phones and e-mail addresses in logs."""
from __future__ import annotations

import logging
import re

from services.common.phones import mask_phone

__all__ = ["mask_name", "mask_phone", "mask_text", "MaskingFilter", "install_masking"]

_PATTERNS = [
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), lambda m: m.group(0)[:1] + "***@***"),
    (re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)"),
     lambda m: mask_phone(m.group(0))),
    (re.compile(r"(?<![\d-])0\d{2,3}-?\d{7,8}(?!\d)"), lambda m: mask_phone(m.group(0))),
]


def mask_name(name: str | None) -> str:
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def mask_text(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class MaskingFilter(logging.Filter):
    """Rewrites each record's final message with phones and e-mail addresses masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler to report
            return True
        record.msg, record.args = mask_text(message), None
        return True


def install_masking() -> None:
    root = logging.getLogger()
    mask = MaskingFilter()
    root.addFilter(mask)
    for handler in root.handlers:
        handler.addFilter(mask)
