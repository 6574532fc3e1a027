"""Notification planning and rendering (通知规划与模板渲染): pure functions, no broker, no database.

The flow the notify service runs for each event:

1. ``subs.plan(payload)``: which recipient roles get which message kind by which channels, and
   whether it is urgent (紧急, bypasses quiet hours 免打扰时段). Rules are data in
   ``infra/config/notify.yaml``.
2. The service resolves each role to a ``Contact`` (``resolve(role, payload)``) and calls
   ``choose_channels(planned.channels, contact)``.
3. ``build_context(payload, lang, subs.settings, policy=...)`` then
   ``render(kind, lang, channel, context, sms=subs.settings.sms)`` per channel.
4. ``is_quiet`` / ``release_time``, ``RateLimiter.allowed`` and ``backoff`` decide when to send.

Confidentiality (举报人保密): a context is built only from the fields the event catalogue lists
for the event type, so nothing a producer slips into a payload reaches a template, and phone
numbers found in free text (a description often contains one) are masked before rendering.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable
from zoneinfo import ZoneInfo

import jinja2
import yaml

from services.common import events
from services.common.config import ROOT
from services.common.phones import can_receive_sms, parse_phone
from services.common.privacy import mask_text

ROLES = ("assignee", "complainant", "grid_chief", "supervisor", "intake", "dispatcher", "reporter",
         "liaison")
CHANNELS = ("sms", "email", "in_app", "log")
UNREACHABLE = "unreachable"
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
ELLIPSIS = "…"

# Roles found within a grid or region; the field that names it unless the rule sets `scope`.
_DEFAULT_SCOPE = {"grid_chief": "grid_code", "supervisor": "region_code", "intake": "region_code",
                  "liaison": "region_code"}


def default_path() -> Path:
    """``ENVGRID_NOTIFY_CONFIG`` or ``infra/config/notify.yaml``."""
    return Path(os.environ.get("ENVGRID_NOTIFY_CONFIG", ROOT / "infra" / "config" / "notify.yaml"))


# --- settings -------------------------------------------------------------------------------

@dataclass(frozen=True)
class SmsRules:
    """SMS length rules (短信长度): signature, most parts, which fields may be shortened."""
    signature: str = ""
    max_parts: int = 4
    shorten_fields: tuple[str, ...] = ("description",)


@dataclass(frozen=True)
class NotifySettings:
    default_language: str
    languages: tuple[str, ...]
    timezone: str
    quiet_start: time
    quiet_end: time
    rate_max: int
    rate_window: timedelta
    rate_exempt_urgent: bool
    backoff: tuple[timedelta, ...]
    max_attempts: int
    sms: SmsRules
    public_base_url: str
    rating_link: str
    tracking_link: str
    reply_code_length: int
    reply_code_valid: timedelta = timedelta(days=15)
    # Told to the intake desk when a complainant's message can go by no channel (回电告知).
    unreachable_kind: str | None = None
    unreachable_channels: tuple[str, ...] = ("in_app",)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _hhmm(text: str) -> time:
    hours, minutes = str(text).split(":")
    return time(int(hours), int(minutes))


def _parse_settings(data: dict) -> NotifySettings:
    quiet = data.get("quiet_hours") or {}
    rate = data.get("rate_limit") or {}
    retry = data.get("retry") or {}
    sms = data.get("sms") or {}
    links = data.get("links") or {}
    reply = data.get("reply_code") or {}
    unreachable = data.get("complainant_unreachable") or {}
    steps = tuple(timedelta(seconds=int(s)) for s in retry.get("backoff_seconds", (30, 120, 600, 3600)))
    if not steps:
        raise ValueError("notify config: retry.backoff_seconds must not be empty")
    settings = NotifySettings(
        default_language=data.get("default_language", "zh-CN"),
        languages=tuple(data.get("languages", ("zh-CN", "en"))),
        timezone=data.get("timezone", "Asia/Shanghai"),
        quiet_start=_hhmm(quiet.get("start", "22:00")),
        quiet_end=_hhmm(quiet.get("end", "07:30")),
        rate_max=int(rate.get("max", 10)),
        rate_window=timedelta(minutes=int(rate.get("window_minutes", 60))),
        rate_exempt_urgent=bool(rate.get("exempt_urgent", True)),
        backoff=steps,
        max_attempts=int(retry.get("max_attempts", 5)),
        sms=SmsRules(signature=sms.get("signature", ""), max_parts=int(sms.get("max_parts", 4)),
                     shorten_fields=tuple(sms.get("shorten_fields", ("description",)))),
        public_base_url=str(links.get("public_base_url", "")).rstrip("/"),
        rating_link=links.get("rating", "{base}/r/{rating_token}"),
        tracking_link=links.get("tracking", "{base}/track?case={case_no}"),
        reply_code_length=int(reply.get("length", 6)),
        reply_code_valid=timedelta(days=float(reply.get("valid_days", 15))),
        unreachable_kind=unreachable.get("kind"),
        unreachable_channels=tuple(unreachable.get("channels") or ("in_app",)),
    )
    if settings.default_language not in settings.languages:
        raise ValueError("notify config: default_language must be one of languages")
    if settings.rate_max < 1 or settings.max_attempts < 1 or settings.sms.max_parts < 1:
        raise ValueError("notify config: rate_limit.max, retry.max_attempts, sms.max_parts >= 1")
    if not 4 <= settings.reply_code_length <= 8:
        raise ValueError("notify config: reply_code.length must be 4-8")
    if settings.reply_code_valid <= timedelta(0):
        raise ValueError("notify config: reply_code.valid_days must be positive")
    if set(settings.unreachable_channels) - set(CHANNELS):
        raise ValueError(f"notify config: complainant_unreachable.channels must be in {CHANNELS}")
    ZoneInfo(settings.timezone)  # fail at load, not at 22:00
    return settings


def _settings_of(cfg) -> NotifySettings:
    # Accept the loaded Subscriptions too, so callers need not reach into .settings.
    return cfg.settings if isinstance(cfg, Subscriptions) else cfg


# --- subscriptions and plan -----------------------------------------------------------------

@dataclass(frozen=True)
class Planned:
    """One planned notification (待发通知): a role, a message kind, its channels, urgency.

    ``scope`` is the grid or region code the role is resolved within (grid_chief, supervisor,
    intake, liaison), None for roles that name a person (assignee, complainant, reporter).
    """
    role: str
    kind: str
    channels: tuple[str, ...]
    urgent: bool
    scope: str | None = None


@dataclass(frozen=True)
class _Rule:
    role: str
    kind: str
    channels: tuple[str, ...]
    urgent: bool | dict
    when: dict
    scope: str | None


def _matches(condition: dict, payload: dict) -> bool:
    for key, wanted in condition.items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if key not in payload or payload[key] not in allowed:
            return False
    return True


class Subscriptions:
    """The subscription table (订阅规则) and settings read from ``notify.yaml``."""

    def __init__(self, rules: dict[str, list[_Rule]], settings: NotifySettings,
                 unsubscribed: dict[str, str] | None = None):
        self.rules = rules
        self.settings = settings
        # Event types deliberately told to nobody, with the reason (checked against the catalogue).
        self.unsubscribed = dict(unsubscribed or {})

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "Subscriptions":
        data = yaml.safe_load(Path(path or default_path()).read_text(encoding="utf-8")) or {}
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict) -> "Subscriptions":
        """Parse and validate; every problem is listed in one ValueError (a deploy error)."""
        settings = _parse_settings(data.get("settings") or {})
        problems: list[str] = []
        rules: dict[str, list[_Rule]] = {}
        for event_type, entries in (data.get("subscriptions") or {}).items():
            spec = events.CATALOGUE.get(event_type)
            if spec is None:
                problems.append(f"{event_type}: not in the event catalogue")
                continue
            known = set(spec.fields) | set(events.ENVELOPE)
            for i, entry in enumerate(entries or ()):
                where = f"{event_type}[{i}]"
                role, kind = entry.get("role"), entry.get("kind")
                channels = tuple(entry.get("channels") or ())
                if role not in ROLES:
                    problems.append(f"{where}: unknown role {role!r}")
                if not kind or not re.fullmatch(r"[a-z][a-z0-9_]*", str(kind)):
                    problems.append(f"{where}: kind must be snake_case, got {kind!r}")
                if not channels or set(channels) - set(CHANNELS):
                    problems.append(f"{where}: channels must be a non-empty subset of {CHANNELS}")
                when = entry.get("when") or {}
                urgent = entry.get("urgent", False)
                conditions = [when] + ([urgent] if isinstance(urgent, dict) else [])
                for key in (k for c in conditions for k in c):
                    if key not in known:
                        problems.append(f"{where}: condition on {key!r}, not a field of the event")
                scope = entry.get("scope") or _DEFAULT_SCOPE.get(role)
                if scope and scope not in known:
                    problems.append(f"{where}: scope {scope!r} is not a field of the event")
                rules.setdefault(event_type, []).append(
                    _Rule(role, kind, channels, urgent, when, scope))
        unsubscribed = {}
        for event_type, reason in (data.get("unsubscribed") or {}).items():
            if event_type not in events.CATALOGUE:
                problems.append(f"unsubscribed {event_type}: not in the event catalogue")
            elif event_type in rules:
                problems.append(f"unsubscribed {event_type}: has subscriptions too")
            elif not isinstance(reason, str) or not reason.strip():
                problems.append(f"unsubscribed {event_type}: give the reason nobody is told")
            else:
                unsubscribed[event_type] = reason.strip()
        if problems:
            raise ValueError("notify config: " + "; ".join(problems))
        return cls(rules, settings, unsubscribed)

    def plan(self, event_payload: dict) -> list[Planned]:
        """The notifications an event calls for, in config order.

        The complainant is planned only when ``has_complainant`` is literally true: anonymous
        reports and events that do not say so never reach anyone as "complainant".
        """
        out = []
        for rule in self.rules.get(event_payload.get("event_type"), ()):
            if rule.role == "complainant" and event_payload.get("has_complainant") is not True:
                continue
            if not _matches(rule.when, event_payload):
                continue
            urgent = (_matches(rule.urgent, event_payload) if isinstance(rule.urgent, dict)
                      else bool(rule.urgent))
            scope = event_payload.get(rule.scope) if rule.scope else None
            # A list (an agreement's parties) means the role in each of them.
            for one in scope if isinstance(scope, list) else [scope]:
                out.append(Planned(rule.role, rule.kind, rule.channels, urgent, one))
        return out

    def kinds(self) -> dict[str, set[str]]:
        """Every message kind with the channels it is sent by (for tests and the preview)."""
        found: dict[str, set[str]] = {}
        for entries in self.rules.values():
            for rule in entries:
                found.setdefault(rule.kind, set()).update(rule.channels)
        notice = self.settings.unreachable_kind
        if notice:
            found.setdefault(notice, set()).update(self.settings.unreachable_channels)
        return found

    def unreachable_notice(self, payload: dict, missed: Planned) -> Planned | None:
        """What the intake desk of the event's region is told when ``missed`` (a complainant's
        message) can reach them by no channel: a landline-only or a service number, no e-mail."""
        kind = self.settings.unreachable_kind
        if not kind or missed.role != "complainant" or not payload.get("region_code"):
            return None
        return Planned("intake", kind, self.settings.unreachable_channels, False,
                       payload["region_code"])

    def events_for(self, kind: str) -> list[str]:
        """Event types whose rules produce ``kind`` (for the unreachable notice: the events
        that plan a message to a complainant)."""
        if kind == self.settings.unreachable_kind:
            return [e for e, entries in self.rules.items()
                    if any(r.role == "complainant" for r in entries)]
        return [e for e, entries in self.rules.items() if any(r.kind == kind for r in entries)]


# --- contacts and channel choice ------------------------------------------------------------

@dataclass(frozen=True)
class Contact:
    """Where a resolved recipient can be reached (联系方式). Never logged unmasked."""
    phone: str | None = None
    email: str | None = None
    user_id: str | None = None   # platform account: enables in-app messages
    lang: str | None = None


def _available(channel: str, contact: Contact) -> bool:
    if channel == "sms":
        return bool(contact.phone) and can_receive_sms(parse_phone(contact.phone))
    if channel == "email":
        return bool(contact.email)
    if channel == "in_app":
        return bool(contact.user_id)
    return channel == "log"


def choose_channels(planned_channels: Iterable[str], contact: Contact | None) -> list[str]:
    """The planned channels this contact can receive, in plan order.

    When SMS was planned but the number cannot take SMS (a fixed line from a hotline call, a
    service number), fall back to in_app, else email, if not already chosen. When nothing fits,
    return ``[UNREACHABLE]`` so the service records it (intake may then phone back).
    """
    planned = list(dict.fromkeys(planned_channels))
    if contact is None:
        return [UNREACHABLE]
    chosen = [c for c in planned if _available(c, contact)]
    if "sms" in planned and "sms" not in chosen:
        for fallback in ("in_app", "email"):
            if fallback not in chosen and _available(fallback, contact):
                chosen.append(fallback)
                break
    return chosen or [UNREACHABLE]


# --- context --------------------------------------------------------------------------------

def scrub_phones(text: str) -> str:
    """Mask every phone number (and e-mail address) in free text (描述中的联系方式)."""
    return mask_text(text)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_phones(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def reply_code(rating_token: str, length: int = 6) -> str:
    """SMS reply code (回复码) for a rating request: digits, derived from the token.

    Digits because a reply is typed on a phone keypad; derived (sha256) so nothing extra is
    stored, and the token cannot be recovered from it. Collisions only matter among one
    number's open requests, which the service matches by sender number plus code.
    """
    digest = int(hashlib.sha256(rating_token.encode("utf-8")).hexdigest(), 16)
    return str(digest % 10 ** length).zfill(length)


def _short_lang(lang: str) -> str:
    return lang.split("-")[0]


def _label(entry: Any, lang: str, fallback: Any = None) -> Any:
    if isinstance(entry, dict):
        return entry.get(_short_lang(lang), entry.get(lang, fallback))
    return fallback


def build_context(payload: dict, lang: str, settings, *, policy: dict | None = None) -> dict:
    """The template context (模板上下文) for one event in one language.

    Only catalogued fields of the event type are copied (see module docstring), phones in free
    text are masked, and these are added: ``lang``, ``tz``, ``categories`` (names in ``lang``),
    ``links`` (``tracking`` when there is a case_no, ``rating`` when there is a rating_token),
    ``reply_code``, and for some events ``reason_label``/``next_step_label`` (decline reasons)
    and ``rung_label`` (escalation ladder), taken from ``policy`` (``Policy.data``).
    """
    settings = _settings_of(settings)
    if policy is None:
        from services.common.config import policy as load_policy
        policy = load_policy().data
    spec = events.CATALOGUE.get(payload.get("event_type"))
    if spec is None:
        raise ValueError(f"unknown event type {payload.get('event_type')!r}")
    allowed = set(spec.fields) | set(events.ENVELOPE)
    ctx: dict[str, Any] = {k: _scrub(v) for k, v in payload.items() if k in allowed}
    ctx["lang"] = lang
    ctx["tz"] = settings.timezone

    codes = payload.get("category") or []
    codes = [codes] if isinstance(codes, str) else list(codes)
    names = policy.get("categories") or {}
    ctx["categories"] = [_label(names.get(c), lang, c) for c in codes]

    base = settings.public_base_url
    links = {}
    if payload.get("case_no"):
        links["tracking"] = settings.tracking_link.format(base=base, case_no=payload["case_no"])
    if payload.get("rating_token"):
        links["rating"] = settings.rating_link.format(base=base,
                                                      rating_token=payload["rating_token"])
        ctx["reply_code"] = reply_code(payload["rating_token"], settings.reply_code_length)
    ctx["links"] = links

    if "reason_code" in payload:
        reason = (policy.get("decline_reasons") or {}).get(payload["reason_code"]) or {}
        ctx["reason_label"] = _label(reason, lang, ctx.get("reason_text"))
        ctx["next_step_label"] = _label(reason.get("next_step"), lang, ctx.get("next_step"))
    if "rung_name" in payload:
        rungs = {r.get("name"): r for r in policy.get("escalation") or ()}
        rung = rungs.get(payload["rung_name"], {})
        ctx["rung_label"] = rung.get("zh") if _short_lang(lang) == "zh" and rung.get("zh") \
            else str(payload["rung_name"]).replace("_", " ")
    return ctx


def sample_context(subs: "Subscriptions", kind: str, payload: dict, lang: str,
                   policy: dict | None = None) -> dict:
    """The context ``kind`` is rendered with for ``payload``, as the service builds it (the
    unreachable notice also names the complainant's message it replaces)."""
    ctx = build_context(payload, lang, subs.settings, policy=policy)
    if kind == subs.settings.unreachable_kind:
        ctx["missed_kind"] = next((r.kind for r in subs.rules.get(payload["event_type"], ())
                                   if r.role == "complainant"), kind)
    return ctx


# --- rendering ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RenderedMessage:
    subject: str | None
    text: str
    html: str | None


@jinja2.pass_context
def _localtime(ctx, value: str | None) -> str:
    """ISO timestamp -> local 'YYYY-MM-DD HH:MM'; a bare date is shown as it is."""
    if not value:
        return ""
    text = str(value)
    if len(text) == 10:
        return text
    when = datetime.fromisoformat(text)
    return when.astimezone(ZoneInfo(ctx.get("tz") or "Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,  # a missing variable is a failure, not a blank
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        # An optional field a template prints without an {% if %}: blank, never "None".
        finalize=lambda value: "" if value is None else value,
    )
    env.filters["localtime"] = _localtime
    return env


_ENV = _environment()


def template_names(kind: str, lang: str, channel: str) -> dict[str, str]:
    """Template file names for a kind, language and channel.

    Scheme: ``{kind}.{lang}.sms.txt``, ``{kind}.{lang}.in_app.txt``, ``{kind}.{lang}.log.txt``
    (optional: falls back to the in_app text), and for email ``{kind}.{lang}.email.subject.txt``,
    ``{kind}.{lang}.email.txt`` (plain-text part) and ``{kind}.{lang}.email.html``.
    """
    if channel == "email":
        stem = f"{kind}.{lang}.email"
        return {"subject": f"{stem}.subject.txt", "text": f"{stem}.txt", "html": f"{stem}.html"}
    if channel == "log":
        own = f"{kind}.{lang}.log.txt"
        return {"text": own if (TEMPLATE_DIR / own).exists() else f"{kind}.{lang}.in_app.txt"}
    if channel in ("sms", "in_app"):
        return {"text": f"{kind}.{lang}.{channel}.txt"}
    raise ValueError(f"unknown channel {channel!r}")


def _render_one(name: str, context: dict) -> str:
    return _ENV.get_template(name).render(context).strip()


def render(kind: str, lang: str, channel: str, context: dict, *,
           sms: SmsRules | None = None) -> RenderedMessage:
    """Render one message. Raises ``jinja2.TemplateNotFound`` / ``jinja2.UndefinedError``.

    For ``channel == "sms"`` with ``sms`` rules the text is fitted to ``sms.max_parts``
    (see ``fit_sms``). The signature is not part of the text: the gateway adds it.
    """
    names = template_names(kind, lang, channel)
    if channel == "email":
        subject = " ".join(_render_one(names["subject"], context).split())
        return RenderedMessage(subject, _render_one(names["text"], context),
                               _render_one(names["html"], context))
    if channel == "sms" and sms is not None:
        return RenderedMessage(None, fit_sms(names["text"], context, sms), None)
    return RenderedMessage(None, _render_one(names["text"], context), None)


# --- SMS length -----------------------------------------------------------------------------

_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM7_EXTENDED = set("^{}\\[~]|€\f")  # sent as ESC + char: two septets each

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


def _is_gsm7(text: str) -> bool:
    return all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text)


def _units(ch: str, gsm7: bool) -> int:
    if gsm7:
        return 2 if ch in _GSM7_EXTENDED else 1
    return 2 if ord(ch) > 0xFFFF else 1  # outside the BMP: a UTF-16 surrogate pair


def sms_segments(text: str, signature: str = "") -> list[str]:
    """Split ``signature + text`` into the parts a Chinese SMS gateway bills (计费条数).

    Any character outside GSM 7-bit makes the whole message UCS-2: 70 characters fit in one
    SMS, 67 per part once concatenated (the UDH takes 3). Pure GSM-7: 160 / 153 septets, with
    ``^{}\\[~]|€`` counting two. A signature like 【萍乡生态环境】 is counted (and is itself
    UCS-2). Escape pairs and surrogate pairs are never split across parts.
    """
    full = signature + text
    if not full:
        return []
    gsm7 = _is_gsm7(full)
    single, part = (GSM7_SINGLE, GSM7_PART) if gsm7 else (UCS2_SINGLE, UCS2_PART)
    if sum(_units(ch, gsm7) for ch in full) <= single:
        return [full]
    parts, current, used = [], [], 0
    for ch in full:
        size = _units(ch, gsm7)
        if used + size > part:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += size
    parts.append("".join(current))
    return parts


def _fits(text: str, rules: SmsRules) -> bool:
    return len(sms_segments(text, rules.signature)) <= rules.max_parts


def fit_sms(template_name: str, context: dict, rules: SmsRules) -> str:
    """Render an SMS template so that it fits in ``rules.max_parts`` parts.

    Rule (短信超长处理): never send more than ``max_parts`` parts. If the full text is longer,
    shorten the free-text fields in ``rules.shorten_fields`` order (description first), each to
    the longest prefix + "…" that fits (binary search); a field that cannot help is cut to "…"
    and the next one is tried. Fixed parts (case number, links, reply code) stay intact. Only if
    even that is too long is the text cut at the capacity and ended with "…".
    """
    ctx = dict(context)
    text = _render_one(template_name, ctx)
    if _fits(text, rules):
        return text
    for name in rules.shorten_fields:
        value = ctx.get(name)
        if not isinstance(value, str) or not value:
            continue
        lo, hi, best = 0, len(value) - 1, None
        while lo <= hi:  # longest prefix that fits; rendered length grows with the prefix
            mid = (lo + hi) // 2
            candidate = _render_one(template_name, {**ctx, name: value[:mid].rstrip() + ELLIPSIS})
            if _fits(candidate, rules):
                best, lo = candidate, mid + 1
            else:
                hi = mid - 1
        if best is not None:
            return best
        ctx[name] = ELLIPSIS
        text = _render_one(template_name, ctx)
    # Last resort: hard cut to what max_parts can carry.
    gsm7 = _is_gsm7(rules.signature + text)
    capacity = rules.max_parts * (GSM7_PART if gsm7 else UCS2_PART) if rules.max_parts > 1 \
        else (GSM7_SINGLE if gsm7 else UCS2_SINGLE)
    capacity -= sum(_units(ch, gsm7) for ch in rules.signature) + 1
    out, used = [], 0
    for ch in text:
        used += _units(ch, gsm7)
        if used > capacity:
            break
        out.append(ch)
    return "".join(out).rstrip() + ELLIPSIS


# --- timing: quiet hours, backoff, rate limit -----------------------------------------------

def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")


def is_quiet(now: datetime, cfg, urgent: bool) -> bool:
    """True when a non-urgent message must wait (免打扰时段, local time of ``cfg.timezone``).

    The window may cross midnight (22:00-07:30); start == end means no quiet hours.
    """
    _require_aware(now)
    settings = _settings_of(cfg)
    if urgent or settings.quiet_start == settings.quiet_end:
        return False
    local = now.astimezone(settings.tz).time().replace(tzinfo=None)
    start, end = settings.quiet_start, settings.quiet_end
    if start < end:
        return start <= local < end
    return local >= start or local < end


def release_time(now: datetime, cfg) -> datetime:
    """When a message held at ``now`` may go: the end of the current quiet period (next morning),
    in UTC; ``now`` itself when it is not quiet time."""
    _require_aware(now)
    settings = _settings_of(cfg)
    if not is_quiet(now, settings, urgent=False):
        return now
    tz = settings.tz
    local = now.astimezone(tz)
    day = local.date()
    if local.time().replace(tzinfo=None) >= settings.quiet_end:  # evening: release tomorrow
        day += timedelta(days=1)
    return datetime.combine(day, settings.quiet_end, tzinfo=tz).astimezone(timezone.utc)


def backoff(attempt: int, cfg) -> timedelta | None:
    """Wait before the next attempt after ``attempt`` failed attempts (1 = the first failed).

    Steps come from ``retry.backoff_seconds``, the last repeating; None once ``attempt``
    reaches ``retry.max_attempts`` (give up: the service marks the delivery failed).
    """
    settings = _settings_of(cfg)
    if attempt < 1:
        raise ValueError("attempt counts failed attempts and starts at 1")
    if attempt >= settings.max_attempts:
        return None
    return settings.backoff[min(attempt, len(settings.backoff)) - 1]


@dataclass(frozen=True)
class RateDecision:
    """``bool(decision)`` is whether to send now; otherwise wait until ``next_allowed``.

    A bare ``True | datetime`` would be truthy either way, so the decision is an object.
    """
    allowed: bool
    next_allowed: datetime | None = None

    def __bool__(self) -> bool:
        return self.allowed


class RateLimiter:
    """Per-recipient rate limit (频次限制): at most ``rate_max`` sends in any rolling window."""

    @staticmethod
    def allowed(history_times: Iterable[datetime], now: datetime, cfg,
                urgent: bool = False) -> RateDecision:
        """Decide from the recipient's past send times; urgent messages are exempt if configured."""
        _require_aware(now)
        settings = _settings_of(cfg)
        if urgent and settings.rate_exempt_urgent:
            return RateDecision(True)
        since = now - settings.rate_window
        recent = sorted(t for t in history_times if since < t <= now)
        if len(recent) < settings.rate_max:
            return RateDecision(True)
        # The send that must age out before one more fits in the window.
        oldest_blocking = recent[len(recent) - settings.rate_max]
        return RateDecision(False, oldest_blocking + settings.rate_window)
