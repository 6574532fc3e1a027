"""Log filters for operators: a refused request is one line, not a traceback."""
from __future__ import annotations

import logging


class ExpectedErrorFilter(logging.Filter):
    """nameko logs every *expected* exception of an entrypoint (a 404, a 422: the caller's
    mistake, already in the access log) as a WARNING with its traceback. Keep one INFO line
    instead, so that the tracebacks left in the log are the ones someone must look at."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "nameko.containers" and str(record.msg).startswith("(expected)"):
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True
