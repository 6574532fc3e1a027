"""The public rating page behind the short link of the result message (``/r/<token>``).

Server-rendered with a plain form, so it works on any phone without JavaScript. The token in
the link is the only credential; the page never shows anything of the case but its number.
Chinese by default, English when the browser asks for it first (Accept-Language) or ``?lang=en``.
"""
from __future__ import annotations

import logging

import eventlet
import jinja2
from nameko.exceptions import RemoteError
from werkzeug.wrappers import Response

from services.common.errors import REMOTE_TYPES, DomainError
from services.gateway.pages import _security_headers

log = logging.getLogger(__name__)
RPC_SECONDS = 10

TEXT = {
    "zh-CN": {"title": "办理结果评价", "intro": "请对案件 {case_no} 的办理结果进行评价。",
              "score": "评分", "comment": "意见（可选）", "submit": "提交评价",
              "scores": {5: "5 非常满意", 4: "4 满意", 3: "3 基本满意", 2: "2 不满意",
                         1: "1 非常不满意"},
              "thanks": "感谢您的评价。评价为不满意的，我们将重新核查。",
              "unknown": "评价链接无效。", "used": "该案件已评价，感谢您的参与。",
              "expired": "评价链接已过期。如有意见请拨打 12369。",
              "invalid": "请选择 1 到 5 分。", "error": "暂时无法提交，请稍后再试。"},
    "en": {"title": "Rate the result", "intro": "Please rate how case {case_no} was handled.",
           "score": "Score", "comment": "Comment (optional)", "submit": "Send",
           "scores": {5: "5 very satisfied", 4: "4 satisfied", 3: "3 acceptable",
                      2: "2 dissatisfied", 1: "1 very dissatisfied"},
           "thanks": "Thank you. A poor rating makes us check the case again.",
           "unknown": "This rating link is not valid.",
           "used": "This case has been rated already. Thank you.",
           "expired": "This rating link has expired. Questions: call 12369.",
           "invalid": "Please choose a score from 1 to 5.",
           "error": "This could not be sent now; please try again later."},
}

# Error codes of notify and complaints -> (message key, HTTP status).
_OUTCOMES = {"rating_link_unknown": ("unknown", 404), "reply_code_used": ("used", 409),
             "reply_code_expired": ("expired", 410), "invalid_state": ("used", 409)}

_PAGE = jinja2.Environment(autoescape=True).from_string("""<!doctype html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ t.title }}</title>
<link rel="stylesheet" href="/static/app.css">
</head>
<body>
<main id="main" class="page">
<h1>{{ t.title }}</h1>
{% if message %}<p class="card" role="status">{{ message }}</p>{% endif %}
{% if form %}
<form method="post" class="card">
  <p>{{ t.intro.format(case_no=case_no) }}</p>
  <fieldset><legend>{{ t.score }}</legend>
  {% for value, label in t.scores.items() %}
    <label><input type="radio" name="score" value="{{ value }}" required> {{ label }}</label><br>
  {% endfor %}
  </fieldset>
  <p><label for="comment">{{ t.comment }}</label><br>
  <textarea id="comment" name="comment" maxlength="1000" rows="3"></textarea></p>
  <button type="submit" class="primary">{{ t.submit }}</button>
</form>
{% endif %}
</main>
</body>
</html>
""")


def language(request) -> str:
    wanted = request.args.get("lang") or request.headers.get("Accept-Language", "")
    return "en" if wanted.strip().lower().startswith("en") else "zh-CN"


def _page(request, status: int, *, message: str | None = None, form: bool = False,
          case_no: str | None = None) -> Response:
    lang = language(request)
    html = _PAGE.render(lang=lang, t=TEXT[lang], message=message, form=form, case_no=case_no)
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return _security_headers(response)


def _call(fn, *args):
    with eventlet.Timeout(RPC_SECONDS):
        return fn(*args)


def _token_ok(token: str) -> bool:
    return 8 <= len(token) <= 64 and all(c.isalnum() or c in "-_" for c in token)


def show(service, request, token: str) -> Response:
    t = TEXT[language(request)]
    if not _token_ok(token):
        return _page(request, 404, message=t["unknown"])
    try:
        state = _call(service.notify.rating_link, token)
    except (RemoteError, eventlet.Timeout):
        log.warning("rating page: notify did not answer")
        return _page(request, 503, message=t["error"])
    if state["state"] == "open":
        return _page(request, 200, form=True, case_no=state["case_no"])
    key = {"unknown": "unknown", "used": "used", "expired": "expired"}[state["state"]]
    return _page(request, {"unknown": 404, "used": 409, "expired": 410}[key], message=t[key])


def submit(service, request, token: str) -> Response:
    t = TEXT[language(request)]
    if not _token_ok(token):
        return _page(request, 404, message=t["unknown"])
    score = request.form.get("score", "")
    comment = (request.form.get("comment") or "").strip()[:1000] or None
    if score not in ("1", "2", "3", "4", "5"):
        return _page(request, 422, message=t["invalid"])
    try:
        _call(service.notify.rate_by_link, token, int(score), comment)
    except RemoteError as exc:
        err = DomainError.from_remote(exc.value) if exc.exc_type in REMOTE_TYPES else None
        key, status = _OUTCOMES.get(err.code if err else "", ("error", 502))
        return _page(request, status, message=t[key])
    except eventlet.Timeout:
        return _page(request, 503, message=t["error"])
    return _page(request, 200, message=t["thanks"])
