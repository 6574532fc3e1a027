"""The migration that adds the acceptance sweep gives cases still undecided the instants the sweep
watches (the same as a new case would get under the default policy); decided cases get none."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from alembic import command
from sqlalchemy import column, create_engine, select, table, text

from services.common.config import Policy
from services.common.db import UTCDateTime
from services.common.migrations import alembic_config
from services.complaints import domain
from tests.fixtures import create_databases, drop_databases

BEFORE = "b8694c234468"
RECEIVED = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'complaints.db'}"
        return
    urls = create_databases(uuid.uuid4().hex[:8], services=("complaints",), migrate=False)
    yield urls["complaints"]
    drop_databases(urls)


def _insert(conn, n: int, status: str) -> None:
    conn.execute(text(
        'INSERT INTO "case" (case_no, channel, category, categories, media, priority, status, '
        "region_code, description, received_at, accept_due, repeat_count, updated_at) VALUES "
        "(:no, 'hotline', 'air.odour', '[]', '[]', 'normal', :status, '360323', 'x', :at, "
        "'2026-12-14', 1, :at)"), {"no": f"360323-20261123-{n:06d}", "status": status,
                                  "at": RECEIVED})


def test_undecided_cases_are_watched_after_the_upgrade(url):
    command.upgrade(alembic_config("complaints", url), BEFORE)
    engine = create_engine(url)
    with engine.begin() as conn:
        _insert(conn, 1, "received")
        _insert(conn, 2, "accepted")
    command.upgrade(alembic_config("complaints", url), "head")
    case = table("case", column("id"), *(column(name, UTCDateTime()) for name in (
        "accept_deadline", "accept_warn_at", "accept_check_at")))
    with engine.connect() as conn:
        rows = conn.execute(select(*list(case.c)[1:]).order_by(case.c.id)).all()
    engine.dispose()
    expected = domain.acceptance_window(Policy.load().for_region("360323"), RECEIVED)
    assert expected.due.isoformat() == "2026-12-14"
    assert tuple(rows[0]) == (expected.deadline, expected.warn_at, expected.warn_at)
    assert tuple(rows[1]) == (None, None, None)
