"""Injected time. Deadlines, warnings and escalations never call ``datetime.now()`` directly.

Specs (config key ``CLOCK``):
  ``system``           the real UTC clock (production);
  ``file:/path``       the time written in a file (ISO-8601), for demos and cross-process tests;
  ``shared:NAME``      a process-wide ``ManualClock`` registered under NAME, for in-process tests.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when

    def advance(self, **kwargs) -> datetime:
        with self._lock:
            self._now += timedelta(**kwargs)
            return self._now


class FileClock:
    def __init__(self, path: str):
        self.path = Path(path)

    def now(self) -> datetime:
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return datetime.now(timezone.utc)
        return datetime.fromisoformat(text).astimezone(timezone.utc)


_SHARED: dict[str, ManualClock] = {}


def shared_clock(name: str) -> ManualClock:
    return _SHARED.setdefault(name, ManualClock())


def clock_from_spec(spec: str | None):
    spec = spec or "system"
    if spec == "system":
        return SystemClock()
    kind, _, arg = spec.partition(":")
    if kind == "file":
        return FileClock(arg)
    if kind == "shared":
        return shared_clock(arg)
    raise ValueError(f"unknown CLOCK spec {spec!r}")
