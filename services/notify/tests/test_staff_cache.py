"""Staff look-ups on dispatch are kept for the configured time, then asked again; complainants'
contacts are never kept."""
from __future__ import annotations

from cachetools import TTLCache

from services.notify.handlers import Directory


class Dispatch:
    def __init__(self):
        self.calls = []
        self.phone = "13800000001"

    def find_person(self, person_id):
        self.calls.append(("find_person", person_id))
        return {"id": person_id, "phone": self.phone}

    def list_agreements(self, principal):
        self.calls.append(("list_agreements", principal["id"]))
        return []


class Complaints:
    def __init__(self):
        self.calls = 0

    def contact_for_notification(self, case_no):
        self.calls += 1
        return {"phone_e164": "+8613900000002"}


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_staff_answers_are_kept_until_they_expire():
    clock, dispatch, complaints = Clock(), Dispatch(), Complaints()
    cache = TTLCache(maxsize=100, ttl=30, timer=clock)
    directory = Directory(dispatch, complaints, "zh-CN", staff_cache=cache)

    assert directory.dispatch.find_person("u1")["phone"] == "13800000001"
    dispatch.phone = "13800000009"
    clock.now = 29
    assert directory.dispatch.find_person("u1")["phone"] == "13800000001"
    assert directory.dispatch.find_person("u2")["id"] == "u2"
    assert directory.dispatch.list_agreements({"id": "notify", "scope": "*"}) == []
    assert directory.dispatch.list_agreements({"scope": "*", "id": "notify"}) == []
    assert dispatch.calls == [("find_person", "u1"), ("find_person", "u2"),
                              ("list_agreements", "notify")]
    clock.now = 31  # expired: a changed phone number is seen
    assert directory.dispatch.find_person("u1")["phone"] == "13800000009"
    assert len(dispatch.calls) == 4

    for _ in range(3):
        directory.complaints.contact_for_notification("C-1")
    assert complaints.calls == 3


def test_without_a_cache_every_look_up_asks():
    dispatch = Dispatch()
    directory = Directory(dispatch, Complaints(), "zh-CN", staff_cache=None)
    directory.dispatch.find_person("u1")
    directory.dispatch.find_person("u1")
    assert dispatch.calls == [("find_person", "u1"), ("find_person", "u1")]
