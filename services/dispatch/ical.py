"""Rotating-host roster (轮值表) for people: iCalendar (RFC 5545) export and a printable table.

The iCalendar text is written here rather than with a library: the subset needed (all-day
VEVENTs) is small, and the rules that matter are kept explicitly: CRLF line ends, TEXT escaping
(backslash, semicolon, comma, newline) and folding of content lines longer than 75 octets at
UTF-8 character boundaries (RFC 5545 §3.1, §3.3.11). UIDs derive from the agreement, the date
and the host, so re-exporting the same roster updates calendar entries instead of duplicating
them.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Sequence

import jinja2

from services.dispatch.joint import Agreement, Meeting, Term

PRODID = "-//envgrid//roster//ZH"
UID_DOMAIN = "envgrid"
MAX_OCTETS = 75
MEETING_LABELS = {"regular": "定期会商", "requested": "联合会商"}


def escape_text(value: str) -> str:
    """RFC 5545 TEXT escaping; CR/LF pairs become one ``\\n``."""
    value = str(value).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")


def fold(line: str) -> str:
    """Fold one content line into chunks of at most 75 octets, joined by CRLF + space.

    Splits only between characters, so a multi-byte UTF-8 character (all of Chinese) is never
    cut; a continuation's leading space counts towards its 75 octets.
    """
    out, current, size = [], [], 0
    limit = MAX_OCTETS
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > limit:
            out.append("".join(current))
            current, size, limit = [" "], 1, MAX_OCTETS
        current.append(ch)
        size += n
    out.append("".join(current))
    return "\r\n".join(out)


def _date(d: date) -> str:
    return d.strftime("%Y%m%d")


def _stamp(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _names(agreement: Agreement) -> dict[str, str]:
    return {p.region_code: p.name for p in agreement.parties}


def _liaisons(agreement: Agreement, code: str) -> str:
    party = agreement.party(code)
    people = party.liaisons if party else []
    return "、".join(f"{x['name']} {x['phone']}" for x in people)


def _swap_note(term: Term, names: dict[str, str]) -> str:
    s = term.swap
    if s is None:
        return ""
    return (f"轮值调换：{names.get(s.a, s.a)}与{names.get(s.b, s.b)}，原因：{s.reason}，"
            f"记录人：{s.recorded_by}")


def _event(uid: str, stamp: str, first: date, last: date, summary: str, description: str,
           categories: str, busy: bool) -> list[str]:
    return [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{stamp}",
        f"DTSTART;VALUE=DATE:{_date(first)}",
        # All-day DTEND is exclusive: the day after the last day.
        f"DTEND;VALUE=DATE:{_date(last + timedelta(days=1))}",
        f"SUMMARY:{escape_text(summary)}",
        f"DESCRIPTION:{escape_text(description)}",
        f"CATEGORIES:{escape_text(categories)}",
        # A term spans weeks and must not block calendars; a meeting day does.
        f"TRANSP:{'OPAQUE' if busy else 'TRANSPARENT'}",
        "END:VEVENT",
    ]


def roster_to_ics(agreement: Agreement, terms: Sequence[Term], meetings: Sequence[Meeting], *,
                  now: datetime | None = None) -> str:
    """A VCALENDAR with one all-day VEVENT per term (spanning it) and one per meeting.

    ``now`` is the DTSTAMP; by default midnight UTC of the agreement's start, so the same
    roster always exports to the same text.
    """
    names = _names(agreement)
    stamp = _stamp(now or datetime.combine(agreement.start, time(0), tzinfo=timezone.utc))
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(agreement.name + ' 轮值表')}",
    ]
    for term in terms:
        host = names.get(term.host_region, term.host_region)
        desc = [f"{agreement.name}", f"轮值主持方：{host}（{term.host_region}）",
                f"轮值期：{term.period_start.isoformat()} 至 {term.period_end.isoformat()}", "职责："]
        desc += [f"{i}. {d}" for i, d in enumerate(term.duties, 1)]
        if _liaisons(agreement, term.host_region):
            desc.append(f"联络员：{_liaisons(agreement, term.host_region)}")
        if term.swap:
            desc.append(_swap_note(term, names))
        lines += _event(
            f"term-{agreement.id}-{_date(term.period_start)}@{UID_DOMAIN}", stamp,
            term.period_start, term.period_end, f"轮值主持：{host}（{agreement.name}）",
            "\n".join(desc), "轮流坐庄", busy=False)
    seen: dict[tuple, int] = {}
    for m in sorted(meetings, key=lambda m: (m.date, m.host_region, m.kind)):
        host = names.get(m.host_region, m.host_region)
        key = (m.date, m.host_region, m.kind)
        seen[key] = seen.get(key, 0) + 1
        # Two meetings of one host on one day stay distinct, and stable in sorted order.
        suffix = "" if seen[key] == 1 else f"-{seen[key]}"
        label = MEETING_LABELS.get(m.kind, m.kind)
        desc = f"{agreement.name}\n{label}，主持：{host}（{m.host_region}）"
        if _liaisons(agreement, m.host_region):
            desc += f"\n联络员：{_liaisons(agreement, m.host_region)}"
        lines += _event(
            f"meeting-{agreement.id}-{_date(m.date)}-{m.host_region}-{m.kind}{suffix}"
            f"@{UID_DOMAIN}", stamp, m.date, m.date, f"{label}（主持：{host}）", desc, label,
            busy=True)
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


_TABLE = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(
    """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>{{ agreement.name }} 轮值表</title>
<style>
  @page { size: A4 landscape; margin: 15mm; }
  body { font-family: "SimSun", "Songti SC", "Noto Serif CJK SC", serif;
         font-size: 11pt; color: #000; }
  h1 { font-size: 16pt; text-align: center; margin: 0 0 4mm; }
  p.parties { text-align: center; margin: 0 0 6mm; }
  table { width: 100%; border-collapse: collapse; }
  th, td { border: 0.5pt solid #000; padding: 2mm 3mm; vertical-align: top; text-align: left; }
  th { background: #eee; }
  td.period { white-space: nowrap; }
  ol { margin: 0; padding-left: 5mm; }
  .note { font-size: 9pt; }
  @media print {
    thead { display: table-header-group; }  /* header repeated on each page */
    tr { page-break-inside: avoid; break-inside: avoid; }
    th { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  }
</style>
</head>
<body>
<h1>{{ agreement.name }} 轮值表</h1>
<p class="parties">成员单位：
{%- for p in agreement.parties %}{{ p.name }}（{{ p.region_code }}）
{%- if not loop.last %}、{% endif %}{% endfor %}</p>
<table>
<thead><tr><th>轮值期</th><th>轮值主持方</th><th>职责</th><th>联络员</th><th>备注</th></tr></thead>
<tbody>
{% for row in rows %}
<tr>
<td class="period">{{ row.term.period_start.isoformat() }} 至
  {{- " " ~ row.term.period_end.isoformat() }}</td>
<td>{{ row.host }}（{{ row.term.host_region }}）</td>
<td><ol>{% for d in row.term.duties %}<li>{{ d }}</li>{% endfor %}</ol></td>
<td>{{ row.liaisons }}</td>
<td class="note">{{ row.note }}</td>
</tr>
{% endfor %}
</tbody>
</table>
</body>
</html>
""")


def roster_table_html(agreement: Agreement, terms: Sequence[Term]) -> str:
    """A printable HTML roster: period, host, duties, liaisons, swaps (A4 landscape)."""
    names = _names(agreement)
    rows = [{"term": t, "host": names.get(t.host_region, t.host_region),
             "liaisons": _liaisons(agreement, t.host_region), "note": _swap_note(t, names)}
            for t in terms]
    return _TABLE.render(agreement=agreement, rows=rows)
