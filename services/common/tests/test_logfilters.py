import logging
import sys

from services.common.logfilters import ExpectedErrorFilter


def _record(name, msg):
    try:
        raise ValueError("boom")
    except ValueError:
        info = sys.exc_info()
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, ("w", "e"), info)


def test_an_expected_error_is_one_info_line():
    record = _record("nameko.containers", "(expected) error handling worker %s: %s")
    assert ExpectedErrorFilter().filter(record)
    assert record.exc_info is None and record.levelname == "INFO"
    assert "Traceback" not in logging.Formatter().format(record)


def test_an_unexpected_error_keeps_its_traceback():
    record = _record("nameko.containers", "error handling worker %s: %s")
    assert ExpectedErrorFilter().filter(record)
    assert record.exc_info is not None and record.levelname == "WARNING"
    assert "Traceback" in logging.Formatter().format(record)
