"""JSON Schemas of request bodies: used to validate at the edge and to write the OpenAPI document."""
from __future__ import annotations

from services.common.config import policy

_str = {"type": "string"}


def _text(limit: int) -> dict:
    return {"type": "string", "maxLength": limit}


COMPLAINANT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": _text(64), "phone": _text(40), "email": _text(120),
        "anonymous": {"type": "boolean"}, "language": {"enum": ["zh-CN", "en"]},
    },
}

_LOCATION = {
    "lat": {"type": "number", "minimum": -90, "maximum": 90},
    "lon": {"type": "number", "minimum": -180, "maximum": 180},
    "address": _text(300),
    "region_code": {"type": "string", "pattern": r"^\d{6}(\d{3}(\d{3})?)?$"},
}


def _submission(extra: dict, required: list[str]) -> dict:
    props = {
        "category": {"type": "string", "enum": sorted(policy().categories)},
        "categories": {"type": "array", "maxItems": 5,
                       "items": {"type": "string", "enum": sorted(policy().categories)}},
        "description": _text(4000),
        "priority": {"enum": policy().data["priorities"]},
        "enterprise": _text(200),
        "river": _text(60),  # name or code of the river it is on (shared along the river)
        "media": {"type": "array", "maxItems": 9, "items": _text(500)},
        "incident": {"enum": [None, "sudden", "mass"]},
        **_LOCATION,
        **extra,
    }
    return {"type": "object", "additionalProperties": False, "properties": props,
            "required": required}


REPORT = _submission({"grid_code": _text(32)}, ["category", "description"])
COMPLAINT = _submission({"complainant": COMPLAINANT, "channel": {"enum": ["web", "app"]},
                         "grid_code": _text(32)}, ["category", "description"])
INTAKE = _submission({"complainant": COMPLAINANT, "channel": {"enum": ["hotline", "letter"]},
                      "postmarked_on": {"type": "string", "format": "date"},
                      "grid_code": _text(32)}, ["channel", "category", "description"])
DECLINE = {"type": "object", "additionalProperties": False, "required": ["reason"],
           "properties": {"reason": _text(32), "note": _text(1000)}}
RATING = {"type": "object", "additionalProperties": False, "required": ["score"],
          "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5},
                         "comment": _text(1000), "token": _text(64)}}
CLOSE = {"type": "object", "additionalProperties": False, "required": ["result", "founded"],
         "properties": {"result": _text(4000), "founded": {"type": "boolean"},
                        "evidence": {"type": "array", "maxItems": 9, "items": _text(500)}}}
VERIFY = {"type": "object", "additionalProperties": False, "required": ["approved"],
          "properties": {"approved": {"type": "boolean"}, "note": _text(1000)}}
REASSIGN = {"type": "object", "additionalProperties": False, "required": ["reason"],
            "properties": {"grid_code": _text(32), "reason": _text(1000),
                           "assignee": {"type": "object", "additionalProperties": False,
                                        "required": ["id"],
                                        "properties": {"id": _text(64), "name": _text(64),
                                                       "role": _text(16)}}}}
RETURN = {"type": "object", "additionalProperties": False, "required": ["reason"],
          "properties": {"reason": _text(1000)}}
EXTENSION = {"type": "object", "additionalProperties": False, "required": ["days", "reason"],
             "properties": {"days": {"type": "integer", "minimum": 1, "maximum": 365},
                            "reason": _text(1000)}}
EXTENSION_DECISION = {"type": "object", "additionalProperties": False, "required": ["approve"],
                      "properties": {"approve": {"type": "boolean"}, "note": _text(1000)}}
RECHECK = {"type": "object", "additionalProperties": False, "required": ["outcome"],
           "properties": {"outcome": {"enum": ["held", "rebound"]}, "note": _text(1000)}}
GRID_IMPORT = {"type": "object", "additionalProperties": False, "required": ["format", "data"],
               "properties": {"format": {"enum": ["geojson", "csv"]},
                              "data": {"type": ["object", "string"]},
                              "effective": {"type": "string", "format": "date", "maxLength": 10},
                              "replace": {"type": "boolean"}, "under": _text(32),
                              "dry_run": {"type": "boolean"}}}
EMPTY = {"type": "object", "additionalProperties": False, "properties": {}}
REFER = {"type": "object", "additionalProperties": False, "required": ["to_region", "reason"],
         "properties": {"to_region": {"type": "string", "pattern": r"^\d{6}$"},
                        "reason": _text(1000)}}
READING = {"type": "object", "additionalProperties": False,
           "required": ["enterprise", "outlet", "pollutant", "hour", "value", "limit",
                        "region_code"],
           "properties": {"enterprise": _text(200), "outlet": _text(64), "pollutant": _text(32),
                          "hour": {"type": "string", "maxLength": 40},
                          "value": {"type": "number", "minimum": 0},
                          "limit": {"type": "number", "minimum": 0}, "unit": _text(16),
                          **_LOCATION}}
# Cross-region joint enforcement (左右联动).
_REGION6 = {"type": "string", "pattern": r"^\d{6}$"}
TRANSFER = {"type": "object", "additionalProperties": False,
            "required": ["case_no", "to_region", "reason"],
            "properties": {"case_no": _text(32), "to_region": _REGION6,
                           "kind": {"enum": ["transfer", "help_request"]},
                           "reason": {"type": "string", "minLength": 1, "maxLength": 1000}}}
TRANSFER_ANSWER = {"type": "object", "additionalProperties": False, "required": ["accept"],
                   "properties": {"accept": {"type": "boolean"}, "reason": _text(1000)}}
SWAP = {"type": "object", "additionalProperties": False,
        "required": ["period_start", "a", "b", "reason"],
        "properties": {"period_start": {"type": "string", "format": "date", "maxLength": 10},
                       "a": _REGION6, "b": _REGION6,
                       "reason": {"type": "string", "minLength": 1, "maxLength": 1000}}}
# Notify: preferences and the SMS gateway's callback (上行短信).
PREFERENCES = {"type": "object", "additionalProperties": False,
               "properties": {"language": {"enum": [None, "zh-CN", "en"]},
                              "email": {"type": ["string", "null"], "maxLength": 120}}}
SMS_INBOUND = {"type": "object", "additionalProperties": False,
               "required": ["message_id", "from", "text"],
               "properties": {"message_id": {"type": "string", "minLength": 1, "maxLength": 64},
                              "from": {"type": "string", "minLength": 1, "maxLength": 40},
                              "to": _text(40), "text": _text(1000),
                              "received_at": _text(40)}}
_DATE = {"type": "string", "format": "date", "maxLength": 10}
CONSULTATION = {"type": "object", "additionalProperties": False, "required": ["date"],
                "properties": {"date": _DATE, "kind": {"enum": ["regular", "requested"]},
                               "topic": _text(1000)}}
CONSULTATION_HELD = {
    "type": "object", "additionalProperties": False, "required": ["minutes", "attendees"],
    "properties": {"minutes": {"type": "string", "minLength": 1, "maxLength": 20000},
                   "attendees": {"type": "array", "maxItems": 50, "items": {
                       "type": "object", "additionalProperties": False,
                       "required": ["region_code"],
                       "properties": {"region_code": _REGION6,
                                      "names": {"type": "array", "maxItems": 50,
                                                "items": _text(64)}}}}}}
OPERATION = {"type": "object", "additionalProperties": False,
             "required": ["date", "title", "officers"],
             "properties": {"date": _DATE, "title": {"type": "string", "minLength": 1,
                                                      "maxLength": 200},
                            "officers": {"type": "array", "minItems": 1, "maxItems": 100,
                                         "items": _text(64)}}}  # officers' account ids
OPERATION_REPORT = {"type": "object", "additionalProperties": False, "required": ["summary"],
                    "properties": {"summary": {"type": "string", "minLength": 1,
                                               "maxLength": 4000}}}
# A case found in a joint operation: a patrol report, or ``case_no`` of one already filed.
FINDING = _submission({"grid_code": _text(32), "case_no": _text(32)}, [])
_LIAISONS = {"type": "array", "maxItems": 20, "items": {
    "type": "object", "additionalProperties": False, "required": ["id", "name", "phone"],
    "properties": {"id": _text(64), "name": _text(64), "phone": _text(40)}}}
PARTY = {"type": "object", "additionalProperties": False,
         "required": ["region_code", "name", "joined"],
         "properties": {"region_code": _REGION6, "name": _text(100), "joined": _DATE,
                        "left": {"type": ["string", "null"], "maxLength": 10},
                        "liaisons": _LIAISONS}}
AGREEMENT = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "name", "period", "start", "parties"],
    "properties": {
        "id": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"},
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "period": {"enum": ["month", "quarter", "year"]}, "start": _DATE,
        "end": {"type": ["string", "null"], "maxLength": 10},
        "host_order": {"type": "array", "maxItems": 50, "items": _REGION6},
        "scope": {"type": "object", "additionalProperties": False, "properties": {
            "categories": {"type": "array", "maxItems": 50, "items": _text(32)},
            "buffer_km": {"type": "number", "minimum": 0, "maximum": 100},
            "rivers": {"type": "array", "maxItems": 20, "items": _text(60)},
            "river_parties": {"type": "object", "maxProperties": 20,
                              "additionalProperties": {"type": "array", "maxItems": 50,
                                                       "items": _REGION6}}}},
        "parties": {"type": "array", "minItems": 2, "maxItems": 50,
                    "items": dict(PARTY, required=["region_code", "name"],
                                  properties=dict(PARTY["properties"],
                                                  joined={"type": ["string", "null"],
                                                          "maxLength": 10}))}}}
JOIN = PARTY
LEAVE = {"type": "object", "additionalProperties": False, "required": ["left"],
         "properties": {"left": _DATE}}
# A patrol walk (巡查记录): ``ended_at`` or ``minutes``; the times are ISO 8601 with an offset.
PATROL = {"type": "object", "additionalProperties": False,
          "required": ["grid_code", "started_at"],
          "properties": {"grid_code": _text(32), "started_at": _text(40), "ended_at": _text(40),
                         "minutes": {"type": "integer", "minimum": 1, "maximum": 1440},
                         "note": _text(2000),
                         "case_nos": {"type": "array", "maxItems": 50, "items": _text(32)}}}
