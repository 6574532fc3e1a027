"""Bulletin HTML to PDF in a child process: ``python -m services.ranking.pdf < page.html``.

WeasyPrint runs outside the service's process because the service runs on eventlet: in a
tpool thread, the logging WeasyPrint and fontTools do takes eventlet's green locks from a
real OS thread, which can deadlock every logging greenlet of the service. A child process
shares no locks, and a layout that runs away can be stopped without harm."""
from __future__ import annotations

import sys


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML  # heavy: loaded in the child only
    return HTML(string=html).write_pdf()


def main() -> int:
    html = sys.stdin.buffer.read().decode("utf-8")
    sys.stdout.buffer.write(html_to_pdf(html))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
