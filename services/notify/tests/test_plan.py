"""Planning by role, channel choice, context building and the confidentiality rule."""
from __future__ import annotations

import pytest

from services.common import events
from services.common.config import ROOT
from services.notify.messages import (UNREACHABLE, Contact, Planned, Subscriptions, build_context,
                                      choose_channels, render, reply_code)

PHONE = "13912345678"
NAME = "王小明"


def test_the_receipt_waits_for_the_expected_closing_date(subs):
    plan = subs.plan(events.sample_payload("case_scheduled"))
    assert plan == [Planned("complainant", "case_receipt", ("sms", "email", "in_app"), False)]
    assert [p.role for p in subs.plan(events.sample_payload("case_accepted"))] == []


def test_no_complainant_without_has_complainant(subs):
    for value in (False, None, "true"):
        payload = dict(events.sample_payload("case_feedback"), has_complainant=value)
        assert [p for p in subs.plan(payload) if p.role == "complainant"] == []


def test_patrol_report_informs_the_reporter(subs):
    payload = dict(events.sample_payload("case_declined"), channel="patrol", has_complainant=False)
    assert [(p.role, p.kind) for p in subs.plan(payload)] == [("reporter", "report_declined")]


def test_escalation_goes_to_supervisor_of_target_grid_urgently(subs):
    plan = subs.plan(events.sample_payload("task_escalated"))
    supervisor, chief = plan
    assert (supervisor.role, supervisor.urgent, supervisor.scope) == ("supervisor", True, "360323")
    assert (chief.role, chief.urgent, chief.scope) == ("grid_chief", False, "360323100001")


def test_referral_goes_to_intake_of_the_receiving_region(subs):
    (planned,) = subs.plan(events.sample_payload("case_referred"))
    assert (planned.role, planned.kind, planned.scope) == ("intake", "case_referred_in", "360313")


def test_urgency_follows_priority(subs):
    payload = events.sample_payload("task_assigned")
    assert subs.plan(payload)[0].urgent is False
    assert subs.plan(dict(payload, priority="urgent"))[0].urgent is True


def test_extension_tells_the_complainant_only_when_the_event_says_there_is_one(subs):
    payload = dict(events.sample_payload("task_extended"), has_complainant=False)
    assert [p.role for p in subs.plan(payload)] == ["assignee"]
    with_complainant = dict(payload, has_complainant=True)
    assert [(p.role, p.kind) for p in subs.plan(with_complainant)] == [
        ("assignee", "task_extended"), ("complainant", "case_extended")]


def test_unsubscribed_event_plans_nothing(subs):
    assert subs.plan(events.sample_payload("case_closed")) == []


@pytest.mark.parametrize("bad,message", [
    ({"no_such_event": [{"role": "assignee", "kind": "x", "channels": ["sms"]}]}, "catalogue"),
    ({"task_warning": [{"role": "boss", "kind": "x", "channels": ["sms"]}]}, "unknown role"),
    ({"task_warning": [{"role": "assignee", "kind": "x", "channels": ["fax"]}]}, "channels"),
    ({"task_warning": [{"role": "supervisor", "kind": "x", "channels": ["sms"],
                        "scope": "to_region"}]}, "scope"),
    ({"task_warning": [{"role": "assignee", "kind": "x", "channels": ["sms"],
                        "when": {"colour": "red"}}]}, "condition"),
])
def test_config_is_validated(bad, message):
    with pytest.raises(ValueError, match=message):
        Subscriptions.from_dict({"subscriptions": bad})


def test_loading_the_real_config_twice_is_stable():
    a = Subscriptions.load(ROOT / "infra" / "config" / "notify.yaml")
    assert a.settings.sms.signature == "【萍乡生态环境】"
    assert a.settings.default_language == "zh-CN"
    assert set(a.rules) <= set(events.CATALOGUE)


# --- channel choice -------------------------------------------------------------------------

def test_mobile_keeps_sms():
    assert choose_channels(["sms", "in_app"], Contact(phone="13800138000", user_id="u1")) == [
        "sms", "in_app"]


def test_fixed_line_falls_back_to_in_app_then_email():
    fixed = "0757-83331814"
    assert choose_channels(["sms"], Contact(phone=fixed, user_id="u1", email="a@b.cn")) == ["in_app"]
    assert choose_channels(["sms"], Contact(phone=fixed, email="a@b.cn")) == ["email"]
    assert choose_channels(["sms", "email", "in_app"],
                           Contact(phone=fixed, email="a@b.cn", user_id="u1")) == ["email", "in_app"]


def test_unreachable_when_nothing_fits():
    assert choose_channels(["sms"], Contact(phone="0757-83331814")) == [UNREACHABLE]
    assert choose_channels(["sms", "email"], Contact()) == [UNREACHABLE]
    assert choose_channels(["sms"], None) == [UNREACHABLE]


# --- context --------------------------------------------------------------------------------

def test_context_names_categories_in_the_language(subs, policy_data):
    payload = dict(events.sample_payload("case_accepted"), category=["air.odour", "noise.industrial"])
    zh = build_context(payload, "zh-CN", subs.settings, policy=policy_data)
    en = build_context(payload, "en", subs.settings, policy=policy_data)
    assert zh["categories"] == ["大气-恶臭/异味", "噪声-工业"]
    assert en["categories"] == ["Air - odour", "Noise - industrial"]
    odd = build_context(dict(payload, category="unknown.code"), "en", subs.settings, policy=policy_data)
    assert odd["categories"] == ["unknown.code"]


def test_links(subs, policy_data):
    ctx = build_context(events.sample_payload("case_feedback"), "zh-CN", subs.settings,
                        policy=policy_data)
    base = subs.settings.public_base_url
    assert ctx["links"] == {"tracking": f"{base}/track?case=360323-20261123-0001",
                            "rating": f"{base}/r/r-5b1e2c"}


def test_reply_code_is_short_deterministic_and_digits():
    assert reply_code("r-5b1e2c") == reply_code("r-5b1e2c")
    assert reply_code("r-5b1e2c") != reply_code("r-5b1e2d")
    assert len(reply_code("r-5b1e2c", 4)) == 4 and reply_code("r-5b1e2c", 4).isdigit()
    codes = {reply_code(f"r-{i}") for i in range(200)}
    assert len(codes) > 190  # spread, not a constant


def test_context_keeps_only_catalogued_fields(subs, policy_data):
    payload = dict(events.sample_payload("case_accepted"), complainant_phone=PHONE,
                   complainant_name=NAME)
    ctx = build_context(payload, "zh-CN", subs.settings, policy=policy_data)
    assert "complainant_phone" not in ctx and "complainant_name" not in ctx


def _poisoned(event_type: str) -> dict:
    """A sample payload carrying the complainant's contact, also inside every free-text field."""
    payload = dict(events.sample_payload(event_type), complainant_phone=PHONE,
                   complainant_name=NAME, contact={"phone": PHONE, "name": NAME},
                   has_complainant=True)
    for key in ("description", "reason", "reason_text", "next_step", "note", "result", "address"):
        if isinstance(payload.get(key), str):
            payload[key] += f" 请回电{PHONE}（{PHONE[:3]}-{PHONE[3:7]}-{PHONE[7:]}）"
    return payload


@pytest.mark.parametrize("event_type", sorted(Subscriptions.load(
    ROOT / "infra" / "config" / "notify.yaml").rules))
def test_complainant_phone_never_reaches_other_roles(subs, policy_data, event_type):
    payload = _poisoned(event_type)
    # Some rules only apply to patrol reports (the reporter hears of acceptance).
    planned = subs.plan(payload) or subs.plan(payload := dict(payload, channel="patrol"))
    assert planned
    seen = 0
    for item in planned:
        for lang in subs.settings.languages:
            ctx = build_context(payload, lang, subs.settings, policy=policy_data)
            for channel in item.channels:
                msg = render(item.kind, lang, channel, ctx, sms=subs.settings.sms)
                for part in (msg.subject, msg.text, msg.html):
                    if part is None:
                        continue
                    flat = part.replace("-", "").replace(" ", "")
                    assert PHONE not in flat, (item.role, item.kind, channel, lang)
                    if item.role != "complainant":
                        assert NAME not in part
                seen += 1
    assert seen


def test_free_text_is_scrubbed_where_staff_would_see_it(subs, policy_data):
    payload = _poisoned("case_received")
    (planned,) = subs.plan(payload)
    assert planned.role == "intake"
    ctx = build_context(payload, "zh-CN", subs.settings, policy=policy_data)
    text = render(planned.kind, "zh-CN", "in_app", ctx).text
    assert "请回电" in text and PHONE not in text
    assert "360323-20261123-0001" in text  # case numbers are not mistaken for phones
