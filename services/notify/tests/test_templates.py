"""Every template renders with every subscribed event's catalogue sample (StrictUndefined), and
every catalogued event is either subscribed or listed with the reason nobody is told."""
from __future__ import annotations

import re

import jinja2
import pytest

from services.common import events
from services.notify.messages import (TEMPLATE_DIR, build_context, render, sample_context,
                                      sms_segments, template_names)
from services.common.config import ROOT
from services.notify.messages import Subscriptions

_SUBS = Subscriptions.load(ROOT / "infra" / "config" / "notify.yaml")
LANGS = _SUBS.settings.languages

# (event_type, kind, channel) for every subscription rule and channel, plus the log channel,
# and the notice to intake for every event that plans a message to a complainant.
CASES = sorted({(event_type, rule.kind, channel)
                for event_type, rules in _SUBS.rules.items()
                for rule in rules
                for channel in rule.channels + ("log",)}
               | {(event_type, _SUBS.settings.unreachable_kind, channel)
                  for event_type in _SUBS.events_for(_SUBS.settings.unreachable_kind)
                  for channel in _SUBS.settings.unreachable_channels + ("log",)})


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("event_type,kind,channel", CASES)
def test_every_template_renders_with_the_sample(subs, policy_data, event_type, kind, channel,
                                                lang):
    ctx = sample_context(subs, kind, events.sample_payload(event_type), lang, policy_data)
    msg = render(kind, lang, channel, ctx, sms=subs.settings.sms)
    assert msg.text and "{{" not in msg.text and "None" not in msg.text
    if channel == "email":
        assert msg.subject and "\n" not in msg.subject
        assert msg.html.lstrip().startswith("<!DOCTYPE html>")
        assert f'lang="{lang}"' in msg.html
    else:
        assert msg.subject is None and msg.html is None
    if channel == "sms":
        # The samples must fit without falling back to the hard cut.
        assert len(sms_segments(msg.text, subs.settings.sms.signature)) <= subs.settings.sms.max_parts
        assert not msg.text.endswith("…")
    if lang == "zh-CN":
        assert re.search(r"[\u4e00-\u9fff]", msg.text)


def test_missing_variable_fails(subs, policy_data):
    ctx = build_context(events.sample_payload("case_feedback"), "zh-CN", subs.settings,
                        policy=policy_data)
    del ctx["result"]
    with pytest.raises(jinja2.UndefinedError):
        render("case_result", "zh-CN", "sms", ctx)


def test_no_orphan_and_no_missing_templates(subs):
    expected = {"_layout.email.html"}
    for kind, channels in subs.kinds().items():
        for lang in subs.settings.languages:
            for channel in channels | {"in_app"}:  # in_app is also the log fallback
                expected.update(template_names(kind, lang, channel).values())
    present = {p.name for p in TEMPLATE_DIR.iterdir() if p.is_file()}
    assert present - expected == set(), "templates no subscription uses"
    assert expected - present == set(), "templates a subscription needs"


def test_html_is_escaped_and_text_is_not(subs, policy_data):
    payload = events.sample_payload("case_feedback")
    payload["result"] = "<b>sealed</b> & fined"
    ctx = build_context(payload, "en", subs.settings, policy=policy_data)
    msg = render("case_result", "en", "email", ctx)
    assert "&lt;b&gt;sealed&lt;/b&gt; &amp; fined" in msg.html
    assert "<b>sealed</b> & fined" in msg.text


def test_result_sms_carries_rating_link_and_reply_code(subs, policy_data):
    ctx = build_context(events.sample_payload("case_feedback"), "zh-CN", subs.settings,
                        policy=policy_data)
    text = render("case_result", "zh-CN", "sms", ctx, sms=subs.settings.sms).text
    assert f"{subs.settings.public_base_url}/r/r-5b1e2c" in text
    assert ctx["reply_code"] in text and re.fullmatch(r"\d{6}", ctx["reply_code"])


def test_times_are_shown_in_local_time(subs, policy_data):
    ctx = build_context(events.sample_payload("task_assigned"), "zh-CN", subs.settings,
                        policy=policy_data)
    text = render("task_assigned", "zh-CN", "sms", ctx).text
    assert "2026-12-04 17:00" in text  # 09:00 UTC is 17:00 in Asia/Shanghai


def test_decline_reason_is_localised_from_policy(subs, policy_data):
    ctx = build_context(events.sample_payload("case_declined"), "zh-CN", subs.settings,
                        policy=policy_data)
    text = render("case_declined", "zh-CN", "sms", ctx).text
    assert "不属于环境保护部门职责" in text
    assert "Contact the market regulator" in text  # the operator's specific next step wins


def test_escalation_rung_label(subs, policy_data):
    ctx = build_context(events.sample_payload("task_escalated"), "zh-CN", subs.settings,
                        policy=policy_data)
    assert "挂账督办" in render("task_escalated", "zh-CN", "email", ctx).subject


def test_every_event_is_subscribed_or_has_a_reason_nobody_is_told(subs):
    told, untold = set(subs.rules), set(subs.unsubscribed)
    assert told & untold == set()
    assert set(events.CATALOGUE) - told - untold == set(), \
        "add a subscription in notify.yaml, or the reason nobody is told under unsubscribed"
    assert all(len(reason) > 20 for reason in subs.unsubscribed.values())


def test_joint_enforcement_events_reach_the_liaisons(subs):
    joint = ("case_shared", "joint_transfer_requested", "joint_transfer_answered",
             "joint_transfer_expired")
    for event_type in joint:
        planned = subs.plan(events.sample_payload(event_type))
        assert planned and {p.role for p in planned} == {"liaison"}, event_type
    (request,) = subs.plan(events.sample_payload("joint_transfer_requested"))
    assert request.scope == "360313" and "sms" in request.channels  # the receiving county
    (answer,) = subs.plan(events.sample_payload("joint_transfer_answered"))
    assert answer.scope == "360323"  # the sender hears the answer


def test_unreachable_notice_names_the_missed_message(subs, policy_data):
    payload = events.sample_payload("case_feedback")
    ctx = sample_context(subs, "complainant_unreachable", payload, "zh-CN", policy_data)
    text = render("complainant_unreachable", "zh-CN", "in_app", ctx).text
    assert "办理结果" in text and payload["case_no"] in text
    assert payload["rating_token"] not in text  # intake must not rate for the complainant


@pytest.mark.parametrize("bad,message", [
    ({"unsubscribed": {"no_such_event": "because"}}, "catalogue"),
    ({"unsubscribed": {"case_closed": "  "}}, "reason"),
    ({"unsubscribed": {"task_warning": "x" * 30},
      "subscriptions": {"task_warning": [{"role": "assignee", "kind": "task_warning",
                                          "channels": ["sms"]}]}}, "subscriptions too"),
])
def test_unsubscribed_is_validated(bad, message):
    with pytest.raises(ValueError, match=message):
        Subscriptions.from_dict(bad)


# Fields that real events may carry as null (no address given, no unit, no note, ...).
OPTIONAL = ("address", "enterprise", "unit", "note", "lat", "lon", "incident", "comment",
            "reported_by")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("event_type,kind,channel", CASES)
def test_absent_optional_fields_never_show_as_none(subs, policy_data, event_type, kind, channel,
                                                   lang):
    payload = events.sample_payload(event_type)
    payload.update({k: None for k in OPTIONAL if k in payload})
    msg = render(kind, lang, channel, sample_context(subs, kind, payload, lang, policy_data))
    for text in (msg.subject, msg.text, msg.html):
        assert "None" not in (text or "")
