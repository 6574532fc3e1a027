"""Enterprise red and yellow cards: appear, turn red, leave with the year."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from services.ranking import cards, metrics
from services.ranking.cards import Card, Violation, evaluate, transitions

UTC = timezone.utc
CFG = metrics.load_config()
E = "萍乡某化工有限公司"


def at(*args):
    return datetime(*args, tzinfo=UTC)


def test_yellow_then_red_on_the_second_violation_then_gone_next_year():
    v1 = Violation(E, "360323-20260310-0001", at(2026, 3, 10, 2))
    v2 = Violation(E, "360323-20260905-0004", at(2026, 9, 5, 2))
    history = []
    cards = {}
    for now, seen in [(at(2026, 3, 10, 3), [v1]), (at(2026, 9, 5, 3), [v1, v2]),
                      (at(2026, 12, 31, 15, 59), [v1, v2]),   # 23:59 Beijing: still 2026
                      (at(2026, 12, 31, 16, 0), [v1, v2])]:   # 00:00 1 Jan 2027 Beijing
        new = evaluate(seen, now, CFG)
        history += transitions(cards, new, now)
        cards = new
    assert [(c.from_level, c.to_level, c.at, c.cases) for c in history] == [
        (None, "yellow", at(2026, 3, 10, 3), [v1.case_no]),
        ("yellow", "red", at(2026, 9, 5, 3), [v1.case_no, v2.case_no]),
        ("red", None, at(2026, 12, 31, 16, 0), [v1.case_no, v2.case_no]),
    ]
    assert cards[E] == Card(None, [])


def test_major_incident_is_red_at_once():
    cards = evaluate([Violation(E, "c1", at(2026, 5, 1), major=True)], at(2026, 5, 2), CFG)
    assert cards[E].level == "red"


def test_two_violations_in_different_years_are_only_yellow():
    vs = [Violation(E, "c1", at(2025, 12, 20)), Violation(E, "c2", at(2026, 1, 5))]
    assert evaluate(vs, at(2026, 1, 6), CFG)[E] == Card("yellow", ["c2"])


def test_rolling_window_keeps_the_card_across_new_year():
    cfg = dict(CFG, cards=dict(CFG["cards"], window="rolling", rolling_days=365))
    vs = [Violation(E, "c1", at(2025, 12, 20)), Violation(E, "c2", at(2026, 1, 5))]
    assert evaluate(vs, at(2026, 1, 6), cfg)[E].level == "red"
    # A year after the first violation the card drops back to yellow.
    later = at(2025, 12, 20) + timedelta(days=365)
    assert evaluate(vs, later, cfg)[E] == Card("yellow", ["c2"])


def test_future_violations_do_not_count_and_others_are_untouched():
    vs = [Violation(E, "c1", at(2026, 6, 1)), Violation("B", "c9", at(2026, 2, 1))]
    cards = evaluate(vs, at(2026, 3, 1), CFG)
    assert cards == {"B": Card("yellow", ["c9"]), E: Card(None, [])}
    assert transitions(cards, cards, at(2026, 3, 2)) == []


# --- timeline: the card history of one enterprise from its standings --------------------------

def test_timeline_records_appearance_overturn_and_the_year_passing():
    s1 = cards.Standing("c1", ((at(2026, 3, 10, 2), None),))
    s2 = cards.Standing("c2", ((at(2026, 9, 5, 2), at(2026, 10, 1, 2)),))
    history, card, following = cards.timeline(E, [s1, s2], at(2026, 11, 1), CFG)
    assert [(c.from_level, c.to_level, c.at, c.cases) for c in history] == [
        (None, "yellow", at(2026, 3, 10, 2), ["c1"]),
        ("yellow", "red", at(2026, 9, 5, 2), ["c1", "c2"]),
        ("red", "yellow", at(2026, 10, 1, 2), ["c1"]),
    ]
    assert card == Card("yellow", ["c1"])
    assert following == at(2026, 12, 31, 16)   # 1 January 2027, 00:00 Beijing
    history, card, following = cards.timeline(E, [s1, s2], following, CFG)
    assert (history[-1].from_level, history[-1].to_level, history[-1].at) == (
        "yellow", None, at(2026, 12, 31, 16))
    assert card.level is None and following is None


def test_timeline_does_not_depend_on_when_it_is_asked_or_the_order_of_cases():
    s1 = cards.Standing("c1", ((at(2026, 3, 10, 2), None),))
    s2 = cards.Standing("c2", ((at(2026, 4, 1), at(2026, 5, 1)), (at(2026, 6, 1), None)))
    late = cards.timeline(E, [s2, s1], at(2027, 2, 1), CFG)[0]
    early = cards.timeline(E, [s1, s2], at(2026, 7, 1), CFG)[0]
    assert late[:len(early)] == early
    assert [(c.from_level, c.to_level) for c in late] == [
        (None, "yellow"), ("yellow", "red"), ("red", "yellow"), ("yellow", "red"), ("red", None)]


def test_timeline_rolling_window_lapses_a_year_after_each_violation():
    cfg = dict(CFG, cards=dict(CFG["cards"], window="rolling", rolling_days=365))
    s1 = cards.Standing("c1", ((at(2026, 3, 1), None),))
    s2 = cards.Standing("c2", ((at(2026, 9, 1), None),))
    history, card, following = cards.timeline(E, [s1, s2], at(2027, 3, 1), cfg)
    assert [(c.to_level, c.at) for c in history] == [
        ("yellow", at(2026, 3, 1)), ("red", at(2026, 9, 1)), ("yellow", at(2027, 3, 1))]
    assert following == at(2027, 9, 1)
