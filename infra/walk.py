"""A scripted walk of the five steps against a running system (``make run`` first):

    python -m infra.walk [http://127.0.0.1:8000]

patrol report → intake → assignment → closure and sign-off → feedback and rating, printing the
case history at the end. Uses the demo tokens in data/demo-tokens.json.
"""
from __future__ import annotations

import json
import sys
import time

import requests

from services.common import config

VILLAGE = "360323101001"  # 金鸡村, 宣风镇, 芦溪县


def main(base: str) -> int:
    tokens = json.loads((config.data_dir() / "demo-tokens.json").read_text())

    def call(method, path, who=None, **kw):
        headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
        r = requests.request(method, base + path, headers=headers, timeout=30, **kw)
        if r.status_code >= 400:
            raise SystemExit(f"{method} {path} -> {r.status_code} {r.text}")
        return r.json()

    def wait(fn, what):
        for _ in range(100):
            value = fn()
            if value:
                return value
            time.sleep(0.2)
        raise SystemExit(f"timed out waiting for {what}")

    grid = call("GET", f"/api/v1/grids/{VILLAGE}", "admin")
    worker, chief = grid["workers"][0]["id"], grid["chief"]["id"]
    case = call("POST", "/api/v1/reports", worker, json={
        "category": "air.burning", "description": "秸秆露天焚烧", "lat": 27.6, "lon": 114.1,
        "grid_code": VILLAGE})
    no = case["case_no"]
    print(f"1-2 patrol report filed by {worker}: case {no}")
    call("POST", f"/api/v1/cases/{no}/accept", "intake-360323", json={})
    print("3   accepted by intake-360323")
    case = wait(lambda: (c := call("GET", f"/api/v1/cases/{no}", "admin")).get("task_id") and c,
                "assignment")
    print(f"4   task {case['task_id']} assigned to {case['assignee']}, due {case['deadline']}")
    call("POST", f"/api/v1/tasks/{case['task_id']}/close", chief,
         json={"result": "已扑灭，责令清理", "founded": True})
    call("POST", f"/api/v1/tasks/{case['task_id']}/verify", "supervisor-360323",
         json={"approved": True})
    print("5a  closed by the grid chief, signed off by supervisor-360323")
    wait(lambda: call("GET", f"/api/v1/cases/{no}", "admin")["status"] == "resolved", "feedback")
    call("POST", f"/api/v1/cases/{no}/rating", chief, json={"score": 5})
    case = call("GET", f"/api/v1/cases/{no}", "admin")
    print(f"5b  rated 5 by the grid chief; case status {case['status']}\nhistory:")
    for h in case["history"]:
        print(f"    {h['at']}  {h['action']:<14} {h['actor_id'] or '-'}")
    return 0 if case["status"] == "closed" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"))
