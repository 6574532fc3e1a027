"""Masking of personal data (举报人保密): names, phones and e-mail addresses in logs and views.

A complainant's identity must never reach the reported unit or anyone who does not need it
(EPL art. 57, 信访条例 art. 23). Logs are read by operators and shipped to other systems, so
everything that looks like a phone number or an e-mail address is masked before it is written.
Masking is deliberately eager: a masked order number costs little, a leaked phone a lot.
"""
from __future__ import annotations

import logging
import re

from services.common.phones import mask_phone

__all__ = ["mask_name", "mask_phone", "mask_email", "mask_text", "MaskingFilter",
           "install_masking"]

# Look-behinds keep digit runs that are part of something longer untouched: case numbers
# (360323-20261123-0001), decimals such as coordinates (114.0312345678), other digits.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PLUS86 = r"(?:(?:\+|00)86[- ]?)"
_PATTERNS = (
    # Mobile 手机, optionally +86 / 0086: 13800138000, 138 0013 8000, +86-138-0013-8000.
    re.compile(rf"(?<![\d.+]){_PLUS86}?1[3-9]\d(?:[- ]?\d{{4}}){{2}}(?!\d)"),
    # Fixed line 座机 in international form: +86 757 8333 1814, +86 (0757) 83331814.
    re.compile(rf"(?<![\d.]){_PLUS86}\(?0?[1-9]\d{{1,2}}\)?[- ]?\d{{3,4}}[- ]?\d{{4}}(?!\d)"),
    # Fixed line with its area code 区号: 0757-83331814, (0757)83331814, 010 6512 3456.
    re.compile(r"(?<![\d.\-])\(?0[1-9]\d{1,2}\)?[- ]?\d{3,4}[- ]?\d{4}(?!\d)"),
    # 400 / 800 numbers.
    re.compile(r"(?<![\d.\-])[48]00[- ]?\d{3}[- ]?\d{4}(?!\d)"),
)


def mask_name(name: str | None) -> str:
    """Keep the surname character only: ``张三丰`` → ``张**``; ``""``/None → ``""``."""
    name = (name or "").strip()
    if len(name) <= 1:
        # A one-character "name" would be shown whole; hide it instead.
        return "*" * len(name)
    return name[0] + "*" * (len(name) - 1)


def mask_email(address: str | None) -> str:
    """``zhang.san@pingxiang-chem.com`` → ``z***@***``. The domain goes too: a whistle-blower's
    employer is often the very enterprise being reported."""
    address = (address or "").strip()
    if not address:
        return ""
    return address[:1] + "***@***"


def mask_text(text: str) -> str:
    """Mask every e-mail address and phone number found in free text. Idempotent."""
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: mask_phone(m.group(0)), text)
    return text


class MaskingFilter(logging.Filter):
    """Rewrites each log record so that its final text has phones and e-mails masked.

    The message is formatted first (``msg % args``), then masked, and the record keeps the
    result with no args, so a phone passed as an argument is caught as well as one in the
    format string. Exception and stack text are masked too: an error message may quote input.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - bad args; the handler would print them raw
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = mask_text(message), ()
        if record.exc_info and not record.exc_text:
            # Formatters reuse a cached exc_text, so caching the masked form is enough.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def install_masking(logger: logging.Logger | None = None) -> MaskingFilter:
    """Attach one ``MaskingFilter`` to the root logger (or ``logger``) and to its handlers.

    Handler filters are what matter: a logger's own filters see only records logged on that
    logger, not those propagated from children such as ``services.complaints``. Call this after
    logging is configured; handlers added later need ``handler.addFilter(...)`` themselves.
    Calling it again adds no second filter.
    """
    logger = logger or logging.getLogger()
    mask = next((f for f in logger.filters if isinstance(f, MaskingFilter)), None) \
        or MaskingFilter()
    for target in (logger, *logger.handlers):
        if not any(isinstance(f, MaskingFilter) for f in target.filters):
            target.addFilter(mask)
    return mask
