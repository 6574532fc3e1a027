"""Demo data: Pingxiang's grid registry and an account for every named person.

``python -m infra.seed`` loads both into the configured databases and writes the demo tokens to
``data/demo-tokens.json`` (tokens are stored hashed; this file is the only copy).
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.orm import Session

from services.common import config
from services.common.db import make_engine
from services.dispatch import joint, joint_handlers
from services.dispatch.registry import replace_all
from services.gateway.auth import create_account
from infra.demo.pingxiang import demo_grids

JOINT_DEMO = Path(__file__).resolve().parent / "demo" / "joint_pingxiang.yaml"

CITY = "360300"
COUNTIES = ("360302", "360313", "360321", "360322", "360323")
HUNAN = ("430281", "430223", "430181")


def seed_grids(url: str | None = None) -> int:
    engine = make_engine(url or config.database_url("dispatch"))
    grids = demo_grids()
    with Session(engine) as session:
        replace_all(session, grids)
        seed_agreements(session)
        session.commit()
    engine.dispose()
    return len(grids)


def seed_agreements(session, path: Path = JOINT_DEMO) -> int:
    """The demo enforcement linkage agreements (联动协议) of Pingxiang and its neighbours."""
    return joint_handlers.save_agreements(session, joint.load_agreements(path),
                                          datetime.now(timezone.utc))


def demo_accounts() -> list[dict]:
    """Staff of the city and each county, plus every grid chief and worker of the registry."""
    accounts = [{"id": "admin", "name": "系统管理员", "role": "admin", "scope": "*"},
                {"id": "monitor-360300", "name": "在线监测平台", "role": "monitor",
                 "scope": CITY}]
    for region in (CITY,) + COUNTIES:
        for role in ("intake", "dispatcher", "supervisor", "enforcement"):
            accounts.append({"id": f"{role}-{region}", "name": f"{role} {region}",
                             "role": role, "scope": region})
    for region in COUNTIES + HUNAN:
        accounts.append({"id": f"liaison-{region}", "name": f"liaison {region}",
                         "role": "liaison", "scope": region})
    seen = set()
    for grid in demo_grids():
        scope = grid.code[:6] if grid.code[:6].isdigit() else CITY
        people = [(grid.chief, "grid_chief")] + [(w, "grid_worker") for w in grid.workers or []]
        for person, role in people:
            if not person or person["id"] in seen:
                continue
            seen.add(person["id"])
            accounts.append({"id": person["id"], "name": person["name"], "role": role,
                             "scope": scope, "grid_code": grid.code})
    return accounts


def seed_accounts(url: str | None = None, test_tokens: bool = False) -> dict[str, str]:
    """Create the demo accounts; return ``{account_id: token}``. Test tokens are predictable."""
    engine = make_engine(url or config.database_url("gateway"))
    now = datetime.now(timezone.utc)
    tokens = {}
    with Session(engine) as session:
        for acc in demo_accounts():
            token = f"test-{acc['id']}" if test_tokens else None
            tokens[acc["id"]] = create_account(session, acc["id"], acc["name"], acc["role"],
                                               acc["scope"], acc.get("grid_code"), now, token)
        session.commit()
    engine.dispose()
    return tokens


def main() -> int:
    count = seed_grids()
    tokens = seed_accounts()
    path = config.data_dir() / "demo-tokens.json"
    path.write_text(json.dumps(tokens, ensure_ascii=False, indent=1))
    path.chmod(0o600)
    print(f"seeded {count} grids and {len(tokens)} accounts; tokens in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
