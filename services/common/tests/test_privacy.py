"""Masking of personal data in text and in logs, checked through real logging handlers."""
from __future__ import annotations

import io
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common import phones, privacy
from services.common.privacy import (MaskingFilter, install_masking, mask_email, mask_name,
                                     mask_phone, mask_text)

SECRETS = ("13800138000", "83331814", "zhang.san", "example.com", "0013", "13907990009")


@pytest.mark.parametrize("name, masked", [
    ("张三丰", "张**"),
    ("张三", "张*"),
    ("欧阳娜娜", "欧***"),
    (" 李四 ", "李*"),
    ("张", "*"),
    ("", ""),
    (None, ""),
])
def test_mask_name(name, masked):
    assert mask_name(name) == masked


def test_mask_phone_is_the_phones_one():
    assert mask_phone is phones.mask_phone
    assert "mask_phone" in privacy.__all__


@pytest.mark.parametrize("address, masked", [
    ("zhang.san@example.com", "z***@***"),
    ("13800138000@qq.com", "1***@***"),
    ("", ""),
    (None, ""),
])
def test_mask_email(address, masked):
    assert mask_email(address) == masked


@pytest.mark.parametrize("text, masked", [
    ("call 13800138000 now", "call 138****8000 now"),
    ("电话13800138000", "电话138****8000"),
    ("手机：138 0013 8000。", "手机：138****8000。"),
    ("+86 138-0013-8000", "138****8000"),
    ("电话008613800138000", "电话138****8000"),
    ("座机0757-83331814", "座机********1814"),
    ("(0757)83331814", "********1814"),
    ("010 6512 3456", "*******3456"),
    ("+86 757 8333 1814", "*********1814"),
    ("+8675783331814", "*********1814"),
    ("+86-0757-83331814", "**********1814"),
    ("客服400-810-8888", "客服******8888"),
    ("mail zhang.san@example.com.", "mail z***@***."),
    ("联系zhang@example.com谢谢", "联系z***@***谢谢"),
    ("QQ邮箱13800138000@qq.com", "QQ邮箱1***@***"),
])
def test_mask_text_masks(text, masked):
    assert mask_text(text) == masked


@pytest.mark.parametrize("text", [
    "case 360323-20261123-0001 merged into 360323-20261124-000002",
    "at 2026-11-23T01:00:00+00:00",
    "lat 27.6312345678 lon 114.0312345678",
    "event 00000000-0000-0000-0000-000000000000",
    "grid 360323100001 region 360323",
    "call 12369 or 12345",
    "timestamp 1732345678901",
])
def test_mask_text_leaves_other_numbers_alone(text):
    assert mask_text(text) == text


_pieces = st.sampled_from(["13800138000", "电话13800138000", "0757-83331814", "a@b.cn",
                           "+86 138 0013 8000", "12369", "360323-20261123-0001", "电话", "x",
                           "-", ".", "，"])


# Pieces joined by a space: two phones typed with no gap are one long digit run, not a phone.
@given(st.lists(_pieces, max_size=8).map(" ".join))
def test_mask_text_is_idempotent(text):
    once = mask_text(text)
    assert mask_text(once) == once
    assert "13800138000" not in once and "83331814" not in once


# --- logging --------------------------------------------------------------------------------------
@pytest.fixture
def root_capture():
    """The real root logger with one capturing handler; its previous state is restored."""
    root = logging.getLogger()
    saved = (root.level, root.handlers[:], root.filters[:])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root.handlers[:] = [handler]
    root.filters[:] = []
    root.setLevel(logging.DEBUG)
    yield root, handler, stream
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    root.filters[:] = saved[2]


def _leaks(output: str) -> list[str]:
    return [s for s in SECRETS if s in output]


def test_without_masking_the_test_would_see_the_phone(root_capture):
    root, _, stream = root_capture
    logging.getLogger("services.complaints").info("phone %s", "13800138000")
    assert "13800138000" in stream.getvalue()  # the capture works; the next tests mean it


def test_args_and_message_are_masked_after_formatting(root_capture):
    root, _, stream = root_capture
    install_masking()
    log = logging.getLogger("services.complaints")
    log.info("complainant %s phone %s mail %s", "张三", "13800138000", "zhang.san@example.com")
    log.warning("landline 0757-%s", "83331814")  # only whole after formatting
    log.info({"phone": "13800138000"})  # a non-string message
    output = stream.getvalue()
    assert "138****8000" in output and "z***@***" in output and "********1814" in output
    assert _leaks(output) == []


def test_records_from_child_loggers_are_masked_by_the_handler_filter(root_capture):
    root, handler, stream = root_capture
    install_masking()
    assert any(isinstance(f, MaskingFilter) for f in handler.filters)
    assert any(isinstance(f, MaskingFilter) for f in root.filters)
    logging.getLogger("a.b.c").error("reach me at +86 138 0013 8000")
    assert _leaks(stream.getvalue()) == [] and "138****8000" in stream.getvalue()


def test_tracebacks_are_masked(root_capture):
    root, _, stream = root_capture
    install_masking()
    try:
        raise ValueError("bad phone 13800138000 for zhang.san@example.com")
    except ValueError:
        logging.getLogger("svc").exception("intake failed")
    output = stream.getvalue()
    assert "Traceback" in output and "ValueError: bad phone 138****8000" in output
    assert _leaks(output) == []


def test_stack_info_is_masked(root_capture):
    root, _, stream = root_capture
    install_masking()
    # The stack quotes this source line, and with it the number in the comment: 13800138000
    logging.getLogger("svc").info("where", stack_info=True)  # 13800138000
    output = stream.getvalue()
    assert "Stack (most recent call last)" in output and _leaks(output) == []


def test_bad_arguments_do_not_leak_through_the_error_report(root_capture, capsys):
    root, _, stream = root_capture
    install_masking()
    logging.getLogger("svc").info("two %s %s", "13800138000")  # one argument short
    output = stream.getvalue() + capsys.readouterr().err
    assert "138****8000" in output and _leaks(output) == []
    assert "--- Logging error ---" not in output


def test_install_is_idempotent(root_capture):
    root, handler, stream = root_capture
    first, second = install_masking(), install_masking()
    assert first is second
    assert sum(isinstance(f, MaskingFilter) for f in handler.filters) == 1
    assert sum(isinstance(f, MaskingFilter) for f in root.filters) == 1


def test_every_handler_sees_the_masked_record(root_capture):
    root, _, first = root_capture
    second = io.StringIO()
    root.addHandler(logging.StreamHandler(second))
    install_masking()
    logging.getLogger("svc").info("phone %s", "13800138000")
    for stream in (first, second):
        assert "138****8000" in stream.getvalue() and _leaks(stream.getvalue()) == []


def test_filter_on_a_named_logger_only(root_capture):
    root, _, stream = root_capture
    log = logging.getLogger("services.notify.test")
    install_masking(log)
    try:
        log.info("phone %s", "13800138000")  # the logger's own filter applies
        assert "138****8000" in stream.getvalue()
        assert not any(isinstance(f, MaskingFilter) for f in root.filters)
    finally:
        log.filters.clear()
