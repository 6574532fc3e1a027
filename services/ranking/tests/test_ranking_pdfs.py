"""Archived bulletins get their PDFs ahead of readers; one that will not render waits, longer
each time, and does not hold up the others (it used to be retried first on every tick)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from services.common.db import MessagingBase
from services.common.unit_of_work import UnitOfWork
from services.ranking import views
from services.ranking.models import Base, Bulletin

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)


class _Db:
    def __init__(self, engine):
        self.maker = sessionmaker(engine, expire_on_commit=False)

    def unit_of_work(self):
        return UnitOfWork(self.maker(), "ranking", NOW, None)


@pytest.fixture
def db(tmp_path, monkeypatch):
    engine = create_engine(f"sqlite:///{tmp_path / 'ranking.db'}")
    Base.metadata.create_all(engine)
    MessagingBase.metadata.create_all(engine)
    with sessionmaker(engine)() as session:
        for i, bid in enumerate(("monthly-2026-10-360300", "monthly-2026-09-360300")):
            session.add(Bulletin(id=bid, kind="monthly", period=bid[8:15], scope="360300",
                                 title=bid, published_at=NOW - timedelta(days=30 * i),
                                 html=f"<p>{bid}</p>", data={}))
        session.commit()
    monkeypatch.setattr(views, "_PDF_FAILURES", {})
    yield _Db(engine)
    engine.dispose()


def _pdfs(db):
    with db.unit_of_work() as uow:
        return {b.id: b.pdf for b in uow.session.scalars(select(Bulletin))}


def test_a_bulletin_that_fails_waits_and_the_next_one_gets_its_pdf(db, monkeypatch):
    tried = []

    def render(html):
        tried.append(html)
        if "2026-10" in html:
            raise views.PdfFailed("font missing")
        return b"%PDF-1.7 " + html.encode()

    monkeypatch.setattr(views, "render_pdf", render)
    clock = [1000.0]
    now = lambda: clock[0]  # noqa: E731
    views.prepare_pdfs(db, now=now)  # the newest first: it fails
    views.prepare_pdfs(db, now=now)  # not again at once: the older one's turn
    assert tried == ["<p>monthly-2026-10-360300</p>", "<p>monthly-2026-09-360300</p>"]
    assert _pdfs(db) == {"monthly-2026-10-360300": None,
                         "monthly-2026-09-360300": b"%PDF-1.7 <p>monthly-2026-09-360300</p>"}
    assert views.prepare_pdfs(db, now=now) == 0  # nothing to do until its pause is over

    clock[0] += views.PDF_RETRY_SECONDS[0]
    views.prepare_pdfs(db, now=now)  # tried again, fails again: the pause doubles
    assert len(tried) == 3
    clock[0] += views.PDF_RETRY_SECONDS[0]
    assert views.prepare_pdfs(db, now=now) == 0
    clock[0] += views.PDF_RETRY_SECONDS[0]

    monkeypatch.setattr(views, "render_pdf", lambda html: b"%PDF-1.7 fixed")
    views.prepare_pdfs(db, now=now)
    assert _pdfs(db)["monthly-2026-10-360300"] == b"%PDF-1.7 fixed"
    assert views._PDF_FAILURES == {}
