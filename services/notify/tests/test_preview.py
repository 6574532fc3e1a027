"""The preview CLI renders any kind with the catalogue sample."""
from __future__ import annotations

import pytest

from services.notify.preview import main


def test_preview_sms_prints_parts(capsys):
    assert main(["case_result", "--channel", "sms"]) == 0
    out = capsys.readouterr().out
    assert "已办结" in out and "SMS part(s)" in out and "【萍乡生态环境】" in out


def test_preview_email_in_english_with_explicit_event(capsys):
    assert main(["task_escalated", "--lang", "en", "--channel", "email",
                 "--event", "task_escalated"]) == 0
    out = capsys.readouterr().out
    assert "Subject: Overdue task T-9f2c1a" in out and "--- html ---" in out


def test_preview_unknown_kind_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no_such_kind"])
    assert exc.value.code == 2 and "known:" in capsys.readouterr().err


def test_preview_covers_joint_kinds_and_the_unreachable_notice(capsys):
    assert main(["joint_transfer_requested", "--channel", "sms"]) == 0
    assert "X-3c1d2e4f5a6b" in capsys.readouterr().out
    assert main(["complainant_unreachable", "--event", "case_feedback", "--lang", "en"]) == 0
    assert "result and rating request" in capsys.readouterr().out
