"""Quiet hours, release time, retry backoff and the per-recipient rate limit."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest

from services.notify.messages import RateLimiter, backoff, is_quiet, release_time

UTC = timezone.utc


def at(h, m=0, day=23):
    return datetime(2026, 11, day, h, m, tzinfo=UTC)


# Asia/Shanghai is UTC+8: 22:00 local = 14:00 UTC, 07:30 local = 23:30 UTC the day before.
@pytest.mark.parametrize("now,quiet", [
    (at(13, 59), False), (at(14, 0), True), (at(18, 0), True),
    (at(23, 29), True), (at(23, 30), False), (at(4, 0), False),
])
def test_quiet_hours_cross_midnight(subs, now, quiet):
    assert is_quiet(now, subs.settings, urgent=False) is quiet


def test_urgent_ignores_quiet_hours(subs):
    assert is_quiet(at(18, 0), subs.settings, urgent=True) is False


def test_quiet_window_within_a_day_and_disabled(subs):
    from dataclasses import replace
    noon = replace(subs.settings, quiet_start=time(12, 0), quiet_end=time(14, 0))
    assert is_quiet(at(4, 0), noon, urgent=False) is True     # 12:00 local
    assert is_quiet(at(6, 0), noon, urgent=False) is False    # 14:00 local
    off = replace(subs.settings, quiet_start=time(0, 0), quiet_end=time(0, 0))
    assert is_quiet(at(18, 0), off, urgent=False) is False


def test_naive_time_is_refused(subs):
    with pytest.raises(ValueError):
        is_quiet(datetime(2026, 11, 23, 14, 0), subs.settings, urgent=False)


def test_release_next_morning(subs):
    # 23:00 local on the 23rd -> 07:30 local on the 24th = 23:30 UTC on the 23rd.
    assert release_time(at(15, 0), subs.settings) == at(23, 30)
    # 02:00 local on the 24th (18:00 UTC on the 23rd) -> 07:30 local the same morning.
    assert release_time(at(18, 0), subs.settings) == at(23, 30)
    assert release_time(at(15, 0), subs).tzinfo is not None


def test_release_outside_quiet_hours_is_now(subs):
    assert release_time(at(3, 0), subs.settings) == at(3, 0)


def test_backoff_steps_then_give_up(subs):
    steps = [backoff(n, subs.settings) for n in range(1, 6)]
    assert steps == [timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10),
                     timedelta(hours=1), None]


def test_backoff_last_step_repeats(subs):
    from dataclasses import replace
    longer = replace(subs.settings, max_attempts=8)
    assert backoff(6, longer) == timedelta(hours=1) and backoff(8, longer) is None
    with pytest.raises(ValueError):
        backoff(0, longer)


def test_rate_limit_allows_under_the_limit(subs):
    now = at(10, 0)
    history = [now - timedelta(minutes=5 * i) for i in range(1, 10)]  # 9 in the hour
    decision = RateLimiter.allowed(history, now, subs.settings)
    assert decision and decision.next_allowed is None


def test_rate_limit_blocks_and_says_when(subs):
    now = at(10, 0)
    history = [now - timedelta(minutes=5 * i) for i in range(1, 11)]  # 10 in the hour
    decision = RateLimiter.allowed(history, now, subs.settings)
    assert not decision
    assert decision.next_allowed == now - timedelta(minutes=50) + timedelta(hours=1)
    # At that moment the oldest has aged out and one more fits.
    assert RateLimiter.allowed(history, decision.next_allowed, subs.settings)


def test_rate_limit_ignores_old_and_exempts_urgent(subs):
    now = at(10, 0)
    old = [now - timedelta(hours=1)] * 20 + [now - timedelta(hours=5)] * 20
    assert RateLimiter.allowed(old, now, subs.settings)
    busy = [now - timedelta(minutes=1)] * 30
    assert not RateLimiter.allowed(busy, now, subs.settings)
    assert RateLimiter.allowed(busy, now, subs.settings, urgent=True)
