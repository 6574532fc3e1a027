"""The SMS gateway's callback is accepted only when signed with the shared secret and fresh."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from services.common.errors import DomainError
from services.gateway import sms_callback

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
BODY = {"message_id": "up-1", "from": "+8613912345678", "text": "482913 5"}


def _headers(secret="s3cret", at=NOW, body=BODY):
    stamp = str(int(at.timestamp()))
    return {"X-Timestamp": stamp, "X-Signature": sms_callback.sign(secret, stamp, body)}


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv(sms_callback.SECRET_ENV, "s3cret")


def test_signed_and_fresh_is_accepted():
    sms_callback.verify(_headers(), BODY, NOW)
    late = datetime.fromtimestamp(NOW.timestamp() + sms_callback.MAX_SKEW_SECONDS, timezone.utc)
    sms_callback.verify(_headers(), BODY, late)


@pytest.mark.parametrize("headers,code", [
    ({}, "bad_signature"),
    (_headers(secret="wrong"), "bad_signature"),
    (dict(_headers(), **{"X-Timestamp": "yesterday"}), "stale_request"),
    (_headers(at=datetime(2026, 11, 22, 1, 0, tzinfo=timezone.utc)), "stale_request"),
])
def test_unsigned_wrong_or_stale_is_401(headers, code):
    with pytest.raises(DomainError) as exc:
        sms_callback.verify(headers, BODY, NOW)
    assert (exc.value.status, exc.value.code) == (401, code)


@pytest.mark.parametrize("field", ["message_id", "from", "text"])
def test_every_signed_field_is_covered(field):
    tampered = dict(BODY, **{field: BODY[field] + "9"})
    with pytest.raises(DomainError) as exc:
        sms_callback.verify(_headers(), tampered, NOW)
    assert exc.value.code == "bad_signature"


def test_without_a_secret_nothing_is_accepted(monkeypatch):
    monkeypatch.delenv(sms_callback.SECRET_ENV)
    with pytest.raises(DomainError) as exc:
        sms_callback.verify(_headers(), BODY, NOW)
    assert (exc.value.status, exc.value.code) == (503, "inbound_sms_disabled")
