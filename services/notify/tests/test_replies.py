"""Parsing of SMS replies to the result message (满意度回复)."""
from __future__ import annotations

import pytest

from services.common.errors import ValidationError
from services.notify.replies import parse_reply


@pytest.mark.parametrize("text,expected", [
    ("482913 5", ("482913", 5, None)),
    ("  482913,4 处理及时  ", ("482913", 4, "处理及时")),
    ("482913，1 还是有味道", ("482913", 1, "还是有味道")),
    ("４８２９１３　３", ("482913", 3, None)),          # full-width digits and space
    ("482913#2", ("482913", 2, None)),
])
def test_reply_is_code_score_and_comment(text, expected):
    assert parse_reply(text, 6) == expected


@pytest.mark.parametrize("text", ["", "5", "482913", "482913 6", "482913 0", "482913 55",
                                  "48291 5", "4829130 5", "好评 482913 5", "482913五"])
def test_anything_else_is_an_invalid_reply(text):
    with pytest.raises(ValidationError) as exc:
        parse_reply(text, 6)
    assert exc.value.code == "invalid_reply" and exc.value.field == "text"


def test_comment_is_bounded():
    assert len(parse_reply("482913 5 " + "好" * 5000, 6)[2]) == 1000
