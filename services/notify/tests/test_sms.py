"""SMS part counting as a Chinese gateway bills it, and the shorten rule."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from services.common import events
from services.notify.messages import (SmsRules, build_context, fit_sms, render, sms_segments,
                                      template_names)

SIG = "【萍乡生态环境】"  # 8 characters, UCS-2


def test_empty():
    assert sms_segments("") == []


@pytest.mark.parametrize("n,parts", [(70, 1), (71, 2), (134, 2), (135, 3), (268, 4), (269, 5)])
def test_chinese_70_then_67(n, parts):
    segs = sms_segments("中" * n)
    assert len(segs) == parts
    if parts > 1:
        assert all(len(s) <= 67 for s in segs) and len(segs[0]) == 67


@pytest.mark.parametrize("n,parts", [(62, 1), (63, 2)])
def test_signature_counts(n, parts):
    segs = sms_segments("中" * n, SIG)
    assert len(segs) == parts and segs[0].startswith(SIG)


@pytest.mark.parametrize("n,parts", [(160, 1), (161, 2), (306, 2), (307, 3)])
def test_gsm7_160_then_153(n, parts):
    segs = sms_segments("a" * n)
    assert len(segs) == parts
    if parts > 1:
        assert len(segs[0]) == 153


def test_one_chinese_character_makes_it_ucs2():
    assert len(sms_segments("a" * 69 + "中")) == 1
    assert len(sms_segments("a" * 70 + "中")) == 2
    assert len(sms_segments("a" * 100, SIG)) == 2  # a Chinese signature turns English into UCS-2


def test_gsm7_extension_characters_count_twice_and_are_not_split():
    assert len(sms_segments("€" * 80)) == 1
    segs = sms_segments("a" + "€" * 80)  # 161 septets
    assert [len(s) for s in segs] == [77, 4]  # 1 + 76*2 = 153 septets; no split escape pair


def test_emoji_takes_two_units_and_surrogates_stay_together():
    assert len(sms_segments("😀" * 35)) == 1
    segs = sms_segments("😀" * 36)
    assert [len(s) for s in segs] == [33, 3]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("abc €中文，。😀\n"), max_size=400))
def test_parts_rejoin_and_respect_limits(text):
    segs = sms_segments(text, SIG)
    assert "".join(segs) == SIG + text
    if len(segs) > 1:
        assert all(len(s.encode("utf-16-le")) // 2 <= 67 for s in segs)


def _ctx(policy_data, subs, event_type, **overrides):
    payload = dict(events.sample_payload(event_type), **overrides)
    return build_context(payload, "zh-CN", subs.settings, policy=policy_data)


def test_long_description_is_shortened_not_the_links(subs, policy_data):
    ctx = _ctx(policy_data, subs, "case_scheduled", description="夜间化工厂异味严重" * 60)
    rules = subs.settings.sms
    text = render("case_receipt", "zh-CN", "sms", ctx, sms=rules).text
    assert len(sms_segments(text, rules.signature)) == rules.max_parts
    assert "…" in text and ctx["links"]["tracking"] in text and ctx["case_no"] in text
    # Longest prefix: one more character of the description would not fit.
    kept = text.split("“")[1].split("…")[0]
    longer = dict(ctx, description=ctx["description"][:len(kept) + 1] + "…")
    name = template_names("case_receipt", "zh-CN", "sms")["text"]
    assert len(sms_segments(fit_sms(name, longer, SmsRules(rules.signature, 99)),
                            rules.signature)) > rules.max_parts


def test_short_text_is_untouched(subs, policy_data):
    ctx = _ctx(policy_data, subs, "case_scheduled")
    rules = subs.settings.sms
    assert render("case_receipt", "zh-CN", "sms", ctx, sms=rules).text == \
        render("case_receipt", "zh-CN", "sms", ctx).text


def test_hard_cut_is_the_last_resort(subs, policy_data):
    ctx = _ctx(policy_data, subs, "case_feedback")
    rules = SmsRules(signature=SIG, max_parts=1, shorten_fields=("result",))
    text = render("case_result", "zh-CN", "sms", ctx, sms=rules).text
    assert len(sms_segments(text, SIG)) == 1 and text.endswith("…")
